"""Seconds per clip of a defended classifier (paper, Table X: VideoPure against DiffPure_DDPM), and
what a new point of a VideoPure sweep costs once the trajectory and flow are cached.

Each clip is purified, decoded and classified on its own (batch 1), as a deployed defense sees
videos; wall time includes every candidate's decoding and classification (VideoPure's t* + 1, the
vote). The first clip runs once untimed (warm-up). UNet calls are counted per clip, so the ratio of
two timings can be read against the ratio of their UNet work.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from tqdm import tqdm

from videopure.defenses.base import seeded
from videopure.defenses.defended import DefendedClassifier, majority_vote


@torch.no_grad()
def time_defended(defended: DefendedClassifier, clips: torch.Tensor, seed: int) -> dict[str, Any]:
    """Wall-clock seconds and UNet calls per clip of ``defended`` on ``clips`` (N, T, C, H, W)."""
    purifier = defended.purifier
    model = getattr(purifier, "model", None)
    device = next(defended.classifier.parameters()).device
    with seeded(seed, 0, 0):
        majority_vote(defended(clips[:1].to(device)))  # warm-up: allocations, kernel selection
    seconds, unet_calls = [], []
    for index in tqdm(range(len(clips)), desc=f"time {purifier.name}", unit="clip"):
        clip = clips[index : index + 1].to(device)
        calls_before = model.unet_calls if model is not None else 0
        with seeded(seed, index, 0):
            start = time.perf_counter()
            majority_vote(defended(clip))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds.append(time.perf_counter() - start)
        unet_calls.append((model.unet_calls - calls_before) if model is not None else 0)
    return {
        "seconds_per_clip": seconds,
        "median_seconds": statistics.median(seconds),
        "mean_seconds": statistics.fmean(seconds),
        "unet_calls_per_clip": unet_calls,
        "candidates": purifier.num_candidates,
        "defense_settings": purifier.settings(),
    }


@torch.no_grad()
def time_sweep_point(defended: DefendedClassifier, new_point: Any, clips: torch.Tensor) -> dict[str, Any]:
    """Seconds per clip of a VideoPure setting from scratch against a new sweep point from the caches.

    ``defended.purifier`` is the VideoPure setting (the cold point); ``new_point`` another VideoPure
    on the same model with the same t* and inversion (e.g. another α_s). Cold: encode, trajectory,
    flow, candidates, decoding, classification. New point: candidates, decoding, classification
    from the cold point's latents, trajectory and flow — what a new α_s or λ costs in the workflow.
    """
    purifier, classifier = defended.purifier, defended.classifier
    device = next(classifier.parameters()).device
    cold, cached = [], []
    for index in tqdm(range(len(clips) + 1), desc="time sweep point", unit="clip"):
        clip = clips[max(index - 1, 0) : max(index - 1, 0) + 1].to(device)  # index 0: warm-up
        start = time.perf_counter()
        z0 = purifier.model.encode(clip)
        flow = purifier.latent_flow(clip, z0.shape[-2:])
        trajectory = purifier.trajectory(z0)
        majority_vote(_classify(classifier, purifier, purifier.candidates(trajectory, z0, flow)))
        middle = time.perf_counter()
        majority_vote(_classify(classifier, new_point, new_point.candidates(trajectory, z0, flow)))
        end = time.perf_counter()
        if index > 0:
            cold.append(middle - start)
            cached.append(end - middle)
    return {
        "cold_seconds_per_clip": cold,
        "cached_seconds_per_clip": cached,
        "ratio": statistics.median(cached) / statistics.median(cold),
        "cold_settings": purifier.settings(),
        "new_point_settings": new_point.settings(),
    }


def _classify(classifier: torch.nn.Module, purifier: Any, candidates: torch.Tensor) -> torch.Tensor:
    pixels = purifier.model.decode(candidates.flatten(0, 1))
    return classifier(pixels.float()).unflatten(0, candidates.shape[:2])


def build_table10(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Table X's rows from a speed report (rule purification_speed): median seconds per clip."""
    rows = []
    for name, measured in report["defenses"].items():
        rows.append(
            {
                "Defense Method": name,
                "Time(s)": round(measured["median_seconds"], 3),
                "UNet calls": measured["unet_calls_per_clip"][0],
                "Candidates": measured["candidates"],
                "Clips": len(measured["seconds_per_clip"]),
                "Machine": report["machine"],
            }
        )
    return rows
