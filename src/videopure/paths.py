"""Where each stage writes, relative to the working directory; Snakemake rules and readers share these."""

from __future__ import annotations


def frames_file(dataset: str, split: str) -> str:
    return f"results/frames/{dataset}/{split}.h5"


def clean_split_predictions(dataset: str, model: str) -> str:
    return f"results/clean/{dataset}/{model}.h5"


def evalset_file(dataset: str) -> str:
    return f"results/evalset/{dataset}.h5"


def graybox_file(dataset: str, model: str, column: str) -> str:
    return f"results/attacks/{dataset}/{model}/graybox/{column}.h5"


def adaptive_file(dataset: str, model: str, defense: str, column: str) -> str:
    return f"results/attacks/{dataset}/{model}/adaptive/{defense}/{column}.h5"


def predictions_file(dataset: str, model: str, defense: str) -> str:
    """One Table I row: a group per input (clean, each gray-box and adaptive attack)."""
    return f"results/predictions/{dataset}/{model}/{defense}.h5"
