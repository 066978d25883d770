"""The claims report: which of the paper's claims hold here, under which attack, and the
gradient-masking sanity checks of Carlini et al. (2019), "On evaluating adversarial robustness".

Everything is computed from the tables' and figures' CSVs (and, for S2, the votes at an unbounded
radius): a claim is never typed in as holding. Each claim (C1-C12, :data:`CLAIMS`) is one or more
:class:`Check`\\ s, each with its verdict under the noise rule of :mod:`videopure.tables.evidence`;
a claim's verdict combines its checks' (:meth:`Verdict.combine`). Every adaptive claim is checked
under the authors' BPDA columns and again under the exact gradient (PGD+DiffAttack), where the
table has it. A check whose cells this build did not run (adaptive attacks through a diffusion
defense on a CPU) reads "not measured here" with the command that fills it.

The sanity checks (S1-S4, :data:`SANITY_CHECKS`) are alarms, not claims: each **passes** when its
point estimate is on the safe side, **fails** when its whole 95 % interval is beyond the bound, and
is **suspect** in between (the point estimate beyond the bound, within sampling noise). A failing or
suspect check is reported, never hidden: robust accuracy above clean, or an unbounded attack that
does not drive accuracy to chance, says the attack does not reach the input (gradient masking).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from videopure.evaluation.columns import ADAPTIVE_COLUMNS, FULL_GRADIENT_COLUMNS, GRAYBOX_COLUMNS
from videopure.tables.evidence import (
    Accuracy,
    Verdict,
    difference_interval,
    interval_text,
    percent_text,
    verdict_above,
    verdict_at_least,
    verdict_at_most,
)
from videopure.tables.sanity import (
    SANITY_CHECKS,
    Alarm,
    SanityCheck,
    UnboundedCell,
    exact_against_bpda,
    more_steps,
    robust_above_clean,
    sanity_table,
    unbounded_attacks,
)
from videopure.tables.table1 import ATTACK_COLUMNS, NOT_APPLICABLE, NOT_RUN, cell_value, to_markdown

#: Table I's gray-box columns, its adaptive columns through BPDA (the authors' gradient for diffusion
#: defenses) and its exact-gradient column.
GRAYBOX = tuple(column.name for column in GRAYBOX_COLUMNS)
BPDA_COLUMNS = tuple(column.name for column in ADAPTIVE_COLUMNS)
(EXACT_COLUMN,) = (column.name for column in FULL_GRADIENT_COLUMNS)
#: The attack behind each accuracy of the ablation tables and sweeps, whose variants no exact-gradient
#: attack reaches (Table I's PGD+DiffAttack is the full method's).
VARIANT_ATTACKS = {
    "Standard Acc": "none (clean)",
    "Robust Acc*": "PGD (gray-box)",
    "Robust Acc": "PGD+BPDA through the variant (no exact-gradient attack on variants)",
}
#: The tables and figures the report reads, by name (results/<name>.csv).
SOURCES = ("table1", "table4", "table5", "table7", "table8", "table10", "table11", "fig5a", "fig5b", "fig6")


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims: its words, and the paper's numbers behind it."""

    id: str
    text: str
    paper: str


