"""Rule frames: decode one split of one dataset into a uint8 clip array (HDF5)."""

from pathlib import Path

from videopure.data.frames import extract_frames
from videopure.data.readers import read_split
from videopure.params import frames_params
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    name, split = job.wildcards.dataset, job.wildcards.split
    dataset = job.config["datasets"][name]
    video_list = read_split(dataset, split, generated_root=Path("data") / name, name=name)
    extract_frames(
        video_list,
        dataset["clip"],
        dataset["short_video"],
        Path(job.output[0]),
        frames_params(job.config, name, split),
        threads=job.threads,
        name=name,
    )
