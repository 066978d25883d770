"""The ablation tables (IV, VII, VIII, IX) and hyperparameter sweeps (Figs. 5b, 6): VideoPure variants as configuration.

Each row is the VideoPure row of Table I (config ``ablations.defense``, e.g. ``Ours``) with a few
constructor arguments overridden; every variant is an ordinary defense of the workflow, named
``<base>+key~value+…`` (:func:`variant_name`), so a variant shared by two tables (the full method,
or Table VII's k = 0, which is Table IV's "without voting") is computed once. The columns are the
paper's: Standard Acc (clean evaluation set), Robust Acc* (gray-box PGD) and Robust Acc (PGD+BPDA
through the variant), on one recognizer (the paper: NL on UCF-101). The sweeps of Figs. 6 (t*) and
5b (α_s) are variants too, one per value of config ``sweeps``: ``Ours+tstar~8``, ``Ours+alpha_s~-8.0``
(Snakemake ``Paramspace``'s ``key~value`` naming), so a new value adds its own files and reuses
every earlier stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from videopure.params import resolve_recognizer
from videopure.tables.table1 import NOT_RUN

ABLATION_TABLES = ("table4", "table7", "table8", "table9")
ABLATION_SOURCES = ("clean", "pgd", "pgd_bpda")
"""What every ablation row reads: the clean clips, gray-box PGD, and PGD+BPDA through the variant."""
ACCURACY_COLUMNS = {"clean": "Standard Acc", "pgd": "Robust Acc*", "pgd_bpda": "Robust Acc"}
CHECK, BLANK = "✓", ""

TITLES = {
    "table4": "Table IV: ablation study on key modules",
    "table7": "Table VII: single-step prediction or multi-step voting",
    "table8": "Table VIII: z'_t replacing z*_t in the denoising trajectory (Ours*)",
    "table9": "Table IX: ablation study on the losses of the spatial-temporal optimisation",
}


@dataclass(frozen=True)
class AblationRow:
    """One row: its descriptor cells (the paper's left-hand columns) and the VideoPure overrides."""

    labels: dict[str, str]
    overrides: dict[str, Any] = field(default_factory=dict)


def _checks(names: tuple[str, ...], flags: tuple[bool, ...]) -> dict[str, str]:
    return {name: CHECK if on else BLANK for name, on in zip(names, flags)}


def ablation_rows(table: str, tstar: int) -> list[AblationRow]:
    """The rows of ``table`` in the paper's order, for a base VideoPure with ``tstar`` steps."""
    if table == "table4":
        # Without voting, the classifier sees the final candidate alone (k = 0): Table IV's fourth
        # row equals Table VII's k = 0 row in the paper (89.1 / 85.1 / 99.0).
        names = ("Temporal DDIM Inversion", "Spatial-temporal Optimization", "Multi-step Voting")
        return [
            AblationRow(_checks(names, (False, False, False)), {"temporal_inversion": False, "optimize": False, "candidate": 0}),
            AblationRow(_checks(names, (True, False, False)), {"optimize": False, "candidate": 0}),
            AblationRow(_checks(names, (True, False, True)), {"optimize": False}),
            AblationRow(_checks(names, (True, True, False)), {"candidate": 0}),
            AblationRow(_checks(names, (True, True, True))),
        ]
    if table == "table7":
        rows = [AblationRow({"selected z_0^t": str(k)}, {"candidate": k}) for k in range(tstar, -1, -1)]
        return rows + [AblationRow({"selected z_0^t": "multi-step voting"})]
    if table == "table8":
        return [AblationRow({"Defense Method": "Ours*"}, {"replace_trajectory": True}), AblationRow({"Defense Method": "Ours"})]
    if table == "table9":
        names = ("L_temp", "L_spa")
        return [
            AblationRow(_checks(names, (True, False)), {"lambda_spa": 0.0}),
            AblationRow(_checks(names, (False, True)), {"lambda_temp": 0.0}),
            AblationRow(_checks(names, (True, True))),
        ]
    raise ValueError(f"unknown ablation table {table!r}; expected one of {ABLATION_TABLES}")


def variant_name(base: str, overrides: Mapping[str, Any]) -> str:
    """``base`` for no overrides, else ``base+key~value+…`` with keys sorted (one name per variant)."""
    parts = [f"{key}~{str(value).lower() if isinstance(value, bool) else value}" for key, value in sorted(overrides.items())]
    return "+".join([base, *parts])


FIGURES = {"fig6": "tstar", "fig5b": "alpha_s"}
"""The sweep figures and the VideoPure argument each varies (paper Fig. 6: t*; Fig. 5b: α_s)."""


@dataclass(frozen=True)
class AblationSetup:
    """Where the ablation tables and sweeps are measured: the base defense (a VideoPure row),
    dataset, recognizer, and the swept values by argument."""

    defense: str
    dataset: str
    model: str
    base_spec: dict[str, Any]
    sweeps: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def tstar(self) -> int:
        from videopure.defenses.videopure import VideoPure

        return int(self.base_spec.get("tstar", VideoPure.defaults()["tstar"]))

    def rows(self, table: str) -> list[tuple[str, AblationRow]]:
        """(variant name, row) for every row of ``table``."""
        return [(variant_name(self.defense, row.overrides), row) for row in ablation_rows(table, self.tstar)]

    def sweep(self, figure: str) -> list[tuple[Any, str]]:
        """(value, variant name) for every swept value of ``figure``'s argument; the base's own value
        is the base defense itself."""
        from videopure.defenses.videopure import VideoPure

        parameter = FIGURES[figure]
        base = self.base_spec.get(parameter, VideoPure.defaults()[parameter])
        return [
            (value, self.defense if value == base else variant_name(self.defense, {parameter: value}))
            for value in self.sweeps.get(parameter, [])
        ]

    def variant_specs(self) -> dict[str, dict[str, Any]]:
        """Every variant's defense spec (the base's, overridden), by name, over all ablation tables and sweeps."""
        specs: dict[str, dict[str, Any]] = {}
        for table in ABLATION_TABLES:
            for name, row in self.rows(table):
                specs[name] = {**self.base_spec, **row.overrides}
        for figure, parameter in FIGURES.items():
            for value, name in self.sweep(figure):
                specs[name] = {**self.base_spec, parameter: value}
        return specs


def ablation_setup(config: Mapping[str, Any]) -> AblationSetup | None:
    """The config's ``ablations`` section resolved, or None when no defense is a VideoPure row.

    Defaults: the first ``type: videopure`` defense, and :func:`~videopure.params.resolve_recognizer`'s
    dataset and recognizer.
    """
    section = config.get("ablations") or {}
    defenses = config["defenses"]
    defense = section.get("defense")
    if defense is None:
        defense = next((name for name, spec in defenses.items() if spec["type"] == "videopure"), None)
        if defense is None:
            return None
    elif defense not in defenses or defenses[defense]["type"] != "videopure":
        raise ValueError(f"config key 'ablations.defense': {defense!r} is not a defense of type videopure in 'defenses'")
    dataset, model = resolve_recognizer(config, "ablations")
    sweeps = {parameter: list(values) for parameter, values in (config.get("sweeps") or {}).items()}
    setup = AblationSetup(defense, dataset, model, dict(defenses[defense]), sweeps)
    from videopure.defenses.videopure import VideoPure

    for name, spec in setup.variant_specs().items():
        try:
            VideoPure.check_settings({key: value for key, value in spec.items() if key != "type"})
        except ValueError as error:
            raise ValueError(f"config key 'sweeps' or 'ablations': variant {name!r}: {error}") from None
    return setup


@dataclass(frozen=True)
class VariantAccuracy:
    """What one variant's predictions file (rule predict) gives a table row or a sweep point."""

    accuracy: dict[str, float]
    """Fraction of the evaluation set whose vote is the label, for each source read."""
    clips: int
    defense_settings: dict[str, Any]
    attacks: dict[str, Any]
    """The settings of each attack the row read (``attack``, ``gradient``), by source."""


def read_variant_accuracy(path: str | Path) -> VariantAccuracy:
    """Accuracy of every source of :data:`ABLATION_SOURCES` that a predictions file (rule predict)
    holds: PGD+BPDA through the variant is missing where no build has run it."""
    from videopure.evaluation.voting import read_source_votes, vote_accuracy

    labels, votes, params = read_source_votes(path, ABLATION_SOURCES)
    accuracy = {source: vote_accuracy(held, labels) for source, held in votes.items()}
    return VariantAccuracy(accuracy, len(labels), params["defense_settings"], params["attacks"])


def variant_rows(
    files: Mapping[str, str | Path], names: Iterable[str], diffusion_adaptive: Mapping[str, Any]
) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]], int]:
    """The rows ``names`` of an ablation table or Table V, from their predictions files ``files[name]``:
    each row's accuracy by source, its cell of the table's settings JSON (PGD+BPDA measured, with the
    attack's settings, or not run, with why and the command that fills it: ``diffusion_adaptive``, the
    rule's view), and the number of clips, which every row must share."""
    accuracy, cells, clips = {}, [], None
    for name in names:
        row = read_variant_accuracy(files[name])
        if clips is not None and row.clips != clips:
            raise ValueError(f"{files[name]} has {row.clips} clips, other rows {clips}; rerun predict")
        clips, accuracy[name] = row.clips, row.accuracy
        cell = {"defense": name, "defense_settings": row.defense_settings, "accuracy": row.accuracy, "clips": clips}
        if "pgd_bpda" in row.accuracy:
            cell["pgd_bpda"] = {"status": "measured", **row.attacks["pgd_bpda"]}
        else:
            cell["pgd_bpda"] = {
                "status": NOT_RUN,
                "reason": diffusion_adaptive["reason"],
                "fill_command": diffusion_adaptive["fill_command"],
            }
        cells.append(cell)
    return accuracy, cells, clips


