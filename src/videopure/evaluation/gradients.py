"""How well an attack's gradient approximation agrees with the exact gradient through a defense.

For VideoPure, BPDA's identity backward ignores the encoder, the optimisation step, the vote and
the decoder; the ε-frozen gradient keeps all of them and holds the UNet's noise estimates fixed;
the exact gradient goes through every UNet call too. The cosine similarity between them, per clip,
on the adaptive attack's loss (mean cross-entropy over candidates), says how far BPDA is from the
gradient an attacker could have (expected well below 1: a sign that +BPDA numbers overstate
robustness).
"""

from __future__ import annotations

import itertools
import statistics
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from videopure.defenses.base import Purifier
from videopure.defenses.defended import DefendedClassifier
from videopure.randomness import seeded


def candidate_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over clips and candidates of logits (B, K, classes): the adaptive attacks' loss."""
    return F.cross_entropy(logits.flatten(0, 1), labels.repeat_interleave(logits.shape[1]))


def input_gradient(classifier: torch.nn.Module, purifier: Purifier, mode: str, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
    """∇_x of :func:`candidate_loss` through ``purifier`` with gradient mode ``mode``."""
    x = x.clone().requires_grad_(True)
    with seeded(seed):
        loss = candidate_loss(DefendedClassifier(classifier, purifier, gradient=mode)(x), y)
    (gradient,) = torch.autograd.grad(loss, x)
    return gradient


def gradient_agreement(
    classifier: torch.nn.Module, purifier: Purifier, clips: torch.Tensor, labels: torch.Tensor, modes: tuple[str, ...], seed: int
) -> dict[str, Any]:
    """Per-clip cosine similarities between the input gradients of every pair of ``modes``, and their medians."""
    device = next(classifier.parameters()).device
    pairs = {f"{a}~{b}": [] for a, b in itertools.combinations(modes, 2)}
    for index in tqdm(range(len(clips)), desc="gradients", unit="clip"):
        x, y = clips[index : index + 1].to(device), labels[index : index + 1].to(device)
        gradients = {mode: input_gradient(classifier, purifier, mode, x, y, seed).flatten() for mode in modes}
        for a, b in itertools.combinations(modes, 2):
            pairs[f"{a}~{b}"].append(float(F.cosine_similarity(gradients[a], gradients[b], dim=0)))
    return {"cosine": pairs, "median_cosine": {pair: statistics.median(values) for pair, values in pairs.items()}}
