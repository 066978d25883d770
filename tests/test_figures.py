"""The figures' data and setup, without a build (the smoke builds draw them: tests/test_workflow.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import REPO
from videopure.config import load_config
from videopure.evaluation.loading import EvalClips
from videopure.evaluation.settings import AttackSetting
from videopure.plots.defenses import FIG4_COLUMNS, fig4_data, fig4_setup
from videopure.plots.inversions import DATA_COLUMNS, IMAGES, InversionGrid, fig2_data
from videopure.plots.sweeps import fig5a_points, fig5a_setup


def test_fig4_reuses_table1s_attacks_only_at_table1s_steps_on_every_clip():
    config = load_config(REPO / "config" / "config.yaml")
    paper = fig4_setup(config)  # the defaults: the paper's 20 steps on 20 clips
    assert (paper.dataset, paper.model, paper.steps, paper.clips) == ("mini", "NL", 20, 20)
    table1 = AttackSetting.table1(config["attack"])
    assert not table1.at(paper.steps, paper.clips).is_table1(config["attack"])
    config["figures"]["fig4"] = {"steps": None, "clips": None}
    own = fig4_setup(config)
    assert own.steps == table1.steps and table1.at(own.steps, own.clips).is_table1(config["attack"])
    assert not table1.at(table1.steps, 20).is_table1(config["attack"])
    cells = [(name, column.name) for name, column in paper.cells({"None": {"type": "none"}, **config["defenses"]})]
    assert "None" not in [name for name, _ in cells]
    assert ("JPEG", "PGD+BPDA") in cells and ("JPEG", "PGD+DiffAttack") not in cells
    assert ("Ours", "PGD+BPDA") in cells and ("Ours", "PGD+DiffAttack") in cells


def test_fig4_data_is_the_mean_loss_over_clips_per_step():
    traces = {("PGD+BPDA", "JPEG"): np.array([[0.0, 2.0], [1.0, 5.0], [4.0, 4.0]])}
    data = fig4_data(traces)
    assert tuple(data.columns) == FIG4_COLUMNS
    assert data["Loss"].tolist() == [1.0, 3.0, 4.0] and data["Step"].tolist() == [0, 1, 2]
    assert (data["Clips"] == 2).all() and (data["Defense"] == "JPEG").all()


def test_fig2_grid_scales_both_differences_by_one_factor_and_data_names_each_image():
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 5, 3, 4, 4, generator=generator)
    adversarial = (clean + 0.01).clamp(0, 1)
    images = {"x_adv": adversarial, "x_di": adversarial * 0.9, "x_tdi": adversarial * 0.5}
    grid = InversionGrid.from_clips(images)
    assert list(grid.frames) == list(IMAGES) and grid.frames["x_adv"].shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(grid.frames["x_di"], images["x_di"][:, 2].permute(0, 2, 3, 1).numpy())
    # The larger difference (x_tdi) is scaled to 1; x_di's keeps its ratio to it.
    assert grid.differences["|x_tdi - x_adv|"].max() == pytest.approx(1.0)
    largest = np.abs(grid.frames["x_tdi"] - grid.frames["x_adv"]).mean(-1).max()
    assert grid.scale == pytest.approx(1 / largest)
    predictions = {name: np.array([0, 1]) for name in IMAGES}
    data = fig2_data(clean, images, predictions, np.array([1, 1]), ["a.mp4", "b.mp4"], ["left", "right"])
    assert tuple(data.columns) == DATA_COLUMNS and len(data) == 6
    adversarial_rows = data[data["Image"] == "x_adv"]
    assert (adversarial_rows["Mean |x - x_adv|"] == 0).all() and adversarial_rows["Prediction"].tolist() == ["left", "right"]
    expected = (images["x_tdi"] - clean).abs().flatten(1).mean(1).numpy()
    np.testing.assert_allclose(data[data["Image"] == "x_tdi"]["Mean |x - x_clean|"], expected, rtol=1e-6)


def test_a_sample_of_the_evaluation_set_is_class_balanced_and_keeps_each_clip_whole():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    clips = EvalClips(
        torch.arange(6.0).reshape(6, 1, 1, 1, 1), labels, np.array(list("abcdef")), np.arange(10, 16), {}, ("x", "y", "z")
    )
    positions = clips.sample(3, seed=0)
    part = clips.take(positions)
    assert sorted(part.labels.tolist()) == [0, 1, 2]
    assert part.video_ids.tolist() == [chr(ord("a") + int(p)) for p in positions]
    assert part.index.tolist() == [10 + int(p) for p in positions] and part.clips.flatten().tolist() == positions.tolist()
    assert clips.sample(None, seed=0).tolist() == list(range(6))
    assert clips.subset(3, seed=0).video_ids.tolist() == part.video_ids.tolist()


def test_fig5a_attacks_the_bare_recognizer_gray_box_and_the_defense_with_bpda_at_each_step_count():
    config = load_config(REPO / "config" / "config.yaml")
    config["figures"]["fig5a"] = {"steps": [10, 5, 10], "clips": 20}
    setup = fig5a_setup(config, "Ours")
    assert setup.steps == (5, 10) and (setup.dataset, setup.model, setup.clips) == ("mini", "NL", 20)
    assert setup.cells() == [
        ("None", "pgd", 5, 20), ("None", "pgd", 10, 20), ("Ours", "pgd_bpda", 5, 20), ("Ours", "pgd_bpda", 10, 20),
    ]  # fmt: skip
    points = fig5a_points({("pgd", 5): 0.5, ("pgd", 10): 0.25, ("pgd_bpda", 5): 0.125}, setup, clips=8)
    assert points.to_dict("records") == [
        {"steps": 5, "Clips": 8, "Robust Acc*": 50.0, "Robust Acc": 12.5},
        {"steps": 10, "Clips": 8, "Robust Acc*": 25.0, "Robust Acc": "not run"},
    ]
