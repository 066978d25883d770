"""Static checks of the workflow: lint, formatting, log/benchmark on every rule, dry runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers import REPO, snakemake_cmd
from videopure.paths import adaptive_file

# Snakemake recommends conda:/container: on every rule; conda and containers are not reachable
# on the machines this artifact targets, and the project's venv is the environment (docs/architecture.md).
ALLOWED_LINT = "Specify a conda environment or container for each rule."


def test_snakemake_lint_is_clean_but_for_the_documented_exception():
    result = subprocess.run(snakemake_cmd("--lint", "--cores", "1"), cwd=REPO, capture_output=True, text=True)
    text = result.stdout + result.stderr
    lints = re.findall(r"^\s+\* (.+?):\s*$", text, flags=re.M)
    assert result.returncode in (0, 1), text  # 1: lints were found
    assert lints, f"expected Snakemake's lint report, got:\n{text}"
    assert "Traceback" not in text and "Error" not in text, text
    assert set(lints) == {ALLOWED_LINT}, text


def test_snakefmt_check_passes():
    snakefmt = Path(sys.executable).with_name("snakefmt")
    result = subprocess.run(
        [str(snakefmt), "--check", "Snakefile", "workflow/rules"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def rule_blocks() -> dict[str, str]:
    """The text of each rule in workflow/rules/*.smk by name; ``use rule BASE as NAME with:`` blocks
    keep their own text (the base's is under its own name)."""
    blocks = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^(?=(?:use )?rule\s)", path.read_text())[1:]:
            name = re.match(r"(?:use rule\s+\w+\s+as\s+|rule\s+)(\w+)", block).group(1)
            blocks[name] = block
    return blocks


def declares_threads(blocks: dict[str, str], name: str) -> bool:
    """Whether a rule, or the rule it derives from, declares its torch threads as a resource."""
    base = re.match(r"use rule\s+(\w+)", blocks[name])
    return "cpu_threads=PLAN.threads" in blocks[name] or bool(base and declares_threads(blocks, base.group(1)))


def test_every_rule_has_log_and_benchmark():
    blocks = rule_blocks()
    assert {"attack_adaptive", "attack_full_gradient", "table1"} <= set(blocks)
    for name, block in blocks.items():
        for key in ("log:", "benchmark:"):  # a derived rule needs its own: its jobs share the base's wildcards
            assert re.search(rf"(?m)^\s+{key}", block), f"rule {name} has no {key}"


def test_every_rule_passes_its_scripts_config_keys_as_params():
    """Each rule with a script passes params.config = stage_config(<its script>), which the job's
    stage reads its config from (so Snakemake records every key a job can read); a derived rule
    inherits its base's."""
    from videopure.params import STAGE_CONFIG

    scripts = set()
    for name, block in rule_blocks().items():
        script = re.search(r'script:\s*"\.\./scripts/(\w+)\.py"', block)
        if script is None:
            assert block.startswith("use rule") or "script:" not in block, f"rule {name}"
            continue
        scripts.add(script.group(1))
        assert f'config=PLAN.stage_config("{script.group(1)}")' in block, f"rule {name} passes no stage_config"
    on_disk = {path.stem for path in (REPO / "workflow" / "scripts").glob("*.py")}
    assert scripts == on_disk == set(STAGE_CONFIG)


class _JobResources(dict):
    """A job's resources as the SLURM executor plugin reads them: ``.get`` and attributes."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def dry_run_resources(text: str) -> list[tuple[str, _JobResources]]:
    """(rule, resources) of every job in a dry run's printout."""
    jobs = []
    for rule, line in re.findall(r"(?ms)^rule (\w+):\n.*?^\s+resources: (.*?)$", text):
        resources = _JobResources()
        for item in line.split(", "):
            key, value = item.split("=", 1)
            resources[key] = int(value) if value.isdigit() else value
        jobs.append((rule, resources))
    return jobs


def test_slurm_profile_gives_every_network_rule_one_gpu_through_the_plugin(tmp_path):
    """The SLURM profile as Snakemake resolves it for every rule, through the executor plugin's own
    checks: no option it manages in slurm_extra, one GPU for each rule that runs a network."""
    reconstructions = tmp_path / "reconstructions.yaml"  # smoke trains without them: rule reconstruct_frames
    # and reads Table I's attacks for Fig. 4: at other steps, rule attack_setting
    reconstructions.write_text("train: {vae_reconstructions: 0.5}\nfigures: {fig4: {steps: 3}}\n")
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_executor_plugin_slurm.validation import validate_slurm_extra

    targets = ["results/table1.csv", "results/table2.csv", "results/table3.csv", "results/table4.csv", "results/table5.csv", "results/table10.csv", "results/table6.csv", "results/table11.csv", "results/table12.csv", "results/fig5b.png",
               "results/claims.csv", "results/fig2.png", "results/fig3.png", "results/fig4.png", "results/fig5a.png", "results/config.yaml",
               "results/diagnostics/smoke-NL-gradients.json", "results/models/smoke-flow-checks.json",
               "results/models/smoke-graybox-checks.json", "results/models/smoke-ldm-checks.json"]  # every rule
    result = subprocess.run(
        snakemake_cmd("-n", "--forceall", "--workflow-profile", "profiles/slurm", *targets, "--configfile", "config/smoke.yaml",
                      str(reconstructions)),
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    jobs = dry_run_resources(result.stdout)
    blocks = rule_blocks()
    assert {rule for rule, _ in jobs} == set(blocks)
    # The profile says diffusion_adaptive: run, so a login node without a GPU schedules every cell.
    for defense in ("DiffPure_DDPM", "Ours"):
        for column in ("pgd_bpda", "tt_bpda", "eot_bpda", "pgd_diffattack"):
            assert adaptive_file("smoke", "NL", defense, column) in result.stdout, (defense, column)
    cpu_only = {"frames"}  # decord decodes and resizes on the CPU, threaded
    torch_rules = {name for name in blocks if declares_threads(blocks, name)}
    assert {"train_classifier", "attack_full_gradient", "predict"} <= torch_rules
    for rule, resources in jobs:
        job = SimpleNamespace(resources=resources)
        validate_slurm_extra(job)
        assert set_gres_string(job) == (" --gpus=1" if rule in torch_rules - cpu_only else ""), rule
        assert resources["runtime"] == (1440 if rule in {"attack_adaptive", "attack_variant", "attack_full_gradient", "attack_setting", "predict_setting", "predict_transfer", "autoattack"} else 240), rule


@pytest.mark.parametrize("profile", ["config/config.yaml", "config/smoke.yaml"])
def test_dry_run_schedules_the_main_target(profile):
    result = subprocess.run(
        snakemake_cmd("-n", "--cores", "4", "results/table1.csv", "--configfile", profile),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_frames_rule_reads_presampled_clips_laid_out_one_folder_per_class(tmp_path):
    """A presampled dataset without annotation file (video_root/<class>/<clip>/0.png ...) through the
    workflow's own frames rule: the clips come back bit for bit, labelled by their class folder."""
    import cv2
    import numpy as np
    import yaml

    from videopure.cache import read_h5

    frames = np.random.default_rng(3).integers(0, 256, (3, 8, 32, 32, 3), dtype=np.uint8)
    for clip, (label, name) in zip(frames, [("jump", "a"), ("walk", "b"), ("walk", "c")]):
        folder = tmp_path / "clips" / label / name
        folder.mkdir(parents=True)
        for index, frame in enumerate(clip):
            cv2.imwrite(str(folder / f"{index}.png"), frame[..., ::-1])  # OpenCV writes BGR
    overlay = tmp_path / "clips.yaml"
    overlay.write_text(yaml.safe_dump({"datasets": {"clips": {
        "source": "presampled", "video_root": str(tmp_path / "clips"), "eval_split": "test",
        "frame_files": {"template": "{}.png", "start_index": 0},
        "clip": {"num_frames": 8, "frame_interval": 1, "short_side": 32, "crop": 32},
        "classifiers": {"NL": {"config": "config/models/smoke_nl.py"}},
    }}}))  # fmt: skip
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config").symlink_to(REPO / "config")
    result = subprocess.run(
        snakemake_cmd("--directory", str(workdir), "--cores", "1", "results/frames/clips/test.h5",
                      "--configfile", str(REPO / "config" / "smoke.yaml"), str(overlay)),  # fmt: skip
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stored = read_h5(workdir / "results" / "frames" / "clips" / "test.h5")
    np.testing.assert_array_equal(stored["frames"], frames)
    assert stored["video_ids"].tolist() == ["jump/a", "walk/b", "walk/c"] and stored["labels"].tolist() == [0, 1, 1]
