"""Rule train_vae: the mini diffusion model's AutoencoderKL, trained frame-wise on the train split."""

import json
from pathlib import Path

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.diffusion.train import VAETraining, train_vae
from videopure.params import frames_params
from videopure.runtime import stage
from videopure.machine import machine_description

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    name = job.wildcards.dataset
    frames = load_frames(job.input.train, frames_params(job.config, name, "train"))
    metrics = train_vae(
        frames.frames,
        VAETraining(**job.config["diffusion"]["vae"]),
        Path(job.output[0]),
        seed=job.config["seed"],
        device=job.device,
    )
    metrics["machine"] = machine_description()
    write_text_atomic(Path(job.output[0]) / "metrics.json", json.dumps(metrics, indent=1))
