"""The smoke profile's first stages, built on their own: a kill -9 and the documented rerun, the same
seed twice, a replaced video, a new seed, the training benchmark, a recognizer trained on VAE
reconstructions. Their builds (up to the clean logits and the diffusion model) are independent of
tests/test_workflow.py's, so pytest-xdist runs them on the other worker beside it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import REPO, make_workdir, run_snakemake, scheduled_rules, snakemake_cmd
from videopure.cache import read_attrs, read_h5

pytestmark = pytest.mark.workflow
CLEAN = "results/clean/smoke/NL.h5"


@dataclass(frozen=True)
class KilledRun:
    """A build whose Snakemake process was killed with SIGKILL as its first job started, then run
    again as docs/usage.md says (`snakemake --unlock`, then the same command)."""

    workdir: Path
    job_outlived_snakemake: bool
    left_behind: list[str]  # files the killed run left under data/ and results/


def _children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid`` and their command lines (from /proc)."""
    children = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if entry.name.isdigit() and stat[0] != "Z" and int(stat[1]) == pid:
                children[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
    return children


@pytest.fixture(scope="session")
def killed_rerun(tmp_path_factory) -> KilledRun:
    """The same config in a second directory: videos, frames, training and logits from scratch, with
    a kill -9 of Snakemake at its first job, while that job still imports (the earliest moment)."""
    import signal
    import time

    workdir = make_workdir(tmp_path_factory.mktemp("smoke_b"))
    smoke = str(REPO / "config" / "smoke.yaml")
    command = snakemake_cmd("--directory", str(workdir), "--cores", "2", CLEAN, "--configfile", smoke)
    snakemake = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, job = time.monotonic() + 120, None
    while job is None and time.monotonic() < deadline and snakemake.poll() is None:
        job = next((pid for pid, line in _children(snakemake.pid).items() if "generate_videos" in line), None)
        time.sleep(0.05)
    assert job is not None, "the generate_videos job never started"
    os.kill(snakemake.pid, signal.SIGKILL)
    snakemake.wait()
    deadline = time.monotonic() + 45  # the job's watcher polls every 2 s, then allows 30 s to clean up
    while Path(f"/proc/{job}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    outlived = Path(f"/proc/{job}").exists()
    if outlived:
        os.kill(job, signal.SIGKILL)
    left = sorted(str(path.relative_to(workdir)) for top in ("data", "results") for path in (workdir / top).rglob("*") if path.is_file())
    for args in (("--unlock",), ()):
        result = subprocess.run(command + list(args), capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return KilledRun(workdir, outlived, left)


@pytest.fixture(scope="session")
def smoke_rerun(killed_rerun) -> Path:
    return killed_rerun.workdir


@pytest.fixture(scope="session")
def clean_build(tmp_path_factory) -> Path:
    """The smoke profile from its videos to the clean logits (what the killed run rebuilds) and the
    diffusion model: the reference build of this file, beside tests/test_workflow.py's."""
    workdir = make_workdir(tmp_path_factory.mktemp("clean"))
    result = run_snakemake(workdir, CLEAN, "results/models/smoke-ldm")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workdir


def test_kill_9_of_snakemake_stops_its_job_and_the_documented_rerun_gives_identical_bytes(clean_build, killed_rerun):
    """Criterion: kill -9 of the Snakemake process alone while its first job starts, then docs/usage.md's
    remedy (--unlock, the same command): the job did not outlive it, left no file, and the rerun's
    clean logits are the first build's bytes (built from scratch in another directory)."""
    assert not killed_rerun.job_outlived_snakemake, "the job outlived the Snakemake process that started it"
    assert killed_rerun.left_behind == []
    assert (killed_rerun.workdir / CLEAN).read_bytes() == (clean_build / CLEAN).read_bytes()


def test_a_replaced_video_of_a_local_dataset_reruns_its_frames(clean_build, tmp_path):
    """Scope: videos on disk (here smoke's, read as a local UCF-101) are inputs of their frames
    job, so a replaced video reruns it (what the frames file records of each video's content:
    tests/test_frames.py)."""
    local = tmp_path / "ucf"
    for folder in ("videos", "annotations"):
        shutil.copytree(clean_build / "data" / "smoke" / folder, local / folder)
    extra = tmp_path / "local.yaml"
    extra.write_text(yaml.safe_dump({"datasets": {"local": {
        "source": "ucf101", "video_root": str(local / "videos"), "annotations": str(local / "annotations"),
        "eval_split": "test", "clip": {"num_frames": 8, "frame_interval": 2, "short_side": 32, "crop": 32},
        "classifiers": {"NL": {"config": "config/models/smoke_nl.py"}},
    }}}))
    workdir = make_workdir(tmp_path / "run")
    target = "results/frames/local/test.h5"
    listed = [line.split()[0] for line in (local / "annotations" / "testlist01.txt").read_text().splitlines()]
    planned = run_snakemake(workdir, "-n", target, extra_config=extra)
    inputs = re.search(r"(?m)^\s+input: (.*)$", planned.stdout).group(1).split(", ")
    assert {str(local / "videos" / video) for video in listed} <= set(inputs)
    # Stand-in for a built frames file (its content is not read here; test_frames.py checks the
    # identities a real one records), newer than every video: nothing to do until one is replaced.
    (workdir / target).parent.mkdir(parents=True)
    shutil.copyfile(clean_build / "results" / "frames" / "smoke" / "test.h5", workdir / target)
    again = run_snakemake(workdir, "-n", target, extra_config=extra)
    assert "Nothing to be done" in again.stdout + again.stderr
    shutil.copyfile(local / "videos" / listed[1], local / "videos" / listed[0])
    assert scheduled_rules(run_snakemake(workdir, "-n", target, extra_config=extra)) == {"frames"}


def test_same_seed_same_frames_and_logits(clean_build, smoke_rerun):
    """Same seed, same machine: identical frames, and retraining gives identical logits."""
    for split in ("train", "val", "test"):
        a = read_h5(clean_build / f"results/frames/smoke/{split}.h5")
        b = read_h5(smoke_rerun / f"results/frames/smoke/{split}.h5")
        for key in ("frames", "labels", "video_ids"):
            np.testing.assert_array_equal(a[key], b[key])
    a = read_h5(clean_build / "results/clean/smoke/NL.h5")
    b = read_h5(smoke_rerun / "results/clean/smoke/NL.h5")
    np.testing.assert_array_equal(a["logits"], b["logits"])
    # Every cache of the chain built twice (ground-truth flow, frames, clean logits) has identical
    # attributes: parameters, upstream identities and its own identity, so caches are reusable.
    rebuilt = sorted(path.relative_to(smoke_rerun) for path in smoke_rerun.glob("*/**/*.h5") if ".snakemake" not in path.parts)
    assert len(rebuilt) >= 7, rebuilt  # 3 flow files, 3 frame splits, the clean logits
    for path in rebuilt:
        assert read_attrs(smoke_rerun / path) == read_attrs(clean_build / path), path
    checkpoint = "results/models/smoke-NL/checkpoint.pth"
    assert (smoke_rerun / checkpoint).read_bytes() == (clean_build / checkpoint).read_bytes()


def test_changed_seed_reruns_generation_and_training(clean_build):
    result = run_snakemake(clean_build, "-n", CLEAN, "--config", "seed=1")
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "generate_videos" in text and "train_classifier" in text


def test_training_benchmark_times_what_the_rules_train(clean_build, tmp_path):
    out = tmp_path / "training.json"
    script = REPO / "benchmarks" / "mini_training.py"
    command = [sys.executable, str(script), "--configfile", str(REPO / "config" / "smoke.yaml"), "--out", str(out)]
    result = subprocess.run(command, cwd=clean_build, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["dataset"] == "smoke" and report["budget_seconds"] == 1200
    assert report["total_seconds"] == pytest.approx(report["vae_seconds"] + report["unet_seconds"])
    assert report["within_budget"] == (report["total_seconds"] <= 1200) and "cores" in report["machine"]
    # Same settings, seed and threads as rules train_vae and train_unet: the same training, loss for loss.
    models = clean_build / "results" / "models"
    rule_vae = json.loads((models / "smoke-vae" / "metrics.json").read_text())
    rule_unet = json.loads((models / "smoke-ldm" / "metrics.json").read_text())
    assert report["threads"] == rule_vae["threads"] == rule_unet["threads"]
    assert report["vae"]["final_losses"] == rule_vae["final_losses"]
    assert report["unet"]["final_loss"] == rule_unet["final_loss"]
    assert report["vae"]["scaling_factor"] == rule_vae["scaling_factor"]


def test_the_recognizer_trains_on_vae_reconstructions_when_asked(clean_build, tmp_path):
    """train.vae_reconstructions > 0 (mini's 0.5) puts rule reconstruct_frames between the VAE and
    the recognizer; smoke's own recognizer trains without them. (One epoch: the wiring.)"""
    workdir = tmp_path / "copy"
    shutil.copytree(clean_build, workdir, symlinks=True)
    extra = tmp_path / "reconstructions.yaml"
    extra.write_text("train: {vae_reconstructions: 0.5, epochs: 1}\n")
    checkpoint = "results/models/smoke-NL/checkpoint.pth"
    assert scheduled_rules(run_snakemake(workdir, "-n", checkpoint, extra_config=extra)) == {"reconstruct_frames", "train_classifier"}
    result = run_snakemake(workdir, checkpoint, extra_config=extra)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert list((workdir / "logs" / "reconstruct_frames").rglob("*.log"))
    assert list((workdir / "results" / "benchmarks" / "reconstruct_frames").rglob("*.tsv"))
    metrics = json.loads((workdir / "results" / "models" / "smoke-NL" / "metrics.json").read_text())
    assert metrics["vae_reconstructions"] == 0.5
    reconstructed = read_h5(workdir / "results/frames/smoke/train-vae-reconstructed.h5")
    train = read_h5(workdir / "results/frames/smoke/train.h5")
    assert reconstructed["frames"].shape == train["frames"].shape and reconstructed.upstream["frames"] == train.identity
    assert not np.array_equal(reconstructed["frames"], train["frames"])
