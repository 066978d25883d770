"""Rule train_flow: the raft_small of a generated dataset, trained on the generator's ground-truth
flow of the train split as the workflow reads it (decord)."""

import json

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.data.synthetic import read_clip_flow
from videopure.flow.train import RAFTTraining, train_raft_small
from videopure.params import frames_params
from videopure.runtime import stage
from videopure.machine import machine_description

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, output = job.input, job.output
    name = job.wildcards.dataset
    frames = load_frames(inputs.train, frames_params(job.config, name, "train"))
    flow = read_clip_flow(inputs.truth, job.config["datasets"][name]["clip"], frames.video_ids, inputs.train)
    metrics = train_raft_small(
        frames.frames, flow, RAFTTraining(**job.config["flow_training"]), output.weights,
        seed=job.config["seed"], device=job.device,
    )  # fmt: skip
    metrics["machine"] = machine_description()
    write_text_atomic(output.metrics, json.dumps(metrics, indent=1) + "\n")
