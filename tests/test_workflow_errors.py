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
