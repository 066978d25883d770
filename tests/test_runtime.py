"""The job runtime: a job reads only the config keys its rule records, and a job whose Snakemake
process is killed stops instead of running on as an orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

JOB = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from videopure.runtime import stop_with_parent

    stop_with_parent(interval=0.1, grace=20)
    try:
        Path(sys.argv[1]).write_text("running")
        while True:
            time.sleep(0.05)
    finally:  # what an atomic write's cleanup would do
        Path(sys.argv[1]).write_text("cleaned up")
    """
)

PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    job = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    print(job.pid, flush=True)
    time.sleep(600)
    """
)


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_job_stops_and_cleans_up_when_its_parent_is_killed(tmp_path):
    """Started as a background job of a non-interactive shell starts it (SIGINT ignored, inherited),
    as CI and nohup do."""
    marker = tmp_path / "job.txt"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, JOB, str(marker)], stdout=subprocess.PIPE, text=True, preexec_fn=ignore_sigint
    )
    job = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 120  # importing torch on a busy machine
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.read_text() == "running"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while _alive(job) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(job), "the job outlived its killed parent"
        assert marker.read_text() == "cleaned up"  # stopped by SystemExit: finally blocks ran
    finally:
        if _alive(job):
            os.kill(job, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed and not yet reaped by init, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


SNAKEFILE = """
from videopure.params import declared_config

rule declared:
    output: "declared.txt"
    log: "declared.log"
    params: config=declared_config(config, ["attack"]), key="attack.steps"
    script: "read_key.py"

rule undeclared:
    output: "undeclared.txt"
    log: "undeclared.log"
    params: config=declared_config(config, ["attack"]), key="evaluation.max_clips"
    script: "read_key.py"
"""

READ_KEY = """
from pathlib import Path
from videopure.runtime import stage

with stage(snakemake) as job:
    value = job.config
    for part in job.params.key.split("."):
        value = value[part]
    Path(job.output[0]).write_text(repr(value))
"""


def test_a_job_reads_the_config_keys_its_rule_declares_and_fails_on_another(tmp_path):
    """Through real Snakemake jobs: a key the rule passes in params.config is read; another key,
    which Snakemake would not record, stops the job with the key, the rule and the fix named."""
    from tests.helpers import REPO

    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "read_key.py").write_text(READ_KEY)
    command = [
        str(Path(sys.executable).with_name("snakemake")), "--cores", "2", "--keep-going",
        "declared.txt", "undeclared.txt", "--configfile", str(REPO / "config" / "smoke.yaml"),
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert (tmp_path / "declared.txt").read_text() == "2"
    assert not (tmp_path / "undeclared.txt").exists()
    log = (tmp_path / "undeclared.log").read_text()
    assert "rule undeclared reads config key 'evaluation', which its params do not declare" in log
    assert "videopure.params.STAGE_CONFIG" in log