CLAIMS = (
    Claim("C1", "Undefended, PGD and TT leave at most 15 % accuracy",
          "Table I, None row, PGD / TT: 8.9 / 11.8 (UCF-101 NL), 7.9 / 5.0, 5.0 / 5.0, 4.0 / 5.0"),
    Claim("C2", "JPEG and WN defend almost nothing: their Average over the attacks is at most 20 %",
          "Table I Average: JPEG 11.8, 8.7, 6.4, 4.4; WN 10.7, 7.3, 5.6, 3.8"),
    Claim("C3", "Temporal Shuffle keeps a high Robust Acc* under gray-box PGD and collapses under PGD+BPDA",
          "Table I, Temporal Shuffle, PGD / PGD+BPDA: 84.1 / 12.9 (UCF-101 NL), 74.2 / 5.0, 86.0 / 6.0, 80.0 / 4.0"),
    Claim("C4", "DiffPure_DDPM beats DiffPure_DDIM on average",
          "Table I Average, DDPM / DDIM: 66.7 / 45.4, 75.3 / 57.1, 72.0 / 51.0, 68.2 / 45.7"),
    Claim("C5", "VideoPure has the best Average and beats DiffPure_DDPM under adaptive attacks",
          "Table I Average, Ours / DDPM: 85.9 / 66.7, 78.9 / 75.3, 83.5 / 72.0, 80.8 / 68.2; PGD+BPDA 100 / 72.3, "
          "PGD+DiffAttack 89.1 / 65.4 (UCF-101 NL)"),
    Claim("C6", "Temporal inversion beats DDIM inversion on Robust Acc*; optimisation and voting raise Robust Acc",
          "Table IV: Robust Acc* 36.6 -> 94.1 with temporal inversion; then Robust Acc 39.6 -> 69.3 with voting, "
          "-> 99.0 with optimisation"),
    Claim("C7", "Multi-step voting is at least as good as every single candidate",
          "Table VII: voting 96.0 / 94.1 / 100 against single candidates up to 96.0 / 92.1 / 100"),
    Claim("C8", "Replacing z*_t by z'_t in the denoising trajectory lowers Standard Acc",
          "Table VIII: Standard Acc 79.2 (Ours*) against 96.0 (Ours)"),
    Claim("C9", "VideoPure is at least 4x faster than DiffPure_DDPM",
          "Table X: 37.8 s against 8.5 s per clip (4.4x, one RTX 3090)"),
    Claim("C10", "Standard Acc falls as t* grows; a larger step size alpha_s (in magnitude) raises Robust Acc",
          "Fig. 6 (t* = 2..10) and Fig. 5 (b) (alpha_s = -1..-8), read off the figures"),
    Claim("C11", "Robust Acc* falls as the attack radius grows",
          "Table XI, Robust Acc* at 4 / 8 / 16: DiffPure_DDPM 88.2 / 82.2 / 67.3, Ours 94.1 / 85.1 / 73.3"),
    Claim("C12", "A video diffusion model beats image diffusion models",
          "Table V, Robust Acc: ModelScope 72.3 (DDPM), Stable Diffusion 22.8, Guided Diffusion 31.7"),
)
CLAIMS_BY_ID = {claim.id: claim for claim in CLAIMS}

#: The claims' thresholds (the issue's reading of the paper's words).
UNDEFENDED_MAX = 0.15
WEAK_DEFENSE_MAX = 0.20
SPEEDUP_MIN = 4.0

#: results/claims.csv: one row per check, with its claim's words, numbers in the paper and verdict.
CHECK_COLUMNS = (
    "Claim", "Statement", "Paper", "Claim verdict", "Check", "Scope", "Attack", "Ours", "95% interval", "Verdict", "Why",
)
SUMMARY_COLUMNS = ("Claim", "Statement", "Paper", "Verdict", "Checks")


@dataclass(frozen=True)
class Check:
    """One measured (or unmeasurable) statement behind a claim, with its verdict and why."""

    claim: str
    check: str
    scope: str
    attack: str
    ours: str
    interval: str
    verdict: Verdict
    why: str

    def record(self) -> dict[str, str]:
        """The check's own columns of :data:`CHECK_COLUMNS`."""
        values = (self.check, self.scope, self.attack, self.ours, self.interval, self.verdict.value, self.why)
        return dict(zip(("Check", "Scope", "Attack", "Ours", "95% interval", "Verdict", "Why"), values))


@dataclass(frozen=True)
class NotRun:
    """Why a cell was not measured by this build, and the command that fills it."""

    reason: str
    fill_command: str

    def why(self, what: str) -> str:
        command = f"; fill it with: {self.fill_command}" if self.fill_command else ""
        return f"{what} not run by this build ({self.reason}){command}"


