"""The workflow refuses bad input before any compute (each test a Snakemake or benchmark run of its
own; the smoke builds are in tests/test_workflow.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO, make_workdir, run_snakemake, snakemake_cmd

pytestmark = pytest.mark.workflow
TARGET = "results/table1.csv"


def test_training_benchmark_names_the_missing_train_split(tmp_path):
    workdir = make_workdir(tmp_path / "empty")
    script = REPO / "benchmarks" / "mini_training.py"
    result = subprocess.run(
        [sys.executable, str(script), "--configfile", "config/smoke.yaml"], cwd=workdir, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "results/frames/smoke/train.h5 does not exist" in result.stderr and "snakemake" in result.stderr


def test_bad_config_fails_before_any_compute(tmp_path):
    workdir = make_workdir(tmp_path / "bad")
    result = run_snakemake(workdir, TARGET, "--config", "threads=0")
    assert result.returncode != 0
    assert "threads" in result.stdout + result.stderr
    assert not (workdir / "results").exists() and not (workdir / "data").exists()


def test_a_yaml_syntax_error_in_the_default_config_names_the_file_and_line(tmp_path):
    """Snakemake's own message for a bad config file names neither; the default config (the one a
    user edits for `make run`) is read first. (A bad --configfile is parsed by Snakemake before the
    workflow runs: docs/usage.md says so.)"""
    workdir = tmp_path / "edited"
    (workdir / "config").mkdir(parents=True)
    text = (REPO / "config" / "config.yaml").read_text().replace("seed: 0\n", "seed: [0\n")
    (workdir / "config" / "config.yaml").write_text(text)
    result = subprocess.run(snakemake_cmd("--directory", str(workdir), "-n"), capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config file 'config/config.yaml' is not valid YAML, fix it there" in output and "line 6" in output


def test_paper_profile_without_downloads_names_each_missing_path(tmp_path):
    workdir = make_workdir(tmp_path / "paper")
    result = run_snakemake(workdir, TARGET, profile="config/paper.yaml")
    text = result.stdout + result.stderr
    assert result.returncode != 0
    for key in ("datasets.ucf101.video_root", "datasets.k400.annotations", "datasets.k400.classifiers.NL.checkpoint"):
        assert key in text
    assert not (workdir / "results").exists()


def test_table6_without_a_flow_model_to_attack_names_the_key_and_the_rest_still_builds(tmp_path):
    """A dataset on disk trains no raft_small, and its Ours uses DIS: Table VI has no differentiable
    flow model to attack. Asking for it names flow_attack.flow before any job; Table I still plans."""
    import cv2
    import numpy as np
    import yaml

    for name in ("a", "b"):
        folder = tmp_path / "clips" / "walk" / name
        folder.mkdir(parents=True)
        for index in range(8):
            cv2.imwrite(str(folder / f"{index}.png"), np.zeros((32, 32, 3), np.uint8))
    overlay = tmp_path / "clips.yaml"
    overlay.write_text(yaml.safe_dump({"ablations": {"dataset": "clips"}, "datasets": {"clips": {
        "source": "presampled", "video_root": str(tmp_path / "clips"), "eval_split": "test",
        "frame_files": {"template": "{}.png", "start_index": 0},
        "clip": {"num_frames": 8, "frame_interval": 1, "short_side": 32, "crop": 32},
        "classifiers": {"NL": {"config": "config/models/smoke_nl.py"}},
    }}}))  # fmt: skip
    workdir = make_workdir(tmp_path / "run")
    configs = ("--configfile", str(REPO / "config" / "smoke.yaml"), str(overlay))
    for target, planned in (("results/table6.csv", False), (TARGET, True)):
        result = subprocess.run(snakemake_cmd("--directory", str(workdir), "-n", target, *configs),
                                capture_output=True, text=True)  # fmt: skip
        output = result.stdout + result.stderr
        assert (result.returncode == 0) == planned, output[-3000:]
        if not planned:
            assert "results/table6.csv attacks a differentiable flow model" in output
            assert "config key 'flow_attack.flow' is null" in output
    assert not (workdir / "results").exists()
