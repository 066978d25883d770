"""Attacks on video classifiers (docs/design.md, "Attacks"): torchattacks' interface, 5-D safe.

``build_attack("PGD", model, eps=4/255, steps=10)(x, y) -> x_adv`` for clips (B, T, C, H, W) in
[0, 1]; ``attack.loss_trace`` and ``attack.settings()`` are kept beside every robust accuracy.
PGD and TT (Table I), APGD-CE and APGD-DLR (AutoAttack's white-box attacks, Table II).
"""

from videopure.attacks.apgd import APGDCE, APGDDLR
from videopure.attacks.base import Attack, View, normalize_per_frame, scale_l2_eps
from videopure.attacks.pgd import PGD
from videopure.attacks.registry import ATTACKS, build_attack
from videopure.attacks.tt import TT

__all__ = ["APGDCE", "APGDDLR", "ATTACKS", "PGD", "TT", "Attack", "View", "build_attack", "normalize_per_frame", "scale_l2_eps"]
