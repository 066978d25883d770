"""Configuration: one JSON schema, validated before any compute.

The schema lives in ``workflow/schemas/config.schema.yaml``; Snakemake validates the workflow's
config with it and every Python entry point calls :func:`validate_config` on what it is given,
so a script run by hand gets the same checks and defaults as the workflow.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from videopure.data.readers import FRAME_FOLDER_SOURCES, check_frame_files
from videopure.paths import trained_flow_weights

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and what to do."""


def _key_path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


@functools.cache
def schema() -> dict[str, Any]:
    """The config schema (workflow/schemas/config.schema.yaml), parsed once per process."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _schema_validator():
    """A validator of the config schema that fills in defaults as it descends, as Snakemake's
    ``validate(config, schema)`` does (so a job and the workflow see the same config), without
    importing Snakemake: the GPU script runs where it is not installed."""
    import jsonschema

    validate_properties = jsonschema.Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    filling = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"properties": set_defaults})
    return filling(schema())


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return a validated copy of ``config`` with the schema's defaults filled in.

    Raises:
        ConfigError: naming the offending key (unknown keys, wrong types, values out of range,
            and the cross-field rules the schema cannot express).
    """
    import jsonschema

    config = copy.deepcopy(dict(config))
    try:
        _schema_validator().validate(config)
    except jsonschema.ValidationError as error:
        raise ConfigError(f"config key '{_key_path(error)}': {error.message}") from None
    check_cross_fields(config)
    return config


def check_cross_fields(config: dict[str, Any]) -> None:
    """Rules between keys that JSON schema cannot express; raises ConfigError naming the key."""
    # Imported here: the defenses and the trainer pull in torch, which plain config work does not need.
    from videopure.defenses import check_defense_spec
    from videopure.diffusion.train import UNetTraining, VAETraining
    from videopure.evaluation.autoattack import autoattack_setup
    from videopure.flow.train import RAFTTraining
    from videopure.tables.ablations import ablation_setup
    from videopure.tables.budgets import budget_tables
    from videopure.tables.table3 import blackbox_table
    from videopure.tables.table5 import table5_setup

    if config["attack"]["norm"] != "linf":
        raise ConfigError(
            "config key 'attack.norm': Table I's attacks are l-inf (paper IV-B); the l2 attacks are Table "
            "XII's (results/table12.csv, radius attack.eps_l2): set attack.norm: linf"
        )
    for key, spec in _defense_specs_by_key(config).items():
        try:
            check_defense_spec(spec)
        except ValueError as error:
            raise ConfigError(f"config key '{key}': {error}") from None
    try:  # before Table VI, whose default flow model is the trained raft_small
        RAFTTraining(**config["flow_training"])
    except (TypeError, ValueError) as error:
        raise ConfigError(f"config key 'flow_training': {error}") from None
    try:
        setup = ablation_setup(config)
        autoattack_setup(config)
        budget_tables(config)
        blackbox_table(config)
    except ValueError as error:
        raise ConfigError(str(error)) from None

    for key, settings in (("vae", VAETraining), ("unet", UNetTraining)):
        try:
            settings(**config["diffusion"][key])
        except (TypeError, ValueError) as error:
            raise ConfigError(f"config key 'diffusion.{key}': {error}") from None
    _check_trained_range(config, setup.variant_specs() if setup else {})
    if setup:
        _check_speed_sweep_point(setup.base_spec, config["diagnostics"]["speed_sweep_point"])
    try:  # after the defenses' own checks: Table V's rows are theirs on other models
        table5_setup(config, setup.defense if setup else None)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    _check_half_precision(config)
    for name, dataset in config["datasets"].items():
        if not dataset.get("classifiers"):
            raise ConfigError(f"config key 'datasets.{name}.classifiers': name at least one recognizer")
        clashes = sorted(set(dataset.get("surrogates", {})) & set(dataset["classifiers"]))
        if clashes:
            raise ConfigError(
                f"config key 'datasets.{name}.surrogates.{clashes[0]}': {clashes[0]!r} is also a classifier; a "
                "surrogate only crafts black-box attacks, give it another name"
            )
        if dataset["source"] == "presampled":
            _check_presampled(name, dataset)
        if "frame_files" in dataset:
            if dataset["source"] not in FRAME_FOLDER_SOURCES:
                raise ConfigError(
                    f"config key 'datasets.{name}.frame_files': only a rawframes or presampled dataset reads "
                    f"frame folders (source is {dataset['source']!r}); remove it"
                )
            try:
                check_frame_files(dataset["frame_files"])
            except ValueError as error:
                raise ConfigError(f"config key 'datasets.{name}.frame_files': {error}") from None
        clip = dataset["clip"]
        if clip["crop"] > clip["short_side"]:
            raise ConfigError(
                f"config key 'datasets.{name}.clip.crop': {clip['crop']} is larger than "
                f"short_side={clip['short_side']}"
            )


