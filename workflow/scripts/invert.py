"""Rule invert: VideoPure's denoising trajectories (every z*_τ and ε_τ) of one latent cache file, for
one t*, T and inversion kind — reused by every α_s, λ and candidate choice."""

import torch

from videopure.cache import read_h5
from videopure.defenses import VideoPure
from videopure.evaluation.latents import load_diffusion_model
from videopure.evaluation.trajectories import compute_trajectories, write_trajectories
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, settings = job.input, job.params.settings
    model = load_diffusion_model(job.config, inputs.diffusion_model, job.device)
    record = read_h5(inputs.latents, expect_upstream={"diffusion_model": model.identity})
    purifier = VideoPure(model, **settings)
    trajectory = compute_trajectories(purifier, torch.from_numpy(record["latents"]), job.config["evaluation"]["batch_size"])
    upstream = {"latents": record.identity, "diffusion_model": model.identity}
    write_trajectories(job.output[0], trajectory, record["video_ids"], settings, upstream)
