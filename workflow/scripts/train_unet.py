"""Rule train_unet: the mini diffusion model's UNet3DConditionModel (epsilon prediction on cached
latents of the train split), written with the VAE as one bundle in diffusers layout."""

import json
from pathlib import Path

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.diffusion.train import UNetTraining, train_unet
from videopure.params import frames_params
from videopure.runtime import stage
from videopure.machine import machine_description

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    name = job.wildcards.dataset
    frames = load_frames(job.input.train, frames_params(job.config, name, "train"))
    metrics = train_unet(
        frames.frames,
        Path(job.input.vae),
        UNetTraining(**job.config["diffusion"]["unet"]),
        Path(job.output[0]),
        seed=job.config["seed"],
        device=job.device,
    )
    metrics["machine"] = machine_description()
    write_text_atomic(Path(job.output[0]) / "metrics.json", json.dumps(metrics, indent=1))
