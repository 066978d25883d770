"""APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks"): the two white-box attacks of AutoAttack, behind Table II.

Auto-PGD needs no step size: it starts at 2·eps, adds momentum (0.75) to every step, and at
checkpoints (after 22 % of the steps, then at intervals shrinking by 3 % of the steps down to 6 %)
halves a clip's step size and restarts it from its best point when its loss rose in fewer than
``rho`` of the steps since the last checkpoint, or its best loss did not improve while its step
size was kept. ``APGD-CE`` ascends the cross-entropy, ``APGD-DLR`` the difference-of-logits ratio
(invariant to the logits' scale and shift, so a defense that squashes logits cannot hide behind
a flat cross-entropy). For a stochastic defense every gradient is averaged over ``eot_samples``
draws, batched in one forward (AutoAttack's "rand" version uses 20). With K candidates (a
purification defense) a clip's loss is the mean over them, as for every attack here
(:class:`~videopure.attacks.base.Attack`).

The algorithm is torchattacks' ``APGD`` (itself AutoAttack's) with one restart and
``perturb(best_loss=True)``: every clip is attacked and the iterate with the highest loss is
returned. Tested to equal it on a batch of images (``tests/test_attacks.py``). Per clip on 5-D
video: the random start, step sizes, norms and projections never mix clips.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from tqdm.auto import tqdm

from videopure.attacks.base import IDENTITY_VIEW, PAPER_EPS_LINF, Attack, Model, View, _per_clip_norm

#: AutoAttack's iterations for APGD in its standard version.
AUTOATTACK_STEPS = 100


class APGD(Attack):
    """Auto-PGD on video classifiers: ``APGDCE(model, eps=..., steps=...)(x, y) -> x_adv``.

    Args:
        model: maps (B, T, C, H, W) in [0, 1] to logits (B, classes) or (B, K, classes).
        eps: the budget (l-inf per pixel value, l2 per clip).
        steps: iterations (AutoAttack: 100).
        norm: ``"linf"`` or ``"l2"``.
        rho: the fraction of steps since the last checkpoint in which the loss must have risen
            for a clip to keep its step size (AutoAttack: 0.75).
        eot_samples, seed, max_batch, progress: as :class:`~videopure.attacks.base.Attack`.

    APGD sets its own step size, start and momentum: ``alpha``, ``random_start``, ``momentum``
    and ``best_iterate`` are refused unless they state what APGD does. After a call,
    ``loss_trace`` (steps + 1, B) holds each clip's best loss so far, at the start and after
    every step, so its last row is the loss of the returned clips.
    """

    logit_loss_name: ClassVar[str]
    OWN_SETTINGS: ClassVar[dict[str, Any]] = {"random_start": "uniform", "momentum": 0.75, "best_iterate": True}

    def __init__(
        self,
        model: Model,
        *,
        eps: float = PAPER_EPS_LINF,
        steps: int = AUTOATTACK_STEPS,
        norm: str = "linf",
        rho: float = 0.75,
        eot_samples: int = 1,
        seed: int = 0,
        max_batch: int | None = None,
        progress: bool = False,
        **fixed: Any,
    ) -> None:
        own = {"alpha": None, **self.OWN_SETTINGS}
        for key, value in fixed.items():
            if key not in own:
                raise TypeError(f"{type(self).__name__} got an unexpected keyword argument {key!r}")
            if value != own[key]:
                raise ValueError(
                    f"unknown {key} {value!r} for {self.name}: APGD sets its own step size (2·eps, halved at "
                    "checkpoints), starts uniformly in the eps-ball, uses momentum 0.75 and returns its best iterate"
                )
        super().__init__(
            model, eps=eps, steps=steps, alpha=2 * eps if eps > 0 else None, norm=norm, random_start="uniform",
            eot_samples=eot_samples, best_iterate=True, momentum=0.75, seed=seed, max_batch=max_batch,
            progress=progress,
        )  # fmt: skip
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not 0 < rho <= 1:
            raise ValueError(f"rho must be a number in (0, 1], got {rho!r}")
        self.rho = float(rho)

    def views(self, frames: int) -> list[View]:
        return [IDENTITY_VIEW]

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "rho": self.rho,
            "restarts": 1,
            "alpha": "2 eps, halved at checkpoints",
            "loss": f"{self.logit_loss_name}, mean over candidates",
        }

    def _run(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        copies = self._eot_copies(self.views(x.shape[1]))
        steps = self.steps
        first_check, min_interval, shrink = (max(int(f * steps), 1) for f in (0.22, 0.06, 0.03))
        per_clip = (-1,) + (1,) * (x.ndim - 1)

        adv = (x + self.eps * self._start_direction(x, generator)).clamp(0.0, 1.0)
        best = adv.clone()
        grad, loss = self._forward(adv, y, copies, with_grad=True)
        grad_best, loss_best = grad.clone(), loss.clone()
        trace = [loss_best.clone()]
        step = torch.full((len(x), *per_clip[1:]), 2 * self.eps, device=x.device, dtype=x.dtype)
        previous = adv.clone()
        losses = torch.zeros(steps, len(x), device=x.device)
        interval, since_check = first_check, 0
        best_at_check, reduced_at_check = loss_best.clone(), torch.ones(len(x), dtype=torch.bool, device=x.device)
        for i in tqdm(range(steps), desc=self.name, unit="step", disable=not self.progress, leave=False):
            momentum, previous = adv - previous, adv
            a = 0.75 if i > 0 else 1.0
            candidate = self._clip_to_ball(adv + self._ascent_step(step, grad), x)
            adv = self._clip_to_ball(adv + (candidate - adv) * a + momentum * (1 - a), x, mixed=True)
            grad, loss = self._forward(adv, y, copies, with_grad=True)
            losses[i] = loss
            improved = loss > loss_best
            best[improved], grad_best[improved], loss_best[improved] = adv[improved], grad[improved], loss[improved]
            trace.append(loss_best.clone())
            since_check += 1
            if since_check == interval:
                risen = sum((losses[i - c] > losses[i - c - 1]).float() for c in range(interval))
                reduce = (risen <= interval * self.rho) | (~reduced_at_check & (best_at_check >= loss_best))
                reduced_at_check, best_at_check = reduce.clone(), loss_best.clone()
                step[reduce] /= 2
                adv[reduce], grad[reduce] = best[reduce], grad_best[reduce]
                since_check, interval = 0, max(interval - shrink, min_interval)
        self.loss_trace = torch.stack(trace).float().cpu()
        return best.detach()

    def _start_direction(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """l-inf: uniform in the cube, scaled so its largest entry is 1; l2: a Gaussian of norm 1."""
        if self.norm == "linf":
            t = 2 * torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 1
            return t / t.flatten(1).abs().amax(1).view(-1, *([1] * (x.ndim - 1)))
        t = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return t / (_per_clip_norm(t) + 1e-12)

    def _ascent_step(self, step: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        if self.norm == "linf":
            return step * grad.sign()
        return step * grad / (_per_clip_norm(grad) + 1e-12)

    def _clip_to_ball(self, point: torch.Tensor, x: torch.Tensor, mixed: bool = False) -> torch.Tensor:
        """Project ``point`` onto the eps-ball around ``x`` and into [0, 1], in torchattacks' operation
        order (so the iterates equal theirs to the last bit). For l2 the momentum-mixed point adds
        1e-12 to the clipped norm, as theirs does."""
        if self.norm == "linf":
            return torch.min(torch.max(point, x - self.eps), x + self.eps).clamp(0.0, 1.0)
        delta = point - x
        norm = _per_clip_norm(delta)
        return (x + delta / (norm + 1e-12) * torch.clamp(norm + (1e-12 if mixed else 0.0), max=self.eps)).clamp(0.0, 1.0)


class APGDCE(APGD):
    """APGD on the cross-entropy (AutoAttack's first attack)."""

    name = "APGD-CE"
    logit_loss_name = "cross-entropy"


class APGDDLR(APGD):
    """APGD on the difference-of-logits ratio (AutoAttack's second attack; needs 3 classes or more)."""

    name = "APGD-DLR"
    logit_loss_name = "DLR"

    @staticmethod
    def logit_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """DLR (Croce & Hein 2020, eq. 5): −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3), z sorted descending."""
        if logits.shape[-1] < 3:
            raise ValueError(f"the DLR loss needs at least 3 classes, the model has {logits.shape[-1]}")
        ordered, order = logits.sort(dim=1)
        true_is_top = (order[:, -1] == labels).to(logits.dtype)
        other = ordered[:, -2] * true_is_top + ordered[:, -1] * (1.0 - true_is_top)
        true = logits.gather(1, labels[:, None])[:, 0]
        return -(true - other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)

