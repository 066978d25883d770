"""What every workflow script does first: validated config, log file, threads, seed, device."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from videopure.config import ConfigError, validate_config
from videopure.machine import machine_description, resolve_device, seed_everything
from videopure.params import restrict_config

log = logging.getLogger("videopure")


@dataclass(frozen=True)
class StageContext:
    """What a stage needs from its Snakemake job: its files, parameters and wildcards as Snakemake
    gives them, the config keys it declares, its threads and device."""

    config: Mapping[str, Any]
    """The config keys the rule declares (its ``params.config``); reading another is an error."""
    threads: int
    device: torch.device
    input: Any
    output: Any
    params: Any
    wildcards: Any


def software_versions() -> dict[str, str]:
    """Python, the platform, and the installed version of every package the project pins (its
    requirements files, read here so that the list has one home)."""
    from importlib.metadata import PackageNotFoundError, version

    from videopure.config import REPO_ROOT

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for requirements in ("requirements.txt", "requirements-nodeps.txt"):
        for line in (REPO_ROOT / requirements).read_text().splitlines():
            name = line.split("#")[0].split("==")[0].strip()
            if name:
                try:
                    versions[name] = version(name)
                except PackageNotFoundError:
                    versions[name] = "not installed"
    return versions


def stop_with_parent(interval: float = 2.0, grace: float = 30.0) -> threading.Thread:
    """End this process when the one that started it dies (Snakemake killed with ``kill -9``), so
    that no orphaned job keeps writing beside a rerun. Call it from the main thread.

    A daemon thread polls the parent process id (a dead parent's children are re-parented) and then
    sends this process SIGTERM, which from here on raises ``SystemExit`` in the main thread, so that
    atomic writes remove their temporary files (so does Snakemake's own SIGTERM when it is
    cancelled); the process exits anyway after ``grace`` seconds. Not SIGINT: a job started in the
    background of a non-interactive shell ignores it. Polling rather than Linux's parent-death
    signal: that fires when the thread that forked the job ends, and Snakemake starts jobs from
    worker threads.
    """
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _exit_on_signal)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.error("the process that started this job (pid %d) has gone: stopping the job", parent)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os._exit(1)

    watcher = threading.Thread(target=watch, name="stop_with_parent", daemon=True)
    watcher.start()
    return watcher


def _orphaned() -> bool:
    """Whether the Snakemake process that started this job died before the job got here (while it
    imported): the job's parent is then no longer a Snakemake process, and stop_with_parent, which
    watches the current parent, would never fire. False where /proc cannot tell."""
    try:
        return b"snakemake" not in Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
    except OSError:
        return False


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def stage(snakemake) -> Iterator[StageContext]:
    """Run a workflow script: logging and tqdm to the rule's log file, torch threads = rule threads.

    Usage in ``workflow/scripts/*.py``::

        with stage(snakemake) as job:  # noqa: F821 (Snakemake defines ``snakemake`` in the script)
            frames = load_frames(job.input.frames, ...)
    """
    log_path = snakemake.log[0]
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w") as log_file, contextlib.redirect_stderr(log_file):
        handler = logging.StreamHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            if _orphaned():
                raise SystemExit(f"rule {snakemake.rule}: the Snakemake process that started this job has gone")
            stop_with_parent()
            config = validate_config(snakemake.config)
            declared = snakemake.params.get("config")
            if declared is None:
                raise ConfigError(
                    f"rule {snakemake.rule} passes no params.config: give it config=PLAN.stage_config(<script>) "
                    "(videopure.plan), so its job sees only the config keys Snakemake records"
                )
            threads = int(snakemake.threads)
            torch.set_num_threads(threads)
            seed_everything(config["seed"])
            job = StageContext(
                config=restrict_config(config, declared, snakemake.rule),
                threads=threads,
                device=resolve_device(config["device"]),
                input=snakemake.input,
                output=snakemake.output,
                params=snakemake.params,
                wildcards=snakemake.wildcards,
            )
            log.info("rule %s on %s; threads=%d device=%s", snakemake.rule, machine_description(), threads, job.device)
            log.info("inputs: %s", list(snakemake.input))
            yield job
            log.info("outputs: %s", list(snakemake.output))
        except BaseException:
            log.exception("rule %s failed", snakemake.rule)
            raise
        finally:
            root.removeHandler(handler)
            sys.stderr.flush()
