"""VideoPure's caches (stages 5 and 6): the input's flow and the denoising trajectory, per clip file.

A sweep over α_s or λ changes neither: the flow belongs to the input clips and the flow model, the
trajectory (:class:`~videopure.defenses.videopure.Trajectory`, every z*_τ and ε_τ) to the input's
latents, t*, T and the inversion kind (docs/design.md, "Trajectory cache"). With both cached, a new
sweep point costs the optimisation steps, decoding and classification — no UNet call.

Files are keyed in their paths: ``results/trajectories/<dataset>/<trajectory key>/<source>.h5`` and
``results/flow/<dataset>/<flow slug>/<source>.h5``, where ``source`` is ``clean`` or
``<model>/graybox/<column>``. Their ``attrs`` carry the settings and upstream identities (the
latents and the diffusion model; the clips), which readers check.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from videopure.cache import read_h5, write_h5
from videopure.defenses.videopure import Trajectory, VideoPure
from videopure.flow import FlowModel, end_point_errors, latent_flow
from videopure.params import file_digest

def flow_slug(flow: Mapping[str, Any]) -> str:
    """A path component for a flow spec: the classical method's name, or ``raft_<digest>``."""
    if flow["type"] != "raft":
        return str(flow["type"])
    digest = hashlib.sha256(json.dumps(dict(flow), sort_keys=True).encode()).hexdigest()[:10]
    return f"raft_{digest}"


@torch.no_grad()
def compute_trajectories(purifier: VideoPure, latents: torch.Tensor, batch_size: int) -> Trajectory:
    """The trajectories of latents (N, T, c, h, w), ``batch_size`` clips at a time, as float32 on the CPU."""
    device, dtype = purifier.model.device, purifier.model.dtype
    parts = []
    for start in tqdm(range(0, len(latents), batch_size), desc="invert", unit="batch"):
        z0 = latents[start : start + batch_size].to(device=device, dtype=dtype)
        parts.append(purifier.trajectory(z0).to(device="cpu", dtype=torch.float32))
    return Trajectory(*(torch.cat([getattr(part, name) for part in parts]) for name in ("states", "noise", "final")))


@torch.no_grad()
def compute_flows(flow_model: FlowModel, clips: torch.Tensor, latent_size: tuple[int, int], batch_size: int) -> torch.Tensor:
    """The flows (N, T − 1, 2, h, w) at latent size of clips (N, T, C, H, W), float32 on the CPU."""
    parts = []
    for start in tqdm(range(0, len(clips), batch_size), desc="flow", unit="batch"):
        parts.append(latent_flow(flow_model, clips[start : start + batch_size], latent_size).float().cpu())
    return torch.cat(parts)


def write_trajectories(
    path: str | Path, trajectory: Trajectory, video_ids: np.ndarray, settings: dict[str, Any], upstream: dict[str, str]
) -> str:
    """``upstream``: the latents file and the diffusion model, by identity."""
    arrays = {name: getattr(trajectory, name).numpy().astype(np.float32) for name in ("states", "noise", "final")}
    return write_h5(path, {**arrays, "video_ids": video_ids}, params=settings, upstream=upstream, compression=None)


def read_trajectories(
    path: str | Path, settings: dict[str, Any], upstream: dict[str, str], video_ids: np.ndarray
) -> Trajectory:
    """The cached trajectories of ``video_ids``, refused if made with other settings, latents or model."""
    record = read_h5(path, expect_params=settings, expect_upstream=upstream)
    if not np.array_equal(record["video_ids"], video_ids):
        raise ValueError(f"{path} holds other clips than its latents; delete it and rerun the workflow")
    return Trajectory(*(torch.from_numpy(record[name]) for name in ("states", "noise", "final")))


def _flow_upstream(spec: Mapping[str, Any], clips_upstream: dict[str, str]) -> dict[str, str]:
    """A flow cache's upstream: its clip file(s) and a learned model's weights, by identity — so a
    retrained raft_small (same path, new weights) makes readers refuse the file."""
    if "weights" not in spec:
        return dict(clips_upstream)
    return {**clips_upstream, "flow_weights": file_digest(spec["weights"])}


def write_flows(path: str | Path, flow: torch.Tensor, video_ids: np.ndarray, spec: dict[str, Any], upstream: dict[str, str]) -> str:
    """``upstream``: the clip file(s), by identity; the latent grid is recorded with the flow model."""
    params = {"flow": spec, "latent_size": list(flow.shape[-2:])}
    return write_h5(path, {"flow": flow.numpy(), "video_ids": video_ids}, params=params, upstream=_flow_upstream(spec, upstream))


def read_flows(
    path: str | Path, spec: dict[str, Any], latent_size: tuple[int, int], upstream: dict[str, str], video_ids: np.ndarray
) -> torch.Tensor:
    """The cached flows of ``video_ids`` on the latent grid ``latent_size``, refused if made by another
    flow model (or other weights of it), on another grid or from other clips."""
    expected = {"flow": spec, "latent_size": list(latent_size)}
    record = read_h5(path, expect_params=expected, expect_upstream=_flow_upstream(spec, upstream))
    if not np.array_equal(record["video_ids"], video_ids):
        raise ValueError(f"{path} holds other clips than its clip file; delete it and rerun the workflow")
    return torch.from_numpy(record["flow"])


@torch.no_grad()
def flow_errors(flow_model: FlowModel, clips: torch.Tensor, truth: torch.Tensor, batch_size: int) -> dict[str, float]:
    """End-point errors of a flow model on clips (N, T, C, H, W) against ground truth (N, T − 1, 2, H, W).

    ``epe``: mean over all pixels; ``epe_moving``: over the pixels that move (shapes), beside
    ``motion_moving``, their mean motion (the error of predicting no motion).
    """
    if truth.shape != (clips.shape[0], clips.shape[1] - 1, 2, *clips.shape[-2:]):
        raise ValueError(f"ground-truth flow {tuple(truth.shape)} does not fit clips {tuple(clips.shape)}")
    start = time.perf_counter()
    estimate = compute_flows(flow_model, clips, tuple(clips.shape[-2:]), batch_size)
    seconds = time.perf_counter() - start
    epe, epe_moving = end_point_errors(estimate, truth)
    motion = truth.norm(dim=2)
    return {
        "epe": epe,
        "epe_moving": epe_moving,
        "motion_moving": float(motion[motion > 0].mean()),
        "seconds_per_clip": seconds / len(clips),
    }
