"""Rule diffusion_checks: how much a trained diffusion model costs the recognizers on clean clips.

On the evaluation split: the VAE's reconstruction PSNR, and each recognizer's accuracy on clean
clips, on VAE reconstructions (the ceiling of every diffusion defense), after DDIM inversion to
t* = 6 of T = 50 and DDIM denoising (no VideoPure modules), and after DiffPure_DDPM at t* = 101.
"""

import json

import torch
from tqdm import tqdm

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.defenses import DDIMInversion, DiffPureDDPM, seeded
from videopure.evaluation.clean import uint8_clips_to_tensor
from videopure.evaluation.latents import load_diffusion_model
from videopure.evaluation.robust import load_classifier
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
    model = load_diffusion_model(ctx.config, inputs.diffusion_model, ctx.device)
    transforms = {
        "vae_reconstruction": lambda x: model.decode(model.encode(x)),
        "ddim_inversion_t6": lambda x: DDIMInversion(model, tstar=6)(x, gradient="none")[:, 0],
        "diffpure_ddpm_t101": lambda x: DiffPureDDPM(model, tstar=101)(x, gradient="none")[:, 0],
    }
    batch_size = ctx.config["evaluation"]["batch_size"]
    outputs = {"clean": clips}
    for key, transform in transforms.items():
        parts = []
        for batch_index, start in enumerate(tqdm(range(0, len(clips), batch_size), desc=key, unit="batch")):
            with torch.no_grad(), seeded(ctx.config["seed"], batch_index):
                parts.append(transform(clips[start : start + batch_size].to(ctx.device)).float().cpu())
        outputs[key] = torch.cat(parts)
    accuracy = {}
    for model_name in snakemake.params.models:  # noqa: F821
        classifier = load_classifier(ctx.config, name, model_name, inputs[f"checkpoint_{model_name}"], None, ctx.device)
        accuracy[model_name] = {}
        for key, videos in outputs.items():
            with torch.no_grad():
                predicted = torch.cat(
                    [classifier(videos[s : s + batch_size].to(ctx.device)).argmax(1).cpu() for s in range(0, len(videos), batch_size)]
                )
            accuracy[model_name][key] = float((predicted == labels).float().mean())
    checks = {
        "split": split,
        "clips": len(clips),
        "vae_psnr_db": psnr(outputs["vae_reconstruction"], clips),
        "accuracy": accuracy,
        "diffusion_model": model.identity,
        "machine": machine_description(),
    }
    write_text_atomic(snakemake.output[0], json.dumps(checks, indent=1))  # noqa: F821
