"""The hyperparameter sweeps of the paper: Fig. 6 (t*) and Fig. 5 (b) (α_s), accuracy against the swept value."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from videopure.cache import atomic_path

METRICS = ("Standard Acc", "Robust Acc*", "Robust Acc")
LABELS = {"tstar": "diffusion timestep t*", "alpha_s": "optimisation step size α_s"}


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
    figure.tight_layout()
    for path, kind in ((png, "png"), (pdf, "pdf")):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=kind, dpi=150)
    plt.close(figure)