@dataclass
class ClaimsInputs:
    """What the report reads: the sources' tables by name (absent: not built), Table I's recorded
    gradient per (dataset, model, defense, column), why cells were not run, the VideoPure row (the
    ablations' defense, which Fig. 5 (a) sweeps), and S2's unbounded cells (on ``recognizer``, at
    the radius ``unbounded_label``)."""

    tables: dict[str, pd.DataFrame]
    gradients: dict[tuple[str, str, str, str], str]
    not_run: NotRun
    videopure: str = "Ours"
    recognizer: tuple[str, str] = ("", "")
    unbounded: list[UnboundedCell] = field(default_factory=list)
    unbounded_label: str = ""


class Table1View:
    """Table I's cells by (dataset, model, defense, column), as :class:`Accuracy` on the row's clips."""

    def __init__(self, table: pd.DataFrame, gradients: Mapping[tuple[str, str, str, str], str]):
        self.rows = {(str(r["Dataset"]), str(r["Model"]), str(r["Defense"])): r for r in table.to_dict("records")}
        self.gradients = gradients
        self.recognizers = list(dict.fromkeys((d, m) for d, m, _ in self.rows))

    def has(self, recognizer: tuple[str, str], defense: str) -> bool:
        return (*recognizer, defense) in self.rows

    def cell(self, recognizer: tuple[str, str], defense: str, column: str) -> Accuracy | None:
        row = self.rows[(*recognizer, defense)]
        value = cell_value(row[column])
        return None if value is None else Accuracy.percent(value, row["Clips"])

    def status(self, recognizer: tuple[str, str], defense: str, column: str) -> str:
        return str(self.rows[(*recognizer, defense)][column])

    def measured(self, recognizer: tuple[str, str], defense: str) -> list[str]:
        return [column for column in ATTACK_COLUMNS if self.cell(recognizer, defense, column) is not None]

    def mean(self, recognizer: tuple[str, str], defense: str, columns: Sequence[str]) -> Accuracy:
        row = self.rows[(*recognizer, defense)]
        values = [cell_value(row[column]) for column in columns]
        return Accuracy.percent(sum(values) / len(values), row["Clips"])

    def attack(self, recognizer: tuple[str, str], defense: str, column: str) -> str:
        gradient = self.gradients.get((*recognizer, defense, column))
        return f"{column}, gradient: {gradient}" if gradient else column


def _scope(recognizer: tuple[str, str], *rest: str) -> str:
    return "/".join((*recognizer, *rest))


def _missing(claim: str, check: str, scope: str, attack: str, why: str) -> Check:
    return Check(claim, check, scope, attack, "", "", Verdict.NOT_MEASURED, why)


def _bound_check(claim: str, check: str, scope: str, attack: str, accuracy: Accuracy, bound: float) -> Check:
    interval = accuracy.interval()
    verdict = verdict_at_most(interval, bound)
    why = f"holds when the Wilson interval is at or below {100 * bound:g} %, fails when it is above"
    return Check(claim, check, scope, attack, f"{percent_text(accuracy.value)} % of {accuracy.clips} clips",
                 interval_text(interval), verdict, why)


def _difference_check(
    claim: str, check: str, scope: str, attack: str, a: Accuracy, b: Accuracy, names: tuple[str, str],
    at_least: bool = False,
) -> Check:
    """``names[0]``'s accuracy ``a`` above (or, ``at_least``, not below) ``names[1]``'s ``b``."""
    interval = difference_interval(a, b)
    verdict = (verdict_at_least if at_least else verdict_above)(interval, 0.0)
    ours = f"{names[0]} {percent_text(a.value)} - {names[1]} {percent_text(b.value)} = {100 * (a.value - b.value):+.1f} points"
    side = "at or above 0, fails when it is below" if at_least else "above 0, fails when it is at or below"
    why = f"holds when the difference's interval (Newcombe) is {side}"
    return Check(claim, check, scope, attack, ours, interval_text(interval), verdict, why)


def _cells_or_missing(
    view: Table1View, recognizer: tuple[str, str], cells: Sequence[tuple[str, str]], not_run: NotRun
) -> str | None:
    """None when every (defense, column) of ``cells`` is measured, else why not."""
    for defense, column in cells:
        if not view.has(recognizer, defense):
            return f"Table I has no row {defense!r} (config 'defenses')"
        status = view.status(recognizer, defense, column)
        if status == NOT_RUN:
            return not_run.why(f"{defense} under {column}")
        if view.cell(recognizer, defense, column) is None:
            return f"{defense} has no {column} column"
    return None


