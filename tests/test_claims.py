"""The claims report's noise rule and verdicts (videopure.tables.evidence, .claims, .sanity), on
tables built in the test; the report on the smoke build is checked in tests/test_workflow.py."""

from __future__ import annotations

import pandas as pd
import pytest

from videopure.evaluation.attacking import attack_settings
from videopure.evaluation.columns import COLUMNS_BY_SLUG
from videopure.evaluation.settings import AttackSetting
from videopure.tables.claims import (
    CLAIMS,
    ClaimsInputs,
    NotRun,
    CHECK_COLUMNS,
    claims_markdown,
    claims_summary,
    claims_table,
    evaluate_claims,
    sanity_checks,
)
from videopure.tables.evidence import (
    Accuracy,
    Verdict,
    difference_interval,
    verdict_above,
    verdict_at_least,
    verdict_at_most,
)
from videopure.tables.sanity import Alarm, UnboundedCell, unbounded_setup
from videopure.tables.table1 import COLUMNS

NOT_RUN = NotRun("config 'diffusion_adaptive' is 'auto' and config 'device' is 'cpu'",
                 "snakemake --cores 4 results/claims.csv --config diffusion_adaptive=run")


@pytest.mark.parametrize("clips", [1, 4, 10, 30, 101])
def test_wilson_interval_matches_scipys(clips):
    from scipy.stats import binomtest

    for hits in range(clips + 1):
        expected = binomtest(hits, clips).proportion_ci(confidence_level=0.95, method="wilson")
        assert Accuracy(hits / clips, clips).interval() == pytest.approx((expected.low, expected.high), abs=1e-9)


def test_newcombe_difference_interval_matches_the_papers_worked_example():
    """Newcombe (1998), Statistics in Medicine 17:873, Table II example (a): 56/70 - 48/80, method 10."""
    low, high = difference_interval(Accuracy(56 / 70, 70), Accuracy(48 / 80, 80))
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert difference_interval(Accuracy(48 / 80, 80), Accuracy(56 / 70, 70)) == pytest.approx((-high, -low))


@pytest.mark.parametrize("clips", [4, 10, 20, 50])
def test_one_clip_never_turns_holds_into_fails(clips):
    """The noise rule: one clip more or fewer moves a verdict at most to or from inconclusive."""
    opposite = {Verdict.HOLDS: Verdict.FAILS, Verdict.FAILS: Verdict.HOLDS}
    for hits in range(clips):
        a, b = Accuracy(hits / clips, clips), Accuracy((hits + 1) / clips, clips)
        for bound in (0.1, 0.15, 0.2, 0.5):
            first, second = verdict_at_most(a.interval(), bound), verdict_at_most(b.interval(), bound)
            assert opposite.get(first) != second, (hits, clips, bound)
        other = Accuracy(0.5, clips)
        for rule in (verdict_above, verdict_at_least):
            first = rule(difference_interval(a, other))
            second = rule(difference_interval(b, other))
            assert opposite.get(first) != second, (hits, clips, rule.__name__)


def test_a_borderline_accuracy_is_inconclusive_until_the_clips_settle_it():
    """0 of 20 clips cannot show "at most 15 %" (Wilson's top is 16.1 %); 0 of 25 can (13.3 %);
    1 of 10 neither holds nor fails, 9 of 10 fails."""
    assert verdict_at_most(Accuracy(0.0, 20).interval(), 0.15) is Verdict.INCONCLUSIVE
    assert verdict_at_most(Accuracy(0.0, 25).interval(), 0.15) is Verdict.HOLDS
    assert verdict_at_most(Accuracy(0.1, 10).interval(), 0.15) is Verdict.INCONCLUSIVE
    assert verdict_at_most(Accuracy(0.9, 10).interval(), 0.15) is Verdict.FAILS
    # A difference: 9/10 above 3/10 holds, 6/10 above 3/10 does not show (and does not fail).
    assert verdict_above(difference_interval(Accuracy(0.9, 10), Accuracy(0.3, 10))) is Verdict.HOLDS
    assert verdict_above(difference_interval(Accuracy(0.6, 10), Accuracy(0.3, 10))) is Verdict.INCONCLUSIVE
    assert verdict_above(difference_interval(Accuracy(0.0, 10), Accuracy(0.9, 10))) is Verdict.FAILS


