"""Table I layout: columns, '-' and 'not run' cells, the Average rule, and a missing measurement as an error."""

from __future__ import annotations

import pytest

from videopure.tables.table1 import COLUMNS, NOT_RUN, Table1Row, build_table1, not_run_note, to_markdown, undefended_row

JPEG_ATTACKS = {"PGD": 0.1, "PGD+BPDA": 0.2, "TT": 0.3, "TT+BPDA": 0.4, "EOT+BPDA": 0.5}


def test_layout_and_average_excludes_the_none_column():
    rows = [
        undefended_row("mini", "NL", 90, 1.0, {"PGD": 0.05, "TT": 0.25}),
        Table1Row("mini", "NL", "JPEG", 90, {"None": 0.99, **JPEG_ATTACKS}, ("PGD+DiffAttack",)),
        Table1Row("mini", "NL", "DDPM", 90, {"None": 0.8, **JPEG_ATTACKS, "PGD+DiffAttack": 0.0}),
    ]
    table = build_table1(rows)
    assert tuple(table.columns) == COLUMNS
    none, jpeg, ddpm = table.iloc[0], table.iloc[1], table.iloc[2]
    assert none["None"] == 100.0 and none["PGD"] == 5.0 and none["TT"] == 25.0
    assert none["PGD+BPDA"] == "-" and none["Average"] == "-"
    assert jpeg["Average"] == pytest.approx(30.0) and jpeg["PGD+BPDA"] == 20.0
    assert jpeg["PGD+DiffAttack"] == "-" and jpeg["Clips"] == 90
    assert ddpm["PGD+DiffAttack"] == 0.0 and ddpm["Average"] == pytest.approx(25.0)
    assert jpeg["Average over"] == "PGD PGD+BPDA TT TT+BPDA EOT+BPDA" and none["Average over"] == "-"
    assert ddpm["Average over"] == jpeg["Average over"] + " PGD+DiffAttack"
    markdown = to_markdown(table, "caption")
    assert markdown.count("\n| mini |") == 3 and "| Dataset | Model |" in markdown


def test_a_missing_measurement_is_an_error():
    with pytest.raises(ValueError, match="mini/NL/DDPM: no measurement for column PGD\\+DiffAttack"):
        build_table1([Table1Row("mini", "NL", "DDPM", 90, {"None": 0.8, **JPEG_ATTACKS})])


def test_empty_evaluation_set_is_an_error():
    with pytest.raises(ValueError, match="empty evaluation set"):
        build_table1([undefended_row("mini", "NL", 0, 1.0, {})])


def test_variant_accuracy_averages_over_clips_and_draws_of_every_source(tmp_path):
    import numpy as np

    from videopure.cache import write_h5
    from videopure.tables.ablations import read_variant_accuracy

    labels = np.array([0, 1, 2, 3])
    votes = {  # (clips, draws): two draws, so a clip counts once per draw it gets right
        "clean/votes": np.array([[0, 0], [1, 1], [2, 0], [3, 3]]),
        "pgd/votes": np.array([[1, 1], [1, 1], [0, 0], [0, 0]]),
        "pgd_bpda/votes": np.array([[0, 1], [0, 1], [0, 1], [0, 1]]),
    }
    sources = ["clean", "pgd", "pgd_bpda"]
    attacks = {"pgd": {"attack": {"name": "pgd", "steps": 5}, "gradient": "exact (bare recognizer)"},
               "pgd_bpda": {"attack": {"name": "pgd", "steps": 5}, "gradient": "bpda"}}
    params = {"defense_settings": {"tstar": 2}, "sources": sources, "attacks": attacks}
    write_h5(tmp_path / "p.h5", {"labels": labels, **votes}, params=params)
    row = read_variant_accuracy(tmp_path / "p.h5")
    assert row.accuracy == {"clean": 7 / 8, "pgd": 2 / 8, "pgd_bpda": 2 / 8}
    assert row.clips == 4 and row.defense_settings == {"tstar": 2} and row.attacks == attacks


