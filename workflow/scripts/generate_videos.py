"""Rule generate_videos: the mini profile's action videos, split lists and ground-truth flow."""

from pathlib import Path

from videopure.data.synthetic import generate_dataset
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821 (snakemake is injected by the script directive)
    generator = ctx.config["generator"]
    generate_dataset(
        Path(snakemake.output.class_index).parents[1],  # noqa: F821
        num_classes=generator["num_classes"],
        per_class=generator["per_class"],
        frames=generator["frames"],
        size=generator["size"],
        fps=generator["fps"],
        seed=ctx.config["seed"],
        flow_step=snakemake.params.flow_step,  # noqa: F821
    )
