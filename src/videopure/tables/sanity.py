"""Gradient-masking sanity checks (Carlini et al. 2019, "On evaluating adversarial robustness", §5):
``results/sanity.csv``, read by the claims report (:mod:`videopure.tables.claims`).

* S1: robust accuracy ≤ clean accuracy (every row of Table I, its highest attacked column);
* S2: an unbounded attack drives accuracy to ≤ 10 % (PGD+BPDA through each defense at the radius
  of config ``sanity.eps``, 64/255 by default, with a step that can cross the ball,
  :meth:`~videopure.evaluation.settings.AttackSetting.unbounded`);
* S3: more attack steps never raise accuracy by more than 5 points (Fig. 5 (a)'s sweep);
* S4: the exact gradient is at least as strong as BPDA (Table I's PGD+DiffAttack against PGD+BPDA).

Each is an alarm: it **passes** when the point estimate is within the bound, **fails** when the
whole 95 % interval (:mod:`videopure.tables.evidence`) is beyond it, and is **suspect** between.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pandas as pd

from videopure.evaluation.settings import AttackSetting
from videopure.params import resolve_recognizer, resolve_rows
from videopure.tables.evidence import Accuracy, difference_interval, interval_text, percent_text
from videopure.tables.table1 import NOT_APPLICABLE, cell_value

SANITY_CHECKS = {
    "S1": "robust accuracy is at most clean accuracy",
    "S2": "an unbounded attack drives accuracy to at most 10 %",
    "S3": "more attack steps never raise accuracy by more than 5 points",
    "S4": "the exact gradient is at least as strong as BPDA",
}
UNBOUNDED_MAX = 0.10
MORE_STEPS_SLACK = 0.05
SANITY_COLUMNS = ("Check", "Scope", "Defense", "Attack", "Ours", "95% interval", "Result", "Why")


class Alarm(str, Enum):
    """A sanity check's result (its value is what the report prints)."""

    PASS = "pass"
    SUSPECT = "suspect"
    FAIL = "fail"
    NOT_MEASURED = "not measured here"
    NOT_APPLICABLE = "not applicable"


def alarm(value: float, interval: tuple[float, float], bound: float) -> Alarm:
    """For "the quantity is ≤ ``bound``": pass at a point estimate within it, fail when the whole
    interval is beyond it, suspect otherwise."""
    if value <= bound:
        return Alarm.PASS
    return Alarm.FAIL if interval[0] > bound else Alarm.SUSPECT


@dataclass(frozen=True)
class SanityCheck:
    check: str
    scope: str
    defense: str
    attack: str
    ours: str
    interval: str
    result: Alarm
    why: str

    def record(self) -> dict[str, str]:
        values = (self.check, self.scope, self.defense, self.attack, self.ours, self.interval, self.result.value, self.why)
        return dict(zip(SANITY_COLUMNS, values))


@dataclass(frozen=True)
class UnboundedSetup:
    """S2's attacks (config ``sanity``): each of ``defenses`` and the bare recognizer ("None") under
    ``setting``, on the ablations' recognizer."""

    dataset: str
    model: str
    defenses: tuple[str, ...]
    setting: AttackSetting


def unbounded_setup(config: Mapping[str, Any]) -> UnboundedSetup:
    """Resolve config ``sanity`` (``defenses`` null: every Table I row); errors name the key."""
    section = config["sanity"]
    dataset, model = resolve_recognizer(config, "ablations")
    try:
        setting = AttackSetting.unbounded(section["eps"], config["attack"], section["clips"])
    except ValueError as error:
        raise ValueError(f"config key 'sanity.eps': {error}") from None
    defenses = resolve_rows(config, "sanity", config["defenses"])
    return UnboundedSetup(dataset, model, tuple(name for name in defenses if name != "None"), setting)


@dataclass(frozen=True)
class UnboundedCell:
    """One defense's accuracy under S2's attack (None where it was not run) and the attack's words."""

    defense: str
    accuracy: Accuracy | None
    attack: str
    not_run: str = ""


def read_unbounded_cells(cells: Sequence[Sequence[str]], not_run: str) -> list[UnboundedCell]:
    """S2's cells from their predictions files (rule claims' params: [defense, setting slug, path]):
    the bare recognizer under gray-box PGD, each defense under PGD+BPDA through it (path "" where the
    build did not run it: ``not_run`` says why and how to fill it)."""
    from videopure.evaluation.voting import read_source_votes, vote_accuracy

    read = []
    for defense, _, path in cells:
        source = "pgd" if defense == "None" else "pgd_bpda"
        if not path:
            read.append(UnboundedCell(defense, None, "PGD+BPDA", not_run))
            continue
        labels, votes, params = read_source_votes(path, (source,))
        if source not in votes:
            read.append(UnboundedCell(defense, None, "PGD+BPDA", not_run))
            continue
        attack = "PGD, gray-box" if defense == "None" else "PGD+BPDA"
        accuracy = Accuracy(vote_accuracy(votes[source], labels), len(labels))
        read.append(UnboundedCell(defense, accuracy, f"{attack}, gradient: {params['attacks'][source]['gradient']}"))
    return read