ADAPTIVE_THROUGH_DIFFUSION = ("PGD+BPDA", "TT+BPDA", "EOT+BPDA", "PGD+DiffAttack")
SKIPPED = {"run": False, "reason": "config 'diffusion_adaptive' is 'skip'",
           "fill_command": "snakemake --cores 4 results/table1.csv --config diffusion_adaptive=run"}


def test_cells_not_run_are_marked_and_average_only_the_measured_ones():
    rows = [
        Table1Row("mini", "NL", "JPEG", 90, {"None": 0.99, **JPEG_ATTACKS}, ("PGD+DiffAttack",)),
        Table1Row("mini", "NL", "Ours", 90, {"None": 0.9, "PGD": 0.2, "TT": 0.6}, (), ADAPTIVE_THROUGH_DIFFUSION),
    ]
    table = build_table1(rows)
    ours = table.iloc[1]
    assert [ours[column] for column in ADAPTIVE_THROUGH_DIFFUSION] == [NOT_RUN] * 4
    assert ours["PGD"] == 20.0 and ours["Average"] == pytest.approx(40.0) and ours["Average over"] == "PGD TT"
    note = not_run_note(table, ["Dataset", "Model", "Defense"], SKIPPED)
    assert "- mini/NL/Ours: PGD+BPDA, TT+BPDA, EOT+BPDA, PGD+DiffAttack" in note
    assert "JPEG" not in note and SKIPPED["reason"] in note
    assert note.endswith("    " + SKIPPED["fill_command"])
    markdown = to_markdown(table, "caption", note)
    assert markdown.index("| mini | NL | Ours |") < markdown.index(SKIPPED["fill_command"])
    # A table with nothing marked gets no note, and a row never mixes a mark with a number.
    assert not_run_note(table.iloc[:1], ["Defense"], SKIPPED) == ""
    with pytest.raises(ValueError, match="no measurement for column PGD\\+BPDA"):
        build_table1([Table1Row("mini", "NL", "Ours", 90, {"None": 0.9, "PGD": 0.2, "TT": 0.6}, (), ("PGD+DiffAttack",))])


def test_ablation_rows_mark_robust_acc_not_run_when_pgd_bpda_through_the_variant_was_not_run(tmp_path):
    import numpy as np

    from videopure.cache import write_h5
    from videopure.tables.ablations import AblationSetup, accuracy_cells, build_ablation_table, read_variant_accuracy

    labels = np.array([0, 1])
    votes = {"clean/votes": np.array([[0], [1]]), "pgd/votes": np.array([[0], [0]])}
    params = {"defense_settings": {"tstar": 2}, "sources": ["clean", "pgd"], "attacks": {"pgd": {"attack": {}, "gradient": "exact"}}}
    write_h5(tmp_path / "p.h5", {"labels": labels, **votes}, params=params)
    row = read_variant_accuracy(tmp_path / "p.h5")
    assert row.accuracy == {"clean": 1.0, "pgd": 0.5}
    setup = AblationSetup("Ours", "mini", "NL", {"type": "videopure", "tstar": 2})
    names = [name for name, _ in setup.rows("table8")]
    table = build_ablation_table(setup, "table8", {name: row.accuracy for name in names}, 2)
    assert list(table["Standard Acc"]) == [100.0, 100.0] and list(table["Robust Acc*"]) == [50.0, 50.0]
    assert list(table["Robust Acc"]) == [NOT_RUN, NOT_RUN]
    assert "- Ours: Robust Acc" in not_run_note(table, ["Defense"], SKIPPED)
    # Only the adaptive attack through the variant may be missing: a row without gray-box PGD is an error.
    with pytest.raises(ValueError, match="only PGD\\+BPDA"):
        accuracy_cells({"clean": 1.0, "pgd_bpda": 0.5})


def test_a_cell_both_measured_and_marked_not_run_is_an_error():
    row = Table1Row("mini", "NL", "Ours", 90, {"None": 0.9, "PGD": 0.2, "TT": 0.6, **dict.fromkeys(ADAPTIVE_THROUGH_DIFFUSION, 0.1)},
                    (), ("PGD+BPDA",))
    with pytest.raises(ValueError, match="both measured and not run"):
        build_table1([row])
