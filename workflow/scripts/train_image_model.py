"""Rule train_image_model: one of Table V's image diffusion models, a frame-wise UNet trained on the
train split's VAE latents (kind image) or pixels (kind pixel), written as a bundle in diffusers layout."""

import json
from pathlib import Path

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.diffusion.train import UNetTraining, train_unet
from videopure.params import frames_params
from videopure.runtime import machine_description, stage

with stage(snakemake) as ctx:  # noqa: F821
    inputs, output = snakemake.input, Path(snakemake.output[0])  # noqa: F821
    frames = load_frames(inputs.train, frames_params(ctx.config, snakemake.wildcards.dataset, "train"))  # noqa: F821
    metrics = train_unet(
        frames.frames,
        Path(inputs.vae) if "vae" in inputs.keys() else None,
        UNetTraining(**snakemake.params.settings),  # noqa: F821
        output,
        seed=ctx.config["seed"],
        device=ctx.device,
    )
    metrics["machine"] = machine_description()
    write_text_atomic(output / "metrics.json", json.dumps(metrics, indent=1))
