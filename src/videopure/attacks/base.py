"""The attack interface: torchattacks' ``Attack(model, ...)(x, y) -> x_adv``, safe on 5-D video.

Conventions (docs/design.md, "Attacks" and "Conventions"):

* ``x`` is a float tensor (B, T, C, H, W) in [0, 1]; ``y`` holds B integer labels.
* A *model* is any callable (usually an ``nn.Module``) mapping a batch of clips to logits
  (B, classes), or (B, K, classes) for a purification defense with K candidates. With K
  candidates the loss of a clip is the mean cross-entropy over them (the VideoPure authors'
  choice). Defenses do BPDA or exact gradients themselves, inside the model: an attack only
  differentiates the model's output with respect to its input.
* The model must draw its randomness independently per batch row: the attack batches EOT draws
  and shifted copies of a clip as extra rows of one forward.

The algorithm is projected gradient ascent (Madry et al. 2018) on the summed per-clip loss, so
a clip's gradient never depends on the other clips of its batch:

1. start at ``x`` or at a random point (``random_start``);
2. at every step, average the gradient over the attack's *views* of the clips (one for PGD, one
   per temporal shift for TT) and over ``eot_samples`` draws of a stochastic model (EOT,
   Athalye et al. 2018); optionally accumulate momentum (MI, Dong et al. 2018) with per-frame
   L1 normalisation;
3. step (l-inf: ``alpha * sign(g)``; l2: ``alpha * g / ||g||_2`` per clip), project onto the
   eps-ball around ``x`` and clip to [0, 1].

The per-clip loss at the start and after every step is kept in ``loss_trace`` for the figures,
and ``best_iterate=True`` returns, per clip, the iterate with the highest loss. A
``flow_deviation`` term (:class:`~videopure.attacks.flow.FlowDeviation`, the paper's Table VI)
adds to every clip's objective the deviation of its flow from the clean clip's.
"""

from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from videopure.attacks.flow import FlowDeviation

Model = Callable[[torch.Tensor], torch.Tensor]

NORMS = ("linf", "l2")
RANDOM_STARTS = ("gaussian", "uniform", None)

#: The VideoPure authors' gray-box setting (docs/design.md, "Attacks"): l-inf, eps 4/255, step 2/255, 10 steps.
PAPER_EPS_LINF = 4 / 255
PAPER_STEP_LINF = 2 / 255
PAPER_STEPS = 10
#: The clip shape (T, C, H, W) the paper's l2 budget refers to.
PAPER_CLIP_SHAPE = (32, 3, 224, 224)


def scale_l2_eps(eps_paper: float, shape: Sequence[int]) -> float:
    """The l2 budget for clips of ``shape`` (T, C, H, W) with the per-pixel size of ``eps_paper``.

    The paper's l2 budget (eps = 2) is for 32x3x224x224 clips. The l2 norm of a perturbation
    with a fixed per-pixel size grows with the square root of the number of pixel values, so a
    smaller clip (the mini and smoke profiles) gets ``eps_paper * sqrt(numel(shape) / numel(32,
    3, 224, 224))``: the root-mean-square perturbation per pixel value is then the paper's.
    """
    if not (isinstance(eps_paper, (int, float)) and math.isfinite(eps_paper) and eps_paper > 0):
        raise ValueError(f"eps_paper must be a finite number > 0, got {eps_paper!r}")
    shape = tuple(shape)
    if len(shape) != 4 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ValueError(f"shape must be a clip shape (T, C, H, W) of positive integers, got {shape}")
    return float(eps_paper) * math.sqrt(math.prod(shape) / math.prod(PAPER_CLIP_SHAPE))


def default_step_size(norm: str, eps: float, steps: int) -> float:
    """The step when none is given: the authors' 2/255 for l-inf; ``2.5 * eps / steps`` for l2 (Madry
    et al.'s rule, so the ball's boundary is reachable from any start)."""
    return PAPER_STEP_LINF if norm == "linf" else 2.5 * eps / steps