def accuracy_cells(accuracy: Mapping[str, float]) -> dict[str, Any]:
    """The accuracy columns of a row or sweep point in percent, PGD+BPDA through the variant (an
    adaptive attack through a diffusion defense) "not run" where it was not measured; the clean and
    gray-box columns are always measured."""
    missing = [source for source in ABLATION_SOURCES if source not in accuracy]
    if set(missing) - {"pgd_bpda"}:
        raise ValueError(f"no measurement of {missing}: only PGD+BPDA through a variant may be left unrun")
    return {
        column: round(100.0 * accuracy[source], 1) if source in accuracy else NOT_RUN
        for source, column in ACCURACY_COLUMNS.items()
    }


def build_ablation_table(setup: AblationSetup, table: str, accuracy: Mapping[str, Mapping[str, float]], clips: int) -> pd.DataFrame:
    """The table in the paper's layout: descriptor columns, then accuracies in percent.

    ``accuracy[variant][source]`` is a fraction for each source measured (:func:`accuracy_cells`).
    """
    records = []
    for name, row in setup.rows(table):
        record: dict[str, Any] = {**row.labels, **accuracy_cells(accuracy[name])}
        record["Clips"] = clips
        record["Defense"] = name
        records.append(record)
    return pd.DataFrame.from_records(records)


