"""Seconds per clip of a defended classifier (paper, Table X: VideoPure against DiffPure_DDPM), and
what a new point of a VideoPure sweep costs once the trajectory and flow are cached.

Each clip is purified, decoded and classified on its own (batch 1), as a deployed defense sees
videos; wall time includes the decoding and classification of every candidate the vote uses
(VideoPure's t* + 1 with the full vote, fewer with the early exit). The first clip runs once untimed
(warm-up). UNet calls and decodes are counted per clip, so the ratio of two timings can be read
against the ratio of their work.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from videopure.defenses import DiffPureDDPM, Purifier, VideoPure
from videopure.defenses.defended import DefendedClassifier, fewest_to_decide
from videopure.machine import machine_description
from videopure.randomness import seeded


@torch.no_grad()
def speed_report(
    classifier: nn.Module,
    purifiers: Mapping[str, Purifier],
    sweep_point: Mapping[str, Any],
    clips: torch.Tensor,
    seed: int,
) -> dict[str, Any]:
    """Table X's measurements, in one run (rule purification_speed): seconds per clip of the
    DiffPure_DDPM and the VideoPure row of ``purifiers`` (by name) in front of ``classifier`` —
    VideoPure with its full vote and with the early-exit vote — and their ratios; then what a new
    VideoPure sweep point (``sweep_point``: the settings it changes) costs from the caches against
    the row from scratch (:func:`time_sweep_point`), with either vote."""
    rows = {
        kind: [name for name, purifier in purifiers.items() if isinstance(purifier, kind)]
        for kind in (DiffPureDDPM, VideoPure)
    }
    missing = [kind.__name__ for kind, names in rows.items() if not names]
    if missing:
        raise ValueError(
            f"Table X compares DiffPure_DDPM with VideoPure: no {' or '.join(missing)} in {list(purifiers)}"
        )
    baseline, ours = rows[DiffPureDDPM][0], rows[VideoPure][0]
    defended = {name: DefendedClassifier(classifier, purifiers[name], gradient="none") for name in (baseline, ours)}
    report: dict[str, Any] = {
        "machine": machine_description(),
        "device": str(next(classifier.parameters()).device),
        "threads": torch.get_num_threads(),
        "clip_shape": list(clips.shape[1:]),
        "defenses": {
            baseline: time_defended(defended[baseline], clips, seed),
            ours: time_defended(defended[ours], clips, seed),
            f"{ours} (early exit)": time_defended(defended[ours], clips, seed, early_exit=True),
        },
    }
    seconds = [measured["median_seconds"] for measured in report["defenses"].values()]
    report["ratio"] = seconds[0] / seconds[1]
    report["ratio_early_exit"] = seconds[0] / seconds[2]
    new_point = purifiers[ours].with_settings(**sweep_point)
    report["sweep_point"] = time_sweep_point(defended[ours], new_point, clips)
    report["sweep_point_early_exit"] = time_sweep_point(defended[ours], new_point, clips, early_exit=True)
    return report


def time_defended(
    defended: DefendedClassifier, clips: torch.Tensor, seed: int, early_exit: bool = False
) -> dict[str, Any]:
    """Wall-clock seconds, UNet calls and decodes per clip of ``defended`` on ``clips`` (N, T, C, H, W),
    with the full vote or stopping each vote once decided (``early_exit``)."""
    purifier = defended.purifier
    model = getattr(purifier, "model", None)
    device = next(defended.classifier.parameters()).device
    with seeded(seed, 0, 0):
        defended.classify(clips[:1].to(device), early_exit=early_exit)  # warm-up: allocations, kernel selection
    seconds, unet_calls, decodes, evaluated = [], [], [], []
    for index in tqdm(range(len(clips)), desc=f"time {purifier.name}", unit="clip"):
        clip = clips[index : index + 1].to(device)
        before = (model.unet_calls, model.decodes) if model is not None else (0, 0)
        with seeded(seed, index, 0):
            start = time.perf_counter()
            vote = defended.classify(clip, early_exit=early_exit)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds.append(time.perf_counter() - start)
        after = (model.unet_calls, model.decodes) if model is not None else (0, 0)
        unet_calls.append(after[0] - before[0])
        decodes.append(after[1] - before[1])
        evaluated.append(int(vote.evaluated[0]))
    return {
        "seconds_per_clip": seconds,
        "median_seconds": statistics.median(seconds),
        "mean_seconds": statistics.fmean(seconds),
        "unet_calls_per_clip": unet_calls,
        "decodes_per_clip": decodes,
        "classified_per_clip": evaluated,
        "candidates": purifier.num_candidates,
        "early_exit": early_exit,
        "defense_settings": purifier.settings(),
    }


@torch.no_grad()
def time_sweep_point(
    defended: DefendedClassifier, new_point: Any, clips: torch.Tensor, early_exit: bool = False
) -> dict[str, Any]:
    """Seconds per clip of a VideoPure setting from scratch against a new sweep point from the caches.

    ``defended.purifier`` is the VideoPure setting (the cold point); ``new_point`` another VideoPure
    on the same model with the same t* and inversion (e.g. another α_s). Cold: encode, flow, the
    whole trajectory (which the workflow caches for every later point), candidates, decoding,
    classification. New point: candidates, decoding, classification from the cold point's latents,
    trajectory and flow — what a new α_s or λ costs in the workflow. Both votes stop early with
    ``early_exit``.
    """
    purifier, classifier = defended.purifier, defended.classifier
    other = DefendedClassifier(classifier, new_point, gradient="none")
    device = next(classifier.parameters()).device
    cold, cached = [], []
    for index in tqdm(range(len(clips) + 1), desc="time sweep point", unit="clip"):
        clip = clips[max(index - 1, 0) : max(index - 1, 0) + 1].to(device)  # index 0: warm-up
        start = time.perf_counter()
        z0 = purifier.model.encode(clip)
        flow = purifier.latent_flow(clip, z0.shape[-2:])
        trajectory = purifier.trajectory(z0)
        defended.classify(clip, z0, early_exit=early_exit, trajectory=trajectory, flow=flow)
        middle = time.perf_counter()
        other.classify(clip, z0, early_exit=early_exit, trajectory=trajectory, flow=flow)
        end = time.perf_counter()
        if index > 0:
            cold.append(middle - start)
            cached.append(end - middle)
    return {
        "cold_seconds_per_clip": cold,
        "cached_seconds_per_clip": cached,
        "ratio": statistics.median(cached) / statistics.median(cold),
        "early_exit": early_exit,
        "cold_settings": purifier.settings(),
        "new_point_settings": new_point.settings(),
    }


@dataclass(frozen=True)
class WorkPerClip:
    """The operations a defense spends on one clip at batch 1 (paper, Table X: what its seconds are
    made of), counted as :func:`time_defended` counts them.

    Where a model is too slow to time a whole purification (the paper's diffusion model on a CPU),
    :meth:`seconds` prices these counts with the measured seconds of one operation of each kind.
    """

    unet_calls: float
    decodes: float
    classified: float
    encodes: float = 1.0
    flows: float = 0.0
    optimisation_steps: float = 0.0

    #: The measured operation each count is priced by (keys of :meth:`seconds`' ``costs``).
    COSTS = {
        "unet_calls": "unet_forward",
        "decodes": "vae_decode",
        "classified": "classify",
        "encodes": "vae_encode",
        "flows": "flow",
        "optimisation_steps": "optimisation_step",
    }

    @classmethod
    def diffpure_ddpm(cls, tstar: int = 101) -> WorkPerClip:
        """DiffPure_DDPM: encode, t* ancestral denoising calls, one decode and one classification."""
        return cls(unet_calls=tstar, decodes=1, classified=1)

    @classmethod
    def videopure(cls, tstar: int = 6, classified: int | None = None) -> WorkPerClip:
        """VideoPure with λ1 > 0 (the input's flow is needed): encode, flow, t* inversion calls, then one
        denoising call per candidate down to the last one the vote classified (the final candidate
        reuses the τ = 1 call), one optimisation step, decode and classification per candidate.
        ``classified``: the early-exit vote's candidate count; None for the full vote (t* + 1)."""
        candidates = tstar + 1 if classified is None else classified
        if not 1 <= candidates <= tstar + 1:
            raise ValueError(f"VideoPure at t* = {tstar} classifies 1 to {tstar + 1} candidates, got {candidates}")
        return cls(
            unet_calls=tstar + min(candidates, tstar),
            decodes=candidates,
            classified=candidates,
            flows=1,
            optimisation_steps=candidates,
        )

    @classmethod
    def mean(cls, works: Sequence[WorkPerClip]) -> WorkPerClip:
        """The mean work per clip over clips (each clip's counts first, then their mean)."""
        if not works:
            raise ValueError("the mean work of no clips is undefined")
        return cls(**{f.name: statistics.fmean(getattr(w, f.name) for w in works) for f in fields(cls)})

    def seconds(self, costs: Mapping[str, float]) -> dict[str, float]:
        """Seconds per clip of each kind of operation and their ``total``, from ``costs``: the measured
        seconds of one operation of each kind (:data:`COSTS`; a kind this work never does may be
        missing)."""
        spent = {}
        for count, cost in self.COSTS.items():
            times = getattr(self, count)
            if times and cost not in costs:
                raise KeyError(f"no measured cost {cost!r} to price {times} {count} per clip")
            spent[cost] = times * costs[cost] if times else 0.0
        return {**spent, "total": sum(spent.values())}


def priced_table10(
    costs: Mapping[str, float],
    early_exit_candidates: Sequence[int] = (),
    videopure_tstar: int = 6,
    ddpm_tstar: int = 101,
) -> dict[str, dict[str, Any]]:
    """Table X from measured operation costs (:meth:`WorkPerClip.seconds`) for a model too slow to time
    whole purifications: DiffPure_DDPM, VideoPure's full vote, its early-exit vote at its fewest
    candidates (a unanimous first half), and, given the candidates each early-exit vote of an
    evaluation classified (``early_exit_candidates``), at their mean work per clip. Each row: the
    counted work, seconds per operation kind and ``total``, and DiffPure_DDPM ÷ the row."""
    fewest = fewest_to_decide(videopure_tstar + 1)
    works = {
        "DiffPure_DDPM": WorkPerClip.diffpure_ddpm(ddpm_tstar),
        "VideoPure": WorkPerClip.videopure(videopure_tstar),
        "VideoPure (early exit, unanimous)": WorkPerClip.videopure(videopure_tstar, fewest),
    }
    if early_exit_candidates:
        works[f"VideoPure (early exit, mean of {len(early_exit_candidates)} votes)"] = WorkPerClip.mean(
            [WorkPerClip.videopure(videopure_tstar, int(n)) for n in early_exit_candidates]
        )
    baseline = works["DiffPure_DDPM"].seconds(costs)["total"]
    rows = {}
    for name, work in works.items():
        seconds = work.seconds(costs)
        rows[name] = {"work": asdict(work), "seconds": seconds, "ratio": baseline / seconds["total"]}
    return rows


def build_table10(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Table X's rows from a speed report (rule purification_speed): median seconds per clip, mean
    UNet calls, decodes and classified candidates per clip."""
    rows = []
    for name, measured in report["defenses"].items():
        rows.append(
            {
                "Defense Method": name,
                "Time(s)": round(measured["median_seconds"], 3),
                "UNet calls": round(statistics.fmean(measured["unet_calls_per_clip"]), 2),
                "Decodes": round(statistics.fmean(measured["decodes_per_clip"]), 2),
                "Classified": round(statistics.fmean(measured["classified_per_clip"]), 2),
                "Candidates": measured["candidates"],
                "Clips": len(measured["seconds_per_clip"]),
                "Machine": report["machine"],
            }
        )
    return rows
