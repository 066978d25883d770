"""Tables VI, XI and XII without a build: attack settings, their folders and step sizes, the tables' rows,
columns and cells (the smoke builds make them: tests/test_workflow.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import REPO, load_mini_with
from videopure.attacks import scale_l2_eps
from videopure.config import ConfigError, load_config
from videopure.evaluation.attacking import attack_settings
from videopure.evaluation.columns import COLUMNS_BY_SLUG
from videopure.evaluation.settings import AttackSetting
from videopure.tables.budgets import (
    NO_FLOW_TO_ATTACK,
    BudgetCell,
    budget_tables,
    build_budget_table,
    check_cell_attacks,
)
from videopure.tables.table1 import NOT_RUN

MINI = load_config(REPO / "config" / "config.yaml")
PAPER = load_config(REPO / "config" / "paper.yaml")


@pytest.mark.parametrize(
    ("setting", "slug"),
    [
        (AttackSetting("linf", 4 / 255, 10), "linf~4_steps~10_clips~all"),
        (AttackSetting("linf", 16 / 255, 10, 20), "linf~16_steps~10_clips~20"),
        (AttackSetting("linf", 0.5 / 255, 3), "linf~0.5_steps~3_clips~all"),
        (AttackSetting("l2", 2.0, 10), "l2~2_steps~10_clips~all"),
        (AttackSetting("linf", 4 / 255, 10, None, 1.0), "linf~4_steps~10_clips~all_flow~1"),
        (AttackSetting("linf", 4 / 255, 10, 20, 0.25), "linf~4_steps~10_clips~20_flow~0.25"),
    ],
)
def test_a_setting_names_its_folder_and_the_folder_names_it_back(setting, slug):
    assert setting.slug == slug
    assert AttackSetting.from_slug(slug).slug == slug
    assert AttackSetting.from_slug(slug).eps == pytest.approx(setting.eps, rel=1e-12)


def test_table1s_setting_is_the_attack_section_on_every_clip():
    attack = MINI["attack"]
    table1 = AttackSetting.table1(attack)
    assert table1.slug == "linf~4_steps~10_clips~all" and table1.is_table1(attack)
    assert AttackSetting.linf_255(4, attack).is_table1(attack)  # 4/255 typed in 255ths is attack.eps
    assert not AttackSetting.linf_255(8, attack).is_table1(attack)
    assert not table1.at(10, 20).is_table1(attack) and not table1.at(20, None).is_table1(attack)
    assert not AttackSetting.l2(attack).is_table1(attack)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AttackSetting("l1", 1.0, 10), "unknown norm"),
        (lambda: AttackSetting("linf", 0.0, 10), "eps"),
        (lambda: AttackSetting("linf", 4 / 255, 0), "steps"),
        (lambda: AttackSetting("linf", 4 / 255, 10, 0), "clips"),
        (lambda: AttackSetting.from_slug("steps~10_clips~all"), "names no attack setting"),
    ],
)
def test_a_bad_setting_is_refused_with_what_is_wrong(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_attack_settings_scale_the_l2_radius_to_the_clips_and_keep_table1s_linf_step():
    attack, column, shape = MINI["attack"], COLUMNS_BY_SLUG["pgd"], (16, 3, 64, 64)
    table1 = attack_settings(attack, column, None, 0)
    assert table1 == {
        "eps": attack["eps"], "steps": 10, "alpha": attack["step_size"], "norm": "linf",
        "random_start": "gaussian", "best_iterate": False, "eot_samples": 1, "seed": 0,
    }  # fmt: skip
    wide = attack_settings(attack, column, None, 0, AttackSetting.linf_255(16, attack), shape)
    assert wide == {**table1, "eps": 16 / 255}  # the paper's one step at every radius
    l2 = attack_settings(attack, column, None, 0, AttackSetting.l2(attack), shape)
    eps = scale_l2_eps(2.0, shape)
    assert l2 == {**table1, "eps": eps, "alpha": 2.5 * eps / 10, "norm": "l2"}
    assert AttackSetting.l2(attack).radius(shape) == eps


def test_the_tables_take_the_papers_rows_and_radii_on_the_ablations_recognizer():
    tables = budget_tables(MINI)
    eleven, twelve = tables["table11"], tables["table12"]
    assert (eleven.dataset, eleven.model) == ("mini", "NL")
    assert eleven.defenses == ("DiffPure_DDPM", "Ours")
    assert [setting.label for setting in eleven.settings] == ["4/255", "8/255", "16/255"]
    assert twelve.defenses == ("DiffPure_DDIM", "DiffPure_DDPM", "DDIM_Inversion", "Ours")
    assert [(setting.norm, setting.eps) for setting in twelve.settings] == [("l2", 2.0)]
    config = {**MINI, "defenses": {"Ours": MINI["defenses"]["Ours"]}}  # rows the config has
    assert budget_tables(config)["table12"].defenses == ("Ours",)


def test_a_row_that_is_not_a_defense_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text((REPO / "config" / "config.yaml").read_text() + "\neps_sweep: {defenses: [JPEG, Nope]}\n")
    with pytest.raises(ConfigError, match=r"eps_sweep\.defenses.*Nope"):
        load_config(path)


def cell(defense, setting, correct, run_bpda=True, norm=None, steps=10, eps=None, flow=None):
    """Votes of 4 clips of label 0, one draw: the first ``correct`` of them right; the setting as the
    table script reads it, from the predictions file's folder name; ``flow``: the flow term's record."""
    votes = np.array([[0]] * correct + [[1]] * (4 - correct))
    attack = {"attack": {"norm": norm or setting.norm, "steps": steps, "eps": eps or setting.eps}, "gradient": "bpda"}
    if flow is not None:
        attack["attack"]["flow_deviation"] = flow
    slugs = ["pgd", "pgd_bpda"] if run_bpda and defense != "None" else ["pgd"]
    read = AttackSetting.from_slug(setting.slug)
    return BudgetCell(defense, read, np.zeros(4, int), {s: votes for s in slugs}, {s: attack for s in slugs})


def test_table11_layout_counts_votes_and_marks_the_attack_not_run():
    setup = budget_tables(MINI)["table11"]
    cells = []
    for number, setting in enumerate(setup.settings):
        cells += [cell("None", setting, 0), cell("DiffPure_DDPM", setting, 3 - number), cell("Ours", setting, 4, False)]
    table = build_budget_table(setup, cells)
    assert list(table.columns) == ["Dataset", "Model", "Defense", "eps", "w/o Defense", "Robust Acc*", "Robust Acc", "Clips"]
    assert table["Defense"].tolist() == ["DiffPure_DDPM"] * 3 + ["Ours"] * 3  # the paper's order
    assert table["eps"].tolist() == ["4/255", "8/255", "16/255"] * 2
    assert table["w/o Defense"].tolist() == [0.0] * 6 and (table["Clips"] == 4).all()
    assert table["Robust Acc*"].tolist() == [75.0, 50.0, 25.0, 100.0, 100.0, 100.0]
    assert table["Robust Acc"].tolist() == [75.0, 50.0, 25.0] + [NOT_RUN] * 3
    cells[1] = cell("DiffPure_DDPM", setup.settings[0], 1)  # the table is computed from the votes
    assert build_budget_table(setup, cells)["Robust Acc*"].iloc[0] == 25.0


def test_table12_has_no_radius_column_and_refuses_cells_of_other_sizes_or_settings():
    setup = budget_tables(MINI)["table12"]
    (setting,) = setup.settings
    cells = [cell(name, setting, 2) for name in ("None", *setup.defenses)]
    assert list(build_budget_table(setup, cells).columns) == [
        "Dataset", "Model", "Defense", "w/o Defense", "Robust Acc*", "Robust Acc", "Clips"
    ]  # fmt: skip
    short = BudgetCell("Ours", setting, np.zeros(3, int), {"pgd": np.zeros((3, 1), int)}, {})
    with pytest.raises(ValueError, match="clips"):
        build_budget_table(setup, [*cells[:-1], short])
    with pytest.raises(ValueError, match="linf attack"):
        check_cell_attacks(setup, cell("Ours", setting, 2, norm="linf"), "x.h5")
    with pytest.raises(ValueError, match="and 3 steps"):
        check_cell_attacks(setup, cell("Ours", setting, 2, steps=3), "x.h5")
    eleven = budget_tables(MINI)["table11"]
    with pytest.raises(ValueError, match=r"radius 0\.0156863 .* asks linf 8/255"):
        check_cell_attacks(eleven, cell("Ours", eleven.settings[1], 2, eps=4 / 255), "x.h5")


def test_a_radius_no_folder_name_can_hold_is_refused_naming_its_key(tmp_path):
    """Folder names keep 10 significant digits and no exponent: a radius they cannot hold would be
    attacked at another radius than the config's, so it is refused before any job."""

    def mini_with(text: str) -> dict:
        path = tmp_path / "config.yaml"
        path.write_text((REPO / "config" / "config.yaml").read_text() + "\n" + text + "\n")
        return load_config(path)

    with pytest.raises(ConfigError, match=r"'eps_sweep\.eps': eps 1e-08/255 cannot be named"):
        mini_with("eps_sweep: {eps: [4, 0.00000001]}")
    with pytest.raises(ConfigError, match=r"'attack\.eps_l2'"):
        mini_with("attack: {eps_l2: 0.00000001}")
    settings = budget_tables(mini_with("eps_sweep: {eps: [4, 12.5, 12.345678901234]}"))["table11"].settings
    assert [setting.slug.split("_")[0] for setting in settings] == ["linf~4", "linf~12.5", "linf~12.3456789"]


