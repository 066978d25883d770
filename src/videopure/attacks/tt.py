"""TT: the temporal translation attack (Wei et al., AAAI 2022, "Boosting the Transferability of
Video Adversarial Examples via Temporal Translation", code: github.com/zhipeng-wei/TT).

The gradient of every step is that of the loss on cyclically shifted copies of the clip,
``x.roll(s, dim=1)`` for ``s`` in ``[-k, k]``, un-shifted and combined with Gaussian weights
over ``s``. Because the roll is linear, differentiating ``sum_s w_s * L(model(roll(x, s)))``
with respect to ``x`` performs the un-shifting (the authors' code rolls each copy's gradient
back by ``-s`` by hand, which is the same). All 2k + 1 copies (times the EOT draws) go through
the model as rows of one forward.

* Shift range: the paper shifts by up to 7 frames on 32-frame clips; ``k`` scales with the clip
  length as ``round(7 * T / 32)`` (rounding halves up), at least 1.
* Kernel: the authors' ``_initial_kernel_gaussian``: ``w_s`` proportional to the normal density
  with ``sigma = k / 3`` (so the outermost shifts weigh exp(-4.5) of the centre), normalised to
  sum to 1.
* Black-box TT+MI (docs/design.md, "Attacks"): ``momentum=1.0`` (MI with per-frame normalisation, as the
  authors' ``norm_grads``), eps 16/255, 10 steps, ``alpha=eps/10``, ``random_start=None`` (the
  authors' TT starts at the clean clip).

The traced per-clip loss (``loss_trace``, best iterate) is the loss of the unshifted clip, the
quantity the evaluation measures.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch

from videopure.attacks.base import Attack, View, _check_int

#: The paper's shift range (+-7) at its clip length (32 frames).
PAPER_MAX_SHIFT = 7
PAPER_FRAMES = 32


def _roll(x: torch.Tensor, shift: int) -> torch.Tensor:
    return x.roll(shift, dims=1)


class TT(Attack):
    """Temporal translation attack (Wei et al. 2022).

    Args:
        max_shift: ``k``; ``None`` scales the paper's +-7 at 32 frames with the clip length
            (:meth:`shift_range`).
        **kwargs: as :class:`~videopure.attacks.base.Attack` (``momentum=1.0`` gives TT+MI).
    """

    name = "TT"

    def __init__(self, model: Any, *, max_shift: int | None = None, **kwargs: Any) -> None:
        self.max_shift = None if max_shift is None else _check_int("max_shift", max_shift, 1)
        super().__init__(model, **kwargs)

    def shift_range(self, frames: int) -> int:
        """``k`` for clips of ``frames`` frames: ``max_shift``, or ``round(7 * frames / 32)`` >= 1."""
        if self.max_shift is not None:
            return self.max_shift
        return max(1, math.floor(PAPER_MAX_SHIFT * frames / PAPER_FRAMES + 0.5))

    @staticmethod
    def kernel(k: int) -> torch.Tensor:
        """Weights of the shifts ``-k..k``: a Gaussian with ``sigma = k / 3``, summing to 1."""
        shifts = torch.arange(-k, k + 1, dtype=torch.float64)
        weights = torch.exp(-(shifts**2) / (2 * (k / 3) ** 2))
        return weights / weights.sum()

    def views(self, frames: int) -> list[View]:
        k = self.shift_range(frames)
        weights = self.kernel(k).tolist()
        return [
            View(functools.partial(_roll, shift=s), w, 1.0 if s == 0 else 0.0)
            for s, w in zip(range(-k, k + 1), weights, strict=True)
        ]

    def settings(self) -> dict[str, Any]:
        return super().settings() | {
            "max_shift": self.max_shift if self.max_shift is not None else "round(7 * T / 32)",
            "kernel": "gaussian, sigma = k / 3",
        }
