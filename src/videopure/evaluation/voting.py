"""A defended recognizer's votes on clips, seeded per clip and draw, and the accuracy of votes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from videopure.cache import read_attrs, read_h5
from videopure.defenses.base import Purifier
from videopure.defenses.defended import DefendedClassifier, majority_vote
from videopure.randomness import seeded, seeded_clips


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

    ``batch_size`` clips at a time. A stochastic defense's draw ``d`` of clip ``i`` is drawn as if
    alone under ``seeded(seed, clip_ids[i], d)`` (the protocol in :mod:`videopure.defenses.base`): in
    batches under ``seeded_clips`` where the purifier sets ``draws_per_clip``, one clip at a time
    otherwise; a clip's draws depend on neither batch size nor neighbours.
    ``latents``: the clips' cached z0 = E(x) (N, T, c, h, w), for a diffusion defense; ``cached``:
    more of the clips' cached intermediate results, sliced like them (VideoPure's ``trajectory`` and
    ``flow``). ``early_exit``: stop each vote once it is decided (the same votes; the logits of the
    candidates not needed are NaN).
    """
    cached = cached or {}
    device = next(defended.classifier.parameters()).device
    purifier = defended.purifier

    def vote_of(start: int, stop: int):
        z0 = None if latents is None else latents[start:stop].to(device)
        parts = {key: value[start:stop] for key, value in cached.items()}
        vote = defended.classify(clips[start:stop].to(device), z0, early_exit=early_exit, **parts)
        return vote.logits.cpu(), vote.classes.cpu(), vote.evaluated.cpu()

    def draws_of(start: int, stop: int):
        """Each output (batch, draws, ...) of the clips start:stop."""
        per_draw = []
        for draw in range(draws):
            keys = [(seed, int(clip_id), draw) for clip_id in clip_ids[start:stop]]
            with seeded_clips(keys) if purifier.draws_per_clip else seeded(*keys[0]):
                per_draw.append(vote_of(start, stop))
        return [torch.stack(part, dim=1) for part in zip(*per_draw)]

    if not purifier.stochastic:
        starts = tqdm(range(0, len(clips), batch_size), desc="predict", unit="batch")
        batches = zip(*(vote_of(start, start + batch_size) for start in starts))
        # A deterministic defense: every draw repeats the clip's candidates.
        logits, classes, evaluated = (torch.cat(part).unsqueeze(1).expand(-1, draws, *part[0].shape[1:]) for part in batches)
    else:
        step = batch_size if purifier.draws_per_clip else 1
        starts = tqdm(range(0, len(clips), step), desc="predict", unit="batch" if step > 1 else "clip")
        batches = zip(*(draws_of(start, start + step) for start in starts))
        logits, classes, evaluated = (torch.cat(part) for part in batches)
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

    def behind(self, purifier: Purifier) -> DefendedClassifier:
        """The recognizers behind one purifier, for :func:`predict_defended` (no gradient)."""
        return DefendedClassifier(self, purifier, gradient="none")

    def split_predictions(self, predictions: Predictions) -> dict[str, Predictions]:
        """Each recognizer's predictions, votes included, from those of :meth:`behind`. Made without
        ``early_exit``: the recognizers' votes may be decided at different candidates."""
        return {
            name: Predictions(logits, votes(logits), predictions.evaluated)
            for name, logits in self.split(predictions.logits).items()
        }


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
    """Each recognizer's accuracy on ``clips`` behind ``purifier``: one draw per clip, the vote of its
    candidates, every clip purified once for all recognizers (:class:`SideBySide`)."""
    side_by_side = SideBySide(classifiers)
    predictions = predict_defended(side_by_side.behind(purifier), clips, seed, 1, batch_size, clip_ids)
    shares = side_by_side.split_predictions(predictions)
    return {name: vote_accuracy(share.votes, labels.numpy()) for name, share in shares.items()}
