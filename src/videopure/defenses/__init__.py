"""Adversarial purification defenses behind one interface, and the classifier they defend.

* :class:`Purifier` — the interface: ``purify(x)`` maps videos (B, T, C, H, W) in [0, 1] to K
  candidates (B, K, T, C, H, W); ``forward(x, gradient=...)`` validates and picks exact, ε-frozen,
  BPDA or no gradients.
* The classical defenses of Table I: :class:`NoDefense`, :class:`JPEG`, :class:`WhiteNoise`,
  :class:`TemporalShuffle`.
* The diffusion baselines of Table I on a latent video diffusion model: :class:`DiffPureDDPM`,
  :class:`DiffPureDDIM`, :class:`DDIMInversion` (base class :class:`DiffusionPurifier`).
* :class:`VideoPure` — the paper's method (temporal DDIM inversion, spatial-temporal optimisation,
  multi-step voting), every ablation a constructor argument.
* :class:`DefendedClassifier` — any video classifier behind a purifier, with the majority vote.
* :func:`build_defense` — a defense from a config spec ``{"type": ..., **kwargs}`` (and the
  diffusion model, for diffusion-based defenses);
  :func:`register_defense`, :data:`DEFENSES`.
* :func:`seeded`, :func:`seeded_clips` — the seeding protocol for stochastic defenses
  (:mod:`videopure.randomness`).
"""

from videopure.defenses.base import GRADIENT_MODES, Purifier, check_video
from videopure.defenses.classical import JPEG, NoDefense, TemporalShuffle, WhiteNoise
from videopure.defenses.defended import DefendedClassifier, majority_vote
from videopure.defenses.diffusion import DDIMInversion, DiffPureDDIM, DiffPureDDPM, DiffusionPurifier
from videopure.defenses.registry import DEFENSES, build_defense, check_defense_spec, register_defense, resolve_defense
from videopure.defenses.videopure import VideoPure
from videopure.randomness import derive_seed, seeded, seeded_clips

__all__ = [
    "DEFENSES",
    "GRADIENT_MODES",
    "JPEG",
    "DDIMInversion",
    "DefendedClassifier",
    "DiffPureDDIM",
    "DiffPureDDPM",
    "DiffusionPurifier",
    "NoDefense",
    "Purifier",
    "TemporalShuffle",
    "VideoPure",
    "WhiteNoise",
    "build_defense",
    "check_defense_spec",
    "check_video",
    "derive_seed",
    "majority_vote",
    "register_defense",
    "resolve_defense",
    "seeded",
    "seeded_clips",
]
