"""The purifier interface every defense implements, and the seeding protocol for stochastic ones.

A purifier maps a video batch ``x`` (B, T, C, H, W), float in [0, 1], to ``K`` candidate
purified videos (B, K, T, C, H, W) in [0, 1]. Single-output defenses (JPEG, white noise,
DiffPure) have ``K = 1``; VideoPure has ``K = t* + 1`` candidates that the classifier votes over
(paper, Sec. III-D and Alg. 1, lines 12-14). :class:`~videopure.defenses.defended.DefendedClassifier`
puts a purifier in front of a classifier.

Gradients (paper, Sec. II-B): an attack reaches the input through the defense in one of three
ways, chosen per call of :meth:`Purifier.forward`:

* ``"exact"``: autograd through :meth:`Purifier.purify` (only where ``exact_gradient`` is True);
* ``"frozen"``: for diffusion-based defenses, autograd through everything but the UNet, whose noise
  estimates ε_θ are held constant (docs/design.md, "Attacks": exact through the encoder, the
  inversion/denoising arithmetic, VideoPure's optimisation step and the decoder, at the cost of
  the forward pass);
* ``"bpda"``: Backward Pass Differentiable Approximation (Athalye et al., 2018) with the identity
  surrogate ``g(x) = x`` the paper uses: the forward pass is ``P(x)``, the backward pass the
  identity, per candidate;
* ``"none"``: no graph (evaluation);

and ``"auto"`` resolves to the defense's ``auto_gradient`` where it sets one, else to ``"exact"``
where the defense is differentiable and ``"bpda"`` otherwise. The diffusion purifiers are
differentiable but set ``auto_gradient = "bpda"``: Table I's "+BPDA" columns attack them with BPDA,
as the paper does, and their full gradient through every UNet step belongs to the separate
PGD+DiffAttack column, which asks for ``"exact"`` explicitly.

Randomness. Stochastic purifiers draw through :mod:`videopure.randomness` (no generator argument):
from torch's global RNG of the input's device, so one mechanism — ``seeded`` — controls every
defense, or per clip inside ``seeded_clips``. The evaluation protocol:

* a stage that evaluates a stochastic defense runs draw ``d`` of clip ``i`` as if alone under
  ``seeded(config_seed, i, d)``: a batch of clips under ``seeded_clips`` where the purifier sets
  ``draws_per_clip``, one clip per forward otherwise; either way a clip's draws depend neither on
  the batch size nor on which clips share its batch, and a rerun gives the same numbers;
* an attack that averages over draws (EOT) batches its draws in one forward under the attack's
  own seed: consecutive draws of one RNG stream are independent;
* deterministic defenses are batched freely.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, ClassVar

import torch
from torch import nn

GRADIENT_MODES = ("exact", "frozen", "bpda", "none", "auto")


def check_video(x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a float tensor (B, T, C, H, W), non-empty, with values in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a tensor (B, T, C, H, W), got {type(x).__name__}")
    if x.ndim != 5 or x.numel() == 0:
        raise ValueError(f"expected a non-empty video batch of shape (B, T, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"expected floating-point pixels in [0, 1], got dtype {x.dtype} for shape {tuple(x.shape)}")
    low, high = torch.aminmax(x.detach())
    if torch.isnan(low) or torch.isnan(high) or low < 0 or high > 1:
        raise ValueError(
            f"expected pixel values in [0, 1] for input of shape {tuple(x.shape)}, "
            f"got min {low.item():.4g} and max {high.item():.4g}"
        )


class Purifier(nn.Module):
    """Base class of adversarial purification defenses.

    Subclasses set the class attributes below, store every constructor argument as an attribute of
    the same name (this is what :meth:`settings` records), and implement :meth:`purify`. Register
    them with :func:`videopure.defenses.registry.register_defense`, or name them by import path in
    the config (``type: "package.module:ClassName"``).

    Attributes:
        name: registry name, e.g. ``"jpeg"``; also the defense's label in results.
        stochastic: True if :meth:`purify` draws randomness per call.
        draws_per_clip: True if every draw of :meth:`purify` goes through :mod:`videopure.randomness`,
            one row per clip, so that a batch under ``seeded_clips`` draws for each clip what it draws
            alone: evaluation then batches the defense. False (the default) for a stochastic defense
            drawing from torch directly: evaluation runs it one clip at a time under ``seeded``.
        exact_gradient: True if :meth:`purify` is differentiable, so autograd gives the exact
            gradient of the defense; False for defenses an attack must approximate (BPDA).
        num_candidates: ``K``, the number of purified candidates per input video.
        auto_gradient: what ``gradient="auto"`` means: ``None`` (the default) for ``"exact"`` if
            ``exact_gradient`` else ``"bpda"``; a differentiable defense sets ``"bpda"`` when its
            standard adaptive attack is BPDA nonetheless (the diffusion purifiers, see above).
        diffusion_based: True for defenses built on a latent diffusion model; such a defense takes
            the model as its ``model`` argument (see :func:`~videopure.defenses.registry.build_defense`),
            and Table I gives it a PGD+DiffAttack column.
    """

    name: ClassVar[str]
    stochastic: ClassVar[bool]
    exact_gradient: ClassVar[bool]
    num_candidates: int = 1
    auto_gradient: ClassVar[str | None] = None
    diffusion_based: ClassVar[bool] = False
    draws_per_clip: ClassVar[bool] = False

    def __init__(self) -> None:
        # Spelled out so that a parameterless subclass has an empty signature, which
        # build_defense checks keyword arguments against (nn.Module.__init__ takes **kwargs).
        super().__init__()

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The constructor's default arguments, by name (for VideoPure: the paper's values and the
        authors' code's behaviour)."""
        return {
            name: parameter.default
            for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if parameter.default is not parameter.empty
        }

    @classmethod
    def check_settings(cls, settings: dict[str, Any]) -> None:
        """Raise ``ValueError`` for bad constructor arguments ``settings`` (a spec without ``type``
        and ``model``) that can be told without building the defense; the config is checked with it
        before any compute. The default checks nothing beyond the signature."""

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        """Candidates (B, K, T, C, H, W) in [0, 1] for a valid input ``x`` (B, T, C, H, W) in [0, 1].

        Called by :meth:`forward`, which validates ``x`` first. The output keeps ``x``'s dtype and
        device. Randomness, if any, comes from :mod:`videopure.randomness` (see ``draws_per_clip``).
        """
        raise NotImplementedError

    def resolve_gradient(self, gradient: str) -> str:
        """The gradient mode that :meth:`forward` uses for ``gradient``: ``"auto"`` becomes
        ``auto_gradient``, or else ``"exact"`` or ``"bpda"``; asking for ``"exact"`` on a
        non-differentiable defense is an error."""
        if gradient not in GRADIENT_MODES:
            raise ValueError(f"unknown gradient mode {gradient!r}; expected one of {GRADIENT_MODES}")
        if gradient == "auto":
            if self.auto_gradient is not None:
                return self.auto_gradient
            return "exact" if self.exact_gradient else "bpda"
        if gradient == "exact" and not self.exact_gradient:
            raise ValueError(
                f"defense {self.name!r} is not differentiable (exact_gradient=False); use gradient='bpda'"
            )
        if gradient == "frozen" and not self.diffusion_based:
            raise ValueError(f"gradient='frozen' holds a diffusion model's noise fixed; defense {self.name!r} has none")
        return gradient

    def gradient_context(self, mode: str) -> contextlib.AbstractContextManager:
        """The context :meth:`purify` runs in under a graph-building ``mode`` (``"exact"`` or
        ``"frozen"``); a diffusion-based defense freezes its model's noise for ``"frozen"``."""
        return contextlib.nullcontext()

    def forward(self, x: torch.Tensor, gradient: str = "auto") -> torch.Tensor:
        """Validate ``x`` and purify it, with the gradient mode ``gradient``.

        Args:
            x: videos (B, T, C, H, W), float in [0, 1].
            gradient: ``"exact"`` (autograd through :meth:`purify`), ``"frozen"`` (the same with a
                diffusion model's noise estimates held constant), ``"bpda"`` (forward
                :meth:`purify`, backward identity for each candidate), ``"none"`` (no graph), or
                ``"auto"`` (``auto_gradient``, else exact where available, else BPDA; the default, so
                that ``purifier(x)`` works for every defense — :meth:`resolve_gradient` tells which
                mode it means).

        Returns:
            Candidates (B, K, T, C, H, W) in [0, 1].
        """
        check_video(x)
        mode = self.resolve_gradient(gradient)
        if mode in ("exact", "frozen"):
            with self.gradient_context(mode):
                candidates = self.purify(x)
        else:
            with torch.no_grad():
                candidates = self.purify(x)
        expected = (x.shape[0], self.num_candidates, *x.shape[1:])
        if tuple(candidates.shape) != expected:
            raise RuntimeError(
                f"{type(self).__name__}.purify returned shape {tuple(candidates.shape)} for input "
                f"{tuple(x.shape)}; expected (B, K={self.num_candidates}, T, C, H, W) = {expected}"
            )
        if mode == "bpda":
            # BPDA with g(x) = x, written as P(x) + (x - x.detach()) rather than x + (P(x) - x).detach():
            # the same gradient (identity per candidate), but the value is P(x) bit for bit, so
            # rounding cannot push it outside [0, 1] where the classifier rejects it.
            candidates = candidates + (x - x.detach()).unsqueeze(1)
        return candidates

    def settings(self) -> dict[str, Any]:
        """``{"name": name, **constructor arguments}``: what is recorded beside every accuracy.

        Read from the attributes named like the constructor's parameters; a subclass that stores
        its arguments otherwise overrides this method.
        """
        values: dict[str, Any] = {"name": self.name}
        for parameter in inspect.signature(type(self).__init__).parameters.values():
            if parameter.name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if not hasattr(self, parameter.name):
                raise AttributeError(
                    f"{type(self).__name__} does not store its constructor argument {parameter.name!r} as an "
                    "attribute of that name; store it or override settings()"
                )
            values[parameter.name] = getattr(self, parameter.name)
        return values

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.settings().items() if key != "name")
