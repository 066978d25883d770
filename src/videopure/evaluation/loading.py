"""What an evaluation job loads: the evaluation set, a recognizer, a defense and an attack's clips,
each checked against the files it was made from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from videopure.cache import StaleCacheError, read_h5, rebuild_advice
from videopure.data.frames import load_frames
from videopure.defenses.base import Purifier
from videopure.evaluation.clean import cap_evaluation_set
from videopure.evaluation.columns import COLUMNS_BY_SLUG
from videopure.models.classifier import uint8_clips_to_tensor
from videopure.params import frames_params, recognizer_spec


@dataclass(frozen=True)
class EvalClips:
    """The evaluation set of a dataset as float clips (N, T, C, H, W) in [0, 1]."""

    clips: torch.Tensor
    labels: torch.Tensor
    video_ids: np.ndarray
    index: np.ndarray  # position of each clip in the evaluation split (the seed key of stochastic draws)
    upstream: dict[str, str]
    class_names: tuple[str, ...]  # the dataset's, in label order: every recognizer is checked against them

    def sample(self, clips: int | None, seed: int) -> np.ndarray:
        """Positions of ``clips`` of these clips, class-balanced and seeded (:func:`cap_evaluation_set`); all for None."""
        labels = self.labels.numpy()
        return cap_evaluation_set(np.arange(len(labels)), labels, clips, seed)

    def subset(self, clips: int | None, seed: int) -> EvalClips:
        """``clips`` of these clips, class-balanced and seeded (:meth:`sample`); all for None."""
        return self.take(self.sample(clips, seed))

    def take(self, positions: np.ndarray) -> EvalClips:
        """The clips at ``positions`` (e.g. :meth:`sample`'s)."""
        return replace(
            self,
            clips=self.clips[positions],
            labels=self.labels[positions],
            video_ids=self.video_ids[positions],
            index=self.index[positions],
        )


def load_eval_clips(config: dict[str, Any], dataset: str, frames_path: str, evalset_path: str) -> EvalClips:
    """Clips of the evaluation set (rule evaluation_set) read from the evaluation split's frames."""
    spec = config["datasets"][dataset]
    frames = load_frames(frames_path, frames_params(config, dataset, spec["eval_split"]))
    evalset = read_h5(evalset_path)
    index = evalset["index"]
    if not np.array_equal(frames.video_ids[index], evalset["video_ids"]):
        raise ValueError(f"{evalset_path} does not match {frames_path}; rerun rule evaluation_set")
    return EvalClips(
        clips=uint8_clips_to_tensor(frames.frames[index]),
        labels=torch.from_numpy(frames.labels[index]).long(),
        video_ids=frames.video_ids[index],
        index=index,
        upstream={"frames": frames.identity, "evalset": evalset.identity},
        class_names=frames.class_names,
    )


@dataclass(frozen=True)
class AttackClips:
    """An attack file's adversarial clips of the evaluation set (rules attack_*), checked on read."""

    clips: torch.Tensor
    identity: str
    params: dict[str, Any]


def read_attack_clips(
    path: str, data: EvalClips, model: str, column: str, defense: tuple[str, dict[str, Any]] | None = None
) -> AttackClips:
    """The adversarial clips of ``path`` for the evaluation set ``data``, refused with the file named
    and the command that rebuilds it unless they were made by attack column ``column`` (a slug) on
    recognizer ``model`` — through ``defense`` (its name and settings) for an adaptive column — from
    the same frames and evaluation set (upstream identities), and are finite, in [0, 1] and within
    their recorded ε-ball around the clean clips (l∞, or l2 per clip). So a file copied from another
    cell, edited or damaged after it was written does not reach a table."""
    attack_column = COLUMNS_BY_SLUG[column]
    expected: dict[str, Any] = {"model": model, "column": attack_column.name}
    if attack_column.adaptive:
        if defense is None:
            raise ValueError(f"adaptive column {column!r} is attacked through a defense: pass its (name, settings)")
        expected |= {"defense": defense[0], "defense_settings": defense[1]}
    record = read_h5(path, expect_params=expected, expect_upstream=data.upstream, keys=["clips"])
    clips = torch.from_numpy(record["clips"])
    attack = record.params.get("attack", {})
    fix = rebuild_advice(path)
    if tuple(clips.shape) != tuple(data.clips.shape):
        raise StaleCacheError(f"{path}: clips of shape {tuple(clips.shape)}, the evaluation set's are {tuple(data.clips.shape)}; {fix}")
    if not bool(torch.isfinite(clips).all()) or clips.min() < 0 or clips.max() > 1:
        raise StaleCacheError(f"{path}: adversarial clips hold values that are not finite or not in [0, 1]; {fix}")
    if "eps" in attack:
        delta = (clips - data.clips).flatten(1)
        size = delta.abs().amax(1) if attack.get("norm", "linf") == "linf" else torch.linalg.vector_norm(delta, dim=1)
        # float32 clips: allow rounding of the stored values, nothing more
        if bool((size > attack["eps"] * (1 + 1e-5) + 1e-6).any()):
            raise StaleCacheError(
                f"{path}: clip {int(size.argmax())} lies {float(size.max()):.6g} from its clean clip, outside the "
                f"recorded eps {attack['eps']:.6g} ({attack.get('norm', 'linf')}); {fix}"
            )
    return AttackClips(clips, record.identity, record.params)


def load_source_clips(
    config: dict[str, Any], dataset: str, inputs, source: str
) -> tuple[torch.Tensor, np.ndarray, dict[str, str]]:
    """Clips, video ids and upstream identities of a stage's clip source: ``"clean"``, the
    evaluation set (``inputs.frames``, ``inputs.evalset``), or a gray-box attack's clips
    (:func:`videopure.paths.graybox_source`, file ``inputs.clips``), read by
    :func:`read_attack_clips`: refused unless made by that attack on that recognizer for this
    evaluation set, within its ε-ball."""
    data = load_eval_clips(config, dataset, inputs.frames, inputs.evalset)
    if source == "clean":
        return data.clips, data.video_ids, data.upstream
    model, _, column = source.split("/")
    attack = read_attack_clips(inputs.clips, data, model, column)
    return attack.clips, data.video_ids, {"clips": attack.identity}


def load_classifier(
    config: dict[str, Any], dataset: str, model: str, checkpoint: str, class_names: Sequence[str], device
):
    """The recognizer ``model`` of ``dataset`` as a [0,1]-input VideoClassifier, frozen, in eval mode.

    ``class_names``: the dataset's, in label order (its frames file's); a checkpoint with another
    number or order of classes is refused, naming the checkpoint."""
    from videopure.models.checkpoint import load_recognizer

    if class_names is None or isinstance(class_names, str):
        raise TypeError(f"load_classifier needs the dataset's class names (a sequence), got {class_names!r}")
    key, spec = recognizer_spec(config, dataset, model)
    classifier = load_recognizer(spec["config"], checkpoint, class_names, device, config_key=f"{key}.checkpoint")
    classifier.requires_grad_(False)
    return classifier


def load_classifiers(
    config: dict[str, Any], dataset: str, models: Sequence[str], inputs, class_names: Sequence[str], device
) -> dict[str, Any]:
    """Each of ``models``' recognizers (:func:`load_classifier`) from its ``checkpoint_<model>`` input
    (:meth:`videopure.plan.Plan.recognizer_checkpoints`)."""
    return {
        model: load_classifier(config, dataset, model, inputs[f"checkpoint_{model}"], class_names, device)
        for model in models
    }


def load_defense(config: dict[str, Any], spec: dict[str, Any], device: torch.device, diffusion_model: str | None = None) -> Purifier:
    """The defense of ``spec`` as a purifier on ``device``; diffusion defenses get the model at ``diffusion_model``."""
    from videopure.defenses import build_defense
    from videopure.evaluation.latents import load_diffusion_model

    model = load_diffusion_model(config, diffusion_model, device) if diffusion_model is not None else None
    return build_defense(spec, diffusion_model=model).to(device)
