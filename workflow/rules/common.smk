# Shared by every rule: validated config, paths of each stage's files, input functions.
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from videopure.config import ConfigError, check_cross_fields, missing_local_inputs
from videopure.defenses import resolve_defense
from videopure.evaluation.robust import ADAPTIVE_COLUMNS, GRAYBOX_COLUMNS, defense_specs
from videopure.params import frames_params
from videopure.paths import (
    adaptive_file,
    clean_latents_file,
    clean_split_predictions,
    diffusion_checks_file,
    evalset_file,
    frames_file,
    graybox_file,
    graybox_latents_file,
    predictions_file,
    trained_diffusion_dir,
    trained_vae_dir,
)

# Progress bars redraw at most every 30 s, so rule logs stay readable (tqdm reads TQDM_* defaults).
os.environ.setdefault("TQDM_MININTERVAL", "30")

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
DEFENSES = defense_specs(config)
DIFFUSION_DEFENSES = [
    name
    for name, spec in DEFENSES.items()
    if resolve_defense(spec["type"]).diffusion_based
]
GRAYBOX_SLUGS = [column.slug for column in GRAYBOX_COLUMNS]
ADAPTIVE_SLUGS = [column.slug for column in ADAPTIVE_COLUMNS]


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="[A-Za-z0-9]+",
    split="[a-z]+",
    defense="|".join(DEFENSES),


def generated(dataset):
    return DATASETS[dataset]["source"] == "generated"


def classifier_names(dataset):
    return list(DATASETS[dataset]["classifiers"])


def checkpoint_path(dataset, model):
    """The configured checkpoint, or the one rule train_classifier writes."""
    spec = DATASETS[dataset]["classifiers"][model]
    return spec["checkpoint"] or f"results/models/{dataset}-{model}/checkpoint.pth"


def diffusion_model_dir(dataset):
    """The configured diffusion model, or the one rule train_unet writes."""
    return DATASETS[dataset]["diffusion_model"] or trained_diffusion_dir(dataset)


def trained_diffusion_checks():
    """Quality checks of every diffusion model the workflow trains (rule diffusion_checks)."""
    if not DIFFUSION_DEFENSES:
        return []
    return [
        diffusion_checks_file(dataset)
        for dataset in DATASETS
        if DATASETS[dataset]["diffusion_model"] is None
    ]


def diffusion_checks_inputs(wildcards):
    """The trained model, the evaluation split's frames and every recognizer's checkpoint."""
    dataset = wildcards.dataset
    inputs = {
        "diffusion_model": trained_diffusion_dir(dataset),
        "frames": eval_frames(wildcards),
    }
    for model in classifier_names(dataset):
        inputs[f"checkpoint_{model}"] = checkpoint_path(dataset, model)
    return inputs


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


def eval_frames(wildcards):
    return frames_file(wildcards.dataset, DATASETS[wildcards.dataset]["eval_split"])


def clean_predictions(wildcards):
    return {
        model: clean_split_predictions(wildcards.dataset, model)
        for model in classifier_names(wildcards.dataset)
    }


def recognizer_inputs(wildcards):
    """What attacking or evaluating one recognizer on the evaluation set reads."""
    return {
        "frames": eval_frames(wildcards),
        "evalset": evalset_file(wildcards.dataset),
        "checkpoint": checkpoint_path(wildcards.dataset, wildcards.model),
    }


def row_sources(wildcards):
    """Inputs of one Table I row: clean, gray-box attacks, and adaptive ones for a defense."""
    sources = ["clean", *GRAYBOX_SLUGS]
    return sources + (ADAPTIVE_SLUGS if wildcards.defense != "None" else [])


def adaptive_inputs(wildcards):
    """What an adaptive attack reads: the recognizer's inputs, and the diffusion model if the defense has one."""
    inputs = recognizer_inputs(wildcards)
    if wildcards.defense in DIFFUSION_DEFENSES:
        inputs["diffusion_model"] = diffusion_model_dir(wildcards.dataset)
    return inputs


def predict_inputs(wildcards):
    """One Table I row's inputs; a diffusion defense also reads the cached latents z0 of the clean
    and gray-box clips (rules encode_clean, encode_graybox)."""
    inputs = recognizer_inputs(wildcards)
    dataset, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
    for source in row_sources(wildcards)[1:]:
        if source in GRAYBOX_SLUGS:
            inputs[source] = graybox_file(dataset, model, source)
        else:
            inputs[source] = adaptive_file(dataset, model, defense, source)
    if defense in DIFFUSION_DEFENSES:
        inputs["diffusion_model"] = diffusion_model_dir(dataset)
        inputs["latents_clean"] = clean_latents_file(dataset)
        for source in GRAYBOX_SLUGS:
            inputs[f"latents_{source}"] = graybox_latents_file(dataset, model, source)
    return inputs


def table1_predictions():
    return [
        predictions_file(dataset, model, defense)
        for dataset in DATASETS
        for model in classifier_names(dataset)
        for defense in DEFENSES
    ]
