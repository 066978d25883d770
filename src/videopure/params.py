"""The parameters of each stage: the config keys it reads, and what it records in its output's attrs.

Every rule passes its stage's part of the config as ``params.config`` (:func:`declared_config`), so
Snakemake reruns a job when one of those values changes, and the job's script sees that part alone
(:func:`restrict_config`): reading a key the stage does not declare is an error, not a silent
dependency Snakemake cannot see. The config keys no stage reads shape the job graph instead
(:data:`GRAPH_CONFIG`). What a stage records in its output's attrs is passed by the next stage to
:func:`videopure.cache.read_h5` as expectations (so a file made under other settings is refused);
one function per stage (:func:`frames_params`) keeps both sides equal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from videopure.config import ConfigError, schema
from videopure.data.readers import DEFAULT_FRAME_FILES, FRAME_FOLDER_SOURCES

FRAME_KEYS = ("source", "video_root", "annotations", "class_names", "split", "clip", "short_video")


# Config keys by stage (a workflow script's name); "{dataset}" is the job's dataset. Every stage also
# reads "seed", with which runtime.stage seeds it.
#: Declared keys a config may leave out (the schema gives them no default), so that declaring them
#: changes no other dataset's parameters: a dataset's frame_files, which a frame-folder dataset
#: alone reads and records (frames_params), and its surrogates (Table III's black-box sources).
OPTIONAL_CONFIG = ("datasets.{dataset}.frame_files", "datasets.{dataset}.surrogates")
FRAMES_CONFIG = (
    *(f"datasets.{{dataset}}.{key}" for key in (*FRAME_KEYS, "eval_split", "subset", "frame_files")),
    "generator",
)
RECOGNIZER_CONFIG = (*FRAMES_CONFIG, "datasets.{dataset}.classifiers", "datasets.{dataset}.surrogates")
DIFFUSION_CONFIG = ("diffusion.dtype",)
BATCH_CONFIG = ("evaluation.batch_size",)
STAGE_CONFIG: dict[str, tuple[str, ...]] = {
    "generate_videos": ("generator",),
    "frames": FRAMES_CONFIG,
    "train_classifier": (*FRAMES_CONFIG, "train"),
    "reconstruct_frames": FRAMES_CONFIG,
    "train_vae": (*FRAMES_CONFIG, "diffusion.vae"),
    "train_unet": (*FRAMES_CONFIG, "diffusion.unet"),
    "train_flow": (*FRAMES_CONFIG, "flow_training"),
    "train_image_model": (*FRAMES_CONFIG, "table5.models"),
    "classify_clean": RECOGNIZER_CONFIG,
    "evaluation_set": ("evaluation.max_clips",),
    "attack": (*RECOGNIZER_CONFIG, *DIFFUSION_CONFIG, "attack"),
    "encode": (*FRAMES_CONFIG, *DIFFUSION_CONFIG, *BATCH_CONFIG),
    "invert": (*DIFFUSION_CONFIG, *BATCH_CONFIG),
    "flow": (*FRAMES_CONFIG, *BATCH_CONFIG),
    "flow_checks": ("datasets.{dataset}.clip", *BATCH_CONFIG),
    "predict": (*RECOGNIZER_CONFIG, *DIFFUSION_CONFIG, "evaluation"),
    "predict_clean": (*RECOGNIZER_CONFIG, *DIFFUSION_CONFIG, "evaluation"),
    "diffusion_checks": (*RECOGNIZER_CONFIG, *DIFFUSION_CONFIG, *BATCH_CONFIG, "diagnostics.ldm_checks"),
    "graybox_checks": (*RECOGNIZER_CONFIG, *DIFFUSION_CONFIG, *BATCH_CONFIG, "diagnostics.graybox_references"),
    "gradient_checks": (*RECOGNIZER_CONFIG, *DIFFUSION_CONFIG),
    "purification_speed": (*RECOGNIZER_CONFIG, *DIFFUSION_CONFIG, "diagnostics.speed_sweep_point"),
    "table1": ("datasets", "defenses", "attack"),
    "ablation_table": ("datasets", "defenses", "ablations", "sweeps", "attack"),
    "table5": ("datasets", "defenses", "ablations", "sweeps", "table5", "attack"),
    "sweep_figure": ("datasets", "defenses", "ablations", "sweeps", "attack"),
    "table10": (),
    "autoattack": (
        *RECOGNIZER_CONFIG, *DIFFUSION_CONFIG, "autoattack.clips", "autoattack.steps", "autoattack.eot_samples",
        "autoattack.gradient",
        "attack.eps", "attack.norm", "attack.batch_size", "evaluation.draws",
    ),
    "table2": ("datasets", "defenses", "autoattack", "attack.eps", "attack.norm"),
    "fig3": ("datasets", "ablations"),
    "predict_transfer": (*RECOGNIZER_CONFIG, *DIFFUSION_CONFIG, "evaluation", "blackbox.clips"),
    "table3": ("datasets", "defenses", "blackbox", "attack.blackbox_eps"),
    "budget_table": ("datasets", "defenses", "ablations", "eps_sweep", "l2_attack", "flow_attack", "flow_training", "attack"),
    "claims": ("profile", "datasets", "defenses", "ablations", "sweeps", "sanity", "attack"),
    "fig2": ("datasets", "generator", "ablations", *DIFFUSION_CONFIG, "figures.fig2"),
    "fig4": ("datasets", "ablations", "figures.fig4", "attack.steps"),
    "fig5a": ("datasets", "generator", "ablations", "evaluation", *DIFFUSION_CONFIG, "figures.fig5a"),
    "provenance": tuple(schema()["properties"]),  # the whole config
}
# Config keys no stage reads: how jobs run (threads, device), or which jobs exist and what they read
# (which adaptive cells run, the diffusion model's path). Snakemake sees a change to one as other
# jobs or other inputs; what a job needs from them reaches it as rule params (the clips timed or
# checked), which Snakemake records too.
GRAPH_CONFIG = ("profile", "threads", "device", "diffusion_adaptive", "datasets.{dataset}.diffusion_model", "diagnostics")


def declared_config(config: Mapping[str, Any], keys: Iterable[str], dataset: str | None = None) -> dict[str, Any]:
    """The part of ``config`` a stage reads: "seed" and each dotted key in ``keys`` ("{dataset}"
    filled in), nested as in ``config``. A key the config does not hold is left out (readers then
    see it missing, as in the full config)."""
    declared: dict[str, Any] = {}
    for key in ("seed", *keys):
        path = key.format(dataset=dataset).split(".")
        source: Any = config
        target = declared
        for part in path[:-1]:
            if part not in source:
                break
            source = source[part]
            target = target.setdefault(part, {})
        else:
            if path[-1] in source:
                target[path[-1]] = source[path[-1]]
    return declared


class UndeclaredConfigError(ConfigError):
    """A stage read a config key its rule does not pass as params, so Snakemake would not rerun it."""


class DeclaredConfig(Mapping):
    """A config section of which a stage declared some keys: the others (``hidden``) raise
    :class:`UndeclaredConfigError` on any read, including ``in``, ``get`` and iteration."""

    def __init__(self, values: dict[str, Any], hidden: set[str], path: str, rule: str):
        self._values, self._hidden, self._path, self._rule = values, hidden, path, rule

    def _refuse(self, key: str) -> UndeclaredConfigError:
        where = f"{self._path}.{key}" if self._path else key
        return UndeclaredConfigError(
            f"rule {self._rule} reads config key '{where}', which its params do not declare, so Snakemake "
            "would not rerun it when the key changes: add the key to the stage's entry in "
            "videopure.params.STAGE_CONFIG"
        )

    def __getitem__(self, key: str) -> Any:
        if key in self._hidden:
            raise self._refuse(key)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        if self._hidden:
            raise self._refuse(sorted(self._hidden)[0])
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values) + len(self._hidden)


def restrict_config(config: Mapping[str, Any], declared: Mapping[str, Any], rule: str, path: str = "") -> Any:
    """``declared`` (a rule's ``params.config``) as its job sees it: sections ``config`` holds more of
    are :class:`DeclaredConfig`, so the job cannot read a key Snakemake does not record."""
    if not isinstance(declared, Mapping) or not isinstance(config, Mapping):
        return declared
    hidden = set(config) - set(declared)
    values = {
        key: restrict_config(config.get(key), value, rule, f"{path}.{key}" if path else key)
        for key, value in declared.items()
    }
    return DeclaredConfig(values, hidden, path, rule) if hidden else values


def recognizer_spec(config: Mapping[str, Any], dataset: str, model: str) -> tuple[str, dict[str, Any]]:
    """The config key and spec ({config, checkpoint}) of recognizer ``model`` of ``dataset``: one of its
    classifiers, or of its surrogates (which only craft black-box attacks)."""
    spec = config["datasets"][dataset]
    for section in ("classifiers", "surrogates"):
        if model in spec.get(section, {}):
            return f"datasets.{dataset}.{section}.{model}", spec[section][model]
    raise ValueError(f"{model!r} is neither a classifier nor a surrogate of dataset {dataset!r}")


def resolve_rows(config: Mapping[str, Any], section: str, paper: Iterable[str]) -> tuple[str, ...]:
    """The Table I rows a config section's ``defenses`` key names; null takes the ``paper``'s rows that
    the config's ``defenses`` has. An unknown name raises ValueError naming the key."""
    names = config[section]["defenses"]
    if names is None:
        return tuple(name for name in paper if name in config["defenses"])
    unknown = [name for name in names if name not in config["defenses"]]
    if unknown:
        raise ValueError(f"config key '{section}.defenses': {unknown} are not in 'defenses' ({sorted(config['defenses'])})")
    return tuple(names)


def resolve_recognizer(config: Mapping[str, Any], section: str) -> tuple[str, str]:
    """The (dataset, recognizer) a config section's ``dataset`` and ``model`` keys name; null takes
    the first dataset and NL where the dataset has one (the paper's ablations, AutoAttack and figures
    use NL on UCF-101), else its first recognizer. Errors name the key."""
    keys = config.get(section) or {}
    dataset = keys.get("dataset") or next(iter(config["datasets"]))
    if dataset not in config["datasets"]:
        raise ValueError(f"config key '{section}.dataset': {dataset!r} is not one of {sorted(config['datasets'])}")
    classifiers = list(config["datasets"][dataset]["classifiers"])
    model = keys.get("model") or ("NL" if "NL" in classifiers else classifiers[0])
    if model not in classifiers:
        raise ValueError(f"config key '{section}.model': {model!r} is not a recognizer of {dataset!r}: {classifiers}")
    return dataset, model


def frames_params(config: dict[str, Any], dataset: str, split: str) -> dict[str, Any]:
    """Everything that changes the frames file of (dataset, split)."""
    spec = config["datasets"][dataset]
    params: dict[str, Any] = {key: spec[key] for key in FRAME_KEYS}
    params["dataset"] = dataset
    params["split_name"] = split
    if split == spec["eval_split"]:
        params["subset"] = spec["subset"]
    if spec["source"] in FRAME_FOLDER_SOURCES:
        params["frame_files"] = {**DEFAULT_FRAME_FILES, **spec.get("frame_files", {})}
    if spec["source"] == "generated":
        params["generator"] = config["generator"]
        params["seed"] = config["seed"]
    return params


def file_digest(path: str | Path, length: int = 16) -> str:
    """SHA-256 prefix of a file's bytes: the identity of inputs that are not our HDF5 caches."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]
