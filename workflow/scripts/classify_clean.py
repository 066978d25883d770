"""Rule classify_clean: logits of one recognizer on the clean evaluation-split clips."""

import numpy as np

from videopure.cache import write_h5
from videopure.data.frames import load_frames
from videopure.models.classifier import predict_logits
from videopure.evaluation.loading import load_classifier
from videopure.params import file_digest, frames_params
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    name, model = job.wildcards.dataset, job.wildcards.model
    spec = job.config["datasets"][name]
    frames = load_frames(job.input.frames, frames_params(job.config, name, spec["eval_split"]))
    checkpoint = job.input.checkpoint
    classifier = load_classifier(job.config, name, model, checkpoint, frames.class_names, job.device)
    logits = predict_logits(classifier, frames.frames, device=job.device)
    accuracy = float((logits.argmax(1) == frames.labels).mean())
    write_h5(
        job.output[0],
        {"logits": logits.astype(np.float32), "labels": frames.labels, "video_ids": frames.video_ids},
        params={"dataset": name, "model": model, "input": "clean", "accuracy": accuracy},
        upstream={"frames": frames.identity, "checkpoint": file_digest(checkpoint)},
    )
