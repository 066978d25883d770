"""Rule train_flow: the raft_small of a generated dataset, trained on the generator's ground-truth
flow of the train split as the workflow reads it (decord)."""

import json

from videopure.cache import write_text_atomic
from videopure.data.frames import load_frames
from videopure.data.synthetic import read_clip_flow
from videopure.flow.train import RAFTTraining, train_raft_small
from videopure.params import frames_params
from videopure.runtime import machine_description, stage

with stage(snakemake) as ctx:  # noqa: F821
    inputs, output = snakemake.input, snakemake.output  # noqa: F821
    name = snakemake.wildcards.dataset  # noqa: F821
    frames = load_frames(inputs.train, frames_params(ctx.config, name, "train"))
    flow = read_clip_flow(inputs.truth, ctx.config["datasets"][name]["clip"], frames.video_ids, inputs.train)
    metrics = train_raft_small(
        frames.frames, flow, RAFTTraining(**ctx.config["flow_training"]), output.weights,
        seed=ctx.config["seed"], device=ctx.device,
    )  # fmt: skip
    metrics["machine"] = machine_description()
    write_text_atomic(output.metrics, json.dumps(metrics, indent=1) + "\n")
