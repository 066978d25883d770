"""Rule classify_clean: logits of one recognizer on the clean evaluation-split clips."""

import numpy as np

from videopure.cache import write_h5
from videopure.data.frames import load_frames
from videopure.evaluation.clean import predict_logits
from videopure.evaluation.robust import load_classifier
from videopure.params import file_digest, frames_params
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    name, model = snakemake.wildcards.dataset, snakemake.wildcards.model  # noqa: F821
    spec = ctx.config["datasets"][name]
    frames = load_frames(snakemake.input.frames, frames_params(ctx.config, name, spec["eval_split"]))  # noqa: F821
    checkpoint = snakemake.input.checkpoint  # noqa: F821
    classifier = load_classifier(ctx.config, name, model, checkpoint, frames.class_names, ctx.device)
    logits = predict_logits(classifier, frames.frames, device=ctx.device)
    accuracy = float((logits.argmax(1) == frames.labels).mean())
    write_h5(
        snakemake.output[0],  # noqa: F821
        {"logits": logits.astype(np.float32), "labels": frames.labels, "video_ids": frames.video_ids},
        params={"dataset": name, "model": model, "input": "clean", "accuracy": accuracy},
        upstream={"frames": frames.identity, "checkpoint": file_digest(checkpoint)},
    )
