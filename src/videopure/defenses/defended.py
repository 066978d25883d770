"""A classifier behind a purifier: per-candidate logits and the majority vote (paper, Sec. III-D).

Example — VideoPure (or any defense) in front of an mmaction2 recognizer::

    from videopure.defenses import DefendedClassifier, build_defense
    from videopure.models.classifier import VideoClassifier

    classifier = VideoClassifier(recognizer, class_names)   # (N, T, C, H, W) in [0, 1] -> (N, classes)
    defended = DefendedClassifier(classifier, build_defense({"type": "jpeg", "quality": 75}))
    votes, logits = defended.predict(x)                     # x: (B, T, C, H, W) in [0, 1]
    vote = defended.classify(x)                             # the same votes, candidates only as needed
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from videopure.defenses.base import Purifier

VOTES = ("majority",)


def majority_vote(logits: torch.Tensor) -> torch.Tensor:
    """Class voted by most candidates, (B,), from per-candidate logits (B, K, classes).

    Each candidate votes for its argmax. Ties — between classes with equally many votes, or between
    equal logits within a candidate — go to the smallest class index, as in the authors' code.
    With K = 1 the vote is the argmax.
    """
    if logits.ndim != 3 or logits.numel() == 0:
        raise ValueError(f"expected per-candidate logits (B, K, classes), got shape {tuple(logits.shape)}")
    choices = logits.argmax(dim=2)  # torch.argmax returns the first maximal index
    counts = torch.zeros(logits.shape[0], logits.shape[2], dtype=torch.long, device=logits.device)
    counts.scatter_add_(1, choices, torch.ones_like(choices))
    return counts.argmax(dim=1)


def fewest_to_decide(candidates: int) -> int:
    """The fewest candidates that can decide a majority vote over ``candidates``: a first half in
    agreement (for an even count, the tie the rest could force goes to the smaller class index, as
    :func:`majority_vote` breaks ties, so half can decide). No vote stops earlier."""
    return (candidates + 1) // 2


def votes_to_decide(counts: torch.Tensor, remaining: int) -> torch.Tensor:
    """Fewest further candidates (B,) after which the vote can be decided, given each clip's votes so
    far ``counts`` (B, classes) and ``remaining`` candidates not yet seen; 0 where it is decided.

    The leader (most votes, ties to the smallest index, as :func:`majority_vote` breaks them) wins
    whatever the rest vote when no other class j can reach it: counts_j + remaining < lead, or
    equal with j after the leader. If it is not decided yet, the leader needs d more votes with
    lead + d > counts_j + remaining − d for every j before it (≥ for j after it); no other class
    can be decided sooner, so d further candidates are all needed whatever they vote.
    """
    leader = counts.argmax(dim=1)
    lead = counts.gather(1, leader[:, None])
    gap = counts + remaining - lead  # how far j could get past the leader if the leader got no more votes
    before_leader = torch.arange(counts.shape[1], device=counts.device)[None] < leader[:, None]
    needed = torch.where(before_leader, gap // 2 + 1, (gap + 1) // 2)  # strict before the leader, ≥ after it
    needed.scatter_(1, leader[:, None], 0)
    return needed.clamp(min=0).amax(dim=1)


@dataclass(frozen=True)
class Vote:
    """A majority vote over each clip's candidates (:meth:`DefendedClassifier.classify`).

    Attributes:
        classes: the voted class (B,), as :func:`majority_vote` of every candidate's logits.
        logits: per-candidate logits (B, K, classes); NaN for the candidates the vote did not need.
        evaluated: candidates decoded and classified per clip (B,): the first ones in the vote's order.
    """

    classes: torch.Tensor
    logits: torch.Tensor
    evaluated: torch.Tensor


class DefendedClassifier(nn.Module):
    """``classifier(purifier(x))`` for every candidate, and their vote.

    Args:
        classifier: any module mapping videos (N, T, C, H, W) in [0, 1] to logits (N, classes),
            e.g. :class:`videopure.models.classifier.VideoClassifier` around an mmaction2 recognizer.
        purifier: the defense.
        vote: how candidates' predictions combine; ``"majority"`` (the paper's multi-step voting).
        gradient: how gradients pass through the purifier (see
            :meth:`~videopure.defenses.base.Purifier.forward`): ``"exact"``, ``"bpda"``, ``"none"``,
            or ``"auto"`` (the defense's default for adaptive attacks: exact where it is differentiable,
            else BPDA; BPDA for the diffusion purifiers, as in the paper's Table I). The resolved
            mode is kept in :attr:`gradient`, for the record of how an adaptive attack was run.
    """

    def __init__(self, classifier: nn.Module, purifier: Purifier, vote: str = "majority", gradient: str = "auto") -> None:
        super().__init__()
        if not isinstance(purifier, Purifier):
            raise TypeError(f"purifier must be a videopure.defenses.Purifier, got {type(purifier).__name__}")
        if vote not in VOTES:
            raise ValueError(f"unknown vote {vote!r}; expected one of {VOTES}")
        self.classifier = classifier
        self.purifier = purifier
        self.vote = vote
        self.gradient = purifier.resolve_gradient(gradient)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, K, classes) of the K purified candidates of each clip of ``x`` (B, T, C, H, W).

        All B·K candidates go through the classifier as one batch.
        """
        candidates = self.purifier(x, gradient=self.gradient)
        batch, k = candidates.shape[:2]
        logits = self.classifier(candidates.flatten(0, 1))
        return logits.unflatten(0, (batch, k))

    @torch.no_grad()
    def classify(self, x: torch.Tensor, z0: torch.Tensor | None = None, early_exit: bool = True, **cached: Any) -> Vote:
        """The majority vote of each clip's candidates (B,) for clips ``x`` (B, T, C, H, W), without gradients.

        Candidates are decoded and classified in the vote's order, in batches across the clips.
        With ``early_exit`` each clip stops when its leading class can no longer be overtaken
        (:func:`votes_to_decide`): exactly the full vote's classes, with fewer decodes,
        classifications and — for VideoPure without a cached trajectory — denoising UNet calls.
        Without it, every candidate is classified (the per-candidate logits of Table VII's analysis).

        For a diffusion purifier, ``z0``: the clips' latents E(x) (B, T, c, h, w) if cached (else
        encoded here), and ``cached``: what else of theirs the workflow cached (VideoPure's
        ``trajectory`` and ``flow``).
        """
        purifier = self.purifier
        if purifier.diffusion_based:
            if z0 is None:
                z0 = purifier.model.encode(x)
            stream: Iterator[torch.Tensor] = purifier.iter_candidate_latents(x, z0, **cached)
        else:
            if z0 is not None or cached:
                raise TypeError(f"defense {purifier.name!r} does not work on latents; pass the clips alone")
            stream = iter(purifier(x, gradient="none").unbind(1))
        batch, total = x.shape[0], purifier.num_candidates
        active = torch.ones(batch, dtype=torch.bool, device=x.device)
        evaluated = torch.zeros(batch, dtype=torch.long, device=x.device)
        logits = counts = None
        seen = 0
        while seen < total and bool(active.any()):
            if not early_exit:
                step = total
            elif counts is None:
                step = fewest_to_decide(total)
            else:
                step = int(votes_to_decide(counts[active], total - seen).min())
            chunk = torch.stack([next(stream) for _ in range(step)], dim=1)[active]
            videos = chunk.flatten(0, 1)
            if purifier.diffusion_based:
                videos = purifier.model.decode(videos)
            videos = videos.to(dtype=x.dtype)
            out = self.classifier(videos).unflatten(0, chunk.shape[:2]).float()
            if logits is None:
                logits = out.new_full((batch, total, out.shape[-1]), float("nan"))
                counts = torch.zeros(batch, out.shape[-1], dtype=torch.long, device=out.device)
            rows = active.nonzero()[:, 0]
            logits[rows, seen : seen + step] = out
            counts[rows] += torch.nn.functional.one_hot(out.argmax(dim=2), out.shape[-1]).sum(dim=1)
            evaluated[rows] += step
            seen += step
            if early_exit:
                active &= votes_to_decide(counts, total - seen) > 0
        return Vote(counts.argmax(dim=1), logits, evaluated)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Voted classes (B,) and per-candidate logits (B, K, classes), without gradients."""
        logits = self(x)
        return majority_vote(logits), logits