def _table1_claims(view: Table1View, not_run: NotRun, videopure: str) -> list[Check]:
    checks: list[Check] = []
    for recognizer in view.recognizers:
        # C1: the undefended recognizer under the gray-box attacks.
        for column in GRAYBOX:
            scope, attack = _scope(recognizer, "None"), view.attack(recognizer, "None", column)
            missing = _cells_or_missing(view, recognizer, [("None", column)], not_run)
            checks.append(_missing("C1", f"None under {column}", scope, attack, missing) if missing else
                          _bound_check("C1", f"None under {column}", scope, attack,
                                       view.cell(recognizer, "None", column), UNDEFENDED_MAX))
        # C2: the classical purifiers' Average.
        for defense in ("JPEG", "WN"):
            scope = _scope(recognizer, defense)
            if not view.has(recognizer, defense):
                checks.append(_missing("C2", f"{defense} Average", scope, "", f"Table I has no row {defense!r}"))
                continue
            columns = view.measured(recognizer, defense)
            checks.append(_bound_check("C2", f"{defense} Average", scope, "Average over " + " ".join(columns),
                                       view.mean(recognizer, defense, columns), WEAK_DEFENSE_MAX))
        checks += _temporal_shuffle(view, recognizer, not_run)
        checks += _diffpure(view, recognizer, not_run)
        checks += _videopure(view, recognizer, not_run, videopure)
    return checks


def _temporal_shuffle(view: Table1View, recognizer: tuple[str, str], not_run: NotRun) -> list[Check]:
    """C3: Temporal Shuffle above the undefended recognizer under PGD, and PGD+BPDA below PGD."""
    scope = _scope(recognizer, "TemporalShuffle")
    checks = []
    pairs = (
        ("Robust Acc* above the undefended", ("TemporalShuffle", "PGD"), ("None", "PGD"), "PGD"),
        ("PGD+BPDA below PGD", ("TemporalShuffle", "PGD"), ("TemporalShuffle", "PGD+BPDA"), "PGD+BPDA"),
    )
    for name, first, second, column in pairs:
        attack = view.attack(recognizer, "TemporalShuffle", column)
        missing = _cells_or_missing(view, recognizer, [first, second], not_run)
        if missing:
            checks.append(_missing("C3", name, scope, attack, missing))
            continue
        a, b = view.cell(recognizer, *first), view.cell(recognizer, *second)
        names = (f"{first[0]} {first[1]}", f"{second[0]} {second[1]}")
        checks.append(_difference_check("C3", name, scope, attack, a, b, names))
    return checks


def _average_checks(
    claim: str, view: Table1View, recognizer: tuple[str, str], first: str, others: Sequence[str], not_run: NotRun
) -> list[Check]:
    """``first``'s Average above each of ``others``' over every attack column (not measured where a
    cell was not run), and over the gray-box columns alone (always measured: partial evidence)."""
    checks = []
    for other in others:
        scope = _scope(recognizer, f"{first} vs {other}")
        for label, columns in (("Average", ATTACK_COLUMNS), ("gray-box Average", GRAYBOX)):
            if not (view.has(recognizer, first) and view.has(recognizer, other)):
                missing = f"Table I has no row {first if not view.has(recognizer, first) else other!r}"
                checks.append(_missing(claim, f"{label} above {other}", scope, "", missing))
                continue
            # The columns both rows have (the paper leaves DiffAttack empty for non-diffusion rows).
            shared = [column for column in columns
                      if all(view.status(recognizer, row, column) != NOT_APPLICABLE for row in (first, other))]
            attack = "mean over " + " ".join(shared)
            missing = _cells_or_missing(view, recognizer, [(row, c) for row in (first, other) for c in shared], not_run)
            if missing:
                checks.append(_missing(claim, f"{label} above {other}", scope, attack, missing))
                continue
            a, b = view.mean(recognizer, first, shared), view.mean(recognizer, other, shared)
            checks.append(_difference_check(claim, f"{label} above {other}", scope, attack, a, b, (first, other)))
    return checks


