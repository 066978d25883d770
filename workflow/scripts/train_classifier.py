"""Rule train_classifier: train one mmaction2 recognizer on a dataset's train split (and, with
train.vae_reconstructions > 0, its reconstructions through the VAE)."""

from pathlib import Path

from videopure.data.frames import load_frames
from videopure.models.train import train_classifier
from videopure.params import frames_params
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    name = snakemake.wildcards.dataset  # noqa: F821
    eval_split = ctx.config["datasets"][name]["eval_split"]
    splits = {
        role: load_frames(getattr(snakemake.input, role), frames_params(ctx.config, name, split))  # noqa: F821
        for role, split in (("train", "train"), ("val", "val"), ("test", eval_split))
    }
    if "train_reconstructed" in snakemake.input.keys():  # noqa: F821
        splits["train_reconstructed"] = load_frames(
            snakemake.input.train_reconstructed,  # noqa: F821
            frames_params(ctx.config, name, "train"),
            expect_upstream={"frames": splits["train"].identity},
        )
    train_classifier(
        snakemake.input.model_config,  # noqa: F821
        splits["train"],
        splits["val"],
        Path(snakemake.output.checkpoint).parent,  # noqa: F821
        frames_test=splits["test"],
        frames_reconstructed=splits.get("train_reconstructed"),
        seed=ctx.config["seed"],
        threads=ctx.threads,
        device=ctx.device,
        **ctx.config["train"],
    )