def robust_above_clean(table1: pd.DataFrame, attack_columns: Sequence[str]) -> list[SanityCheck]:
    """S1 for every row of Table I: its highest attacked accuracy against its clean accuracy."""
    checks = []
    for row in table1.to_dict("records"):
        clips, clean = int(row["Clips"]), Accuracy.percent(row["None"], row["Clips"])
        measured = {column: cell_value(row[column]) for column in attack_columns if cell_value(row[column]) is not None}
        scope = f"{row['Dataset']}/{row['Model']}"
        column = max(measured, key=measured.get)
        attacked = Accuracy.percent(measured[column], clips)
        interval = difference_interval(attacked, clean)
        checks.append(SanityCheck(
            "S1", scope, str(row["Defense"]), f"{column} (the highest attacked cell)",
            f"{percent_text(attacked.value)} attacked - {percent_text(clean.value)} clean", interval_text(interval),
            alarm(attacked.value - clean.value, interval, 0.0), "Table I; fails when the difference's interval (Newcombe) is above 0",
        ))  # fmt: skip
    return checks


def unbounded_attacks(cells: Sequence[UnboundedCell], scope: str, label: str) -> list[SanityCheck]:
    """S2: each defense's accuracy under the unbounded attack, against :data:`UNBOUNDED_MAX`."""
    checks = []
    for cell in cells:
        attack = f"{cell.attack} at {label}"
        if cell.accuracy is None:
            checks.append(SanityCheck("S2", scope, cell.defense, attack, "", "", Alarm.NOT_MEASURED, cell.not_run))
            continue
        interval = cell.accuracy.interval()
        checks.append(SanityCheck(
            "S2", scope, cell.defense, attack, f"{percent_text(cell.accuracy.value)} % of {cell.accuracy.clips} clips",
            interval_text(interval), alarm(cell.accuracy.value, interval, UNBOUNDED_MAX),
            f"at most {100 * UNBOUNDED_MAX:g} %; fails when the Wilson interval is above",
        ))  # fmt: skip
    return checks


def more_steps(fig5a: pd.DataFrame | None, defense: str, scope: str, not_run: str) -> list[SanityCheck]:
    """S3 from Fig. 5 (a): per metric, the largest rise of accuracy from fewer to more steps."""
    if fig5a is None:
        return [SanityCheck("S3", scope, defense, "", "", "", Alarm.NOT_MEASURED, "results/fig5a.csv was not built")]
    checks = []
    points = fig5a.sort_values("steps").to_dict("records")
    for metric, attack in (("Robust Acc*", "PGD (gray-box)"), ("Robust Acc", "PGD+BPDA")):
        measured = [(int(p["steps"]), cell_value(p[metric]), int(p["Clips"])) for p in points if cell_value(p[metric]) is not None]
        if len(measured) < 2:
            why = not_run if len(measured) < len(points) else "Fig. 5 (a) has one number of steps (config figures.fig5a.steps)"
            checks.append(SanityCheck("S3", scope, defense, attack, "", "", Alarm.NOT_MEASURED, why))
            continue
        rises = [(later[1] - earlier[1], earlier, later) for i, earlier in enumerate(measured) for later in measured[i + 1:]]
        rise, earlier, later = max(rises, key=lambda item: item[0])
        a, b = Accuracy.percent(later[1], later[2]), Accuracy.percent(earlier[1], earlier[2])
        interval = difference_interval(a, b)
        checks.append(SanityCheck(
            "S3", scope, defense, f"{attack}, {earlier[0]} -> {later[0]} steps",
            f"{later[1]:.1f} - {earlier[1]:.1f} = {rise:+.1f} points", interval_text(interval),
            alarm(a.value - b.value, interval, MORE_STEPS_SLACK),
            f"the largest rise over Fig. 5 (a)'s steps; fails when its interval is above {100 * MORE_STEPS_SLACK:g} points",
        ))  # fmt: skip
    return checks


def exact_against_bpda(table1: pd.DataFrame, not_run: str) -> list[SanityCheck]:
    """S4 for every Table I row with a PGD+DiffAttack column: its accuracy against PGD+BPDA's."""
    checks = []
    for row in table1.to_dict("records"):
        scope, defense = f"{row['Dataset']}/{row['Model']}", str(row["Defense"])
        if str(row["PGD+DiffAttack"]).strip() == NOT_APPLICABLE:
            continue
        exact, bpda = cell_value(row["PGD+DiffAttack"]), cell_value(row["PGD+BPDA"])
        if exact is None or bpda is None:
            checks.append(SanityCheck("S4", scope, defense, "PGD+DiffAttack vs PGD+BPDA", "", "", Alarm.NOT_MEASURED,
                                      not_run))
            continue
        a, b = Accuracy.percent(exact, row["Clips"]), Accuracy.percent(bpda, row["Clips"])
        interval = difference_interval(a, b)
        checks.append(SanityCheck(
            "S4", scope, defense, "PGD+DiffAttack vs PGD+BPDA", f"{exact:.1f} exact - {bpda:.1f} BPDA",
            interval_text(interval), alarm(a.value - b.value, interval, 0.0),
            "fails when the difference's interval (Newcombe) is above 0",
        ))  # fmt: skip
    return checks


def sanity_table(checks: Sequence[SanityCheck]) -> pd.DataFrame:
    return pd.DataFrame.from_records([check.record() for check in checks], columns=list(SANITY_COLUMNS))
