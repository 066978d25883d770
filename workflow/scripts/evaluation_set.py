"""Rule evaluation_set: the clips every recognizer of a dataset classifies correctly."""

import logging

import numpy as np

from videopure.cache import read_h5, write_h5
from videopure.evaluation.clean import evaluation_mask
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    records = {model: read_h5(path) for model, path in snakemake.input.items()}  # noqa: F821
    first = next(iter(records.values()))
    for model, record in records.items():
        if not np.array_equal(record["video_ids"], first["video_ids"]):
            raise ValueError(f"{record.path}: clips differ from {first.path}; rerun classify_clean")
    labels = first["labels"]
    mask = evaluation_mask({model: r["logits"] for model, r in records.items()}, labels)
    if not mask.any():
        raise ValueError(f"no clip of {snakemake.wildcards.dataset} is classified correctly by every model")  # noqa: F821
    logging.getLogger("videopure").info("evaluation set: %d of %d clips", mask.sum(), len(mask))
    write_h5(
        snakemake.output[0],  # noqa: F821
        {"index": np.flatnonzero(mask), "video_ids": first["video_ids"][mask], "labels": labels[mask]},
        params={"dataset": snakemake.wildcards.dataset, "models": sorted(records), "total": len(mask)},  # noqa: F821
        upstream={model: record.identity for model, record in records.items()},
    )
