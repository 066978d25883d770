"""What a trained diffusion model costs the recognizers, and the bars the diffusion defenses are held to
(rules diffusion_checks and graybox_checks).

Every clip is purified and scored as a Table I row scores it (:func:`defended_accuracies`: one draw,
seeded per clip), once for all recognizers, so a profile whose Table I has the same defense gives the
same numbers there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from videopure.defenses import DDIMInversion, DiffPureDDPM, NoDefense, build_defense
from videopure.evaluation.loading import EvalClips
from videopure.evaluation.voting import defended_accuracies
from videopure.machine import machine_description

log = logging.getLogger(__name__)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over clips of the PSNR (dB) of [0, 1] videos (B, ...)."""
    mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return float((10 * torch.log10(1 / mse)).mean())


@torch.no_grad()
def vae_reconstructions(model, clips: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """``clips`` through the diffusion model's VAE, x -> D(E(x)), in batches, on the CPU."""
    return torch.cat(
        [
            model.decode(model.encode(clips[start : start + batch_size].to(device))).float().cpu()
            for start in tqdm(range(0, len(clips), batch_size), desc="vae_reconstruction", unit="batch")
        ]
    )


def diffusion_checks(
    model,
    classifiers: Mapping[str, nn.Module],
    clips: torch.Tensor,
    labels: torch.Tensor,
    tstars: Mapping[str, int],
    seed: int,
    batch_size: int,
    device: torch.device,
) -> dict[str, Any]:
    """The VAE's reconstruction PSNR, and each recognizer's accuracy on the clean clips, on their VAE
    reconstructions (the ceiling of every diffusion defense), after DDIM inversion and DDIM denoising
    (no VideoPure modules) and after DiffPure_DDPM, at the t* of ``tstars`` (config
    ``diagnostics.ldm_checks``: ``ddim_inversion_tstar``, ``diffpure_ddpm_tstar``)."""
    reconstructions = vae_reconstructions(model, clips, batch_size, device)
    inversion, ddpm = tstars["ddim_inversion_tstar"], tstars["diffpure_ddpm_tstar"]
    no_defense = NoDefense()
    evaluations = {
        "clean": (no_defense, clips),
        "vae_reconstruction": (no_defense, reconstructions),
        f"ddim_inversion_t{inversion}": (DDIMInversion(model, inversion), clips),
        f"diffpure_ddpm_t{ddpm}": (DiffPureDDPM(model, ddpm), clips),
    }
    clip_ids = np.arange(len(clips))
    accuracy: dict[str, dict[str, float]] = {name: {} for name in classifiers}
    for key, (purifier, videos) in evaluations.items():
        for name, value in defended_accuracies(classifiers, purifier, videos, labels, clip_ids, seed, batch_size).items():
            accuracy[name][key] = value
    return {
        "clips": len(clips),
        "vae_psnr_db": psnr(reconstructions, clips),
        "accuracy": accuracy,
        "diffusion_model": model.identity,
        "machine": machine_description(),
    }


def graybox_checks(
    model,
    references: Mapping[str, Mapping[str, Any]],
    classifiers: Mapping[str, nn.Module],
    data: EvalClips,
    adversarial: Mapping[str, torch.Tensor],
    attacks: Mapping[str, Any],
    seed: int,
    batch_size: int,
    device: torch.device,
) -> dict[str, Any]:
    """Standard Acc and Robust Acc* (gray-box PGD) of each defense of ``references`` (config
    ``diagnostics.graybox_references``) for every recognizer: ``adversarial`` holds each recognizer's
    PGD clips, ``attacks`` the settings they were made with. A clean clip's candidates do not depend on
    the recognizer, so they are purified once and classified by all."""
    purifiers = {name: build_defense(spec, diffusion_model=model).to(device) for name, spec in references.items()}
    checks: dict[str, Any] = {
        "clips": len(data.clips),
        "defenses": {name: purifier.settings() for name, purifier in purifiers.items()},
        "accuracy": {recognizer: {name: {} for name in purifiers} for recognizer in classifiers},
        "attacks": dict(attacks),
    }
    for name, purifier in purifiers.items():
        scored = {"Standard Acc": defended_accuracies(classifiers, purifier, data.clips, data.labels, data.index, seed, batch_size)}
        scored["Robust Acc* (PGD)"] = {
            recognizer: defended_accuracies(
                {recognizer: classifier}, purifier, adversarial[recognizer], data.labels, data.index, seed, batch_size
            )[recognizer]
            for recognizer, classifier in classifiers.items()
        }
        for column, per_recognizer in scored.items():
            for recognizer, accuracy in per_recognizer.items():
                checks["accuracy"][recognizer][name][column] = accuracy
                log.info("%s, %s, %s: %.3f", recognizer, name, column, accuracy)
    checks["machine"] = machine_description()
    return checks
