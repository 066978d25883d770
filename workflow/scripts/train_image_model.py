"""Rule train_image_model: one of Table V's image diffusion models, a frame-wise UNet trained on the
train split's VAE latents (kind image) or pixels (kind pixel), written as a bundle in diffusers layout."""

import json
from pathlib import Path

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.diffusion.train import UNetTraining, train_unet
from videopure.params import frames_params
from videopure.runtime import stage
from videopure.machine import machine_description

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, output = job.input, Path(job.output[0])
    frames = load_frames(inputs.train, frames_params(job.config, job.wildcards.dataset, "train"))
    metrics = train_unet(
        frames.frames,
        Path(inputs.vae) if "vae" in inputs.keys() else None,
        UNetTraining(**job.params.settings),
        output,
        seed=job.config["seed"],
        device=job.device,
    )
    metrics["machine"] = machine_description()
    write_text_atomic(output / "metrics.json", json.dumps(metrics, indent=1))
