"""Attacks by name, for configs and workflow rules.

Adding an attack: write one :class:`~videopure.attacks.base.Attack` subclass and add it here;
the contract test in ``tests/test_attacks.py`` is parametrised from this mapping.
"""

from __future__ import annotations

from typing import Any

from videopure.attacks.apgd import APGDCE, APGDDLR
from videopure.attacks.base import Attack, Model
from videopure.attacks.pgd import PGD
from videopure.attacks.tt import TT

ATTACKS: dict[str, type[Attack]] = {"PGD": PGD, "TT": TT, "APGD-CE": APGDCE, "APGD-DLR": APGDDLR}


def build_attack(name: str, model: Model, **settings: Any) -> Attack:
    """``ATTACKS[name](model, **settings)``; an unknown name raises ``ValueError`` listing the known ones."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; known attacks: {', '.join(sorted(ATTACKS))}")
    return ATTACKS[name](model, **settings)
