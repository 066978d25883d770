"""Rule generate_videos: the mini profile's action videos, split lists and ground-truth flow."""

from pathlib import Path

from videopure.data.synthetic import generate_dataset
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it) (snakemake is injected by the script directive)
    generator = job.config["generator"]
    generate_dataset(
        Path(job.output.class_index).parents[1],
        num_classes=generator["num_classes"],
        per_class=generator["per_class"],
        frames=generator["frames"],
        size=generator["size"],
        fps=generator["fps"],
        seed=job.config["seed"],
        flow_step=job.params.flow_step,
    )
