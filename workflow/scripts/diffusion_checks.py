"""Rule diffusion_checks: how much a trained diffusion model costs the recognizers on clean clips
(videopure.evaluation.checks.diffusion_checks), on the evaluation split, at the t* of config
diagnostics.ldm_checks (the paper's 6 of T = 50, and 101)."""

import json

import torch

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.evaluation.checks import diffusion_checks
from videopure.evaluation.latents import load_diffusion_model
from videopure.evaluation.loading import load_classifiers
from videopure.models.classifier import uint8_clips_to_tensor
from videopure.params import frames_params
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, name = job.input, job.wildcards.dataset
    split = job.config["datasets"][name]["eval_split"]
    frames = load_frames(inputs.frames, frames_params(job.config, name, split))
    classifiers = load_classifiers(job.config, name, job.params.models, inputs, frames.class_names, job.device)
    checks = diffusion_checks(
        load_diffusion_model(job.config, inputs.diffusion_model, job.device),
        classifiers,
        uint8_clips_to_tensor(frames.frames),
        torch.from_numpy(frames.labels).long(),
        job.config["diagnostics"]["ldm_checks"],
        job.config["seed"],
        job.config["evaluation"]["batch_size"],
        job.device,
    )
    write_text_atomic(job.output[0], json.dumps({"split": split, **checks}, indent=1))
