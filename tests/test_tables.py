"""Table I layout: columns, '-' cells, the Average rule, and a missing measurement as an error."""

from __future__ import annotations

import pytest

from videopure.tables.table1 import COLUMNS, Table1Row, build_table1, to_markdown, undefended_row

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
    write_h5(tmp_path / "p.h5", {"labels": labels, **votes}, params={"defense_settings": {"tstar": 2}})
    row = read_variant_accuracy(tmp_path / "p.h5")
    assert row.accuracy == {"clean": 7 / 8, "pgd": 2 / 8, "pgd_bpda": 2 / 8}
    assert row.clips == 4 and row.defense_settings == {"tstar": 2}
