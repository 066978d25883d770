"""The parameters each stage records in its output's attrs.

Snakemake passes them to the rule as ``params`` (so it reruns a job when they change) and the
next stage passes the same values to :func:`videopure.cache.read_h5` as expectations (so a
file made under other settings is refused). One function per stage keeps both sides equal.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

FRAME_KEYS = ("source", "video_root", "annotations", "class_names", "split", "clip", "short_video")


def frames_params(config: dict[str, Any], dataset: str, split: str) -> dict[str, Any]:
    """Everything that changes the frames file of (dataset, split)."""
    spec = config["datasets"][dataset]
    params: dict[str, Any] = {key: spec[key] for key in FRAME_KEYS}
    params["dataset"] = dataset
    params["split_name"] = split
    if split == spec["eval_split"]:
        params["subset"] = spec["subset"]
    if spec["source"] == "generated":
        params["generator"] = config["generator"]
        params["seed"] = config["seed"]
    return params


def file_digest(path: str | Path, length: int = 16) -> str:
    """SHA-256 prefix of a file's bytes: the identity of inputs that are not our HDF5 caches."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]