def test_table6_is_table1s_attack_with_a_flow_term_on_the_flow_model_a_videopure_row_runs():
    """mini's Ours uses DIS (no gradient): Table VI attacks the raft_small rule train_flow trains and
    evaluates Ours with it; the paper profile's Ours runs RAFT, which is attacked, so its row is Ours."""
    six = budget_tables(MINI)["table6"]
    trained = {"type": "raft", "size": "small", "weights": "results/models/mini-raft_small.pth", "iterations": 6,
               "input_range": "unit"}  # fmt: skip
    assert six.flow == trained
    assert six.defenses == ("DiffPure_DDIM", "DiffPure_DDPM", "DDIM_Inversion", "Ours_raft_small")
    assert six.variants == {"Ours_raft_small": "Ours"}
    assert six.variant_specs(MINI["defenses"]) == {"Ours_raft_small": {**MINI["defenses"]["Ours"], "flow": trained}}
    (setting,) = six.settings
    assert setting.slug == "linf~4_steps~10_clips~all_flow~1" and not setting.is_table1(MINI["attack"])
    settings = attack_settings(MINI["attack"], COLUMNS_BY_SLUG["pgd"], None, 0, setting, (16, 3, 64, 64), six.flow)
    assert settings == {**attack_settings(MINI["attack"], COLUMNS_BY_SLUG["pgd"], None, 0),
                        "flow_deviation": {"flow": trained, "weight": 1.0}}  # fmt: skip
    with pytest.raises(ValueError, match="has a flow term: name the flow model"):
        attack_settings(MINI["attack"], COLUMNS_BY_SLUG["pgd"], None, 0, setting, (16, 3, 64, 64))
    paper = budget_tables(PAPER)["table6"]
    assert paper.flow == PAPER["defenses"]["Ours"]["flow"] and paper.flow["size"] == "large"
    assert paper.defenses == ("DiffPure_DDIM", "DiffPure_DDPM", "DDIM_Inversion", "Ours") and paper.variants == {}


