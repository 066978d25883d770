"""Attack settings beyond Table I's: the norm and radius (paper Tables III, XI and XII), the number
of steps and a subset of clips (Figs. 4 and 5 (a)), a flow-deviation term (Table VI), an l-inf step
of its own (the unbounded sanity check of the claims report).

Table I's attacks run at the config's ``attack`` section (l-inf, eps 4/255, 10 steps, every clip of
the evaluation set). A table or figure that varies one of these names an :class:`AttackSetting`;
its attacks live in a folder named by :attr:`AttackSetting.slug` beside Table I's, and where the
setting *is* Table I's (:meth:`AttackSetting.is_table1`), Table I's files serve it, so nothing
is attacked twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from videopure.attacks.base import NORMS, scale_l2_eps

#: An l-inf radius is named in the slug in 255ths (the paper's unit: "ε = 4, 8, 16"); an l2 radius
#: as the paper's budget for a 32 x 224 x 224 clip (:func:`~videopure.attacks.base.scale_l2_eps`).
EPS_PATTERN = r"\d+(?:\.\d+)?"
SLUG_PATTERN = re.compile(
    rf"(?P<norm>linf|l2)~(?P<eps>{EPS_PATTERN})_steps~(?P<steps>\d+)_clips~(?P<clips>\d+|all)"
    rf"(?:_step~(?P<step>{EPS_PATTERN}))?(?:_flow~(?P<flow>{EPS_PATTERN}))?"
)
#: The same pattern without group names, for a Snakemake wildcard constraint.
SLUG_WILDCARD = re.sub(r"\?P<\w+>", "?:", SLUG_PATTERN.pattern)


def _eps_text(value: float) -> str:
    """A radius as the slug writes it: at most 10 significant digits, no trailing zeros ("4", "0.5")."""
    return f"{value:.10g}"


def _check_nameable(name: str, value: float, unit: str) -> None:
    """Refuse a value the slug cannot name exactly (more than 10 significant digits, or an exponent)."""
    text = _eps_text(value)
    if not re.fullmatch(EPS_PATTERN, text) or abs(float(text) - value) > 1e-9 * value:
        raise ValueError(f"{name} {value!r}{unit} cannot be named by a folder (10 significant digits, no exponent); round it")


@dataclass(frozen=True)
class AttackSetting:
    """The norm, radius, number of steps and clips of an attack.

    Attributes:
        norm: ``"linf"`` or ``"l2"``.
        eps: the radius in the config's unit: l-inf per pixel value in [0, 1] (``attack.eps``); l2
            the paper's budget at 32 x 3 x 224 x 224 (``attack.eps_l2``), scaled to the clips
            attacked by :meth:`radius`.
        steps: PGD iterations.
        clips: a class-balanced seeded subset of the evaluation set; None: every clip.
        flow_weight: the weight λ_flow of the flow-deviation term the loss gains (Table VI,
            :class:`~videopure.attacks.flow.FlowDeviation`); 0: the recognizer's loss alone.
        step: the l-inf step, per pixel value; None: the config's ``attack.step_size``, as at every
            radius of the paper's (its ε sweep states one step).
    """

    norm: str
    eps: float
    steps: int
    clips: int | None = None
    flow_weight: float = 0.0
    step: float | None = None

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; known: {', '.join(NORMS)}")
        if not (isinstance(self.eps, (int, float)) and self.eps > 0):
            raise ValueError(f"eps must be a number > 0, got {self.eps!r}")
        if not (isinstance(self.steps, int) and self.steps >= 1):
            raise ValueError(f"steps must be an integer >= 1, got {self.steps!r}")
        if self.clips is not None and not (isinstance(self.clips, int) and self.clips >= 1):
            raise ValueError(f"clips must be an integer >= 1 or None (every clip), got {self.clips!r}")
        if isinstance(self.flow_weight, bool) or not (isinstance(self.flow_weight, (int, float)) and self.flow_weight >= 0):
            raise ValueError(f"flow_weight must be a number >= 0, got {self.flow_weight!r}")
        shown = self.eps * 255 if self.norm == "linf" else self.eps
        _check_nameable("eps", shown, "/255" if self.norm == "linf" else "")
        if self.flow_weight:
            _check_nameable("flow_weight", self.flow_weight, "")
        if self.step is not None:
            if self.norm != "linf" or not (isinstance(self.step, (int, float)) and self.step > 0):
                raise ValueError(f"step must be a number > 0 of an l-inf setting, got {self.step!r} ({self.norm})")
            _check_nameable("step", self.step * 255, "/255")

    @classmethod
    def table1(cls, attack: Mapping[str, Any]) -> AttackSetting:
        """Table I's setting: the config's ``attack`` section (l-inf), on every clip."""
        return cls("linf", attack["eps"], attack["steps"])

    @classmethod
    def l2(cls, attack: Mapping[str, Any], clips: int | None = None) -> AttackSetting:
        """Table XII's setting: Table I's but in l2, with radius ``attack.eps_l2``."""
        return cls("l2", attack["eps_l2"], attack["steps"], clips)

    @classmethod
    def linf_255(cls, eps_255: float, attack: Mapping[str, Any], clips: int | None = None) -> AttackSetting:
        """Table XI's settings: Table I's with the l-inf radius ``eps_255`` / 255."""
        return cls("linf", eps_255 / 255, attack["steps"], clips)

    @classmethod
    def unbounded(cls, eps_255: float, attack: Mapping[str, Any], clips: int | None = None) -> AttackSetting:
        """The sanity check S2's setting (config ``sanity``): Table I's steps at the l-inf radius
        ``eps_255`` / 255, with a step of 2.5 eps / steps (Madry et al.'s rule, rounded to 1e-4 / 255)
        so the steps can cross the ball, which the config's step, sized for 4/255, cannot."""
        steps = attack["steps"]
        return cls("linf", eps_255 / 255, steps, clips, step=round(2.5 * eps_255 / steps, 4) / 255)

    @classmethod
    def blackbox(cls, attack: Mapping[str, Any], steps: int, clips: int | None = None) -> AttackSetting:
        """Table III's setting: l-inf at radius ``attack.blackbox_eps`` (the paper's 16/255)."""
        return cls("linf", attack["blackbox_eps"], steps, clips)

    @classmethod
    def from_slug(cls, slug: str) -> AttackSetting:
        """The setting a folder name (:attr:`slug`) names, e.g. ``linf~8_steps~10_clips~all``."""
        match = SLUG_PATTERN.fullmatch(slug)
        if match is None:
            raise ValueError(f"{slug!r} names no attack setting (e.g. linf~8_steps~10_clips~all, l2~2_steps~10_clips~20)")
        eps = float(match["eps"])
        clips = None if match["clips"] == "all" else int(match["clips"])
        flow_weight = float(match["flow"]) if match["flow"] else 0.0
        step = float(match["step"]) / 255 if match["step"] else None
        norm_eps = eps / 255 if match["norm"] == "linf" else eps
        return cls(match["norm"], norm_eps, int(match["steps"]), clips, flow_weight, step)

    @property
    def slug(self) -> str:
        """The folder of the setting's attack and prediction files: ``<norm>~<eps>_steps~<n>_clips~<n|all>``,
        the l-inf radius in 255ths, ``_step~<step>`` (255ths) where the step is the setting's own, and
        ``_flow~<λ_flow>`` where the loss has a flow term."""
        eps = _eps_text(self.eps * 255 if self.norm == "linf" else self.eps)
        clips = "all" if self.clips is None else self.clips
        step = f"_step~{_eps_text(self.step * 255)}" if self.step is not None else ""
        flow = f"_flow~{_eps_text(self.flow_weight)}" if self.flow_weight else ""
        return f"{self.norm}~{eps}_steps~{self.steps}_clips~{clips}{step}{flow}"

    @property
    def label(self) -> str:
        """The radius as a table states it: ``4/255`` (l-inf) or ``2`` (l2, at the paper's clip size)."""
        return f"{_eps_text(self.eps * 255)}/255" if self.norm == "linf" else _eps_text(self.eps)

    def at(self, steps: int, clips: int | None) -> AttackSetting:
        """This setting with another number of steps and subset of clips (Figs. 4 and 5 (a))."""
        return replace(self, steps=steps, clips=clips)

    def with_flow(self, weight: float, clips: int | None) -> AttackSetting:
        """This setting with a flow-deviation term of weight ``weight`` on a subset of clips (Table VI)."""
        return replace(self, flow_weight=weight, clips=clips)

    def is_table1(self, attack: Mapping[str, Any]) -> bool:
        """Whether Table I's attack files serve this setting (compared as folder names, so a radius
        typed as 4/255 and one typed as 0.0156862745 agree)."""
        return self.slug == AttackSetting.table1(attack).slug

    def radius(self, clip_shape: Sequence[int]) -> float:
        """The attack's ``eps`` on clips of ``clip_shape`` (T, C, H, W): l-inf as is, l2 scaled so the
        root-mean-square perturbation per pixel value is the paper's."""
        return float(self.eps) if self.norm == "linf" else scale_l2_eps(float(self.eps), clip_shape)
