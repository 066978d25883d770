"""Configuration: one JSON schema, validated before any compute.

The schema lives in ``workflow/schemas/config.schema.yaml``; Snakemake validates the workflow's
config with it and every Python entry point calls :func:`validate_config` on what it is given,
so a script run by hand gets the same checks and defaults as the workflow.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and what to do."""


def _key_path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return a validated copy of ``config`` with the schema's defaults filled in.

    Raises:
        ConfigError: naming the offending key (unknown keys, wrong types, values out of range,
            and the cross-field rules the schema cannot express).
    """
    import jsonschema
    from snakemake.utils import validate

    config = copy.deepcopy(dict(config))
    try:
        validate(config, str(SCHEMA_PATH))
    except Exception as exc:  # snakemake wraps jsonschema's error in a WorkflowError
        cause = exc.__cause__ or exc.__context__ or exc
        if isinstance(cause, jsonschema.ValidationError):
            raise ConfigError(f"config key '{_key_path(cause)}': {cause.message}") from None
        raise ConfigError(str(exc)) from None
    _check_cross_fields(config)
    return config


def _check_cross_fields(config: dict[str, Any]) -> None:
    vp = config["videopure"]
    if vp["tstar"] > vp["num_inference_steps"]:
        raise ConfigError(
            f"config key 'videopure.tstar': {vp['tstar']} exceeds "
            f"videopure.num_inference_steps={vp['num_inference_steps']}; choose 1 <= t* <= T"
        )
    for name, dataset in config["datasets"].items():
        if not dataset.get("classifiers"):
            raise ConfigError(f"config key 'datasets.{name}.classifiers': name at least one recognizer")
        clip = dataset["clip"]
        if clip["crop"] > clip["short_side"]:
            raise ConfigError(
                f"config key 'datasets.{name}.clip.crop': {clip['crop']} is larger than "
                f"short_side={clip['short_side']}"
            )


def load_config(*paths: str | Path) -> dict[str, Any]:
    """Load one or more YAML files (later ones override earlier keys, recursively) and validate."""
    merged: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file '{path}' does not exist")
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"config file '{path}' must hold a mapping at its top level")
        merged = deep_merge(merged, data)
    return validate_config(merged)


def deep_merge(base: dict, override: dict) -> dict:
    """Snakemake's rule for several config files: nested mappings merge, other values replace."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
