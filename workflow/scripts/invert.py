"""Rule invert: VideoPure's denoising trajectories (every z*_τ and ε_τ) of one latent cache file, for
one t*, T and inversion kind — reused by every α_s, λ and candidate choice."""

import torch

from videopure.cache import read_h5
from videopure.defenses import VideoPure
from videopure.evaluation.latents import load_diffusion_model
from videopure.evaluation.trajectories import compute_trajectories, write_trajectories
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    inputs, settings = snakemake.input, snakemake.params.settings  # noqa: F821
    model = load_diffusion_model(ctx.config, inputs.diffusion_model, ctx.device)
    record = read_h5(inputs.latents, expect_upstream={"diffusion_model": model.identity})
    purifier = VideoPure(model, **settings)
    trajectory = compute_trajectories(purifier, torch.from_numpy(record["latents"]), ctx.config["evaluation"]["batch_size"])
    upstream = {"latents": record.identity, "diffusion_model": model.identity}
    write_trajectories(snakemake.output[0], trajectory, record["video_ids"], settings, upstream)  # noqa: F821