def _diffpure(view: Table1View, recognizer: tuple[str, str], not_run: NotRun) -> list[Check]:
    """C4: DiffPure_DDPM above DiffPure_DDIM on average."""
    return _average_checks("C4", view, recognizer, "DiffPure_DDPM", ["DiffPure_DDIM"], not_run)


def _above_under(
    claim: str, view: Table1View, recognizer: tuple[str, str], first: str, second: str, column: str, not_run: NotRun
) -> Check:
    """Table I's row ``first`` above ``second`` under attack ``column``."""
    name, scope = f"above {second} under {column}", _scope(recognizer, f"{first} vs {second}")
    attack = view.attack(recognizer, first, column)
    missing = _cells_or_missing(view, recognizer, [(first, column), (second, column)], not_run)
    if missing:
        return _missing(claim, name, scope, attack, missing)
    a, b = view.cell(recognizer, first, column), view.cell(recognizer, second, column)
    return _difference_check(claim, name, scope, attack, a, b, (first, second))


def _videopure(view: Table1View, recognizer: tuple[str, str], not_run: NotRun, ours: str) -> list[Check]:
    """C5: the VideoPure row ``ours`` above every other defended row on average, and above
    DiffPure_DDPM under each adaptive column (BPDA, then the exact gradient). C6's exact-gradient
    check: ``ours`` (temporal inversion, optimisation and voting) above DDIM_Inversion (none of
    them) under PGD+DiffAttack, which Table IV's variants are not attacked by."""
    others = [d for (dataset, model, d) in view.rows if (dataset, model) == recognizer and d not in ("None", ours)]
    checks = _average_checks("C5", view, recognizer, ours, others, not_run)
    checks += [_above_under("C5", view, recognizer, ours, "DiffPure_DDPM", column, not_run)
               for column in (*BPDA_COLUMNS, EXACT_COLUMN)]
    return checks + [_above_under("C6", view, recognizer, ours, "DDIM_Inversion", EXACT_COLUMN, not_run)]


def _row_accuracy(table: pd.DataFrame, mask: pd.Series, metric: str, what: str) -> Accuracy:
    rows = table[mask]
    if len(rows) != 1:
        raise ValueError(f"{what}: expected one row, found {len(rows)}")
    row = rows.iloc[0]
    value = cell_value(row[metric])
    if value is None:
        raise LookupError(str(row[metric]))
    return Accuracy.percent(value, row["Clips"])


def _ablation_claims(tables: Mapping[str, pd.DataFrame], not_run: NotRun, scope: str) -> list[Check]:
    checks = []
    table4 = tables.get("table4")
    if table4 is None:
        checks.append(_missing("C6", "Table IV", "", "", "results/table4.csv was not built"))
    else:
        flags = ["Temporal DDIM Inversion", "Spatial-temporal Optimization", "Multi-step Voting"]

        def row(*on: bool) -> pd.Series:
            mask = pd.Series(True, index=table4.index)
            for name, flag in zip(flags, on):
                mask &= (table4[name].fillna("") == "✓") == flag
            return mask

        comparisons = (
            ("temporal inversion raises Robust Acc*", "Robust Acc*", row(True, False, False), row(False, False, False),
             ("temporal", "DDIM inversion")),
            ("voting raises Robust Acc", "Robust Acc", row(True, False, True), row(True, False, False),
             ("with voting", "without")),
            ("optimisation raises Robust Acc", "Robust Acc", row(True, True, False), row(True, False, False),
             ("with optimisation", "without")),
        )
        for name, metric, first, second, names in comparisons:
            attack = VARIANT_ATTACKS[metric]
            checks.append(_table_difference("C6", name, scope, attack, table4, metric, first, second, names, not_run))
    checks += _voting_claims(tables.get("table7"), not_run, scope)
    table8 = tables.get("table8")
    if table8 is None:
        checks.append(_missing("C8", "Table VIII", "", "", "results/table8.csv was not built"))
    else:
        first = table8["Defense Method"] == "Ours"
        second = table8["Defense Method"] == "Ours*"
        name, attack = "z'_t replacing z*_t lowers Standard Acc", VARIANT_ATTACKS["Standard Acc"]
        checks.append(_table_difference("C8", name, scope, attack, table8, "Standard Acc", first, second,
                                        ("Ours", "Ours*"), not_run))
    return checks


