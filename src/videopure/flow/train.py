"""Training of the ``raft_small`` flow model on a generated dataset's ground-truth flow.

The paper runs RAFT (raft-things) for the temporal loss; its weights cannot be downloaded here, so
on a generated dataset (the mini and smoke profiles) the workflow trains torchvision's
``raft_small`` from scratch on the generator's exact forward flow of the train split
(:func:`videopure.data.synthetic.generate_dataset`). It is the differentiable flow model the
mini profile's VideoPure can use, which an attack on the flow model needs (paper, Table VI).

The loop supervises every refinement with RAFT's sequence loss (Teed & Deng, 2020, eq. 7), on
frames fed exactly as :class:`~videopure.flow.RAFTFlow` feeds them at evaluation
(:func:`~videopure.flow.raft_predictions`: upsampling below 128 pixels, the input range). The
weights saved are a plain torchvision state dict, the format the paper's RAFT weights come in, so
``{"type": "raft", "size": "small", "weights": <file>}`` loads either. Runs are seeded and
deterministic on one machine and thread count.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from videopure.cache import save_torch_atomic
from videopure.flow import RAFT_INPUT_RANGES, end_point_errors, raft_predictions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RAFTTraining:
    """Schedule of the ``raft_small`` training (config ``flow_training``).

    The defaults are the mini profile's measured run: 2000 steps in 22 minutes on two CPU threads;
    on the test split, end-point error 0.42 px on moving pixels (DIS 0.34, Farnebäck 0.26) and
    0.12 px over all pixels (DIS 0.27). 600 steps at lr 4e-4 had not yet left zero flow.

    Each step draws ``batch_size`` pairs of consecutive frames from random train clips. AdamW with
    a one-cycle schedule (``warmup_fraction`` of the steps rising to ``lr``) and gradient clipping,
    as RAFT's own training. ``iterations`` refinements are unrolled in training; the flow spec may
    run more at evaluation. ``gamma`` weights the refinements: the last by 1, each earlier one by
    another factor ``gamma``.
    """

    steps: int = 2000
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-5
    warmup_fraction: float = 0.05
    grad_clip: float = 1.0
    iterations: int = 6
    gamma: float = 0.8
    input_range: str = "unit"

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "iterations"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RAFTTraining.{key} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"RAFTTraining.lr must be > 0, got {self.lr!r}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"RAFTTraining.gamma must be in (0, 1], got {self.gamma!r}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"RAFTTraining.warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        if self.input_range not in RAFT_INPUT_RANGES:
            raise ValueError(f"RAFTTraining.input_range must be one of {RAFT_INPUT_RANGES}, got {self.input_range!r}")

    def spec(self, weights: str | Path) -> dict[str, Any]:
        """The flow spec that runs the trained model as it was trained."""
        return {"type": "raft", "size": "small", "weights": str(weights), "iterations": self.iterations,
                "input_range": self.input_range}  # fmt: skip


def sequence_loss(predictions: list[torch.Tensor], truth: torch.Tensor, gamma: float) -> torch.Tensor:
    """RAFT's loss Σ_k γ^(n−1−k) · E|f_k − f_gt|₁ over the n refinements f_0 … f_{n−1}, with the
    mean E taken over moving and still pixels separately and averaged.

    The generator's scenes are mostly still background: under a plain mean, zero flow is a deep
    minimum (measured: a 600-step mini run stayed there, its end-point error on moving pixels
    equal to their motion). Balancing the two gives the shapes' motion half the loss.
    """
    moving = (truth != 0).any(dim=1, keepdim=True).to(truth.dtype)  # (N, 1, H, W)
    weights = moving / moving.sum().clamp(min=1) + (1 - moving) / (1 - moving).sum().clamp(min=1)
    weights = weights / weights.sum()  # both groups present: each half; one group: all of it
    count = len(predictions)
    return sum(
        gamma ** (count - 1 - k) * ((flow - truth).abs().sum(dim=1, keepdim=True) * weights).sum() / 2
        for k, flow in enumerate(predictions)
    )


def _check_training_data(frames: np.ndarray, flow: np.ndarray) -> None:
    if frames.ndim != 5 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"training frames must be uint8 RGB clips (N, T, H, W, 3), got {frames.dtype} {frames.shape}")
    expected = (frames.shape[0], frames.shape[1] - 1, *frames.shape[2:4], 2)
    if flow.shape != expected:
        raise ValueError(f"ground-truth flow {flow.shape} does not fit the frames {frames.shape}: expected {expected}")


def _channels_first(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, H, W, C) array -> float32 (N, C, H, W) tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(0, 3, 1, 2).to(device)


def train_raft_small(
    frames: np.ndarray,
    flow: np.ndarray,
    settings: RAFTTraining,
    out_path: str | Path,
    *,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Train a ``raft_small`` on clips and their forward flow; write its state dict to ``out_path``.

    Args:
        frames: uint8 (N, T, H, W, 3), the train split as the workflow reads it (decord).
        flow: (N, T − 1, H, W, 2), ``flow[n, i, y, x] = (dx, dy)`` in pixels from frame i to i + 1.

    Returns:
        Metrics: ``train_seconds``, ``param_count``, the loss history (every 10th step), the mean
        final-refinement end-point error over the last 10 % of steps (all pixels, and moving
        pixels alone), the settings and the seed.
    """
    from torchvision.models.optical_flow import raft_small

    _check_training_data(frames, flow)
    device = torch.device(device)
    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    raft = raft_small(weights=None, progress=False).to(device).train()
    optimizer = torch.optim.AdamW(raft.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.lr, total_steps=settings.steps, pct_start=max(settings.warmup_fraction, 1e-3),
        anneal_strategy="linear", cycle_momentum=False,
    )  # fmt: skip
    losses, errors, moving_errors = [], [], []
    last_tenth = settings.steps - max(settings.steps // 10, 1)
    bar = tqdm(range(settings.steps), desc="train raft_small", unit="step", disable=not progress)
    for step in bar:
        clip = rng.integers(frames.shape[0], size=settings.batch_size)
        pair = rng.integers(frames.shape[1] - 1, size=settings.batch_size)
        first, second = (_channels_first(frames[clip, pair + offset], device) / 255 for offset in (0, 1))
        truth = _channels_first(flow[clip, pair], device)
        predictions = raft_predictions(raft, first, second, settings.iterations, settings.input_range)
        loss = sequence_loss(predictions, truth, settings.gamma)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"raft_small training diverged at step {step} (loss {loss.item()}); lower flow_training.lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(raft.parameters(), settings.grad_clip)
        optimizer.step()
        schedule.step()
        if step % 10 == 0 or step == settings.steps - 1:
            losses.append(round(loss.item(), 5))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if step >= last_tenth:
            error, moving_error = end_point_errors(predictions[-1].detach(), truth)
            errors.append(error)
            moving_errors.append(moving_error)
    save_torch_atomic(raft.state_dict(), out_path)
    train_seconds = time.perf_counter() - start
    log.info("trained raft_small for %d steps in %.0f s (train EPE %.3f px, %.3f px on moving pixels)",
             settings.steps, train_seconds, np.mean(errors), np.nanmean(moving_errors))  # fmt: skip
    return {
        "train_seconds": train_seconds,
        "param_count": sum(parameter.numel() for parameter in raft.parameters()),
        "loss_history": losses,
        "train_epe_last_tenth": float(np.mean(errors)),
        "train_epe_moving_last_tenth": float(np.nanmean(moving_errors)),
        "settings": asdict(settings),
        "seed": seed,
    }
