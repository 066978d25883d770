"""Table I's rows and columns: which attack fills which column, and which cells are adaptive attacks
through a diffusion defense (scheduled or not when the job graph is built).

Columns (paper Table I and Section IV-B):

* ``PGD`` and ``TT`` are **gray-box** (Robust Acc*): the attack sees the bare classifier only; its
  adversarial clips are computed once per recognizer and evaluated through every defense.
* ``PGD+BPDA``, ``TT+BPDA`` and ``EOT+BPDA`` are **adaptive** (Robust Acc): the attack
  differentiates through the defense — exactly where the defense is differentiable (white noise,
  temporal shuffle), with BPDA's identity backward where it is not (JPEG) and for the diffusion
  purifiers, as in the paper. The gradient method of every cell is recorded. ``EOT+BPDA``
  averages the gradient over ``eot_samples`` draws of a stochastic defense; for a deterministic
  defense every draw gives the same gradient, so it uses one draw and the column equals PGD+BPDA
  up to the random start.
* ``PGD+DiffAttack`` is adaptive with the **full gradient** of a diffusion defense: PGD
  differentiates through the encoder, every UNet call (each checkpointed, DiffAttack's
  memory-saving idea), the sampler's arithmetic, VideoPure's optimisation step, the decoder and
  the vote's mean cross-entropy. A stochastic defense draws fresh noise at every attack step, as
  it does at test time. Only diffusion defenses have this column (paper Table I).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from videopure.defenses.registry import resolve_defense


@dataclass(frozen=True)
class AttackColumn:
    """One attack column of Table I (or Table III's black-box TT+MI).

    Attributes:
        blackbox: the TT authors' black-box setting: momentum 1 (MI), start at the clean clip, step
            radius / steps (crafted on another recognizer than the one evaluated: Table III).
    """

    name: str
    slug: str
    attack: str
    adaptive: bool
    eot: bool = False
    gradient: str = "auto"  # DefendedClassifier's gradient mode of an adaptive column
    blackbox: bool = False


GRAYBOX_COLUMNS = (AttackColumn("PGD", "pgd", "PGD", False), AttackColumn("TT", "tt", "TT", False))
ADAPTIVE_COLUMNS = (
    AttackColumn("PGD+BPDA", "pgd_bpda", "PGD", True),
    AttackColumn("TT+BPDA", "tt_bpda", "TT", True),
    AttackColumn("EOT+BPDA", "eot_bpda", "PGD", True, eot=True),
)
FULL_GRADIENT_COLUMNS = (AttackColumn("PGD+DiffAttack", "pgd_diffattack", "PGD", True, gradient="exact"),)
BLACKBOX_COLUMN = AttackColumn("TT+MI", "tt_mi", "TT", False, blackbox=True)
COLUMNS_BY_SLUG = {
    column.slug: column for column in (*GRAYBOX_COLUMNS, *ADAPTIVE_COLUMNS, *FULL_GRADIENT_COLUMNS, BLACKBOX_COLUMN)
}


def adaptive_columns(spec: dict[str, Any]) -> tuple[AttackColumn, ...]:
    """Table I's adaptive columns of the defense ``spec``: none for the undefended row, the +BPDA
    columns for every defense, and PGD+DiffAttack as well for a diffusion defense."""
    if spec["type"] == "none":
        return ()
    if resolve_defense(spec["type"]).diffusion_based:
        return ADAPTIVE_COLUMNS + FULL_GRADIENT_COLUMNS
    return ADAPTIVE_COLUMNS


def diffusion_adaptive_columns(spec: dict[str, Any]) -> tuple[AttackColumn, ...]:
    """The adaptive columns of ``spec`` that attack through a diffusion model: all of them for a
    diffusion defense, none otherwise. They are the columns a CPU cannot afford
    (:func:`decide_diffusion_adaptive`), marked "not run" in the tables where they were not measured."""
    if spec["type"] != "none" and resolve_defense(spec["type"]).diffusion_based:
        return adaptive_columns(spec)
    return ()


def defense_specs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Table I's defense rows in order: the undefended "None" row first, then the config's."""
    return {"None": {"type": "none"}, **config["defenses"]}


def decide_diffusion_adaptive(config: dict[str, Any]) -> tuple[bool, str]:
    """Whether new adaptive attacks through the diffusion defenses are scheduled (config
    ``diffusion_adaptive``), and if not why, in words for a table's note.

    ``run`` yes, ``skip`` no; ``auto`` yes where config ``device`` is ``cuda`` or, with ``device:
    auto``, where this process sees a CUDA device. Called where Snakemake builds its job graph, which
    on a cluster is often a login node without a GPU: there the setting is explicit
    (``profiles/slurm`` says ``run``), never probed inside a job.
    """
    setting, device = config["diffusion_adaptive"], config["device"]
    if setting == "run" or (setting == "auto" and device == "cuda"):
        return True, ""
    if setting == "skip":
        return False, "config 'diffusion_adaptive' is 'skip'"
    if device == "cpu":
        return False, "config 'diffusion_adaptive' is 'auto' and config 'device' is 'cpu'"
    if torch.cuda.is_available():
        return True, ""
    return False, "config 'diffusion_adaptive' is 'auto' and the machine that built the job graph has no CUDA device"
