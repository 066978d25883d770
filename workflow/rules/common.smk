# Shared by every rule: validated config, paths of each stage's files, input functions.
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from videopure.config import ConfigError, check_cross_fields, missing_local_inputs
from videopure.params import frames_params

validate(config, "../schemas/config.schema.yaml")
try:
    check_cross_fields(config)
except ConfigError as error:
    raise WorkflowError(str(error))

_missing = missing_local_inputs(config)
if _missing:
    raise WorkflowError(
        "local inputs are missing (nothing has been computed):\n  - "
        + "\n  - ".join(_missing)
    )

DATASETS = config["datasets"]
THREADS = config["threads"]
GENERATED_SPLITS = ["train", "val", "test"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="[A-Za-z0-9]+",
    split="[a-z]+",


def generated(dataset):
    return DATASETS[dataset]["source"] == "generated"


def classifier_names(dataset):
    return list(DATASETS[dataset]["classifiers"])


def checkpoint_path(dataset, model):
    """The configured checkpoint, or the one rule train_classifier writes."""
    spec = DATASETS[dataset]["classifiers"][model]
    return spec["checkpoint"] or f"results/models/{dataset}-{model}/checkpoint.pth"


def annotation_inputs(wildcards):
    """What the frames stage reads: the generator's split list, or the downloaded annotations."""
    dataset = DATASETS[wildcards.dataset]
    if generated(wildcards.dataset):
        return {
            "split_list": f"data/{wildcards.dataset}/annotations/{wildcards.split}list01.txt"
        }
    paths = {"annotations": dataset["annotations"]}
    if dataset["class_names"]:
        paths["class_names"] = dataset["class_names"]
    return paths


def frames_rule_params(wildcards):
    return frames_params(config, wildcards.dataset, wildcards.split)


def trained_classifiers():
    return [
        (dataset, model)
        for dataset in DATASETS
        for model, spec in DATASETS[dataset]["classifiers"].items()
        if spec["checkpoint"] is None
    ]


def frames_file(dataset, split):
    return f"results/frames/{dataset}/{split}.h5"


def eval_frames(wildcards):
    return frames_file(wildcards.dataset, DATASETS[wildcards.dataset]["eval_split"])


def clean_predictions(wildcards):
    return {
        model: f"results/predictions/{wildcards.dataset}/clean/{model}.h5"
        for model in classifier_names(wildcards.dataset)
    }
