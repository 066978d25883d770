"""Tables XI and XII of the paper: the defenses under other attack budgets than Table I's.

* Table XI ("Defense performance under different attack ε_adv"): l-inf PGD at several radii (the
  paper's 4, 8 and 16/255), rows DiffPure_DDPM and Ours.
* Table XII ("Defense performance on l2 attack"): l2 PGD at the paper's ε = 2 (for 32 x 224 x 224
  clips; scaled to the clips attacked, :func:`~videopure.attacks.base.scale_l2_eps`), rows
  DiffPure_DDIM, DiffPure_DDPM, DDIM Inversion and Ours.

Both have the paper's three columns: w/o Defense (the bare recognizer under gray-box PGD), Robust
Acc* (the defense on the same gray-box clips) and Robust Acc (PGD+BPDA through the defense, an
adaptive attack through diffusion: marked "not run", with the fill command, where the build did not
schedule it, as in Table I). Every other attack setting is Table I's (steps, step, random start);
a radius equal to Table I's, on every clip, reads Table I's files. Measured on the ablations' recognizer (config
``ablations.dataset`` and ``ablations.model``; the paper: NL on UCF-101).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from videopure.evaluation.robust import COLUMNS_BY_SLUG, vote_accuracy
from videopure.evaluation.settings import AttackSetting
from videopure.params import resolve_recognizer
from videopure.tables.table1 import NOT_RUN

#: Each accuracy column by the attack column (slug) whose clips it votes on; w/o Defense is the
#: undefended row's Robust Acc*.
METRICS = {"w/o Defense": "pgd", "Robust Acc*": "pgd", "Robust Acc": "pgd_bpda"}
#: The attack columns the tables' attacks fill (rule attack_setting).
BUDGET_COLUMNS = tuple(sorted(set(METRICS.values())))
#: The paper's rows, by table.
PAPER_DEFENSES = {
    "table11": ("DiffPure_DDPM", "Ours"),
    "table12": ("DiffPure_DDIM", "DiffPure_DDPM", "DDIM_Inversion", "Ours"),
}
#: Each table's config section.
SECTIONS = {"table11": "eps_sweep", "table12": "l2_attack"}
TITLES = {
    "table11": "Table XI: accuracy (%) under l-inf PGD at several radii",
    "table12": "Table XII: accuracy (%) under l2 PGD",
}


@dataclass(frozen=True)
class BudgetTable:
    """Table XI or XII, resolved from its config section: where it is measured, its rows and settings."""

    table: str
    dataset: str
    model: str
    defenses: tuple[str, ...]
    settings: tuple[AttackSetting, ...]

    @property
    def section(self) -> str:
        return SECTIONS[self.table]

    @property
    def paper_defenses(self) -> tuple[str, ...]:
        return PAPER_DEFENSES[self.table]

    @property
    def columns(self) -> tuple[str, ...]:
        radius = ("eps",) if self.table == "table11" else ()
        return ("Dataset", "Model", "Defense", *radius, *METRICS, "Clips")


def budget_tables(config: Mapping[str, Any]) -> dict[str, BudgetTable]:
    """Tables XI and XII from the config's ``eps_sweep`` and ``l2_attack`` sections. Their rows must be
    Table I rows (null: those of the paper's the config has); errors name the key."""
    attack = config["attack"]
    dataset, model = resolve_recognizer(config, "ablations")
    tables = {}
    for table, section in SECTIONS.items():
        keys = config[section]
        clips = keys["clips"]
        try:
            if table == "table11":
                settings = tuple(AttackSetting.linf_255(eps, attack, clips) for eps in dict.fromkeys(keys["eps"]))
            else:
                settings = (AttackSetting.l2(attack, clips),)
        except ValueError as error:
            key = f"{section}.eps" if table == "table11" else "attack.eps_l2"
            raise ValueError(f"config key '{key}': {error}") from None
        if keys["defenses"] is None:
            defenses = tuple(name for name in PAPER_DEFENSES[table] if name in config["defenses"])
        else:
            unknown = [name for name in keys["defenses"] if name not in config["defenses"]]
            if unknown:
                raise ValueError(
                    f"config key '{section}.defenses': {unknown} are not in 'defenses' ({sorted(config['defenses'])})"
                )
            defenses = tuple(keys["defenses"])
        tables[table] = BudgetTable(table, dataset, model, defenses, settings)
    return tables


@dataclass(frozen=True)
class BudgetCell:
    """One defense's votes at one setting (rule predict_setting, or Table I's row at Table I's setting)."""

    defense: str
    setting: AttackSetting
    labels: Any
    votes: Mapping[str, Any]  # by attack column slug: (N, draws); PGD+BPDA absent where not run
    attacks: Mapping[str, Mapping[str, Any]]  # by slug: the attack's recorded settings and gradient


def build_budget_table(setup: BudgetTable, cells: Sequence[BudgetCell]) -> pd.DataFrame:
    """The table in the paper's layout, percentages with one decimal, :data:`NOT_RUN` where the attack
    through the defense was not run. Every cell must hold the same number of clips."""
    by_key = {(cell.defense, cell.setting.slug): cell for cell in cells}
    sizes = {len(cell.labels) for cell in cells}
    if len(sizes) != 1:
        raise ValueError(f"{setup.table}: its cells hold {sorted(sizes)} clips; rerun rule predict_setting")
    (clips,) = sizes
    records = []
    for defense in setup.defenses:
        for setting in setup.settings:
            record: dict[str, Any] = {"Dataset": setup.dataset, "Model": setup.model, "Defense": defense}
            if setup.table == "table11":
                record["eps"] = setting.label
            for metric, slug in METRICS.items():
                cell = by_key[("None" if metric == "w/o Defense" else defense, setting.slug)]
                if slug in cell.votes:
                    record[metric] = round(100.0 * vote_accuracy(cell.votes[slug], cell.labels), 1)
                else:
                    record[metric] = NOT_RUN
            record["Clips"] = clips
            records.append(record)
    return pd.DataFrame.from_records(records, columns=list(setup.columns))


def check_cell_attacks(setup: BudgetTable, cell: BudgetCell, path: str) -> None:
    """Refuse a cell whose attacks were not run at its setting (norm, steps, and the l-inf radius; an
    l2 radius is scaled to the clips), naming the file. Its clip count is checked by
    :func:`build_budget_table`."""
    for slug, record in cell.attacks.items():
        attack, setting = record["attack"], cell.setting
        radius_differs = setting.norm == "linf" and abs(attack["eps"] - setting.eps) > 1e-6 * setting.eps
        if attack["norm"] != setting.norm or attack["steps"] != setting.steps or radius_differs:
            raise ValueError(
                f"{path}: its {COLUMNS_BY_SLUG[slug].name} clips were made by a {attack['norm']} attack of radius "
                f"{attack['eps']:.6g} and {attack['steps']} steps, {setup.table} asks {setting.norm} {setting.label} "
                f"and {setting.steps} steps; rerun its rule"
            )


def budget_caption(setup: BudgetTable, cells: Sequence[BudgetCell], draws: Mapping[str, int]) -> str:
    """What every number of the table was measured under, read from the attacks' recorded settings."""
    first = next(cell.attacks["pgd"]["attack"] for cell in cells if "pgd" in cell.attacks)
    attacked_eps = {cell.setting.slug: cell.attacks["pgd"]["attack"]["eps"] for cell in cells if "pgd" in cell.attacks}
    radii = ", ".join(
        f"{setting.label} (eps={attacked_eps[setting.slug]:.4g} on these clips)" if setting.norm == "l2" else setting.label
        for setting in setup.settings
    )
    gradients = sorted(
        {f"{cell.defense} {cell.attacks['pgd_bpda']['gradient']}" for cell in cells if "pgd_bpda" in cell.attacks}
    )
    step = (
        f"step {first['alpha'] * 255:.3g}/255" if first["norm"] == "linf" else f"step 2.5 eps/steps ({first['alpha']:.4g})"
    )
    draws_text = ", ".join(f"{defense} {n}" for defense, n in draws.items())
    return (
        f"{TITLES[setup.table]}, {setup.dataset} {setup.model}: {first['norm']} eps {radii}, {first['steps']} steps, "
        f"{step}, random start {first['random_start']}. w/o Defense: the bare recognizer under gray-box PGD; "
        f"Robust Acc*: the defense on the same clips; Robust Acc: PGD+BPDA through the defense "
        f"({', '.join(gradients) or 'no cell run'}), no EOT. Votes per clip: {draws_text}."
    )