def test_table6_layout_and_cells_made_without_its_flow_term_are_refused():
    setup = budget_tables(MINI)["table6"]
    (setting,) = setup.settings
    term = {"flow": dict(setup.flow), "weight": 1.0}
    cells = [cell(name, setting, 3, flow=term) for name in ("None", *setup.defenses)]
    table = build_budget_table(setup, cells)
    assert list(table.columns) == ["Dataset", "Model", "Defense", "w/o Defense", "Robust Acc*", "Robust Acc", "Clips"]
    assert table["Defense"].tolist() == list(setup.defenses) and (table["Robust Acc*"] == 75.0).all()
    for cell_ in cells:
        check_cell_attacks(setup, cell_, "x.h5")
    for flow in (None, {**term, "weight": 2.0}, {**term, "flow": {"type": "raft", "weights": "other.pth"}}):
        with pytest.raises(ValueError, match="x.h5: its PGD clips were made with flow term"):
            check_cell_attacks(setup, cell("Ours_raft_small", setting, 2, flow=flow), "x.h5")
    with pytest.raises(ValueError, match="made with flow term"):  # Table XI's cells have none
        eleven = budget_tables(MINI)["table11"]
        check_cell_attacks(eleven, cell("Ours", eleven.settings[0], 2, flow=term), "x.h5")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flow_attack: {flow: {type: dis}}", r"'flow_attack\.flow': flow 'dis' is not differentiable"),
        ("flow_attack: {flow: {type: raft}}", r"'flow_attack\.flow': flow 'raft' needs 'weights'"),
        ("flow_attack: {flow: {type: pwc}}", r"'flow_attack\.flow': unknown flow model 'pwc'"),
        ("flow_attack: {weight: 0}", r"flow_attack\.weight"),
        ("flow_attack: {weight: 0.000000000001}", r"'flow_attack\.weight': flow_weight 1e-12 cannot be named"),
        ("flow_attack: {defenses: [Nope]}", r"flow_attack\.defenses.*Nope"),
    ],
)
def test_a_bad_flow_attack_is_refused_naming_its_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_mini_with(tmp_path, text)


def test_without_a_raft_to_attack_table6_alone_asks_for_one_naming_the_key(tmp_path):
    """A dataset on disk trains no raft_small: with every VideoPure row on classical flow, Table VI has
    nothing to attack. The config stands (Table I and the rest build); Table VI's rule names the key."""
    from tests.helpers import snakemake_cmd

    defenses = {**PAPER["defenses"], "Ours": {**PAPER["defenses"]["Ours"], "flow": {"type": "dis"}}}
    six = budget_tables({**PAPER, "defenses": defenses})["table6"]
    assert six.flow is None and six.defenses == ("DiffPure_DDIM", "DiffPure_DDPM", "DDIM_Inversion", "Ours")
    assert NO_FLOW_TO_ATTACK.format(dataset="ucf101").startswith("results/table6.csv attacks a differentiable flow")
    assert "config key 'flow_attack.flow'" in NO_FLOW_TO_ATTACK
