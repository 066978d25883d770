"""A classifier behind a purifier: per-candidate logits and the majority vote (paper, Sec. III-D).

Example — VideoPure (or any defense) in front of an mmaction2 recognizer::

    from videopure.defenses import DefendedClassifier, build_defense
    from videopure.models.classifier import VideoClassifier

    classifier = VideoClassifier(recognizer, class_names)   # (N, T, C, H, W) in [0, 1] -> (N, classes)
    defended = DefendedClassifier(classifier, build_defense({"type": "jpeg", "quality": 75}))
    votes, logits = defended.predict(x)                     # x: (B, T, C, H, W) in [0, 1]
"""

from __future__ import annotations

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
    def logits_from_latents(self, x: torch.Tensor, z0: torch.Tensor, **cached: Any) -> torch.Tensor:
        """Logits (B, K, classes) like :meth:`forward`, without gradients, for a diffusion purifier
        given the clips ``x`` and their cached latents z0 = E(x) (B, T, c, h, w), which it does not
        encode again (and VideoPure's cached ``trajectory`` and ``flow``, which it does not recompute)."""
        if not self.purifier.diffusion_based:
            raise TypeError(f"defense {self.purifier.name!r} does not work on latents; pass the clips")
        candidates = self.purifier.purify_from_latents(x, z0, **cached)
        batch, k = candidates.shape[:2]
        logits = self.classifier(candidates.flatten(0, 1).float())
        return logits.unflatten(0, (batch, k))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Voted classes (B,) and per-candidate logits (B, K, classes), without gradients."""
        logits = self(x)
        return majority_vote(logits), logits
