"""Rule train_vae: the mini diffusion model's AutoencoderKL, trained frame-wise on the train split."""

import json
from pathlib import Path

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.diffusion.train import VAETraining, train_vae
from videopure.params import frames_params
from videopure.runtime import machine_description, stage

with stage(snakemake) as ctx:  # noqa: F821
    name = snakemake.wildcards.dataset  # noqa: F821
    frames = load_frames(snakemake.input.train, frames_params(ctx.config, name, "train"))  # noqa: F821
    metrics = train_vae(
        frames.frames,
        VAETraining(**ctx.config["diffusion"]["vae"]),
        Path(snakemake.output[0]),  # noqa: F821
        seed=ctx.config["seed"],
        device=ctx.device,
    )
    metrics["machine"] = machine_description()
    write_text_atomic(Path(snakemake.output[0]) / "metrics.json", json.dumps(metrics, indent=1))  # noqa: F821
