"""Figs. 3 and 4 of the paper: the defenses compared.

Fig. 3: (a) each defense's Standard Acc, Robust Acc* and Robust Acc, from Table I; (b) the mean loss
of the adaptive attack (PGD+BPDA) against its iterations, from the attack files' loss traces, per
defense: the steeper the rise, the weaker the defense. Fig. 4: the same loss at the paper's 20 steps
on 20 clips (config ``figures.fig4``) under PGD+BPDA, and beside it under PGD+DiffAttack, the exact
gradient through every UNet call (beyond the paper): a loss that stays flat under BPDA but climbs
under the exact gradient is gradient masking, not robustness.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videopure.evaluation.columns import AttackColumn, adaptive_columns
from videopure.params import resolve_recognizer
from videopure.plots.save import save_figure

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
    _loss_lines(lines, data[data["Panel"] == "b"].rename(columns={"Value": "Loss"}), "PGD+BPDA", "(b) adaptive attack loss")
    save_figure(figure, png, pdf)


def _loss_lines(axis: Any, data: pd.DataFrame, attack: str, title: str, order: list[str] | None = None) -> None:
    """Mean loss (column "Loss") against "Step", a line per "Defense"; ``order``: every defense of
    the figure, so a defense keeps its colour and marker across panels."""
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    order = order or list(dict.fromkeys(data["Defense"]))
    sns.lineplot(
        data=data, x="Step", y="Loss", hue="Defense", style="Defense", hue_order=order, style_order=order,
        markers=True, dashes=False, ax=axis,
    )  # fmt: skip
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel(f"{attack} iteration")
    axis.set_ylabel("mean cross-entropy")
    axis.legend(title=None, fontsize=7)
    axis.set_title(title, fontsize=9)


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


#: Fig. 4's panels: the adaptive attacks whose loss it draws, by slug (Table I's columns).
FIG4_ATTACKS = {"pgd_bpda": "PGD+BPDA", "pgd_diffattack": "PGD+DiffAttack"}
FIG4_COLUMNS = ("Attack", "Defense", "Step", "Loss", "Clips")


@dataclass(frozen=True)
class LossFigureSetup:
    """Fig. 4's attacks (config ``figures.fig4``) resolved against Table I's (config ``attack``).

    Attributes:
        steps: PGD iterations (null in the config: Table I's ``attack.steps``).
        clips: the class-balanced subset attacked (None: the whole evaluation set).
    """

    dataset: str
    model: str
    steps: int
    clips: int | None

    def cells(self, defenses: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, AttackColumn]]:
        """(defense, column) of every drawn line: each Table I row but the undefended one, under
        each of :data:`FIG4_ATTACKS` it has a Table I column for (PGD+DiffAttack: diffusion defenses)."""
        return [
            (name, column)
            for name, spec in defenses.items()
            for column in adaptive_columns(dict(spec))
            if column.slug in FIG4_ATTACKS
        ]


def fig4_setup(config: Mapping[str, Any]) -> LossFigureSetup:
    """Resolve ``figures.fig4`` on the ablations' recognizer (:func:`~videopure.params.resolve_recognizer`)."""
    section = config["figures"]["fig4"]
    dataset, model = resolve_recognizer(config, "ablations")
    return LossFigureSetup(dataset, model, section["steps"] or config["attack"]["steps"], section["clips"])


def fig4_data(traces: Mapping[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    """The plotted numbers (:data:`FIG4_COLUMNS`): per (attack name, defense) and step, the mean over
    clips of the loss trace (steps + 1, clips), and the number of clips."""
    records = [
        (attack, defense, step, float(loss), trace.shape[1])
        for (attack, defense), trace in traces.items()
        for step, loss in enumerate(np.asarray(trace, dtype=np.float64).mean(axis=1))
    ]
    return pd.DataFrame.from_records(records, columns=list(FIG4_COLUMNS))


def plot_fig4(data: pd.DataFrame, png: str | Path, pdf: str | Path, title: str) -> None:
    """:func:`fig4_data`'s loss, a panel per attack of :data:`FIG4_ATTACKS` on one y scale, PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    figure, axes = plt.subplots(1, len(FIG4_ATTACKS), figsize=(8.4, 3.4), sharey=True)
    order = list(dict.fromkeys(data["Defense"]))
    for letter, axis, attack in zip("ab", axes, FIG4_ATTACKS.values()):
        lines = data[data["Attack"] == attack]
        title_text = f"({letter}) {attack}, {title}"
        if lines.empty:
            axis.text(0.5, 0.5, "not run here\n(see the caption)", ha="center", va="center", transform=axis.transAxes)
            axis.set_title(title_text, fontsize=9)
            axis.set_xlabel(f"{attack} iteration")
            axis.set_xticks([])  # an empty panel has no iterations to mark
            continue
        _loss_lines(axis, lines, attack, title_text, order=order)
    # One legend, the first drawn panel's: it lists every defense, in the same colours everywhere.
    legends = [axis.get_legend() for axis in axes if axis.get_legend() is not None]
    for legend in legends[1:]:
        legend.remove()
    save_figure(figure, png, pdf)


def fig4_caption(
    setup: LossFigureSetup, attacks: Mapping[tuple[str, str], Mapping[str, Any]], clips: int, not_drawn: str
) -> str:
    """What Fig. 4 shows and under which attacks; ``attacks``: the recorded params of each drawn
    (attack, defense) file; ``not_drawn``: the lines without a measurement, why and the fill command."""
    first = next(iter(attacks.values()))["attack"]
    gradients = ", ".join(
        f"{defense} {params['gradient']}" for (attack, defense), params in attacks.items() if attack == "PGD+BPDA"
    )
    draws = sorted({params["attack"]["eot_samples"] for params in attacks.values()})
    caption = (
        f"Fig. 4: the adaptive attack's loss (cross-entropy, mean over candidates) after each of its "
        f"{setup.steps} iterations, mean over {clips} clips of {setup.dataset} {setup.model}; "
        f"{first['norm']} eps={float(first['eps']):.4g}, step {float(first['alpha']):.4g}, "
        f"{'/'.join(map(str, draws))} draw(s) per gradient. (a) PGD+BPDA as the paper runs it; gradient through "
        f"the defense: {gradients or 'none drawn'}. (b) PGD+DiffAttack: the exact gradient through every "
        "diffusion model call (beyond the paper); a loss flat under (a) but rising under (b) is gradient masking."
    )
    return caption + (f" {not_drawn}" if not_drawn else "")