def test_verdicts_combine_fails_first_then_not_measured():
    H, F, I, N = Verdict.HOLDS, Verdict.FAILS, Verdict.INCONCLUSIVE, Verdict.NOT_MEASURED
    assert Verdict.combine([H, H]) is H and Verdict.combine([H, I]) is I
    assert Verdict.combine([H, N, I]) is N and Verdict.combine([N, F, H]) is F and Verdict.combine([]) is N


def _table1(cells: dict[str, dict[str, object]], clips: int = 50) -> pd.DataFrame:
    """A Table I of one recognizer in the table1 rule's layout, as the claims rule reads it (strings)."""
    records = []
    for defense, row in cells.items():
        record = {"Dataset": "mini", "Model": "NL", "Defense": defense, "Average": "", "Average over": "", "Clips": clips}
        record.update({column: str(value) for column, value in row.items()})
        records.append(record)
    return pd.DataFrame.from_records(records, columns=list(COLUMNS)).astype(str)


def _classical(none_pgd: float = 0.0) -> dict[str, dict[str, object]]:
    adaptive = {"PGD+BPDA": 2.0, "TT+BPDA": 2.0, "EOT+BPDA": 2.0, "PGD+DiffAttack": "-"}
    return {
        "None": {"None": 100.0, "PGD": none_pgd, "TT": 2.0, **dict.fromkeys(adaptive, "-")},
        "JPEG": {"None": 98.0, "PGD": 4.0, "TT": 6.0, **adaptive},
        "WN": {"None": 98.0, "PGD": 2.0, "TT": 4.0, **adaptive},
        "TemporalShuffle": {"None": 90.0, "PGD": 80.0, "TT": 10.0, **adaptive},
    }


def _diffusion(ours_bpda: object, ddpm_bpda: object, exact: object) -> dict[str, dict[str, object]]:
    def row(clean, gray, bpda, diffattack):
        return {"None": clean, "PGD": gray, "TT": gray, "PGD+BPDA": bpda, "TT+BPDA": bpda, "EOT+BPDA": bpda,
                "PGD+DiffAttack": diffattack}

    return {"DiffPure_DDPM": row(94.0, 88.0, ddpm_bpda, exact), "DiffPure_DDIM": row(96.0, 80.0, ddpm_bpda, exact),
            "DDIM_Inversion": row(98.0, 36.0, ddpm_bpda, 0.0 if exact != "not run" else exact),
            "Ours": row(96.0, 94.0, ours_bpda, exact)}


def _verdicts(table1: pd.DataFrame, **tables: pd.DataFrame) -> dict[tuple[str, str], Verdict]:
    checks = evaluate_claims(ClaimsInputs({"table1": table1, **tables}, {}, NOT_RUN, "Ours", ("mini", "NL")))
    return {(check.claim, check.check): check.verdict for check in checks}


def test_the_verdicts_are_computed_from_the_table():
    """C1 holds at 0 % of 50 clips and fails when the undefended PGD cell reads 60 %."""
    cells = {**_classical(), **_diffusion(90.0, 60.0, 50.0)}
    assert _verdicts(_table1(cells))[("C1", "None under PGD")] is Verdict.HOLDS
    cells["None"]["PGD"] = 60.0
    assert _verdicts(_table1(cells))[("C1", "None under PGD")] is Verdict.FAILS
    assert _verdicts(_table1(cells), )[("C3", "PGD+BPDA below PGD")] is Verdict.HOLDS  # 80 -> 2 on 50 clips


