"""Table V: does a video diffusion model beat image ones? (paper Sec. V-C 2).

The paper puts two image diffusion models — Stable Diffusion v1.5 (latent) and Guided Diffusion
(pixel space) — behind DiffPure_DDPM and DiffPure_DDIM, beside its video model (ModelScope) behind
the same two and VideoPure. Here each image model of config ``table5.models`` has a kind
(:data:`~videopure.diffusion.bundle.DENOISER_KINDS`: ``image`` or ``pixel``) and either a local
diffusers directory (``path``) or training settings (``unet``) with which the workflow trains it
on the dataset's train split (``image`` on the dataset's VAE latents). An image-model row is a
defense of the workflow named ``<defense>@<model slug>`` (e.g. ``DiffPure_DDPM@StableDiffusion``):
Table I's defense, with the image model. The video rows are Table I's own predictions.

Columns are the ablation tables': Standard Acc (clean), Robust Acc* (gray-box PGD) and Robust Acc
(PGD+BPDA through the defense, an adaptive cell through a diffusion defense: run where the config
says, marked where not), on the ablations' recognizer (the paper: NL on UCF-101).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from videopure.params import resolve_recognizer
from videopure.tables.ablations import accuracy_cells

TITLE = "Table V: ablation study on diffusion models"
VIDEO_MODEL = "ModelScope"
"""The paper's label of the video model's rows (the dataset's diffusion model)."""
IMAGE_KINDS = ("image", "pixel")
PAPER_DEFENSE_TYPES = ("diffpure_ddpm", "diffpure_ddim")
"""The defenses the paper runs on its image models (config ``table5.defenses: null``)."""
PAPER_LAYOUT = [
    ("Stable Diffusion", "Diffpure_DDPM"),
    ("Stable Diffusion", "Diffpure_DDIM"),
    ("Guided Diffusion", "Diffpure_DDPM"),
    ("Guided Diffusion", "Diffpure_DDIM"),
    ("ModelScope", "Diffpure_DDPM"),
    ("ModelScope", "Diffpure_DDIM"),
    ("ModelScope", "Ours"),
]
"""The paper's rows (Diffusion Model, Defense), in order."""

TRAINING_DEFAULTS: dict[str, dict[str, Any]] = {
    "image": {
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "num_frames": 1,
    },
    "pixel": {
        "down_block_types": ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
        "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
        "block_out_channels": [32, 64, 64],
        "attention_head_dim": 8,
        "num_frames": 1,
    },
}
"""What a trained image model's ``unet`` settings start from, by kind (fields of
:class:`~videopure.diffusion.train.UNetTraining`; the config's ``unet`` overrides them): the
kind's block names, and one frame per training example (an image model sees frames, not clips)."""


def model_slug(name: str) -> str:
    """A model's name as a path component: letters and digits only (``Stable Diffusion`` → ``StableDiffusion``)."""
    return re.sub(r"[^A-Za-z0-9]", "", name)


@dataclass(frozen=True)
class ImageModel:
    """One image diffusion model of Table V: its kind, and a local directory or training settings."""

    name: str
    kind: str
    path: str | None
    training: dict[str, Any]

    @property
    def slug(self) -> str:
        return model_slug(self.name)


@dataclass(frozen=True)
class Table5Setup:
    """Where and what Table V measures: the recognizer, the image models, the defenses run on them
    (Table I's names) and the video model's rows (those defenses and VideoPure)."""

    dataset: str
    model: str
    image_models: dict[str, ImageModel]
    defenses: list[str]
    ours: str | None
    """The video model's VideoPure row (the ablations' defense); None where no defense is one."""

    def variant(self, defense: str, image_model: str) -> str:
        """The workflow's name of ``defense`` on ``image_model``."""
        return f"{defense}@{self.image_models[image_model].slug}"

    def variant_specs(self, defenses: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Every image-model row's defense spec (Table I's), by variant name."""
        return {
            self.variant(defense, model): dict(defenses[defense]) for model in self.image_models for defense in self.defenses
        }

    def variant_models(self) -> dict[str, ImageModel]:
        """The image model of each variant, by variant name."""
        return {self.variant(defense, name): model for name, model in self.image_models.items() for defense in self.defenses}

    def missing_models(self, root: str | Path = ".") -> list[str]:
        """Every configured image model directory that is absent or holds another kind of UNet, each
        naming its config key and what to download (checked when Table V is asked for, so that the
        other targets run without the image models)."""
        from videopure.diffusion.bundle import DENOISER_KINDS, PAPER_MODELS

        problems = []
        for model in self.image_models.values():
            if model.path is None:
                continue
            key, expected = f"table5.models.{model.name}.path = {model.path!r}", DENOISER_KINDS[model.kind]
            unet_config = Path(root) / model.path / "unet" / "config.json"
            if not (Path(root) / model.path).exists():
                problems.append(
                    f"{key} does not exist — download {PAPER_MODELS[model.kind]} and put it at this path, or set "
                    "path: null to train a small one"
                )
            elif not unet_config.is_file() or json.loads(unet_config.read_text()).get("_class_name") != expected:
                problems.append(f"{key} holds no {expected} (unet/config.json): a {model.kind} model is {PAPER_MODELS[model.kind]}")
        return problems

    def by_slug(self, slug: str) -> ImageModel:
        return next(model for model in self.image_models.values() if model.slug == slug)

    def rows(self) -> list[tuple[str, str, str]]:
        """(Diffusion Model, Defense, the workflow's defense name) for every row, in the paper's order:
        each image model behind each defense, then the video model behind them and VideoPure."""
        rows = [(name, defense, self.variant(defense, name)) for name in self.image_models for defense in self.defenses]
        video = [*self.defenses, *([self.ours] if self.ours else [])]
        return rows + [(VIDEO_MODEL, defense, defense) for defense in video]


def table5_setup(config: Mapping[str, Any], ours: str | None) -> Table5Setup:
    """The config's ``table5`` section resolved and checked (errors name the key), with ``ours`` the
    VideoPure row of the video model (the ablations' defense; None when no defense is a VideoPure row).
    A trained model's settings are checked here, and its range of timesteps against the defenses'.
    """
    from videopure.defenses import resolve_defense
    from videopure.defenses.registry import highest_train_timestep
    from videopure.diffusion.train import UNetTraining

    section = config["table5"]
    where = "config key 'table5"
    defenses = config["defenses"]
    chosen = section["defenses"]
    if chosen is None:
        chosen = [name for name, spec in defenses.items() if spec["type"] in PAPER_DEFENSE_TYPES]
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"{where}.defenses': {chosen} names a defense twice; name each once")
    for name in chosen:
        if name not in defenses:
            raise ValueError(f"{where}.defenses': {name!r} is not a defense in 'defenses' ({sorted(defenses)})")
        cls = resolve_defense(defenses[name]["type"])
        if not cls.diffusion_based or cls.name == "videopure":
            raise ValueError(
                f"{where}.defenses': {name!r} ({cls.name}) is not one of the diffusion baselines Table V puts on "
                "image models (diffpure_ddpm, diffpure_ddim, ddim_inversion)"
            )
    image_models, slugs = {}, {model_slug(VIDEO_MODEL): f"the video model's rows ({VIDEO_MODEL})"}
    for name, spec in section["models"].items():
        key = f"{where}.models.{name}"
        slug = model_slug(name)
        if not slug:
            raise ValueError(f"{key}': a name needs a letter or digit (its letters and digits name its files)")
        if slug in slugs:
            raise ValueError(f"{key}': the name gives the path component {slug!r}, already {slugs[slug]!r}'s; rename it")
        slugs[slug] = name
        if spec["kind"] not in IMAGE_KINDS:
            raise ValueError(f"{key}.kind': {spec['kind']!r}; Table V's image models are one of {IMAGE_KINDS}")
        training = {**TRAINING_DEFAULTS[spec["kind"]], **spec.get("unet", {}), "kind": spec["kind"]}
        if spec.get("path") is None:
            try:
                tau_max = UNetTraining(**training).tau_max
            except (TypeError, ValueError) as error:
                raise ValueError(f"{key}.unet': {error}") from None
            for defense in chosen:
                highest = highest_train_timestep(defenses[defense])
                if highest > tau_max:
                    raise ValueError(
                        f"{key}.unet.tau_max': {defense} reaches train timestep {highest}, beyond the {tau_max} this "
                        "model is trained up to; raise tau_max"
                    )
        image_models[name] = ImageModel(name, spec["kind"], spec.get("path"), training)
    dataset, model = resolve_recognizer(config, "ablations")
    return Table5Setup(dataset, model, image_models, list(chosen), ours)


def build_table5(setup: Table5Setup, accuracy: Mapping[str, Mapping[str, float]], described: Mapping[str, str], clips: int) -> pd.DataFrame:
    """The table in the paper's layout: Diffusion Model, Defense, the three accuracies in percent
    (:func:`~videopure.tables.ablations.accuracy_cells`), then what ran here: ``described`` by
    Diffusion Model (e.g. the trained architecture), the clips and the workflow's defense name."""
    records = []
    for label, defense, name in setup.rows():
        records.append(
            {
                "Diffusion Model": label,
                "Defense": defense,
                **accuracy_cells(accuracy[name]),
                "Model here": described[label],
                "Clips": clips,
                "Row": name,
            }
        )
    return pd.DataFrame.from_records(records)


def describe_model(path: str | Path) -> str:
    """What a diffusion model directory holds, for the "Model here" column: its UNet class, whether
    the workflow trained it, and where it is."""
    path = Path(path)
    unet = json.loads((path / "unet" / "config.json").read_text())["_class_name"]
    metadata = path / "videopure.json"
    trained = metadata.is_file() and json.loads(metadata.read_text()).get("source", "").startswith("trained")
    return f"{unet}, {'trained by the workflow' if trained else 'downloaded'} ({path})"


def table5_caption(setup: Table5Setup, attack: Mapping[str, Any]) -> str:
    return (
        f"{TITLE}. {setup.dataset}, {setup.model}; accuracy (%) on the evaluation set: Standard Acc clean, Robust Acc* "
        f"gray-box PGD, Robust Acc PGD+BPDA through each defense (no EOT); l-inf eps={attack['eps'] * 255:.0f}/255, "
        f"{attack['steps']} steps of {attack['step_size'] * 255:.0f}/255. 'Model here' says which model ran each row: "
        "the image models of the mini and smoke profiles are small ones the workflow trains, not the paper's."
    )