def _table_difference(
    claim: str, name: str, scope: str, attack: str, table: pd.DataFrame, metric: str,
    first: pd.Series, second: pd.Series, names: tuple[str, str], not_run: NotRun, at_least: bool = False,
) -> Check:
    try:
        a = _row_accuracy(table, first, metric, f"{claim} {names[0]}")
        b = _row_accuracy(table, second, metric, f"{claim} {names[1]}")
    except LookupError:
        return _missing(claim, name, scope, attack, not_run.why(f"{metric}"))
    return _difference_check(claim, name, scope, attack, a, b, names, at_least)


def _voting_claims(table7: pd.DataFrame | None, not_run: NotRun, scope: str) -> list[Check]:
    """C7: the voted row at least as good as the best single candidate, per metric."""
    if table7 is None:
        return [_missing("C7", "Table VII", "", "", "results/table7.csv was not built")]
    checks = []
    voted = table7["selected z_0^t"].astype(str) == "multi-step voting"
    for metric in ("Standard Acc", "Robust Acc*", "Robust Acc"):
        attack = VARIANT_ATTACKS[metric]
        singles = table7[~voted]
        values = singles[metric].map(cell_value)
        if values.isna().any() or cell_value(table7[voted].iloc[0][metric]) is None:
            checks.append(_missing("C7", f"voting vs the best candidate, {metric}", scope, attack,
                                   not_run.why(metric)))
            continue
        best = singles.loc[values.idxmax()]
        best_mask = table7["selected z_0^t"].astype(str) == str(best["selected z_0^t"])
        checks.append(_table_difference("C7", f"voting vs the best candidate, {metric}", scope, attack,
                                        table7, metric, voted, best_mask,
                                        ("voting", f"z_0^{best['selected z_0^t']}"), not_run, at_least=True))
    return checks


def _speed_claim(table10: pd.DataFrame | None) -> list[Check]:
    """C9: Table X's DiffPure_DDPM time over VideoPure's (timings: no sampling interval)."""
    if table10 is None:
        return [_missing("C9", "speed-up", "", "", "results/table10.csv was not built")]
    times = dict(zip(table10["Defense Method"].astype(str), table10["Time(s)"].astype(float)))
    ddpm = times.get("DiffPure_DDPM")
    others = [(name, seconds) for name, seconds in times.items() if name != "DiffPure_DDPM"]
    if ddpm is None or not others:
        return [_missing("C9", "speed-up", "", "", "Table X lacks DiffPure_DDPM or a VideoPure row")]
    checks = []
    machine = str(table10["Machine"].iloc[0]) if "Machine" in table10 else ""
    for name, seconds in others:
        ratio = ddpm / seconds
        verdict = Verdict.HOLDS if ratio >= SPEEDUP_MIN else Verdict.FAILS
        checks.append(Check("C9", f"DiffPure_DDPM / {name}", machine, "none (timing)",
                            f"{ddpm:.3g} s / {seconds:.3g} s = {ratio:.2f}x", "",
                            verdict, f"median seconds per clip in one run: a timing, no sampling interval; "
                                     f"at least {SPEEDUP_MIN:g}x holds"))
    return checks


def _trend(claim: str, name: str, points: pd.DataFrame | None, source: str, parameter: str, metric: str,
           rising: bool, not_run: NotRun, scope: str, key: Callable[[float], float] = float) -> Check:
    """``metric`` at the largest ``key(parameter)`` against the smallest: above (``rising``) or below."""
    where = f"{scope} ({source})"
    if points is None:
        return _missing(claim, name, where, "", f"results/{source}.csv was not built")
    values = points[parameter].astype(float).map(key)
    attack = VARIANT_ATTACKS[metric]
    if values.nunique() < 2:
        return _missing(claim, name, where, attack, f"{source} has one value of {parameter}: a trend needs two")
    low, high = points.loc[values.idxmin()], points.loc[values.idxmax()]
    first, second = (high, low) if rising else (low, high)
    a, b = cell_value(first[metric]), cell_value(second[metric])
    if a is None or b is None:
        return _missing(claim, name, where, attack, not_run.why(metric))
    names = (f"{parameter} {first[parameter]}", f"{parameter} {second[parameter]}")
    return _difference_check(claim, name, where, attack, Accuracy.percent(a, first["Clips"]),
                             Accuracy.percent(b, second["Clips"]), names)