def ablation_caption(setup: AblationSetup, table: str, attack: Mapping[str, Any]) -> str:
    return (
        f"{TITLES[table]}. {setup.dataset}, {setup.model}; accuracy (%) on the evaluation set: Standard Acc clean, "
        f"Robust Acc* gray-box PGD, Robust Acc PGD+BPDA through each variant; l-inf eps={attack['eps'] * 255:.0f}/255, "
        f"{attack['steps']} steps of {attack['step_size'] * 255:.0f}/255, no EOT (VideoPure is deterministic)."
    )


def sweep_caption(setup: AblationSetup, figure: str, attack: Mapping[str, Any]) -> str:
    parameter = {"tstar": "diffusion timestep t*", "alpha_s": "optimisation step size alpha_s"}[FIGURES[figure]]
    number = {"fig6": "Fig. 6", "fig5b": "Fig. 5 (b)"}[figure]
    return (
        f"{number}: VideoPure's accuracy (%) against the {parameter}, other settings as {setup.defense!r}; "
        f"{setup.dataset}, {setup.model}. Standard Acc clean, Robust Acc* gray-box PGD, Robust Acc PGD+BPDA through "
        f"each setting; l-inf eps={attack['eps'] * 255:.0f}/255, {attack['steps']} steps of "
        f"{attack['step_size'] * 255:.0f}/255."
    )
