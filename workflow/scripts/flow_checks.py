"""Rule flow_checks: end-point error of every flow model against the generator's ground-truth flow,
on the test split's clips as the workflow reads them (decord)."""

import json

import numpy as np
import torch

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.data.synthetic import read_clip_flow
from videopure.models.classifier import uint8_clips_to_tensor
from videopure.evaluation.trajectories import flow_errors
from videopure.flow import build_flow_model
from videopure.runtime import stage
from videopure.machine import machine_description

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs = job.input
    frames = load_frames(inputs.frames)
    clips = uint8_clips_to_tensor(frames.frames)
    clip = job.config["datasets"][job.wildcards.dataset]["clip"]
    flow = read_clip_flow(inputs.truth, clip, frames.video_ids, inputs.frames)
    flow = torch.from_numpy(flow.astype(np.float32)).permute(0, 1, 4, 2, 3)
    if flow.shape[-2:] != clips.shape[-2:]:
        raise ValueError(
            f"the clips {tuple(clips.shape)} are not the generated frames {tuple(flow.shape)}: set the dataset's "
            "clip (short_side, crop) to the generator's size to check flow against ground truth"
        )
    report = {"machine": machine_description(), "clips": len(clips), "models": {}}
    for slug, spec in job.params.flows.items():
        flow_model = build_flow_model(spec).to(job.device)
        report["models"][slug] = {"spec": spec, **flow_errors(flow_model, clips, flow, job.config["evaluation"]["batch_size"])}
    write_text_atomic(job.output[0], json.dumps(report, indent=1) + "\n")
