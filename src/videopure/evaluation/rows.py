"""One row of a table: a defended recognizer's votes on the clean evaluation set and on each attack's
clips (rules predict and predict_setting).

Diffusion defenses read a clip file's cached latents z0 = E(x) where the row has them (rules encode_*);
VideoPure also its cached trajectory (rule invert) and flow (rule flow). With early exit each vote
stops once decided: the logits of the candidates it did not need are NaN, and ``evaluated`` counts
those it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from videopure.defenses import DefendedClassifier
from videopure.defenses.videopure import VideoPure
from videopure.evaluation.latents import read_latents
from videopure.evaluation.loading import EvalClips, read_attack_clips
from videopure.evaluation.voting import Predictions, predict_defended, vote_accuracy
from videopure.evaluation.trajectories import read_flows, read_trajectories


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
    the caches a source has: ``latents_<source>``, ``trajectory_<source>``, ``flow_<source>``."""
    purifier = defended.purifier
    row = Row(arrays={"labels": data.labels.numpy(), "video_ids": data.video_ids})
    for source in sources:
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
            cached["flow"] = read_flows(
                files[f"flow_{source}"], VideoPure.spec_flow(spec), tuple(latents.shape[-2:]), clips_upstream, data.video_ids
            )
        predictions: Predictions = predict_defended(
            defended, clips, seed, draws, batch_size, data.index, latents, cached, early_exit=early_exit
        )
        row.arrays[f"{source}/logits"] = predictions.logits
        row.arrays[f"{source}/votes"] = predictions.votes
        row.arrays[f"{source}/evaluated"] = predictions.evaluated
        row.accuracy[source] = vote_accuracy(predictions.votes, row.arrays["labels"])
    return row
