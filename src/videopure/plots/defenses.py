"""Fig. 3 of the paper: (a) each defense's Standard Acc, Robust Acc* and Robust Acc, from Table I;
(b) the mean loss of the adaptive attack (PGD+BPDA) against its iterations, from the attack files'
loss traces, per defense: the steeper the rise, the weaker the defense.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from videopure.cache import atomic_path

#: Fig. 3 (a)'s bars and the Table I column each comes from (the paper's caption: PGD for Robust
#: Acc*, PGD+BPDA for Robust Acc).
ACCURACY_SOURCES = {"Standard Acc": "None", "Robust Acc*": "PGD", "Robust Acc": "PGD+BPDA"}
DATA_COLUMNS = ("Panel", "Defense", "Metric", "Step", "Value")


def fig3_data(table1: pd.DataFrame, dataset: str, model: str, traces: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The plotted numbers, long format (:data:`DATA_COLUMNS`): panel "a", one row per defense and
    accuracy that Table I measured for (``dataset``, ``model``) (a cell "-" or "not run" is left out);
    panel "b", per defense the mean over clips of its PGD+BPDA loss trace (steps + 1, clips) per step."""
    rows = table1[(table1["Dataset"] == dataset) & (table1["Model"] == model)]
    if rows.empty:
        raise ValueError(f"Table I has no rows for {dataset}/{model}")
    records = []
    for row in rows.to_dict("records"):
        for metric, column in ACCURACY_SOURCES.items():
            try:
                value = float(row[column])
            except ValueError:  # "-" (not applicable) or "not run"
                continue
            records.append(("a", row["Defense"], metric, None, value))
    for defense, trace in traces.items():
        for step, loss in enumerate(np.asarray(trace, dtype=np.float64).mean(axis=1)):
            records.append(("b", defense, "PGD+BPDA loss", step, float(loss)))
    return pd.DataFrame.from_records(records, columns=list(DATA_COLUMNS))


def plot_fig3(data: pd.DataFrame, png: str | Path, pdf: str | Path, title: str) -> None:
    """Draw :func:`fig3_data`'s numbers side by side at page width and write PNG and PDF atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    sns.set_theme(style="whitegrid", context="paper")
    figure, (bars, lines) = plt.subplots(1, 2, figsize=(8.4, 3.4), gridspec_kw={"width_ratios": [1.5, 1]})
    accuracy = data[data["Panel"] == "a"]
    sns.barplot(data=accuracy, x="Defense", y="Value", hue="Metric", hue_order=list(ACCURACY_SOURCES), ax=bars)
    bars.set_ylabel("accuracy (%)")
    bars.set_xlabel("")
    bars.set_ylim(0, 122)  # room above 100 % for the legend
    bars.set_yticks(range(0, 101, 20))
    bars.tick_params(axis="x", labelrotation=30, labelsize=7)
    bars.legend(title=None, fontsize=7, ncol=3, loc="upper center")
    bars.set_title(f"(a) {title}", fontsize=9)
    loss = data[data["Panel"] == "b"]
    sns.lineplot(data=loss, x="Step", y="Value", hue="Defense", style="Defense", markers=True, dashes=False, ax=lines)
    lines.xaxis.set_major_locator(MaxNLocator(integer=True))
    lines.set_xlabel("PGD+BPDA iteration")
    lines.set_ylabel("mean cross-entropy")
    lines.legend(title=None, fontsize=7)
    lines.set_title("(b) adaptive attack loss", fontsize=9)
    figure.tight_layout()
    for path, kind in ((png, "png"), (pdf, "pdf")):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=kind, dpi=150)
    plt.close(figure)


def fig3_caption(
    dataset: str, model: str, attack: Mapping[str, object], clips: int, gradients: Mapping[str, str], not_drawn: str
) -> str:
    """What Fig. 3 shows and under which attack; ``not_drawn``: the rows without a PGD+BPDA
    measurement, why and the command that fills them ("" when every row has one)."""
    caption = (
        f"Fig. 3: (a) Standard Acc (clean), Robust Acc* (gray-box PGD) and Robust Acc (PGD+BPDA) of each defense "
        f"(Table I); (b) the PGD+BPDA loss (cross-entropy, mean over candidates) after each iteration, mean over "
        f"{clips} clips; {dataset} {model}, {attack['norm']} eps={float(attack['eps']):.4g}, {attack['steps']} steps, "
        f"step {float(attack['alpha']):.4g}, {attack['eot_samples']} draw per gradient; gradient through the defense: "
        + ", ".join(f"{defense} {gradient}" for defense, gradient in gradients.items())
        + "."
    )
    return caption + (f" {not_drawn}" if not_drawn else "")
