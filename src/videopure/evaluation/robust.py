"""Robust evaluation: which attack fills which Table I column, running attacks, defended predictions.

Columns (paper Table I and Section IV-B):

* ``PGD`` and ``TT`` are **gray-box** (Robust Acc*): the attack sees the bare classifier only; its
  adversarial clips are computed once per recognizer and evaluated through every defense.
* ``PGD+BPDA``, ``TT+BPDA`` and ``EOT+BPDA`` are **adaptive** (Robust Acc): the attack
  differentiates through the defense — exactly where the defense is differentiable (white noise,
  temporal shuffle), with BPDA's identity backward where it is not (JPEG) and for the diffusion
  purifiers, as in the paper. The gradient method of every cell is recorded. ``EOT+BPDA``
  averages the gradient over ``eot_samples`` draws of a stochastic defense; for a deterministic
  defense every draw gives the same gradient, so it uses one draw and the column equals PGD+BPDA
  up to the random start.
* ``PGD+DiffAttack`` is adaptive with the **full gradient** of a diffusion defense: PGD
  differentiates through the encoder, every UNet call (each checkpointed, DiffAttack's
  memory-saving idea), the sampler's arithmetic, VideoPure's optimisation step, the decoder and
  the vote's mean cross-entropy. A stochastic defense draws fresh noise at every attack step, as
  it does at test time. Only diffusion defenses have this column (paper Table I).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from videopure.attacks import build_attack
from videopure.attacks.base import default_step_size
from videopure.cache import StaleCacheError, read_attrs, read_h5, rebuild_advice
from videopure.data.frames import load_frames
from videopure.evaluation.clean import cap_evaluation_set, uint8_clips_to_tensor
from videopure.params import frames_params, recognizer_spec
from videopure.defenses.base import Purifier, seeded
from videopure.defenses.defended import DefendedClassifier, majority_vote
from videopure.defenses.registry import resolve_defense
from videopure.evaluation.settings import AttackSetting


@dataclass(frozen=True)
class AttackColumn:
    """One attack column of Table I (or Table III's black-box TT+MI).

    Attributes:
        blackbox: the TT authors' black-box setting: momentum 1 (MI), start at the clean clip, step
            radius / steps (crafted on another recognizer than the one evaluated: Table III).
    """

    name: str
    slug: str
    attack: str
    adaptive: bool
    eot: bool = False
    gradient: str = "auto"  # DefendedClassifier's gradient mode of an adaptive column
    blackbox: bool = False


GRAYBOX_COLUMNS = (AttackColumn("PGD", "pgd", "PGD", False), AttackColumn("TT", "tt", "TT", False))
ADAPTIVE_COLUMNS = (
    AttackColumn("PGD+BPDA", "pgd_bpda", "PGD", True),
    AttackColumn("TT+BPDA", "tt_bpda", "TT", True),
    AttackColumn("EOT+BPDA", "eot_bpda", "PGD", True, eot=True),
)
FULL_GRADIENT_COLUMNS = (AttackColumn("PGD+DiffAttack", "pgd_diffattack", "PGD", True, gradient="exact"),)
BLACKBOX_COLUMN = AttackColumn("TT+MI", "tt_mi", "TT", False, blackbox=True)
COLUMNS_BY_SLUG = {
    column.slug: column for column in (*GRAYBOX_COLUMNS, *ADAPTIVE_COLUMNS, *FULL_GRADIENT_COLUMNS, BLACKBOX_COLUMN)
}


def adaptive_columns(spec: dict[str, Any]) -> tuple[AttackColumn, ...]:
    """Table I's adaptive columns of the defense ``spec``: none for the undefended row, the +BPDA
    columns for every defense, and PGD+DiffAttack as well for a diffusion defense."""
    if spec["type"] == "none":
        return ()
    if resolve_defense(spec["type"]).diffusion_based:
        return ADAPTIVE_COLUMNS + FULL_GRADIENT_COLUMNS
    return ADAPTIVE_COLUMNS


def diffusion_adaptive_columns(spec: dict[str, Any]) -> tuple[AttackColumn, ...]:
    """The adaptive columns of ``spec`` that attack through a diffusion model: all of them for a
    diffusion defense, none otherwise. They are the columns a CPU cannot afford
    (:func:`decide_diffusion_adaptive`), marked "not run" in the tables where they were not measured."""
    if spec["type"] != "none" and resolve_defense(spec["type"]).diffusion_based:
        return adaptive_columns(spec)
    return ()


def decide_diffusion_adaptive(config: dict[str, Any]) -> tuple[bool, str]:
    """Whether new adaptive attacks through the diffusion defenses are scheduled (config
    ``diffusion_adaptive``), and if not why, in words for a table's note.

    ``run`` yes, ``skip`` no; ``auto`` yes where config ``device`` is ``cuda`` or, with ``device:
    auto``, where this process sees a CUDA device. Called where Snakemake builds its job graph, which
    on a cluster is often a login node without a GPU: there the setting is explicit
    (``profiles/slurm`` says ``run``), never probed inside a job.
    """
    setting, device = config["diffusion_adaptive"], config["device"]
    if setting == "run" or (setting == "auto" and device == "cuda"):
        return True, ""
    if setting == "skip":
        return False, "config 'diffusion_adaptive' is 'skip'"
    if device == "cpu":
        return False, "config 'diffusion_adaptive' is 'auto' and config 'device' is 'cpu'"
    if torch.cuda.is_available():
        return True, ""
    return False, "config 'diffusion_adaptive' is 'auto' and the machine that built the job graph has no CUDA device"


def attack_settings(
    attack_config: dict[str, Any],
    column: AttackColumn,
    purifier: Purifier | None,
    seed: int,
    setting: AttackSetting | None = None,
    clip_shape: tuple[int, ...] | None = None,
    flow: Mapping[str, Any] | None = None,
) -> dict:
    """Constructor arguments of the column's attack from the config's ``attack`` section, at ``setting``
    (None: Table I's) on clips of ``clip_shape`` (T, C, H, W; an l2 radius is scaled to it). The
    l-inf step is ``attack.step_size`` at every radius, as the paper states one step for its ε sweep
    (a setting may name its own: :attr:`~videopure.evaluation.settings.AttackSetting.step`);
    the l2 step is :func:`~videopure.attacks.base.default_step_size`. A setting with a flow term
    (Table VI) attacks the flow model ``flow`` too; the black-box column (Table III) takes the TT
    authors' step, start and momentum."""
    if attack_config["norm"] != "linf":
        raise ValueError("Table I uses l-inf attacks (paper IV-B); set attack.norm: linf")
    setting = setting or AttackSetting.table1(attack_config)
    eps = setting.radius(clip_shape)
    eot_samples = 1
    if column.eot and purifier is not None and purifier.stochastic:
        eot_samples = attack_config["eot_samples"]
    alpha = setting.step or attack_config["step_size"]
    settings = {
        "eps": eps,
        "steps": setting.steps,
        "alpha": alpha if setting.norm == "linf" else default_step_size("l2", eps, setting.steps),
        "norm": setting.norm,
        "random_start": attack_config["random_start"],
        "best_iterate": attack_config["best_iterate"],
        "eot_samples": eot_samples,
        "seed": seed,
    }
    if column.blackbox:
        settings.update(alpha=eps / setting.steps, random_start=None, momentum=1.0)
    if setting.flow_weight:
        if flow is None:
            raise ValueError(f"attack setting {setting.slug} has a flow term: name the flow model it attacks")
        settings["flow_deviation"] = {"flow": dict(flow), "weight": setting.flow_weight}
    return settings


def run_attack(
    model: torch.nn.Module,
    column: AttackColumn,
    settings: dict[str, Any],
    clips: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
) -> tuple[torch.Tensor, np.ndarray]:
    """Attack ``clips`` in batches; return the adversarial clips and the per-clip loss trace (steps+1, N).

    Each batch gets its own seed (``settings['seed']`` + batch index) so a batch's random start and
    draws do not depend on how many batches came before it. Progress over batches and over each
    batch's steps goes to stderr, the rule's log in the workflow.
    """
    adversarial, traces = [], []
    starts = range(0, len(clips), batch_size)
    for batch_index, start in enumerate(tqdm(starts, desc=f"attack {column.name}", unit="batch")):
        attack = build_attack(column.attack, model, **{**settings, "seed": settings["seed"] + batch_index}, progress=True)
        stop = start + batch_size
        adversarial.append(attack(clips[start:stop], labels[start:stop]).cpu())
        traces.append(attack.loss_trace.numpy())
    return torch.cat(adversarial), np.concatenate(traces, axis=1)


def vote_accuracy(votes: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of votes (N, draws) that are their clip's label (N,), over clips and draws."""
    return float((np.asarray(votes) == np.asarray(labels)[:, None]).mean())


def read_source_votes(
    path: str | Path, sources: Sequence[str]
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """A predictions file's (rules predict, predict_setting) labels, the votes (N, draws) of those of
    ``sources`` it holds (an adaptive attack's are absent where no build has run it), and its params."""
    held = [source for source in sources if source in read_attrs(path)[0]["sources"]]
    record = read_h5(path, keys=["labels", *(f"{source}/votes" for source in held)])
    return record["labels"], {source: record[f"{source}/votes"] for source in held}, record.params


@dataclass(frozen=True)
class Predictions:
    """A defended classifier's predictions on N clips, ``draws`` seeded draws each (:func:`predict_defended`).

    Attributes:
        logits: per-candidate logits (N, draws, K, classes); NaN for candidates an early-exit vote
            did not need.
        votes: the majority vote (N, draws) over each draw's K candidates.
        evaluated: candidates decoded and classified (N, draws), the first ones in the vote's order.
    """

    logits: np.ndarray
    votes: np.ndarray
    evaluated: np.ndarray


@torch.no_grad()
def predict_defended(
    defended: DefendedClassifier,
    clips: torch.Tensor,
    seed: int,
    draws: int,
    batch_size: int,
    clip_ids: np.ndarray,
    latents: torch.Tensor | None = None,
    cached: dict[str, Any] | None = None,
    early_exit: bool = False,
) -> Predictions:
    """Votes and per-candidate logits of a defended classifier (:meth:`DefendedClassifier.classify`).

    Deterministic defenses are batched; stochastic ones run draw ``d`` of clip ``i`` under
    ``seeded(seed, clip_ids[i], d)`` one clip at a time (the protocol in
    :mod:`videopure.defenses.base`), so a clip's result depends on neither batch size nor neighbours.
    ``latents``: the clips' cached z0 = E(x) (N, T, c, h, w), for a diffusion defense; ``cached``:
    more of the clips' cached intermediate results, sliced like them (VideoPure's ``trajectory`` and
    ``flow``). ``early_exit``: stop each vote once it is decided (the same votes; the logits of the
    candidates not needed are NaN).
    """
    cached = cached or {}
    device = next(defended.classifier.parameters()).device

    def vote_of(start: int, stop: int):
        z0 = None if latents is None else latents[start:stop].to(device)
        parts = {key: value[start:stop] for key, value in cached.items()}
        vote = defended.classify(clips[start:stop].to(device), z0, early_exit=early_exit, **parts)
        return vote.logits.cpu(), vote.classes.cpu(), vote.evaluated.cpu()

    if not defended.purifier.stochastic:
        starts = tqdm(range(0, len(clips), batch_size), desc="predict", unit="batch")
        batches = zip(*(vote_of(start, start + batch_size) for start in starts))
        # A deterministic defense: every draw repeats the clip's candidates.
        logits, classes, evaluated = (torch.cat(part).unsqueeze(1).expand(-1, draws, *part[0].shape[1:]) for part in batches)
    else:
        per_clip = []
        for index in tqdm(range(len(clips)), desc="predict", unit="clip"):
            per_draw = []
            for draw in range(draws):
                with seeded(seed, int(clip_ids[index]), draw):
                    per_draw.append(vote_of(index, index + 1))
            per_clip.append([torch.cat(part) for part in zip(*per_draw)])
        logits, classes, evaluated = (torch.stack(part) for part in zip(*per_clip))
    return Predictions(logits.numpy(), classes.numpy(), evaluated.numpy())


class SideBySide(nn.Module):
    """Recognizers of one dataset as one classifier, their logits side by side (N, M * classes).

    Behind a purifier, :func:`predict_defended` then purifies each clip once for all of them; as the
    purifier's draws are seeded per clip and recognizers draw no random numbers, each recognizer's
    logits (:meth:`split`) equal those of its own run.
    """

    def __init__(self, classifiers: dict[str, nn.Module]) -> None:
        super().__init__()
        if not classifiers:
            raise ValueError("SideBySide needs at least one classifier")
        self.classifiers = nn.ModuleDict(classifiers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([classifier(x) for classifier in self.classifiers.values()], dim=-1)

    def split(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Each recognizer's logits (..., classes) from side-by-side ones (..., M * classes)."""
        parts = np.split(logits, len(self.classifiers), axis=-1)
        return {name: np.ascontiguousarray(part) for name, part in zip(self.classifiers, parts)}


def votes(logits: np.ndarray) -> np.ndarray:
    """Majority votes (N, draws) from per-candidate logits (N, draws, K, classes)."""
    n, draws, k, classes = logits.shape
    flat = torch.from_numpy(np.ascontiguousarray(logits)).reshape(n * draws, k, classes)
    return majority_vote(flat).reshape(n, draws).numpy()


def defended_accuracies(
    classifiers: dict[str, nn.Module],
    purifier: Purifier,
    clips: torch.Tensor,
    labels: torch.Tensor,
    clip_ids: np.ndarray,
    seed: int,
    batch_size: int,
) -> dict[str, float]:
    """Each recognizer's accuracy on ``clips`` behind ``purifier``: one draw per clip, seeded as
    :func:`predict_defended` seeds Table I's, the vote of its candidates. Every clip is purified once
    for all recognizers (:class:`SideBySide`)."""
    side_by_side = SideBySide(classifiers)
    defended = DefendedClassifier(side_by_side, purifier, gradient="none")
    # Every candidate is classified: the recognizers' votes may be decided at different candidates.
    logits = predict_defended(defended, clips, seed, 1, batch_size, clip_ids).logits
    return {
        name: float((votes(part)[:, 0] == labels.numpy()).mean()) for name, part in side_by_side.split(logits).items()
    }


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


def defense_specs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Table I's defense rows in order: the undefended "None" row first, then the config's."""
    return {"None": {"type": "none"}, **config["defenses"]}


def load_defense(config: dict[str, Any], spec: dict[str, Any], device: torch.device, diffusion_model: str | None = None) -> Purifier:
    """The defense of ``spec`` as a purifier on ``device``; diffusion defenses get the model at ``diffusion_model``."""
    from videopure.defenses import build_defense
    from videopure.evaluation.latents import load_diffusion_model

    model = load_diffusion_model(config, diffusion_model, device) if diffusion_model is not None else None
    return build_defense(spec, diffusion_model=model).to(device)


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
