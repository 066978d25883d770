"""Rule diffusion_checks: how much a trained diffusion model costs the recognizers on clean clips.

On the evaluation split: the VAE's reconstruction PSNR, and each recognizer's accuracy on clean
clips, on VAE reconstructions (the ceiling of every diffusion defense), after DDIM inversion and DDIM
denoising (no VideoPure modules) and after DiffPure_DDPM, at the t* of config diagnostics.ldm_checks
(the paper's 6 of T = 50, and 101).
Each clip is purified and scored as a Table I row scores it (one draw, seeded per clip), once for
all recognizers.
"""

import json

import numpy as np
import torch
from tqdm import tqdm

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.defenses import DDIMInversion, DiffPureDDPM, NoDefense
from videopure.evaluation.clean import uint8_clips_to_tensor
from videopure.evaluation.latents import load_diffusion_model
from videopure.evaluation.robust import defended_accuracies, load_classifier
from videopure.params import frames_params
from videopure.runtime import machine_description, stage


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over clips of the PSNR (dB) of [0, 1] videos."""
    mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return float((10 * torch.log10(1 / mse)).mean())


with stage(snakemake) as ctx:  # noqa: F821
    inputs, name = snakemake.input, snakemake.wildcards.dataset  # noqa: F821
    split = ctx.config["datasets"][name]["eval_split"]
    frames = load_frames(inputs.frames, frames_params(ctx.config, name, split))
    clips, labels = uint8_clips_to_tensor(frames.frames), torch.from_numpy(frames.labels).long()
    clip_ids = np.arange(len(clips))
    seed, batch_size = ctx.config["seed"], ctx.config["evaluation"]["batch_size"]
    model = load_diffusion_model(ctx.config, inputs.diffusion_model, ctx.device)
    with torch.no_grad():
        reconstructions = torch.cat(
            [
                model.decode(model.encode(clips[start : start + batch_size].to(ctx.device))).float().cpu()
                for start in tqdm(range(0, len(clips), batch_size), desc="vae_reconstruction", unit="batch")
            ]
        )
    classifiers = {
        model_name: load_classifier(
            ctx.config, name, model_name, inputs[f"checkpoint_{model_name}"], frames.class_names, ctx.device
        )
        for model_name in snakemake.params.models  # noqa: F821
    }
    no_defense, tstar = NoDefense(), ctx.config["diagnostics"]["ldm_checks"]
    evaluations = {
        "clean": (no_defense, clips),
        "vae_reconstruction": (no_defense, reconstructions),
        f"ddim_inversion_t{tstar['ddim_inversion_tstar']}": (DDIMInversion(model, tstar["ddim_inversion_tstar"]), clips),
        f"diffpure_ddpm_t{tstar['diffpure_ddpm_tstar']}": (DiffPureDDPM(model, tstar["diffpure_ddpm_tstar"]), clips),
    }
    accuracy = {model_name: {} for model_name in classifiers}
    for key, (purifier, videos) in evaluations.items():
        for model_name, value in defended_accuracies(classifiers, purifier, videos, labels, clip_ids, seed, batch_size).items():
            accuracy[model_name][key] = value
    checks = {
        "split": split,
        "clips": len(clips),
        "vae_psnr_db": psnr(reconstructions, clips),
        "accuracy": accuracy,
        "diffusion_model": model.identity,
        "machine": machine_description(),
    }
    write_text_atomic(snakemake.output[0], json.dumps(checks, indent=1))  # noqa: F821