def _sweep_claims(tables: Mapping[str, pd.DataFrame], not_run: NotRun, scope: str) -> list[Check]:
    checks = [
        _trend("C10", "Standard Acc falls as t* grows", tables.get("fig6"), "fig6", "tstar", "Standard Acc", False,
               not_run, scope),
        _trend("C10", "a larger alpha_s magnitude raises Robust Acc", tables.get("fig5b"), "fig5b", "alpha_s", "Robust Acc",
               True, not_run, scope, key=abs),
    ]
    table11 = tables.get("table11")
    if table11 is None:
        return checks + [_missing("C11", "Robust Acc* falls with eps", scope, "", "results/table11.csv was not built")]
    radii = table11.assign(radius=table11["eps"].astype(str).str.split("/").str[0].astype(float))
    for defense, rows in radii.groupby("Defense", sort=False):
        checks.append(_trend("C11", f"{defense}: Robust Acc* falls as eps grows", rows, "table11", "radius",
                             "Robust Acc*", False, not_run, scope))
    return checks


def _diffusion_model_claims(table5: pd.DataFrame | None, not_run: NotRun, scope: str) -> list[Check]:
    """C12: the video model's row above each image model's, for every defense both have, per metric."""
    from videopure.tables.table5 import VIDEO_MODEL

    if table5 is None:
        return [_missing("C12", "Table V", "", "", "results/table5.csv was not built")]
    checks = []
    video = table5["Diffusion Model"] == VIDEO_MODEL
    for image_model in table5.loc[~video, "Diffusion Model"].unique():
        for defense in table5.loc[table5["Diffusion Model"] == image_model, "Defense"]:
            if not (video & (table5["Defense"] == defense)).any():
                continue
            for metric in ("Standard Acc", "Robust Acc*", "Robust Acc"):
                attack = VARIANT_ATTACKS[metric].replace("the variant", "the defense")
                checks.append(_table_difference(
                    "C12", f"{defense}: {VIDEO_MODEL} above {image_model}, {metric}", scope, attack, table5, metric,
                    video & (table5["Defense"] == defense), (table5["Diffusion Model"] == image_model) & (table5["Defense"] == defense),
                    (VIDEO_MODEL, str(image_model)), not_run,
                ))  # fmt: skip
    return checks or [_missing("C12", "Table V", scope, "", "Table V has no defense on both a video and an image model")]


def evaluate_claims(inputs: ClaimsInputs) -> list[Check]:
    """Every check of every claim, in claim order."""
    checks: list[Check] = []
    if "table1" in inputs.tables:
        checks += _table1_claims(Table1View(inputs.tables["table1"], inputs.gradients), inputs.not_run, inputs.videopure)
    else:
        checks += [_missing(claim, "Table I", "", "", "results/table1.csv was not built") for claim in ("C1", "C2", "C3", "C4", "C5")]
    scope = "/".join(inputs.recognizer)
    checks += _ablation_claims(inputs.tables, inputs.not_run, scope)
    checks += _speed_claim(inputs.tables.get("table10"))
    checks += _sweep_claims(inputs.tables, inputs.not_run, scope)
    checks += _diffusion_model_claims(inputs.tables.get("table5"), inputs.not_run, scope)
    order = {claim.id: index for index, claim in enumerate(CLAIMS)}
    return sorted(checks, key=lambda check: order[check.claim])


def claim_verdicts(checks: Sequence[Check]) -> dict[str, Verdict]:
    """Each claim's verdict from its checks' (:meth:`Verdict.combine`)."""
    return {claim.id: Verdict.combine([check.verdict for check in checks if check.claim == claim.id]) for claim in CLAIMS}


