"""Tables VI, XI and XII of the paper: the defenses under other attacks than Table I's.

* Table VI ("Defense performance when attacking both video recognition and optical flow model"):
  Table I's PGD with a flow-deviation term in its loss (:mod:`videopure.attacks.flow`), rows
  DiffPure_DDIM, DiffPure_DDPM, DDIM Inversion and Ours. The attacked flow model is the one a
  VideoPure row runs: a row whose own flow is another (mini's Ours uses DIS, which has no gradient)
  is evaluated as a variant with the attacked flow, named ``<row>_<flow>`` (``Ours_raft_small``).

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
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from videopure.defenses.videopure import VideoPure
from videopure.evaluation.columns import COLUMNS_BY_SLUG
from videopure.evaluation.voting import vote_accuracy
from videopure.evaluation.settings import AttackSetting
from videopure.flow import flow_model_class
from videopure.flow.train import RAFTTraining
from videopure.params import resolve_recognizer, resolve_rows
from videopure.paths import trained_flow_weights
from videopure.tables.table1 import NOT_RUN

#: Each accuracy column by the attack column (slug) whose clips it votes on; w/o Defense is the
#: undefended row's Robust Acc*.
METRICS = {"w/o Defense": "pgd", "Robust Acc*": "pgd", "Robust Acc": "pgd_bpda"}
#: The attack columns the tables' attacks fill (rule attack_setting).
BUDGET_COLUMNS = tuple(sorted(set(METRICS.values())))
#: The paper's rows, by table.
PAPER_DEFENSES = {
    "table6": ("DiffPure_DDIM", "DiffPure_DDPM", "DDIM_Inversion", "Ours"),
    "table11": ("DiffPure_DDPM", "Ours"),
    "table12": ("DiffPure_DDIM", "DiffPure_DDPM", "DDIM_Inversion", "Ours"),
}
#: Each table's config section.
SECTIONS = {"table6": "flow_attack", "table11": "eps_sweep", "table12": "l2_attack"}
TITLES = {
    "table6": "Table VI: accuracy (%) when the recognizer and the optical flow model are attacked together",
    "table11": "Table XI: accuracy (%) under l-inf PGD at several radii",
    "table12": "Table XII: accuracy (%) under l2 PGD",
}


@dataclass(frozen=True)
class BudgetTable:
    """Table VI, XI or XII, resolved from its config section: where it is measured, its rows and settings.

    Attributes:
        flow: Table VI's attacked flow model (a differentiable flow spec); None elsewhere, and for
            Table VI where the config has none to attack (:data:`NO_FLOW_TO_ATTACK`).
        variants: rows that are not Table I's, by name: the Table I row each is, with the attacked flow
            (Table VI's VideoPure rows whose own flow model is another).
    """

    table: str
    dataset: str
    model: str
    defenses: tuple[str, ...]
    settings: tuple[AttackSetting, ...]
    flow: Mapping[str, Any] | None = None
    variants: Mapping[str, str] = field(default_factory=dict)

    def variant_specs(self, defenses: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """The defense spec of each variant row, from Table I's specs ``defenses``."""
        return {name: {**defenses[base], "flow": dict(self.flow)} for name, base in self.variants.items()}

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
    """Tables VI, XI and XII from the config's ``flow_attack``, ``eps_sweep`` and ``l2_attack`` sections.
    Their rows must be Table I rows (null: those of the paper's the config has); errors name the key."""
    attack = config["attack"]
    dataset, model = resolve_recognizer(config, "ablations")
    tables = {}
    for table, section in SECTIONS.items():
        keys = config[section]
        clips = keys["clips"]
        try:
            if table == "table6":
                settings = (AttackSetting.table1(attack).with_flow(keys["weight"], clips),)
            elif table == "table11":
                settings = tuple(AttackSetting.linf_255(eps, attack, clips) for eps in dict.fromkeys(keys["eps"]))
            else:
                settings = (AttackSetting.l2(attack, clips),)
        except ValueError as error:
            key = {"table6": "flow_attack.weight", "table11": "eps_sweep.eps"}.get(table, "attack.eps_l2")
            raise ValueError(f"config key '{key}': {error}") from None
        defenses = resolve_rows(config, section, PAPER_DEFENSES[table])
        flow = attacked_flow(config, dataset, defenses) if table == "table6" else None
        variants = {}
        if flow is not None:
            rows = {name: variant_name(name, config["defenses"][name], flow) or name for name in defenses}
            variants = {row: name for name, row in rows.items() if row != name}
            defenses = tuple(rows.values())
        tables[table] = BudgetTable(table, dataset, model, defenses, settings, flow, variants)
    return tables


#: Why Table VI cannot be built when no flow model is there to attack (its rule says it; every other
#: target builds).
NO_FLOW_TO_ATTACK = (
    "results/table6.csv attacks a differentiable flow model, and there is none: config key 'flow_attack.flow' is "
    "null, no VideoPure row of Table VI uses a RAFT, and dataset {dataset!r} is not generated (no trained "
    "raft_small); name the RAFT to attack: flow_attack: {{flow: {{type: raft, weights: "
    "data/weights/raft_large_C_T_V1-22a6c225.pth}}}} (torchvision's Raft_Large_Weights.C_T_V1)"
)


def attacked_flow(config: Mapping[str, Any], dataset: str, defenses: Sequence[str]) -> dict[str, Any] | None:
    """Table VI's flow model (config ``flow_attack.flow``); null: the first of ``defenses`` that is a
    VideoPure with a differentiable flow, else the raft_small rule train_flow trains on a generated
    dataset, else None (:data:`NO_FLOW_TO_ATTACK`). It must be differentiable: the attack's gradient
    goes through it."""
    flow = config["flow_attack"]["flow"]
    if flow is None:
        flows = [VideoPure.spec_flow(config["defenses"][name]) for name in defenses if config["defenses"][name]["type"] == "videopure"]
        learned = [spec for spec in flows if spec is not None and flow_model_class(spec).differentiable]
        if learned:
            flow = learned[0]
        elif config["datasets"][dataset]["source"] == "generated":
            flow = RAFTTraining(**config["flow_training"]).spec(trained_flow_weights(dataset))
        else:
            return None
    try:
        differentiable = flow_model_class(flow).differentiable
    except ValueError as error:
        raise ValueError(f"config key 'flow_attack.flow': {error}") from None
    if not differentiable:
        raise ValueError(
            f"config key 'flow_attack.flow': flow {flow['type']!r} is not differentiable, so the attack could not "
            "reach the input through it; name a RAFT ({type: raft, weights: ...})"
        )
    return dict(flow)


def variant_name(name: str, spec: Mapping[str, Any], flow: Mapping[str, Any]) -> str | None:
    """The name of Table VI's row for Table I's row ``name``: None where it is that row itself (not a
    VideoPure, or one whose temporal loss already uses ``flow``), else ``<name>_raft_<size>`` (``flow``
    is a RAFT: the only differentiable flow model)."""
    if spec["type"] != "videopure" or VideoPure.spec_flow(spec) in (None, dict(flow)):
        return None
    return f"{name}_raft_{flow.get('size', 'large')}"


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
        term = attack.get("flow_deviation")
        made = (term["weight"], term["flow"]) if term else (0.0, None)
        if made != ((setting.flow_weight, dict(setup.flow)) if setting.flow_weight else (0.0, None)):
            raise ValueError(
                f"{path}: its {COLUMNS_BY_SLUG[slug].name} clips were made with flow term {term}, {setup.table} asks "
                f"weight {setting.flow_weight} on flow {setup.flow}; rerun its rule"
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
    flow_text = ""
    if setup.flow is not None:
        flow = ", ".join(f"{key} {value}" for key, value in setup.flow.items() if key != "type")
        variants = "; ".join(f"row {name}: {base} with the attacked flow model" for name, base in setup.variants.items())
        flow_text = (
            f" Loss: cross-entropy + {setup.settings[0].flow_weight:g} x the mean end-point error (px) between the flow "
            f"of the attacked and the clean clip, through {setup.flow['type']} ({flow}), in every attack"
            f"{'; ' + variants if variants else ''}."
        )
    return (
        f"{TITLES[setup.table]}, {setup.dataset} {setup.model}: {first['norm']} eps {radii}, {first['steps']} steps, "
        f"{step}, random start {first['random_start']}.{flow_text} w/o Defense: the bare recognizer under gray-box PGD; "
        f"Robust Acc*: the defense on the same clips; Robust Acc: PGD+BPDA through the defense "
        f"({', '.join(gradients) or 'no cell run'}), no EOT. Votes per clip: {draws_text}."
    )