def test_adaptive_claims_are_checked_under_bpda_and_the_exact_gradient_and_unmeasured_cells_say_how_to_fill():
    measured = _verdicts(_table1({**_classical(), **_diffusion(90.0, 40.0, 10.0)}))
    assert measured[("C5", "above DiffPure_DDPM under PGD+BPDA")] is Verdict.HOLDS
    assert measured[("C5", "above DiffPure_DDPM under PGD+DiffAttack")] is Verdict.INCONCLUSIVE  # 10 vs 10
    # C6 under the exact gradient: Ours (every module) against DDIM_Inversion (none) in Table I.
    exact = _verdicts(_table1({**_classical(), **_diffusion(90.0, 40.0, 50.0)}))
    assert exact[("C6", "above DDIM_Inversion under PGD+DiffAttack")] is Verdict.HOLDS  # 50 % against 0 %
    cpu = evaluate_claims(ClaimsInputs({"table1": _table1({**_classical(), **_diffusion("not run", "not run", "not run")})},
                                       {}, NOT_RUN, "Ours", ("mini", "NL")))
    adaptive = [check for check in cpu if check.claim == "C5" and "under" in check.check]
    assert [check.verdict for check in adaptive] == [Verdict.NOT_MEASURED] * 4
    assert next(c for c in cpu if c.claim == "C6" and "DiffAttack" in c.check).verdict is Verdict.NOT_MEASURED
    assert all(NOT_RUN.fill_command in check.why for check in adaptive)
    gray = next(check for check in cpu if check.check == "gray-box Average above DiffPure_DDPM")
    assert gray.verdict is not Verdict.NOT_MEASURED and gray.attack == "mean over PGD TT"
    table = claims_table(cpu)
    assert tuple(table.columns) == CHECK_COLUMNS and (table[table["Claim"] == "C5"]["Claim verdict"] == "not measured here").all()
    summary = claims_summary(cpu).set_index("Claim")
    assert summary.loc["C5", "Verdict"] == "not measured here" and list(summary.index) == [c.id for c in CLAIMS]
    assert summary.loc["C12", "Verdict"] == "not measured here"


def test_ablation_and_sweep_claims_read_their_tables():
    table4 = pd.DataFrame({
        "Temporal DDIM Inversion": ["", "✓", "✓", "✓", "✓"], "Spatial-temporal Optimization": ["", "", "", "✓", "✓"],
        "Multi-step Voting": ["", "", "✓", "", "✓"], "Standard Acc": ["98", "97", "97", "89", "96"],
        "Robust Acc*": ["36", "94", "95", "85", "94"], "Robust Acc": ["14", "40", "69", "99", "100"],
        "Clips": ["50"] * 5,
    })  # fmt: skip
    fig6 = pd.DataFrame({"tstar": ["2", "10"], "Standard Acc": ["98", "40"], "Robust Acc*": ["90", "40"],
                         "Robust Acc": ["90", "95"], "Clips": ["50", "50"]})
    table10 = pd.DataFrame({"Defense Method": ["DiffPure_DDPM", "Ours"], "Time(s)": ["10.0", "4.0"], "Machine": ["cpu"] * 2})
    verdicts = _verdicts(_table1({**_classical(), **_diffusion(90.0, 40.0, 10.0)}), table4=table4, fig6=fig6,
                         table10=table10)
    assert verdicts[("C6", "temporal inversion raises Robust Acc*")] is Verdict.HOLDS
    assert verdicts[("C6", "voting raises Robust Acc")] is Verdict.HOLDS
    assert verdicts[("C6", "optimisation raises Robust Acc")] is Verdict.HOLDS
    assert verdicts[("C10", "Standard Acc falls as t* grows")] is Verdict.HOLDS
    assert verdicts[("C9", "DiffPure_DDPM / Ours")] is Verdict.FAILS  # 2.5x
    table10["Time(s)"] = ["10.0", "2.5"]
    assert _verdicts(_table1(_classical()), table10=table10)[("C9", "DiffPure_DDPM / Ours")] is Verdict.HOLDS


