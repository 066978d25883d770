"""Table III without a build: its transfers, columns, TT+MI's settings and the table's arithmetic (the
smoke build makes it: tests/test_workflow.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import REPO, load_mini_with
from videopure.config import ConfigError, load_config
from videopure.evaluation.attacking import attack_settings
from videopure.evaluation.columns import BLACKBOX_COLUMN
from videopure.tables.table3 import NO_TRANSFER, Transfer, TransferCell, blackbox_table, build_table3

MINI = load_config(REPO / "config" / "config.yaml")
PAPER = load_config(REPO / "config" / "paper.yaml")
SMOKE = load_config(REPO / "config" / "smoke.yaml")
COLUMNS = ("None", "JPEG", "TemporalShuffle", "DiffPure_DDPM", "DDIM_Inversion", "Ours")


def test_each_recognizer_attacks_the_other_and_a_surrogate_attacks_each_recognizer():
    """The paper: NL to SlowFast and back, on both datasets; smoke's one recognizer is attacked from its surrogate."""
    paper = blackbox_table(PAPER)
    assert paper.transfers == tuple(
        Transfer(dataset, source, target)
        for dataset in ("ucf101", "k400")
        for source, target in (("NL", "SlowFast"), ("SlowFast", "NL"))
    )
    assert paper.defenses == COLUMNS and paper.setting.slug == "linf~16_steps~10_clips~all"
    assert blackbox_table(MINI).transfers == (Transfer("mini", "NL", "SlowFast"), Transfer("mini", "SlowFast", "NL"))
    assert blackbox_table(SMOKE).transfers == (Transfer("smoke", "SlowFast", "NL"),)
    alone = {**SMOKE, "datasets": {"smoke": {**SMOKE["datasets"]["smoke"], "surrogates": {}}}}
    assert blackbox_table(alone).transfers == () and "datasets.<name>.surrogates" in NO_TRANSFER


def test_tt_mi_takes_the_tt_authors_black_box_settings():
    setting = blackbox_table(MINI).setting
    settings = attack_settings(MINI["attack"], BLACKBOX_COLUMN, None, 0, setting, (16, 3, 64, 64))
    assert settings.pop("alpha") == pytest.approx(1.6 / 255, rel=1e-12)  # the radius / steps
    assert settings == {
        "eps": 16 / 255, "steps": 10, "norm": "linf", "random_start": None, "momentum": 1.0, "best_iterate": False,
        "eot_samples": 1, "seed": 0,
    }  # fmt: skip
    assert BLACKBOX_COLUMN.attack == "TT" and not BLACKBOX_COLUMN.adaptive


def cell(transfer: Transfer, correct: dict[str, int], clips: int = 4) -> TransferCell:
    """Votes of ``clips`` clips of label 0, one draw: per defense the first ``correct[defense]`` right."""
    votes = {name: np.array([[0]] * k + [[1]] * (clips - k)) for name, k in correct.items()}
    return TransferCell(transfer, np.zeros(clips, int), votes)


def test_table3_has_a_row_per_transfer_and_their_average_the_papers_row():
    setup = blackbox_table(MINI)
    first, second = setup.transfers
    cells = [cell(first, dict.fromkeys(COLUMNS, 1) | {"Ours": 4}), cell(second, dict.fromkeys(COLUMNS, 2) | {"Ours": 3})]
    table = build_table3(setup, cells)
    assert list(table.columns) == ["Dataset", "Source", "Target", *COLUMNS, "Clips"]
    assert table[["Dataset", "Source", "Target"]].values.tolist() == [
        ["mini", "NL", "SlowFast"], ["mini", "SlowFast", "NL"], ["Average", "", ""]
    ]  # fmt: skip
    assert table["None"].tolist() == [25.0, 50.0, 37.5] and table["Ours"].tolist() == [100.0, 75.0, 87.5]
    assert table["Clips"].tolist() == [4, 4, 8]
    cells[1] = cell(second, dict.fromkeys(COLUMNS, 0))  # computed from the votes
    assert build_table3(setup, cells)["JPEG"].tolist() == [25.0, 0.0, 12.5]
    with pytest.raises(ValueError, match="no transfer"):
        build_table3(setup, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blackbox: {pairs: [[nope, NL, SlowFast]]}", r"'blackbox\.pairs\.0': 'nope' is not one of"),
        ("blackbox: {pairs: [[mini, I3D, SlowFast]]}", r"'blackbox\.pairs\.0': source 'I3D' is not a recognizer or surrogate"),
        ("blackbox: {pairs: [[mini, NL, NL]]}", r"'blackbox\.pairs\.0': source and target are both 'NL'"),
        ("blackbox: {pairs: [[mini, NL, SlowFast], [mini, SlowFast, X3D]]}", r"'blackbox\.pairs\.1': target 'X3D'"),
        ("blackbox: {defenses: [JPEG, Nope]}", r"'blackbox\.defenses'.*Nope"),
        ("blackbox: {steps: 0}", r"blackbox\.steps"),
        ("datasets: {mini: {surrogates: {NL: {config: config/models/mini_nl.py}}}}", r"'datasets\.mini\.surrogates\.NL'"),
    ],
)
def test_a_bad_blackbox_section_is_refused_naming_its_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_mini_with(tmp_path, text)
