"""One row of a table: a defended recognizer's votes on the clean evaluation set and on each attack's
clips (rules predict and predict_setting).

Diffusion defenses read a clip file's cached latents z0 = E(x) where the row has them (rules encode_*);
VideoPure also its cached trajectory (rule invert) and flow (rule flow). A one-candidate diffusion
defense's clean clips are purified once for all recognizers of the dataset (rule predict_clean,
:func:`shared_clean_predictions`), and each row reads its recognizer's share. With early exit each
vote stops once decided: the logits of the candidates it did not need are NaN, and ``evaluated``
counts those it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from videopure.cache import read_h5
from videopure.defenses import DefendedClassifier, Purifier
from videopure.defenses.videopure import VideoPure
from videopure.evaluation.latents import read_latents
from videopure.evaluation.loading import EvalClips, read_attack_clips
from videopure.evaluation.trajectories import read_flows, read_trajectories
from videopure.evaluation.voting import Predictions, SideBySide, predict_defended, vote_accuracy
from videopure.params import file_digest


@dataclass
class Row:
    """A row's arrays (a group per source: logits, votes, evaluated), accuracy per source, the settings
    of each attack it read, and the identities of the files it was computed from."""

    arrays: dict[str, np.ndarray]
    accuracy: dict[str, float] = field(default_factory=dict)
    attacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    upstream: dict[str, str] = field(default_factory=dict)


def vote_row(
    defended: DefendedClassifier,
    spec: Mapping[str, Any],
    data: EvalClips,
    sources: Sequence[str],
    files: Mapping[str, str],
    model: str,
    defense: str,
    seed: int,
    draws: int,
    batch_size: int,
    early_exit: bool,
) -> Row:
    """Votes of ``defended`` (defense ``defense`` of ``spec`` on recognizer ``model``) on each of
    ``sources``: ``clean``, or an attack column whose clips are ``files[source]``. ``files`` also names
    the caches a source has: ``latents_<source>``, ``trajectory_<source>``, ``flow_<source>``, and
    ``shared_clean``, the clean votes of every recognizer (:func:`shared_clean_predictions`)."""
    purifier = defended.purifier
    row = Row(arrays={"labels": data.labels.numpy(), "video_ids": data.video_ids})

    def computed(source: str) -> Predictions:
        clips, clips_upstream = data.clips, data.upstream
        if source != "clean":
            adversarial = read_attack_clips(files[source], data, model, source, (defense, purifier.settings()))
            clips, clips_upstream = adversarial.clips, {"clips": adversarial.identity}
            row.upstream[source] = adversarial.identity
            row.attacks[source] = {key: adversarial.params[key] for key in ("attack", "gradient")}
        latents, latents_identity, cached = None, None, {}
        if f"latents_{source}" in files:
            latents, latents_identity = read_latents(
                files[f"latents_{source}"], purifier.model, clips_upstream, data.video_ids
            )
        if f"trajectory_{source}" in files:
            trajectory_upstream = {"latents": latents_identity, "diffusion_model": purifier.model.identity}
            cached["trajectory"] = read_trajectories(
                files[f"trajectory_{source}"], VideoPure.spec_trajectory(spec), trajectory_upstream, data.video_ids
            )
        if f"flow_{source}" in files:
            flow_spec, size = VideoPure.spec_flow(spec), tuple(latents.shape[-2:])
            cached["flow"] = read_flows(files[f"flow_{source}"], flow_spec, size, clips_upstream, data.video_ids)
        return predict_defended(
            defended, clips, seed, draws, batch_size, data.index, latents, cached, early_exit=early_exit
        )

    for source in sources:
        if source == "clean" and "shared_clean" in files:
            checkpoint = file_digest(files["checkpoint"])
            predictions, row.upstream["clean"] = read_shared_clean(
                files["shared_clean"], model, checkpoint, purifier, data, seed, draws
            )
        else:
            predictions = computed(source)
        row.arrays.update({f"{source}/{key}": value for key, value in vars(predictions).items()})
        row.accuracy[source] = vote_accuracy(predictions.votes, row.arrays["labels"])
    return row


def shared_clean_predictions(
    classifiers: Mapping[str, nn.Module],
    purifier: Purifier,
    data: EvalClips,
    seed: int,
    draws: int,
    batch_size: int,
    latents: torch.Tensor | None = None,
) -> dict[str, np.ndarray]:
    """Every recognizer's predictions on the clean evaluation set behind one purification of each clip
    (rule predict_clean): arrays ``<model>/logits``, ``<model>/votes``, ``<model>/evaluated``, each
    equal to what :func:`vote_row` computes for that recognizer alone — the same candidates (the
    draws are keyed by clip and draw, not by recognizer) through the same recognizer. Only for a
    defense with one candidate, whose vote is that candidate's class: a vote over several
    candidates may stop early at a different candidate for each recognizer."""
    if purifier.num_candidates != 1:
        raise ValueError(
            f"defense {purifier.name!r} has {purifier.num_candidates} candidates; only one-candidate defenses share "
            "their clean purification across recognizers"
        )
    side_by_side = SideBySide(dict(classifiers))
    predictions = predict_defended(side_by_side.behind(purifier), data.clips, seed, draws, batch_size, data.index, latents)
    shares = side_by_side.split_predictions(predictions)
    return {f"{name}/{key}": value for name, share in shares.items() for key, value in vars(share).items()}


def read_shared_clean(
    path: str, model: str, checkpoint: str, purifier: Purifier, data: EvalClips, seed: int, draws: int
) -> tuple[Predictions, str]:
    """Recognizer ``model``'s share of a rule predict_clean file and the file's identity, refused
    (StaleCacheError naming the key) unless it was made with this defense's settings, seed and draws,
    from these clean clips and the recognizer's checkpoint (identity ``checkpoint``)."""
    expected = {"defense_settings": purifier.settings(), "seed": seed, "draws": draws}
    upstream = {**data.upstream, f"checkpoint_{model}": checkpoint}
    keys = [f"{model}/{field.name}" for field in fields(Predictions)]
    record = read_h5(path, expect_params=expected, expect_upstream=upstream, keys=keys)
    return Predictions(*(record[key] for key in keys)), record.identity