def _check_presampled(name: str, dataset: dict[str, Any]) -> None:
    """A pre-sampled clip is read whole, in order: no temporal stride, never looped."""
    if dataset["clip"]["frame_interval"] != 1:
        raise ConfigError(
            f"config key 'datasets.{name}.clip.frame_interval': a presampled dataset reads every frame of a "
            f"folder in order; set it to 1 (got {dataset['clip']['frame_interval']})"
        )
    if dataset["short_video"] != "error":
        raise ConfigError(
            f"config key 'datasets.{name}.short_video': a presampled dataset never repeats frames; remove it "
            "(a folder with too few frames is an error naming it)"
        )


def _check_speed_sweep_point(spec: dict[str, Any], point: dict[str, Any]) -> None:
    """Table X's new sweep point: the timed VideoPure row ``spec`` with ``point``'s settings."""
    from videopure.defenses import VideoPure

    unknown = sorted(set(point) - set(VideoPure.defaults()))
    if unknown:
        raise ConfigError(
            f"config key 'diagnostics.speed_sweep_point': {unknown} are not VideoPure settings "
            f"({sorted(VideoPure.defaults())})"
        )
    try:
        VideoPure.check_settings(VideoPure.spec_settings({**spec, **point}))
    except ValueError as error:
        raise ConfigError(f"config key 'diagnostics.speed_sweep_point': {error}") from None


def _check_half_precision(config: dict[str, Any]) -> None:
    """float16 needs CUDA (CPU half-precision kernels are missing or slow): refuse it before any job
    where config ``device`` is ``cpu``, or ``auto`` on a machine without a CUDA device."""
    if config["diffusion"]["dtype"] != "float16" or config["device"] == "cuda":
        return
    import torch

    if config["device"] == "auto" and torch.cuda.is_available():
        return
    where = "config 'device' is 'cpu'" if config["device"] == "cpu" else "this machine has no CUDA device"
    raise ConfigError(
        f"config key 'diffusion.dtype': float16 runs on a CUDA GPU only, and {where}; use float32 (or "
        "bfloat16) here, or set device: cuda where the jobs run on GPU nodes"
    )