def test_sanity_checks_flag_robust_above_clean_and_a_survived_unbounded_attack():
    cells = {**_classical(), **_diffusion(90.0, 40.0, 60.0)}
    cells["TemporalShuffle"]["TT+BPDA"] = 100.0  # 100 % attacked against 90 % clean, 50 clips: beyond noise
    cells["WN"]["PGD+BPDA"] = 100.0  # against 98 %: within it
    unbounded = [UnboundedCell("None", Accuracy(0.0, 50), "PGD"), UnboundedCell("Ours", Accuracy(0.8, 50), "PGD+BPDA"),
                 UnboundedCell("JPEG", Accuracy(0.12, 50), "PGD+BPDA"), UnboundedCell("DiffPure_DDPM", None, "PGD+BPDA", "not run")]
    inputs = ClaimsInputs({"table1": _table1(cells)}, {}, NOT_RUN, "Ours", ("mini", "NL"), unbounded, "64/255")
    results = {(check.check, check.defense): check.result for check in sanity_checks(inputs)}
    assert results[("S1", "TemporalShuffle")] is Alarm.FAIL and results[("S1", "WN")] is Alarm.SUSPECT
    assert results[("S1", "JPEG")] is Alarm.PASS
    assert results[("S2", "None")] is Alarm.PASS and results[("S2", "Ours")] is Alarm.FAIL
    assert results[("S2", "JPEG")] is Alarm.SUSPECT and results[("S2", "DiffPure_DDPM")] is Alarm.NOT_MEASURED
    # S4: the exact gradient leaves 60 %: below Ours' 90 % under BPDA, above DiffPure_DDPM's 40 % beyond noise.
    assert results[("S4", "Ours")] is Alarm.PASS and results[("S4", "DiffPure_DDPM")] is Alarm.FAIL
    checks = evaluate_claims(inputs)
    report = claims_markdown(claims_summary(checks), checks, sanity_checks(inputs), "Claims")
    assert "S2 Ours (PGD+BPDA at 64/255): fail" in report and "S1 TemporalShuffle" in report


def test_the_unbounded_setting_crosses_its_ball_and_names_its_step(tmp_path):
    from tests.helpers import load_mini_with

    config = load_mini_with(tmp_path, "sanity: {eps: 64, defenses: [JPEG, Ours], clips: 10}")
    setup = unbounded_setup(config)
    assert setup.defenses == ("JPEG", "Ours") and setup.setting.clips == 10
    steps = config["attack"]["steps"]
    assert setup.setting.step * 255 == pytest.approx(2.5 * 64 / steps) and setup.setting.steps == steps
    assert setup.setting.slug == f"linf~64_steps~{steps}_clips~10_step~{2.5 * 64 / steps:g}"
    assert AttackSetting.from_slug(setup.setting.slug) == setup.setting
    settings = attack_settings(config["attack"], COLUMNS_BY_SLUG["pgd_bpda"], None, 0, setup.setting)
    assert settings["eps"] == pytest.approx(64 / 255) and settings["alpha"] == setup.setting.step
    table1 = attack_settings(config["attack"], COLUMNS_BY_SLUG["pgd_bpda"], None, 0, AttackSetting.table1(config["attack"]))
    assert table1["alpha"] == config["attack"]["step_size"]
    every = unbounded_setup(load_mini_with(tmp_path, "sanity: {defenses: null}"))
    assert "None" not in every.defenses and set(every.defenses) == set(config["defenses"]) - {"None"}
    with pytest.raises(ValueError, match="'sanity.defenses'"):
        unbounded_setup(load_mini_with(tmp_path, "sanity: {defenses: [Nope]}"))
