"""Rule evaluation_set: the clips every recognizer of a dataset classifies correctly."""

import logging

import numpy as np

from videopure.cache import read_h5, write_h5
from videopure.evaluation.clean import cap_evaluation_set, evaluation_mask
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    name = job.wildcards.dataset
    records = {model: read_h5(path) for model, path in job.input.items()}
    first = next(iter(records.values()))
    for model, record in records.items():
        if not np.array_equal(record["video_ids"], first["video_ids"]):
            raise ValueError(f"{record.path}: clips differ from {first.path}; rerun classify_clean")
    labels = first["labels"]
    mask = evaluation_mask({model: r["logits"] for model, r in records.items()}, labels)
    if not mask.any():
        raise ValueError(f"no clip of {name} is classified correctly by every model")
    max_clips = job.config["evaluation"]["max_clips"]
    index = cap_evaluation_set(np.flatnonzero(mask), labels, max_clips, job.config["seed"])
    logging.getLogger("videopure").info(
        "evaluation set: %d of %d clips correct for every model; %d kept (max_clips=%s)",
        mask.sum(), len(mask), len(index), max_clips,
    )
    write_h5(
        job.output[0],
        {"index": index, "video_ids": first["video_ids"][index], "labels": labels[index]},
        params={"dataset": name, "models": sorted(records), "total": len(mask), "correct": int(mask.sum()),
                "max_clips": max_clips},
        upstream={model: record.identity for model, record in records.items()},
    )
