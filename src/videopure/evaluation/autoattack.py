"""AutoAttack on video (paper Table II): APGD-CE and APGD-DLR through a defense, on a subset.

The paper runs AutoAttack with BPDA on 30 random UCF-101 clips ("10.3 hours for APGD-CE on one
video"). Here each sub-attack (:mod:`videopure.attacks.apgd`) differentiates through the defense
in its default gradient mode (config ``autoattack.gradient: auto``, as Table I's +BPDA columns: BPDA
through the diffusion defenses and JPEG, exact through the other classical ones) or by the exact
gradient (``exact``, through every diffusion model call: beyond the paper) with AutoAttack's EOT
draws for a stochastic defense, on a class-balanced,
seeded subset of the evaluation set. Every adversarial clip is then classified through the defense
as Table I's rows are (seeded draws). A clip counts as robust only if it withstands both
sub-attacks: AutoAttack's worst case per clip.

Work is saved after every batch (a partial file beside the output), so an interrupted job resumes
at the batch it stopped in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from videopure.attacks import build_attack
from videopure.cache import StaleCacheError, read_h5, write_h5
from videopure.defenses.defended import DefendedClassifier
from videopure.defenses.registry import resolve_defense
from videopure.evaluation.voting import predict_defended
from videopure.params import resolve_recognizer, resolve_rows

log = logging.getLogger(__name__)

#: The sub-attacks, in AutoAttack's order, by the slug of their arrays.
SUB_ATTACKS = {"apgd_ce": "APGD-CE", "apgd_dlr": "APGD-DLR"}


@dataclass(frozen=True)
class AutoAttackSetup:
    """The config's ``autoattack`` section, resolved against its defenses and datasets."""

    dataset: str
    model: str
    defenses: tuple[str, ...]
    clips: int | None
    steps: int
    eot_samples: int
    gradient: str  # the defended recognizer's gradient mode: "auto" (the paper's BPDA) or "exact"


def apgd_settings(section: Mapping[str, Any], attack: Mapping[str, Any], stochastic: bool, seed: int) -> dict[str, Any]:
    """Constructor arguments of both sub-attacks from the config's ``autoattack`` and ``attack``
    sections: Table I's eps and norm, AutoAttack's steps, EOT draws for a stochastic defense only (a
    deterministic one gives every draw the same gradient)."""
    return {
        "eps": attack["eps"],
        "steps": section["steps"],
        "norm": attack["norm"],
        "eot_samples": section["eot_samples"] if stochastic else 1,
        "seed": seed,
    }


#: The paper's rows of Table II.
PAPER_DEFENSES = ("TemporalShuffle", "DiffPure_DDPM", "Ours")


def autoattack_setup(config: Mapping[str, Any]) -> AutoAttackSetup:
    """Resolve ``autoattack``: its defenses must be Table I rows (null: those of the paper's rows the
    config has), each differentiable for ``gradient: exact``; its dataset and recognizer as
    :func:`~videopure.params.resolve_recognizer` says."""
    section = config["autoattack"]
    defenses = resolve_rows(config, "autoattack", PAPER_DEFENSES)
    gradient = section["gradient"]
    if gradient == "exact":
        without = [name for name in defenses if not resolve_defense(config["defenses"][name]["type"]).exact_gradient]
        if without:
            raise ValueError(
                f"config key 'autoattack.gradient': exact, but {without} have no exact gradient (not differentiable); "
                "use auto (BPDA through them) or leave them out of 'autoattack.defenses'"
            )
    dataset, model = resolve_recognizer(config, "autoattack")
    return AutoAttackSetup(
        dataset, model, defenses, section["clips"], section["steps"], section["eot_samples"], gradient
    )


def run_autoattack(
    target: DefendedClassifier,
    defended: DefendedClassifier,
    clips: torch.Tensor,
    labels: torch.Tensor,
    clip_ids: np.ndarray,
    settings: Mapping[str, Any],
    batch_size: int,
    draws: int,
    partial: Path,
    record: Mapping[str, Any],
) -> dict[str, np.ndarray]:
    """Both sub-attacks on ``clips`` through ``target`` (the defended recognizer in its attack
    gradient mode), ``batch_size`` clips at a time, each batch seeded ``settings['seed']`` + its
    index; their clips classified through ``defended`` (``draws`` seeded draws, keyed by
    ``clip_ids``). Returns per sub-attack slug ``{slug}/clips`` (N, T, C, H, W), ``{slug}/votes``
    (N, draws) and ``{slug}/loss_trace`` (steps + 1, N).

    ``partial``: where the arrays of finished batches are kept, with ``record`` (``params`` and
    ``upstream`` of the job), after every batch; a partial file of the same record is resumed, one
    of another is discarded.
    """
    done = _resume(partial, record)
    start = len(done.get("apgd_ce/votes", ()))
    for begin in range(start, len(clips), batch_size):
        stop = min(begin + batch_size, len(clips))
        batch = {**settings, "seed": settings["seed"] + begin // batch_size}
        for slug, name in SUB_ATTACKS.items():
            attack = build_attack(name, target, **batch, progress=True)
            adversarial = attack(clips[begin:stop], labels[begin:stop]).cpu()
            votes = predict_defended(defended, adversarial, batch["seed"], draws, batch_size, clip_ids[begin:stop]).votes
            parts = {"clips": adversarial.numpy(), "votes": votes, "loss_trace": attack.loss_trace.numpy()}
            for key, value in parts.items():
                axis = 1 if key == "loss_trace" else 0
                previous = done.get(f"{slug}/{key}")
                done[f"{slug}/{key}"] = value if previous is None else np.concatenate([previous, value], axis=axis)
        write_h5(partial, done, record["params"], record["upstream"], compression=None)
        log.info("autoattack: %d of %d clips done (saved in %s)", stop, len(clips), partial)
    return done


def _resume(partial: Path, record: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not partial.exists():
        return {}
    keys = [f"{slug}/{name}" for slug in SUB_ATTACKS for name in ("clips", "votes", "loss_trace")]
    try:
        saved = read_h5(partial, expect_params=record["params"], expect_upstream=record["upstream"], keys=keys)
    except StaleCacheError as error:
        log.warning("autoattack: discarding %s, made by another job: %s", partial, error)
        partial.unlink()
        return {}
    log.info("autoattack: resuming after %d clips from %s", len(saved["apgd_ce/votes"]), partial)
    return {key: saved[key] for key in keys}


def robust_per_clip(votes: Mapping[str, np.ndarray], labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per clip, the fraction of draws classified correctly under each sub-attack, and the worst
    case over them (``"worst"``: AutoAttack counts a clip robust only if every attack fails)."""
    correct = {slug: (votes[slug] == labels[:, None]).mean(axis=1) for slug in SUB_ATTACKS}
    return {**correct, "worst": np.minimum.reduce(list(correct.values()))}
