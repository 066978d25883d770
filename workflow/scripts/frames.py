"""Rule frames: decode one split of one dataset into a uint8 clip array (HDF5)."""

from pathlib import Path

from videopure.data.frames import extract_frames
from videopure.data.readers import read_split
from videopure.params import frames_params
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    name, split = snakemake.wildcards.dataset, snakemake.wildcards.split  # noqa: F821
    dataset = ctx.config["datasets"][name]
    video_list = read_split(dataset, split, generated_root=Path("data") / name, name=name)
    extract_frames(
        video_list,
        dataset["clip"],
        dataset["short_video"],
        Path(snakemake.output[0]),  # noqa: F821
        frames_params(ctx.config, name, split),
        threads=ctx.threads,
        name=name,
    )