def _defense_specs_by_key(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every defense spec the config holds, by its config key: Table I's rows and the gray-box
    checks' references."""
    references = config["diagnostics"]["graybox_references"]
    return {
        **{f"defenses.{name}": spec for name, spec in config["defenses"].items()},
        **{f"diagnostics.graybox_references.{name}": spec for name, spec in references.items()},
    }


def _check_trained_range(config: dict[str, Any], variants: dict[str, dict[str, Any]]) -> None:
    """Where the workflow trains the diffusion model (a dataset without ``diffusion_model``), its UNet
    sees timesteps up to ``diffusion.unet.tau_max`` only: refuse now a defense or ablation variant
    that would reach beyond, rather than in its first purification job."""
    from videopure.defenses import resolve_defense
    from videopure.defenses.registry import highest_train_timestep
    from videopure.diffusion.train import UNetTraining

    if all(dataset["diffusion_model"] for dataset in config["datasets"].values()):
        return
    tau_max = UNetTraining(**config["diffusion"]["unet"]).tau_max
    specs = {f"config key '{key}'": spec for key, spec in _defense_specs_by_key(config).items()}
    specs |= {f"config key 'sweeps' or 'ablations': variant {name!r}": spec for name, spec in variants.items()}
    for where, spec in specs.items():
        if not resolve_defense(spec["type"]).diffusion_based:
            continue
        highest = highest_train_timestep(spec)
        if highest > tau_max:
            raise ConfigError(
                f"{where}: reaches train timestep {highest}, beyond the {tau_max} the workflow trains its UNet "
                "up to (diffusion.unet.tau_max); lower t* or raise tau_max"
            )


def load_config(*paths: str | Path) -> dict[str, Any]:
    """Load one or more YAML files (later ones override earlier keys, recursively) and validate."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged = deep_merge(merged, read_config_file(path))
    return validate_config(merged)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """One YAML config file's mapping; a missing file or a YAML syntax error names the file and
    the line (Snakemake's own message for a bad config file names neither)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config file '{path}' is not valid YAML, fix it there: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping at its top level")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    """Snakemake's rule for several config files: nested mappings merge, other values replace."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


_DOWNLOAD_HINTS = {
    ("ucf101", "video_root"): "UCF-101 videos: download UCF101.rar from the UCF CRCV site "
    "(crcv.ucf.edu/data/UCF101.php) and unpack it so this directory holds one folder per class",
    ("ucf101", "annotations"): "UCF-101 split lists: download UCF101TrainTestSplits-RecognitionTask.zip "
    "(same site) and point this at its ucfTrainTestlist/ directory",
    ("kinetics400", "video_root"): "Kinetics-400 validation videos (e.g. the CVDF mirror's val/ tarballs), "
    "named <youtube_id>_<start:06d>_<end:06d>.mp4",
    ("kinetics400", "annotations"): "Kinetics-400 annotation CSV of the split (validate.csv)",
    ("kinetics400", "class_names"): "mmaction2's tools/data/kinetics/label_map_k400.txt (400 lines)",
    ("rawframes", "video_root"): "the directory of extracted frame folders",
    ("rawframes", "annotations"): "mmaction2 rawframe annotation file '<frame_dir> <total_frames> <label>'",
    ("rawframes", "class_names"): "class names, one per line in label order",
    ("presampled", "video_root"): "the directory of pre-sampled clip folders",
    ("presampled", "annotations"): "rawframe annotation file '<frame_dir> <total_frames> <label>'",
    ("presampled", "class_names"): "class names, one per line in label order",
}


MODELSCOPE_HINT = (
    "ModelScope text-to-video-ms-1.7b in diffusers layout (Hugging Face damo-vilab/text-to-video-ms-1.7b or "
    "ali-vilab/text-to-video-ms-1.7b: the folders unet/, vae/, scheduler/, text_encoder/, tokenizer/) "
    "downloaded into this directory"
)


def missing_local_inputs(config: dict[str, Any], root: str | Path = ".") -> list[str]:
    """List every configured local path (datasets, recognizer configs and checkpoints, diffusion models,
    RAFT weights) that is absent.

    Each entry names the config key, the path and what to download. The workflow calls this
    before scheduling anything so that a paper-profile run with unset paths fails at once.
    """
    root = Path(root)
    problems: list[str] = []

    def absent(value: str | None) -> bool:
        return value is None or not (root / value).exists()

    for name, dataset in config["datasets"].items():
        source = dataset["source"]
        for key in ("video_root", "annotations", "class_names"):
            hint = _DOWNLOAD_HINTS.get((source, key))
            class_folders = source in FRAME_FOLDER_SOURCES and dataset["annotations"] is None
            optional = (source == "kinetics400" and key == "class_names") or (class_folders and key != "video_root")
            if hint is None or (optional and dataset[key] is None):
                continue
            if absent(dataset[key]):
                problems.append(f"datasets.{name}.{key} = {dataset[key]!r} does not exist — {hint}")
        recognizers = {f"classifiers.{model}": spec for model, spec in dataset["classifiers"].items()}
        recognizers |= {f"surrogates.{model}": spec for model, spec in dataset.get("surrogates", {}).items()}
        for key, spec in recognizers.items():
            if not spec["config"].startswith("mmaction::") and absent(spec["config"]):
                problems.append(f"datasets.{name}.{key}.config = {spec['config']!r} does not exist")
            if spec["checkpoint"] is not None and absent(spec["checkpoint"]):
                problems.append(
                    f"datasets.{name}.{key}.checkpoint = {spec['checkpoint']!r} does not exist — "
                    "download the checkpoint linked from the README of this recognizer's config in mmaction2's "
                    "model zoo (for UCF-101, a recognizer fine-tuned on UCF-101: see docs/usage.md, 'Paper profile: downloads and where they go') "
                    "and put it at this path, or set checkpoint: null to train it"
                )
        if dataset["diffusion_model"] is not None and absent(dataset["diffusion_model"]):
            problems.append(
                f"datasets.{name}.diffusion_model = {dataset['diffusion_model']!r} does not exist — "
                f"{MODELSCOPE_HINT}, or set diffusion_model: null to train a small one"
            )
    trained_flows = {trained_flow_weights(name) for name, dataset in config["datasets"].items() if dataset["source"] == "generated"}
    flows = {f"defenses.{name}.flow": spec.get("flow") for name, spec in config["defenses"].items()}
    flows["flow_attack.flow"] = config["flow_attack"]["flow"]
    for key, flow in flows.items():
        if isinstance(flow, dict) and flow.get("type") == "raft" and flow.get("weights") not in trained_flows and absent(flow.get("weights")):
            problems.append(
                f"{key}.weights = {flow.get('weights')!r} does not exist — download torchvision's "
                "Raft_Large_Weights.C_T_V1 (raft_large_C_T_V1-22a6c225.pth, the authors' raft-things) and put it "
                "at this path, or use flow: {type: dis} (on a generated dataset, weights: "
                f"{trained_flow_weights('<dataset>')!r} is the raft_small the workflow trains)"
            )
    return problems
