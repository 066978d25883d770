"""PGD (Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks").

The gray-box and adaptive attack of Table I (docs/design.md, "Attacks"): l-inf with the authors'
eps 4/255, step 2/255, 10 steps and Gaussian random start by default, or l2 (``norm="l2"``,
5-D-safe per-clip normalisation and projection). ``eot_samples`` makes it EOT-PGD against a
stochastic defense, ``momentum`` makes it MI-FGSM.
"""

from __future__ import annotations

from videopure.attacks.base import IDENTITY_VIEW, Attack, View


class PGD(Attack):
    """Projected gradient ascent on the cross-entropy of the clips themselves.

    With ``random_start=None`` the l-inf attack equals ``torchattacks.PGD(random_start=False)``
    and the l2 attack equals ``torchattacks.PGDL2(random_start=False)`` on a batch of one clip
    (tested); on larger video batches torchattacks' PGDL2 mis-broadcasts its norms and ours
    equals attacking each clip alone. See :class:`~videopure.attacks.base.Attack` for the
    arguments.
    """

    name = "PGD"

    def views(self, frames: int) -> list[View]:
        return [IDENTITY_VIEW]
