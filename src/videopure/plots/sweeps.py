"""The sweeps of the paper, accuracy against a swept value: Fig. 6 (t*) and Fig. 5 (b) (α_s), VideoPure's
hyperparameters; Fig. 5 (a), the attack's number of steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from videopure.params import resolve_recognizer
from videopure.plots.save import save_figure

METRICS = ("Standard Acc", "Robust Acc*", "Robust Acc")
LABELS = {"tstar": "diffusion timestep t*", "alpha_s": "optimisation step size α_s", "steps": "attack steps"}


def plot_sweep(
    points: pd.DataFrame,
    parameter: str,
    png: str | Path,
    pdf: str | Path,
    title: str,
    metrics: Sequence[str] = METRICS,
) -> None:
    """Draw ``points`` (one row per swept value: ``parameter`` and ``metrics``, a subset of
    :data:`METRICS`, in percent) as one line per metric, and write PNG and PDF atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    unknown = [metric for metric in metrics if metric not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"sweep metrics {list(metrics)}: expected a non-empty subset of {METRICS}")
    missing = [column for column in (parameter, *metrics) if column not in points]
    if missing:
        raise ValueError(f"sweep points lack the column(s) {missing}")
    long = points.melt(id_vars=[parameter], value_vars=list(metrics), var_name="metric", value_name="accuracy (%)")
    long["accuracy (%)"] = long["accuracy (%)"].astype(float)
    sns.set_theme(style="whitegrid", context="paper")
    figure, axes = plt.subplots(figsize=(4.2, 3.0))
    sns.lineplot(data=long, x=parameter, y="accuracy (%)", hue="metric", style="metric", markers=True, dashes=False, ax=axes)
    axes.set_xlabel(LABELS.get(parameter, parameter))
    axes.set_ylim(-2, 102)
    axes.set_xticks(sorted(points[parameter].unique()))
    axes.set_title(title, fontsize=9)
    axes.legend(title=None, fontsize=8)
    save_figure(figure, png, pdf)


#: Fig. 5 (a)'s attacks by slug and the accuracy each gives (the paper's caption: PGD and PGD+BPDA).
STEPS_METRICS = {"pgd": "Robust Acc*", "pgd_bpda": "Robust Acc"}


@dataclass(frozen=True)
class StepsFigureSetup:
    """Fig. 5 (a): ``defense``'s accuracy under gray-box PGD and PGD+BPDA through it, for each number
    of attack ``steps`` (config ``figures.fig5a``), on ``clips`` class-balanced clips (None: all)."""

    dataset: str
    model: str
    defense: str
    steps: tuple[int, ...]
    clips: int | None

    def cells(self) -> list[tuple[str, str, int, int | None]]:
        """(attacked defense, column slug, steps, clips) of every point: gray-box PGD attacks the bare
        recognizer ("None"), PGD+BPDA the defense."""
        attacked = {"pgd": "None", "pgd_bpda": self.defense}
        return [(attacked[slug], slug, steps, self.clips) for slug in STEPS_METRICS for steps in self.steps]


def fig5a_setup(config: Mapping[str, Any], defense: str) -> StepsFigureSetup:
    """Resolve ``figures.fig5a`` for ``defense`` (the ablations' VideoPure row) on the ablations' recognizer."""
    section = config["figures"]["fig5a"]
    dataset, model = resolve_recognizer(config, "ablations")
    return StepsFigureSetup(dataset, model, defense, tuple(sorted(set(section["steps"]))), section["clips"])


def fig5a_points(accuracy: Mapping[tuple[str, int], float], setup: StepsFigureSetup, clips: int) -> pd.DataFrame:
    """One row per number of steps: "steps", "Clips" and each metric of :data:`STEPS_METRICS` in
    percent (``accuracy``: fraction by (column slug, steps)), ``NOT_RUN`` where not measured."""
    from videopure.tables.table1 import NOT_RUN

    return pd.DataFrame.from_records([
        {
            "steps": steps, "Clips": clips,
            **{metric: round(100.0 * accuracy[(slug, steps)], 1) if (slug, steps) in accuracy else NOT_RUN
               for slug, metric in STEPS_METRICS.items()},
        }
        for steps in setup.steps
    ])  # fmt: skip


def fig5a_caption(setup: StepsFigureSetup, attacks: Mapping[str, Mapping[str, Any]], draws: int, clips: int) -> str:
    """What Fig. 5 (a) shows, under which attacks; ``attacks``: the recorded params of one attack
    file per column slug drawn."""
    attack = next(iter(attacks.values()))["attack"]
    gradients = "; ".join(
        f"{STEPS_METRICS[slug]}: {params['gradient']} gradient, {params['attack']['eot_samples']} draw(s) per gradient"
        for slug, params in attacks.items()
    )
    return (
        f"Fig. 5 (a): {setup.defense}'s accuracy (%) against the number of attack steps, on {clips} clips of "
        f"{setup.dataset} ({setup.model}): Robust Acc* under gray-box PGD (the bare recognizer attacked), Robust Acc "
        f"under PGD+BPDA through {setup.defense}; {attack['norm']} eps={float(attack['eps']):.4g}, step "
        f"{float(attack['alpha']):.4g} ({gradients}); {draws} seeded draw(s) per vote."
    )
