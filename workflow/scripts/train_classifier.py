"""Rule train_classifier: train one mmaction2 recognizer on a dataset's train split (and, with
train.vae_reconstructions > 0, its reconstructions through the VAE)."""

from pathlib import Path

from videopure.data.frames import load_frames
from videopure.models.train import ClassifierTraining, train_classifier
from videopure.params import frames_params
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    name = job.wildcards.dataset
    eval_split = job.config["datasets"][name]["eval_split"]
    splits = {
        role: load_frames(getattr(job.input, role), frames_params(job.config, name, split))
        for role, split in (("train", "train"), ("val", "val"), ("test", eval_split))
    }
    if "train_reconstructed" in job.input.keys():
        splits["train_reconstructed"] = load_frames(
            job.input.train_reconstructed,
            frames_params(job.config, name, "train"),
            expect_upstream={"frames": splits["train"].identity},
        )
    train_classifier(
        job.input.model_config,
        splits["train"],
        splits["val"],
        Path(job.output.checkpoint).parent,
        ClassifierTraining(**job.config["train"], seed=job.config["seed"]),
        frames_test=splits["test"],
        frames_reconstructed=splits.get("train_reconstructed"),
        threads=job.threads,
        device=job.device,
    )
