"""Running an attack column against a recognizer, bare (gray-box) or through a defense in the
column's gradient mode (adaptive), with the config's attack settings (:mod:`videopure.evaluation.columns`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from videopure.attacks import build_attack
from videopure.attacks.base import default_step_size
from videopure.defenses.base import Purifier
from videopure.defenses.defended import DefendedClassifier
from videopure.evaluation.columns import AttackColumn
from videopure.evaluation.settings import AttackSetting


def attack_settings(
    attack_config: dict[str, Any],
    column: AttackColumn,
    purifier: Purifier | None,
    seed: int,
    setting: AttackSetting | None = None,
    clip_shape: tuple[int, ...] | None = None,
    flow: Mapping[str, Any] | None = None,
) -> dict:
    """Constructor arguments of the column's attack from the config's ``attack`` section, at ``setting``
    (None: Table I's) on clips of ``clip_shape`` (T, C, H, W; an l2 radius is scaled to it). The
    l-inf step is ``attack.step_size`` at every radius, as the paper states one step for its ε sweep
    (a setting may name its own: :attr:`~videopure.evaluation.settings.AttackSetting.step`);
    the l2 step is :func:`~videopure.attacks.base.default_step_size`. A setting with a flow term
    (Table VI) attacks the flow model ``flow`` too; the black-box column (Table III) takes the TT
    authors' step, start and momentum."""
    if attack_config["norm"] != "linf":
        raise ValueError("Table I uses l-inf attacks (paper IV-B); set attack.norm: linf")
    setting = setting or AttackSetting.table1(attack_config)
    eps = setting.radius(clip_shape)
    eot_samples = 1
    if column.eot and purifier is not None and purifier.stochastic:
        eot_samples = attack_config["eot_samples"]
    alpha = setting.step or attack_config["step_size"]
    settings = {
        "eps": eps,
        "steps": setting.steps,
        "alpha": alpha if setting.norm == "linf" else default_step_size("l2", eps, setting.steps),
        "norm": setting.norm,
        "random_start": attack_config["random_start"],
        "best_iterate": attack_config["best_iterate"],
        "eot_samples": eot_samples,
        "seed": seed,
    }
    if column.blackbox:
        settings.update(alpha=eps / setting.steps, random_start=None, momentum=1.0)
    if setting.flow_weight:
        if flow is None:
            raise ValueError(f"attack setting {setting.slug} has a flow term: name the flow model it attacks")
        settings["flow_deviation"] = {"flow": dict(flow), "weight": setting.flow_weight}
    return settings


def run_attack(
    model: torch.nn.Module,
    column: AttackColumn,
    settings: dict[str, Any],
    clips: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
) -> tuple[torch.Tensor, np.ndarray]:
    """Attack ``clips`` in batches; return the adversarial clips and the per-clip loss trace (steps+1, N).

    Each batch gets its own seed (``settings['seed']`` + batch index) so a batch's random start and
    draws do not depend on how many batches came before it. Progress over batches and over each
    batch's steps goes to stderr, the rule's log in the workflow.
    """
    adversarial, traces = [], []
    starts = range(0, len(clips), batch_size)
    for batch_index, start in enumerate(tqdm(starts, desc=f"attack {column.name}", unit="batch")):
        attack = build_attack(column.attack, model, **{**settings, "seed": settings["seed"] + batch_index}, progress=True)
        stop = start + batch_size
        adversarial.append(attack(clips[start:stop], labels[start:stop]).cpu())
        traces.append(attack.loss_trace.numpy())
    return torch.cat(adversarial), np.concatenate(traces, axis=1)


def attack_column(
    classifier: nn.Module,
    purifier: Purifier | None,
    column: AttackColumn,
    attack_config: dict[str, Any],
    seed: int,
    clips: torch.Tensor,
    labels: torch.Tensor,
    setting: AttackSetting | None = None,
    flow: Mapping[str, Any] | None = None,
) -> tuple[torch.Tensor, np.ndarray, dict[str, Any]]:
    """One attack column's adversarial clips against ``classifier``, through ``purifier`` in the
    column's gradient mode (None: the bare recognizer, gray-box), with the config's ``attack`` settings
    at ``setting`` (:func:`attack_settings`). Returns the clips, the loss trace and what a file of them
    records: the gradient taken, the column's name and the attack's settings."""
    if purifier is None:
        target, gradient = classifier, "exact (bare recognizer)"
    else:
        target = DefendedClassifier(classifier, purifier, gradient=column.gradient)
        gradient = target.gradient
    settings = attack_settings(attack_config, column, purifier, seed, setting, tuple(clips.shape[1:]), flow)
    adversarial, trace = run_attack(target, column, settings, clips, labels, attack_config["batch_size"])
    return adversarial, trace, {"gradient": gradient, "column": column.name, "attack": {"name": column.attack, **settings}}