@dataclass(frozen=True)
class View:
    """One transformed copy of the clips that the model sees at every step.

    Attributes:
        transform: acts clip-wise on (b, T, C, H, W) and is differentiable; the gradient is
            taken through it, which un-does a linear transform such as a temporal roll.
        grad_weight: weight of this copy's loss in the objective whose gradient is the step.
        loss_weight: weight of this copy's loss in the per-clip loss that is traced and used to
            pick the best iterate (0 for copies that only shape the gradient).
    """

    transform: Callable[[torch.Tensor], torch.Tensor]
    grad_weight: float
    loss_weight: float


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


IDENTITY_VIEW = View(_identity, 1.0, 1.0)


def _check_number(name: str, value: Any, *, minimum: float, strict: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {minimum}, got {value!r}")
    return float(value)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _per_clip_norm(t: torch.Tensor) -> torch.Tensor:
    """l2 norm over every non-batch dimension, shaped to broadcast against ``t``.

    torchattacks' PGDL2 views these norms as (N, 1, 1, 1): on (B, T, C, H, W) that broadcasts
    against the wrong axes for B > 1. Viewing them as (B, 1, ..., 1) with ``t.ndim`` axes is
    correct for any rank.
    """
    return torch.linalg.vector_norm(t.flatten(1), dim=1).view(-1, *([1] * (t.ndim - 1)))


def normalize_per_frame(grad: torch.Tensor) -> torch.Tensor:
    """Divide each frame's gradient by its mean absolute value (an L1 norm over C, H, W).

    MI's normalisation for video, as in the TT authors' code (``norm_grads``, frame level):
    every frame contributes to the momentum at the same scale. torchattacks' MIFGSM divides by
    the mean over dims (1, 2, 3), which on (B, T, C, H, W) mixes frames and leaves W separate.
    The mean instead of the sum only rescales every step's term by the same constant, so the
    sign steps are those of the L1-normalised momentum.
    """
    scale = grad.abs().mean(dim=(2, 3, 4), keepdim=True)
    return grad / scale.clamp_min(torch.finfo(grad.dtype).tiny)


@contextlib.contextmanager
def _eval_mode(model: Model) -> Iterator[None]:
    """Run the attack with the model in eval mode, then restore every submodule's own mode.

    Like torchattacks, BatchNorm must use running statistics during the attack (a clip's
    gradient must not depend on its batch) and must not update them. Unlike torchattacks, the
    restore is per submodule, so a model that was partly in eval mode stays so.
    """
    if not isinstance(model, nn.Module):
        yield
        return
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


class Attack(ABC):
    """Projected gradient ascent on video classifiers, torchattacks-style.

    ``Attack(model, eps=..., steps=...)(x, y) -> x_adv``. Subclasses define :meth:`views`.

    Args:
        model: maps (B, T, C, H, W) in [0, 1] to logits (B, classes) or (B, K, classes).
        eps: the perturbation budget (l-inf: per pixel value; l2: per clip, see
            :func:`scale_l2_eps`). Default: the authors' 4/255 (l-inf).
        steps: number of gradient steps. Default: the authors' 10.
        alpha: step size. ``None``: :func:`default_step_size`.
        norm: ``"linf"`` or ``"l2"``.
        random_start: ``"gaussian"`` (the authors': ``x + eps * randn`` per pixel value for
            l-inf, ``x + eps * randn / sqrt(numel per clip)`` for l2 so that its expected norm is
            eps; clipped to [0, 1] but not projected onto the eps-ball), ``"uniform"`` (l-inf:
            uniform in the cube; l2: a Gaussian direction scaled to radius ``eps * U(0, 1)``, as
            torchattacks' PGDL2) or ``None`` (start at ``x``).
        eot_samples: the gradient (and traced loss) is the average over this many independent
            forwards of a stochastic model, batched in one forward.
        best_iterate: return per clip the iterate with the highest traced loss instead of the
            last one; the random start is then projected onto the eps-ball so that every
            candidate is a valid adversarial example.
        momentum: MI's decay factor mu (0 disables momentum): ``g_t = mu * g_{t-1} + grad /
            ||grad||_1`` with the L1 normalisation per frame (:func:`normalize_per_frame`).
        seed: seeds the random start (the attack's own ``torch.Generator``) and the global RNG
            during the attack (restored afterwards), so the draws of a stochastic model are
            reproducible: the same seed gives the same ``x_adv``.
        max_batch: at most this many rows (copies x draws x clips) per forward; ``None``: all of
            them in one forward.
        progress: show a tqdm bar over the steps.
        flow_deviation: a :class:`~videopure.attacks.flow.FlowDeviation` or its arguments
            (``{"flow": spec, "weight": λ_flow}``): the objective of each clip gains the deviation
            of its flow from the clean clip's (once per step, outside the views and EOT draws:
            the flow model is deterministic). ``None``: the model's loss alone.

    After a call, ``loss_trace`` (steps + 1, B) holds the per-clip loss at the start and after
    every step (on the CPU, float32).
    """

    name: ClassVar[str]

    def __init__(
        self,
        model: Model,
        *,
        eps: float = PAPER_EPS_LINF,
        steps: int = PAPER_STEPS,
        alpha: float | None = None,
        norm: str = "linf",
        random_start: str | None = "gaussian",
        eot_samples: int = 1,
        best_iterate: bool = False,
        momentum: float = 0.0,
        seed: int = 0,
        max_batch: int | None = None,
        progress: bool = False,
        flow_deviation: FlowDeviation | Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(model):
            raise ValueError(f"model must be callable (x -> logits), got {type(model).__name__}")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
        if random_start not in RANDOM_STARTS:
            raise ValueError(f"unknown random_start {random_start!r}; known: {RANDOM_STARTS}")
        self.model = model
        self.norm = norm
        self.eps = _check_number("eps", eps, minimum=0, strict=True)
        self.steps = _check_int("steps", steps, 1)
        if alpha is None:
            alpha = default_step_size(norm, self.eps, self.steps)
        self.alpha = _check_number("alpha", alpha, minimum=0, strict=True)
        self.random_start = random_start
        self.eot_samples = _check_int("eot_samples", eot_samples, 1)
        if not isinstance(best_iterate, bool):
            raise ValueError(f"best_iterate must be a bool, got {best_iterate!r}")
        self.best_iterate = best_iterate
        self.momentum = _check_number("momentum", momentum, minimum=0, strict=False)
        self.seed = _check_int("seed", seed, 0)
        self.max_batch = None if max_batch is None else _check_int("max_batch", max_batch, 1)
        self.progress = bool(progress)
        if isinstance(flow_deviation, Mapping):
            flow_deviation = FlowDeviation(**flow_deviation)
        if flow_deviation is not None and not isinstance(flow_deviation, FlowDeviation):
            raise ValueError(f"flow_deviation must be a FlowDeviation or its arguments, got {type(flow_deviation).__name__}")
        self.flow_deviation = flow_deviation
        self._flow_reference: torch.Tensor | None = None
        self.loss_trace: torch.Tensor | None = None

    # --- what subclasses define ---------------------------------------------------------------

    @abstractmethod
    def views(self, frames: int) -> list[View]:
        """The copies of a clip of ``frames`` frames that every step differentiates."""

    def settings(self) -> dict[str, Any]:
        """Everything that determines the attack's result, to be recorded beside every accuracy."""
        flow = {} if self.flow_deviation is None else {"flow_deviation": self.flow_deviation.settings()}
        return {
            "name": self.name,
            "norm": self.norm,
            "eps": self.eps,
            "steps": self.steps,
            "alpha": self.alpha,
            "random_start": self.random_start,
            "eot_samples": self.eot_samples,
            "best_iterate": self.best_iterate,
            "momentum": self.momentum,
            "seed": self.seed,
            "loss": "cross-entropy, mean over candidates",
            **flow,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.settings().items())})"

    # --- the attack ---------------------------------------------------------------------------

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Adversarial clips for ``x`` (B, T, C, H, W) in [0, 1] with labels ``y`` (B,).

        Returns a detached tensor of ``x``'s shape, dtype and device, within the eps-ball around
        ``x`` and in [0, 1]. Raises ``ValueError`` on bad input before any model call (labels
        are checked against the model's ``num_classes`` when it has one, else against the
        logits of the first forward, before any step).
        """
        y = self._check_inputs(x, y)
        x = x.detach()
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), _eval_mode(self.model):
            torch.manual_seed(self.seed)
            generator = torch.Generator(device=x.device).manual_seed(self.seed)
            self._flow_reference = None if self.flow_deviation is None else self.flow_deviation.reference(x)
            try:
                return self._run(x, y, generator)
            finally:
                self._flow_reference = None

    def _check_inputs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 5 or min(x.shape) == 0:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a video batch (B, T, C, H, W) with no empty dimension, got {shape}")
        if not x.is_floating_point():
            raise ValueError(f"x must hold floating-point pixels in [0, 1], got dtype {x.dtype}")
        low, high = torch.aminmax(x.detach())
        if not (bool(torch.isfinite(low)) and bool(torch.isfinite(high)) and low >= 0 and high <= 1):
            raise ValueError(f"x must lie in [0, 1], got min {low.item():.6g} and max {high.item():.6g}")
        if (
            not isinstance(y, torch.Tensor)
            or y.ndim != 1
            or y.is_floating_point()
            or y.is_complex()
            or y.dtype == torch.bool
        ):
            what = f"{y.dtype} tensor of shape {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"y must be a 1-D tensor of integer labels, got a {what}")
        if len(y) != len(x):
            raise ValueError(f"x holds {len(x)} clips but y holds {len(y)} labels")
        classes = getattr(self.model, "num_classes", None)
        if y.min() < 0 or (isinstance(classes, int) and y.max() >= classes):
            known = f"[0, {classes})" if isinstance(classes, int) else ">= 0"
            raise ValueError(f"labels must be in {known}, got min {int(y.min())} and max {int(y.max())}")
        return y.to(device=x.device, dtype=torch.long)

    def _run(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        copies = self._eot_copies(self.views(x.shape[1]))
        traced = [c for c in copies if c.loss_weight > 0]

        adv = self._start(x, generator)
        if self.best_iterate:
            adv = self._project(adv, x)
        trace: list[torch.Tensor] = []
        best, best_loss = adv.clone(), torch.full((len(x),), -math.inf, device=x.device)
        velocity = torch.zeros_like(x)
        for _ in tqdm(range(self.steps), desc=self.name, unit="step", disable=not self.progress, leave=False):
            grad, loss = self._forward(adv, y, copies, with_grad=True)
            trace.append(loss)
            self._keep_best(adv, loss, best, best_loss)
            if self.momentum > 0:
                velocity = self.momentum * velocity + normalize_per_frame(grad)
                grad = velocity
            adv = self._project(adv + self._ascent(grad), x)
        _, loss = self._forward(adv, y, traced, with_grad=False)
        trace.append(loss)
        self._keep_best(adv, loss, best, best_loss)
        self.loss_trace = torch.stack(trace).float().cpu()
        return best if self.best_iterate else adv

    def _eot_copies(self, views: list[View]) -> list[View]:
        """Each view ``eot_samples`` times, weighted so the objective is the mean over the draws."""
        n = self.eot_samples
        return [View(v.transform, v.grad_weight / n, v.loss_weight / n) for v in views for _ in range(n)]

    def _start(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.random_start is None:
            return x.clone()
        if self.random_start == "gaussian":
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            scale = self.eps if self.norm == "linf" else self.eps / math.sqrt(x[0].numel())
            return (x + scale * noise).clamp(0, 1)
        if self.norm == "linf":
            noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return (x + (2 * noise - 1) * self.eps).clamp(0, 1)
        direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        radius = torch.rand((len(x),), generator=generator, device=x.device, dtype=x.dtype)
        radius = radius.view(-1, 1, 1, 1, 1) * self.eps
        return (x + direction / _per_clip_norm(direction).clamp_min(torch.finfo(x.dtype).tiny) * radius).clamp(0, 1)

    def _ascent(self, grad: torch.Tensor) -> torch.Tensor:
        if self.norm == "linf":
            return self.alpha * grad.sign()
        return self.alpha * (grad / _per_clip_norm(grad).clamp_min(torch.finfo(grad.dtype).tiny))

    def _project(self, adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Project onto the eps-ball around ``x``, then clip to [0, 1] (which cannot leave the ball)."""
        if self.norm == "linf":
            delta = (adv - x).clamp(-self.eps, self.eps)
        else:
            delta = adv - x
            delta = delta * (self.eps / _per_clip_norm(delta).clamp_min(torch.finfo(x.dtype).tiny)).clamp(max=1)
        return (x + delta).clamp(0, 1).detach()

    def _keep_best(self, adv: torch.Tensor, loss: torch.Tensor, best: torch.Tensor, best_loss: torch.Tensor) -> None:
        if self.best_iterate:
            better = loss > best_loss
            best[better] = adv[better]
            best_loss[better] = loss[better]

    def _forward(
        self, adv: torch.Tensor, y: torch.Tensor, copies: list[View], *, with_grad: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Gradient of the weighted objective and the per-clip traced loss at ``adv``.

        The rows of the model's batch are (copy, clip) pairs, copy-major; they go through the
        model ``max_batch`` at a time, each chunk differentiated on its own so that memory is
        bounded by the chunk.
        """
        batch = len(adv)
        rows = len(copies) * batch
        chunk = self.max_batch or rows
        x = adv.detach().requires_grad_(with_grad)
        grad = torch.zeros_like(x) if with_grad else None
        loss = torch.zeros(batch, device=x.device)
        for start in range(0, rows, chunk):
            stop = min(start + chunk, rows)
            inputs, labels, grad_w, loss_w, clips = [], [], [], [], []
            with torch.set_grad_enabled(with_grad):
                for c in range(start // batch, (stop - 1) // batch + 1):
                    lo, hi = max(start - c * batch, 0), min(stop - c * batch, batch)
                    inputs.append(copies[c].transform(x[lo:hi]))
                    labels.append(y[lo:hi])
                    grad_w += [copies[c].grad_weight] * (hi - lo)
                    loss_w += [copies[c].loss_weight] * (hi - lo)
                    clips.append(torch.arange(lo, hi, device=x.device))
                per_row = self.row_loss(self.model(torch.cat(inputs)), torch.cat(labels))
            if with_grad:
                if not per_row.requires_grad:
                    raise RuntimeError(
                        "the model's logits do not depend differentiably on its input; "
                        "a non-differentiable defense must provide a gradient (BPDA) itself"
                    )
                weights = torch.tensor(grad_w, device=x.device, dtype=per_row.dtype)
                grad += torch.autograd.grad((weights * per_row).sum(), x)[0]
            weights = torch.tensor(loss_w, device=x.device, dtype=loss.dtype)
            loss.index_add_(0, torch.cat(clips), weights * per_row.detach().to(loss.dtype))
        if self.flow_deviation is not None:
            for start in range(0, batch, self.max_batch or batch):
                stop = min(start + (self.max_batch or batch), batch)
                with torch.set_grad_enabled(with_grad):
                    term = self.flow_deviation(x[start:stop], self._flow_reference[start:stop])
                if with_grad:
                    grad += torch.autograd.grad(term.sum(), x)[0]
                loss[start:stop] += term.detach().to(loss.dtype)
        return grad, loss

    @staticmethod
    def logit_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss an attack ascends, per row of logits (rows, classes): cross-entropy."""
        return F.cross_entropy(logits, labels, reduction="none")

    def row_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The per-clip objective: :meth:`logit_loss` per row; with K candidates (rows, K, classes),
        the mean over them."""
        if not isinstance(logits, torch.Tensor) or logits.ndim not in (2, 3) or len(logits) != len(labels):
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(
                f"the model must return logits ({len(labels)}, classes) or ({len(labels)}, K, classes), got {shape}"
            )
        classes = logits.shape[-1]
        if labels.max() >= classes:
            raise ValueError(
                f"labels must be in [0, {classes}) for a model with {classes} outputs, got {int(labels.max())}"
            )
        if logits.ndim == 2:
            return self.logit_loss(logits, labels)
        k = logits.shape[1]
        return self.logit_loss(logits.flatten(0, 1), labels.repeat_interleave(k)).view(-1, k).mean(1)