def claims_table(checks: Sequence[Check]) -> pd.DataFrame:
    """results/claims.csv (:data:`CHECK_COLUMNS`)."""
    verdicts = claim_verdicts(checks)
    records = [
        {"Claim": check.claim, "Statement": CLAIMS_BY_ID[check.claim].text, "Paper": CLAIMS_BY_ID[check.claim].paper,
         "Claim verdict": verdicts[check.claim].value, **check.record()}
        for check in checks
    ]
    return pd.DataFrame.from_records(records, columns=list(CHECK_COLUMNS))


def claims_summary(checks: Sequence[Check]) -> pd.DataFrame:
    """One row per claim: its words, the paper's numbers, the combined verdict and its checks' count."""
    records, verdicts = [], claim_verdicts(checks)
    for claim in CLAIMS:
        own = [check.verdict for check in checks if check.claim == claim.id]
        counts = ", ".join(f"{own.count(v)} {v.value}" for v in Verdict if own.count(v))
        records.append({"Claim": claim.id, "Statement": claim.text, "Paper": claim.paper,
                        "Verdict": verdicts[claim.id].value, "Checks": counts})
    return pd.DataFrame.from_records(records, columns=list(SUMMARY_COLUMNS))


def sanity_checks(inputs: ClaimsInputs) -> list[SanityCheck]:
    """S1-S4 (:mod:`videopure.tables.sanity`) from the same inputs as the claims."""
    scope = "/".join(inputs.recognizer)
    table1 = inputs.tables.get("table1")
    fill = inputs.not_run.why("the cell was")
    checks = robust_above_clean(table1, ATTACK_COLUMNS) if table1 is not None else []
    checks += unbounded_attacks(inputs.unbounded, scope, inputs.unbounded_label)
    checks += more_steps(inputs.tables.get("fig5a"), inputs.videopure, scope, fill)
    checks += exact_against_bpda(table1, fill) if table1 is not None else []
    return checks


def claims_markdown(summary: pd.DataFrame, checks: Sequence[Check], sanity: Sequence[SanityCheck], caption: str) -> str:
    """claims.md: the verdict per claim, the sanity checks' alarms first, then every check."""
    alarms = [check for check in sanity if check.result in (Alarm.FAIL, Alarm.SUSPECT)]
    lines = [f"# {caption}", "", EVIDENCE_RULE, ""]
    lines += [to_markdown(summary, "Claims: the verdict per claim (its checks below)")]
    if alarms:
        lines += [f"**Sanity checks that did not pass ({len(alarms)} of {len(sanity)}):** "
                  + "; ".join(f"{a.check} {a.defense} ({a.attack}): {a.result.value}, {a.ours}" for a in alarms), ""]
    else:
        lines += [f"All {len(sanity)} sanity checks passed or were not measured here.", ""]
    for claim in CLAIMS:
        own = [check for check in checks if check.claim == claim.id]
        table = pd.DataFrame.from_records([check.record() for check in own])
        lines += [to_markdown(table, f"{claim.id}: {claim.text} (paper: {claim.paper})")]
    lines += ["## Sanity checks (Carlini et al. 2019)", "",
              "; ".join(f"{key}: {text}" for key, text in SANITY_CHECKS.items()) + ".", "",
              to_markdown(sanity_table(sanity), "results/sanity.csv")]
    return "\n".join(lines)


EVIDENCE_RULE = (
    "Verdicts read 95 % confidence intervals on the clip counts, never a point estimate: Wilson's for an "
    "accuracy, Newcombe's for the difference of two. A claim holds when its whole interval is on the claimed "
    "side, fails when its whole interval is on the other side, and is inconclusive otherwise, so one clip cannot "
    "turn holds into fails. A claim holds when all its checks hold, fails when one fails, and is not measured "
    "here when one of its checks needs cells this build did not run. Sanity checks are alarms: pass at a point "
    "estimate within the bound, fail when the whole interval is beyond it, suspect between. Timings (C9) have "
    "no interval: the measured ratio decides."
)
