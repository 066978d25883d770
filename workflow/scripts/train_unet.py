"""Rule train_unet: the mini diffusion model's UNet3DConditionModel (epsilon prediction on cached
latents of the train split), written with the VAE as one bundle in diffusers layout."""

import json
from pathlib import Path

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.diffusion.train import UNetTraining, train_unet
from videopure.params import frames_params
from videopure.runtime import machine_description, stage

with stage(snakemake) as ctx:  # noqa: F821
    name = snakemake.wildcards.dataset  # noqa: F821
    frames = load_frames(snakemake.input.train, frames_params(ctx.config, name, "train"))  # noqa: F821
    metrics = train_unet(
        frames.frames,
        Path(snakemake.input.vae),  # noqa: F821
        UNetTraining(**ctx.config["diffusion"]["unet"]),
        Path(snakemake.output[0]),  # noqa: F821
        seed=ctx.config["seed"],
        device=ctx.device,
    )
    metrics["machine"] = machine_description()
    write_text_atomic(Path(snakemake.output[0]) / "metrics.json", json.dumps(metrics, indent=1))  # noqa: F821
