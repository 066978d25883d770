"""End to end on the smoke profile: real videos, real recognizers, real Snakemake."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import REPO, make_workdir, run_snakemake, scheduled_rules, snakemake_cmd
from videopure.cache import read_attrs, read_h5

pytestmark = pytest.mark.workflow
TARGET = "results/table1.csv"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    workdir = make_workdir(tmp_path_factory.mktemp("smoke_a"))
    result = run_snakemake(workdir, TARGET)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workdir


FILL = ("--config", "diffusion_adaptive=run")
"""What the fill command adds: every later run in a filled directory passes it too."""


def fill_command(table_markdown: Path) -> list[str]:
    """The command the note under a table prints to fill its cells marked "not run", as arguments."""
    lines = table_markdown.read_text().splitlines()
    command = lines[lines.index("Fill them (every other cell is reused) with:") + 2].strip()
    return shlex.split(command)


@pytest.fixture(scope="session")
def smoke_filled(smoke_run, tmp_path_factory) -> Path:
    """A copy of the smoke run after the command its Table I prints to fill the cells it did not run."""
    workdir = tmp_path_factory.mktemp("smoke_filled") / "run"
    shutil.copytree(smoke_run, workdir, symlinks=True)
    command = fill_command(smoke_run / "results" / "table1.md")
    assert command[0] == "snakemake" and command[-2:] == list(FILL), command
    # As printed, from another directory, but on the copy: this interpreter's snakemake, the copy's path.
    command[0] = snakemake_cmd()[0]
    command[command.index("--directory") + 1] = str(workdir)
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path_factory.mktemp("elsewhere"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workdir


CLASSICAL_ROWS = ["None", "JPEG", "WN", "TemporalShuffle"]
DIFFUSION_ROWS = ["DiffPure_DDPM", "DiffPure_DDIM", "DDIM_Inversion", "Ours"]
DEFENSE_ROWS = CLASSICAL_ROWS + DIFFUSION_ROWS
ATTACK_COLUMNS = ["PGD", "PGD+BPDA", "TT", "TT+BPDA", "EOT+BPDA"]


ADAPTIVE_THROUGH_DIFFUSION = ["PGD+BPDA", "TT+BPDA", "EOT+BPDA", "PGD+DiffAttack"]


def assert_clip_shares(values, clips: int) -> None:
    """Each accuracy (in %) is a share of the evaluation set: 100 k / clips, k a whole number of clips,
    to the table's one decimal. (An average over columns, or a mis-scaled number, fails.)"""
    for value in np.asarray(values, dtype=float).ravel():
        k = round(value * clips / 100)
        assert 0 <= k <= clips and value == pytest.approx(100 * k / clips, abs=0.05), (value, clips)


def test_table1_on_a_cpu_marks_the_adaptive_cells_through_diffusion_and_names_the_fill_command(smoke_run):
    """device: cpu resolves diffusion_adaptive 'auto' to skip: every other cell is measured, those are
    marked, said under the table with the command that fills them, and left out of Average."""
    table = pd.read_csv(smoke_run / TARGET, dtype=str, keep_default_na=False)
    assert list(table["Defense"]) == DEFENSE_ROWS
    diffusion = table[table["Defense"].isin(DIFFUSION_ROWS)]
    assert (diffusion[ADAPTIVE_THROUGH_DIFFUSION] == "not run").all().all()
    assert (table[~table["Defense"].isin(DIFFUSION_ROWS)][ADAPTIVE_THROUGH_DIFFUSION] != "not run").all().all()
    assert_clip_shares(diffusion[["None", "PGD", "TT"]], int(table["Clips"].iloc[0]))
    assert (diffusion["Average over"] == "PGD TT").all()
    for row in diffusion.itertuples():
        assert float(row.Average) == pytest.approx((float(row.PGD) + float(row.TT)) / 2, abs=0.051)
    assert (table[table["Defense"] == "JPEG"]["Average over"] == "PGD PGD+BPDA TT TT+BPDA EOT+BPDA").all()
    markdown = (smoke_run / "results" / "table1.md").read_text()
    assert "config 'diffusion_adaptive' is 'auto' and config 'device' is 'cpu'" in markdown
    for defense in DIFFUSION_ROWS:
        assert f"- smoke/NL/{defense}: PGD+BPDA, TT+BPDA, EOT+BPDA, PGD+DiffAttack" in markdown
    assert fill_command(smoke_run / "results" / "table1.md")[1:] == [
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(smoke_run),
        "--cores", "4", TARGET, "--configfile", str(REPO / "config" / "smoke.yaml"), *FILL
    ]
    settings = json.loads((smoke_run / "results" / "table1_settings.json").read_text())
    assert settings["diffusion_adaptive"]["run"] is False
    not_run = {(c["defense"], c["column"]) for c in settings["cells"] if c["status"] == "not run"}
    assert not_run == {(defense, column) for defense in DIFFUSION_ROWS for column in ADAPTIVE_THROUGH_DIFFUSION}
    assert all("accuracy" not in c and c["fill_command"] for c in settings["cells"] if c["status"] == "not run")
    # Nothing was attacked through a diffusion defense.
    attacked = {path.parent.name for path in (smoke_run / "results" / "attacks" / "smoke" / "NL" / "adaptive").glob("*/*.h5")}
    assert attacked and not attacked & set(DIFFUSION_ROWS), attacked


def test_the_fill_command_fills_exactly_the_cells_marked_not_run(smoke_run, smoke_filled, tmp_path):
    before = pd.read_csv(smoke_run / TARGET, dtype=str, keep_default_na=False)
    after = pd.read_csv(smoke_filled / TARGET, dtype=str, keep_default_na=False)
    assert before.shape == after.shape and "not run" not in after.to_numpy()
    marked = before == "not run"
    assert marked.to_numpy().sum() == len(DIFFUSION_ROWS) * len(ADAPTIVE_THROUGH_DIFFUSION)
    averages = before["Defense"].isin(DIFFUSION_ROWS).to_numpy()[:, None] & before.columns.isin(["Average", "Average over"])
    unchanged = ~marked.to_numpy() & ~averages
    assert (before.to_numpy()[unchanged] == after.to_numpy()[unchanged]).all()  # measured cells reused, bit for bit
    assert (after[before["Defense"].isin(DIFFUSION_ROWS)]["Average over"] == "PGD PGD+BPDA TT TT+BPDA EOT+BPDA PGD+DiffAttack").all()
    assert "not run" not in (smoke_filled / "results" / "table1.md").read_text()
    rerun = run_snakemake(smoke_filled, "-n", TARGET, *FILL)
    assert rerun.returncode == 0 and "Nothing to be done" in rerun.stdout + rerun.stderr
    # A later run on the CPU (diffusion_adaptive: auto, no GPU) schedules no attack and no prediction
    # and keeps the cells the fill measured: only the table, whose note settings changed, is remade.
    assert scheduled_rules(run_snakemake(smoke_filled, "-n", TARGET)) == {"table1"}
    workdir = tmp_path / "plain"
    shutil.copytree(smoke_filled, workdir, symlinks=True)
    result = run_snakemake(workdir, TARGET)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    pd.testing.assert_frame_equal(pd.read_csv(workdir / TARGET, dtype=str, keep_default_na=False), after)


def test_table1_has_every_row_and_column_measured(smoke_filled):
    smoke_run = smoke_filled
    table = pd.read_csv(smoke_run / TARGET, dtype=str, keep_default_na=False)
    assert list(table["Model"]) == ["NL"] * len(DEFENSE_ROWS)
    assert list(table["Defense"]) == DEFENSE_ROWS and set(table["Dataset"]) == {"smoke"}
    undefended = table[table["Defense"] == "None"]
    assert (undefended["None"] == "100.0").all()  # the evaluation set is what every recognizer gets right
    assert (undefended[["PGD+BPDA", "TT+BPDA", "EOT+BPDA", "PGD+DiffAttack", "Average"]] == "-").all().all()
    defended = table[table["Defense"] != "None"]
    assert (table[table["Defense"].isin(CLASSICAL_ROWS)]["PGD+DiffAttack"] == "-").all()
    clips = int(table["Clips"].iloc[0])
    assert clips == 4 and (table["Clips"].astype(int) == clips).all()  # smoke's evaluation.max_clips
    assert_clip_shares(defended[["None", *ATTACK_COLUMNS]], clips)  # every cell measured
    assert_clip_shares(table[table["Defense"].isin(DIFFUSION_ROWS)]["PGD+DiffAttack"], clips)
    settings = json.loads((smoke_run / "results" / "table1_settings.json").read_text())
    cells = {(c["model"], c["defense"], c["column"]): c for c in settings["cells"]}
    assert cells[("NL", "JPEG", "PGD+BPDA")]["gradient"] == "bpda"
    assert cells[("NL", "WN", "PGD+BPDA")]["gradient"] == "exact"
    assert cells[("NL", "WN", "EOT+BPDA")]["attack"]["eot_samples"] == 2
    assert cells[("NL", "JPEG", "EOT+BPDA")]["attack"]["eot_samples"] == 1
    # The diffusion purifiers are differentiable, but Table I's +BPDA columns use BPDA, as the paper.
    assert cells[("NL", "DiffPure_DDPM", "PGD+BPDA")]["gradient"] == "bpda"
    assert cells[("NL", "DiffPure_DDPM", "EOT+BPDA")]["attack"]["eot_samples"] == 2
    assert cells[("NL", "DDIM_Inversion", "EOT+BPDA")]["attack"]["eot_samples"] == 1
    # VideoPure: BPDA over its t* + 1 candidates, deterministic (no EOT draws).
    assert cells[("NL", "Ours", "PGD+BPDA")]["gradient"] == "bpda"
    assert cells[("NL", "Ours", "EOT+BPDA")]["attack"]["eot_samples"] == 1
    assert cells[("NL", "Ours", "PGD")]["defense_settings"]["tstar"] == 2
    # PGD+DiffAttack: the full gradient through every UNet call, one draw per step.
    for defense in DIFFUSION_ROWS:
        assert cells[("NL", defense, "PGD+DiffAttack")]["gradient"] == "exact"
        assert cells[("NL", defense, "PGD+DiffAttack")]["attack"]["eot_samples"] == 1
    assert ("NL", "JPEG", "PGD+DiffAttack") not in cells
    per_clip = pd.read_csv(smoke_run / "results" / "table1_clips.csv")
    # None: clean + 2 gray-box; classical rows + 3 adaptive; diffusion rows + PGD+DiffAttack
    assert len(per_clip) == clips * (3 + (len(CLASSICAL_ROWS) - 1) * 6 + len(DIFFUSION_ROWS) * 7)
    clean = pd.read_csv(smoke_run / "results" / "clean_accuracy.csv")
    assert (clean["evaluation_set"] <= clean["clips"]).all() and (clean["clips"] == 16).all()
    assert (smoke_run / "results" / "table1.md").read_text().startswith("**Table I")


def test_attacks_fool_the_undefended_recognizer_and_the_exact_gradient_beats_bpda(smoke_filled):
    """The numbers a broken attack or a broken gradient would change: PGD and TT take the undefended
    recognizer below its clean accuracy (PGD to at most 25 %), climbing its loss on every clip; no
    defense scores above its clean accuracy by more than one clip; through each diffusion
    purifier the full gradient (PGD+DiffAttack) climbs higher than BPDA from the same start and
    leaves no more clips right (smoke measured 75 % under PGD+BPDA and 0-50 % under PGD+DiffAttack)."""
    table = pd.read_csv(smoke_filled / TARGET, dtype=str, keep_default_na=False).set_index("Defense")
    clean = float(table.loc["None", "None"])
    assert float(table.loc["None", "PGD"]) <= 25.0 and float(table.loc["None", "TT"]) < clean
    # No defense scores above its own clean accuracy by more than one clip under any attack.
    one_clip = 100 / int(table["Clips"].iloc[0])
    for defense, row in table.iterrows():
        measured = [float(row[column]) for column in [*ATTACK_COLUMNS, "PGD+DiffAttack"] if row[column] != "-"]
        assert max(measured) <= float(row["None"]) + one_clip + 0.05, (defense, row.to_dict())
    attacks = smoke_filled / "results" / "attacks" / "smoke" / "NL"
    for column in ("pgd", "tt"):
        trace = read_h5(attacks / "graybox" / f"{column}.h5")["loss_trace"]
        assert trace.shape[0] == 3 and (trace[-1] > trace[0]).all(), (column, trace)  # smoke: 2 steps
    for defense in DIFFUSION_ROWS:
        bpda = read_h5(attacks / "adaptive" / defense / "pgd_bpda.h5")["loss_trace"]
        exact = read_h5(attacks / "adaptive" / defense / "pgd_diffattack.h5")["loss_trace"]
        np.testing.assert_allclose(exact[0], bpda[0], rtol=1e-5, err_msg=defense)  # the same random start
        assert exact[-1].mean() > exact[0].mean() and exact[-1].mean() > bpda[-1].mean(), (defense, bpda, exact)
        assert float(table.loc[defense, "PGD+DiffAttack"]) <= float(table.loc[defense, "PGD+BPDA"]), defense


def test_every_attack_file_keeps_to_the_configs_eps_ball(smoke_filled):
    """Checked here, not by the readers: every adversarial clip of every attack file is in [0, 1],
    within the config's ε (l∞) of its clean clip, and moved from it."""
    from videopure.config import load_config

    eps = load_config(REPO / "config" / "smoke.yaml")["attack"]["eps"]
    frames = read_h5(smoke_filled / "results" / "frames" / "smoke" / "test.h5")
    evalset = read_h5(smoke_filled / "results" / "evalset" / "smoke.h5")
    clean = frames["frames"][evalset["index"]].astype(np.float64).transpose(0, 1, 4, 2, 3) / 255  # N, T, C, H, W
    files = sorted((smoke_filled / "results" / "attacks").rglob("*.h5"))
    assert len(files) == 2 + 3 * (len(CLASSICAL_ROWS) - 1) + 4 * len(DIFFUSION_ROWS)
    for path in files:
        record = read_h5(path, keys=["clips", "video_ids"])
        np.testing.assert_array_equal(record["video_ids"], evalset["video_ids"])
        adversarial = record["clips"].astype(np.float64)
        assert adversarial.shape == clean.shape and adversarial.min() >= 0 and adversarial.max() <= 1, path
        distance = np.abs(adversarial - clean).reshape(len(clean), -1).max(axis=1)
        assert (distance <= eps + 1e-6).all() and (distance > eps / 2).all(), (path, distance)


def test_every_purifier_changes_what_the_recognizer_sees(smoke_filled):
    """Each defense's logits on the clean clips differ from the undefended ones, candidate by
    candidate: a purifier that returned its input unchanged would fail here."""
    predictions = smoke_filled / "results" / "predictions" / "smoke" / "NL"
    undefended = read_h5(predictions / "None.h5", keys=["clean/logits"])["clean/logits"]
    for defense in DEFENSE_ROWS[1:]:
        logits = read_h5(predictions / f"{defense}.h5", keys=["clean/logits"])["clean/logits"]
        change = np.abs(logits - undefended).max(axis=-1)  # (clips, draws, candidates)
        classified = ~np.isnan(change)  # an early-exit vote leaves the candidates it did not need NaN
        assert classified.any(axis=-1).all() and (change[classified] > 1e-3).all(), (defense, change)


VIDEOPURE_TARGETS = [f"results/table{n}.csv" for n in (2, 3, 4, 6, 7, 8, 9, 10, 11, 12)] + [
    "results/fig6.png",
    "results/fig5b.png",
    "results/fig2.png",
    "results/fig4.png",
    "results/fig5a.png",
    "results/diagnostics/smoke-NL-gradients.json",
    "results/models/smoke-flow-checks.json",
]


@pytest.fixture(scope="session")
def smoke_ablations(smoke_filled) -> Path:
    result = run_snakemake(smoke_filled, *VIDEOPURE_TARGETS, *FILL)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return smoke_filled


def test_ablation_table_sweep_and_figs_3_4_on_a_cpu_mark_robust_acc_not_run(smoke_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(smoke_run, workdir, symlinks=True)  # leave the shared run untouched
    own_attacks = tmp_path / "fig4.yaml"  # Fig. 4 at its own steps and clips: rule attack_setting
    own_attacks.write_text("figures: {fig4: {steps: 3, clips: 2}}\n")
    targets = ("results/table8.csv", "results/table11.csv", "results/fig5b.png", "results/fig3.png", "results/fig4.png",
               "results/fig5a.png")
    result = run_snakemake(workdir, *targets, extra_config=own_attacks)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    results = workdir / "results"
    table = pd.read_csv(results / "table8.csv", dtype=str, keep_default_na=False)
    assert (table["Robust Acc"] == "not run").all()
    assert_clip_shares(table[["Standard Acc", "Robust Acc*"]], int(table["Clips"].iloc[0]))
    assert "- Ours: Robust Acc" in (results / "table8.md").read_text()
    eleven = pd.read_csv(results / "table11.csv", dtype=str, keep_default_na=False)
    assert (eleven["Robust Acc"] == "not run").all() and (eleven["Robust Acc*"] != "not run").all()
    note = (results / "table11.md").read_text()
    assert "- Ours/4/255: Robust Acc" in note and "diffusion_adaptive=run" in note
    points = pd.read_csv(results / "fig5b.csv", dtype=str, keep_default_na=False)
    assert (points["Robust Acc"] == "not run").all() and (results / "fig5b.png").stat().st_size > 0
    caption = (results / "fig5b.md").read_text()
    assert "Not drawn: Robust Acc" in caption and "diffusion_adaptive=run" in caption
    settings = json.loads((results / "table8_settings.json").read_text())
    assert {cell["pgd_bpda"]["status"] for cell in settings["cells"]} == {"not run"}
    check_fig3(results)
    check_fig4(results, "linf~4_steps~3_clips~2", CLASSICAL_ROWS[1:], steps=3, clips=2)
    caption = (results / "fig4.md").read_text()
    assert "Not drawn: DiffPure_DDPM under PGD+BPDA, DiffPure_DDPM under PGD+DiffAttack" in caption
    assert "diffusion_adaptive=run" in caption
    steps = pd.read_csv(results / "fig5a.csv", dtype=str, keep_default_na=False)
    assert (steps["Robust Acc"] == "not run").all() and (steps["Robust Acc*"] != "not run").all()
    caption = (results / "fig5a.md").read_text()
    assert "Not drawn: Robust Acc, not run" in caption and "diffusion_adaptive=run" in caption


def check_fig4(results: Path, folder: str, bpda_rows: list[str], steps: int, clips: int) -> None:
    """Fig. 4's data: per drawn line the mean over clips of its attack file's stored loss trace
    (``folder``: "adaptive", Table I's files, or rule attack_setting's "linf~4_steps~…_clips~…"), at ``steps`` and
    ``clips``; PGD+BPDA through ``bpda_rows``, PGD+DiffAttack through the diffusion rows among them."""
    from videopure.plots.defenses import FIG4_COLUMNS

    data = pd.read_csv(results / "fig4.csv", keep_default_na=False)
    assert tuple(data.columns) == FIG4_COLUMNS
    expected = [("PGD+BPDA", row) for row in bpda_rows] + [
        ("PGD+DiffAttack", row) for row in bpda_rows if row in DIFFUSION_ROWS
    ]
    assert sorted(set(zip(data["Attack"], data["Defense"]))) == sorted(expected)
    slugs = {"PGD+BPDA": "pgd_bpda", "PGD+DiffAttack": "pgd_diffattack"}
    for attack, defense in expected:
        record = read_h5(results / "attacks" / "smoke" / "NL" / folder / defense / f"{slugs[attack]}.h5")
        assert record.params["attack"]["steps"] == steps and record["loss_trace"].shape == (steps + 1, clips)
        line = data[(data["Attack"] == attack) & (data["Defense"] == defense)].sort_values("Step")
        np.testing.assert_allclose(line["Loss"].to_numpy(), record["loss_trace"].mean(axis=1), rtol=1e-6)
        assert (line["Clips"] == clips).all()
    caption = (results / "fig4.md").read_text()
    assert f"{steps} iterations, mean over {clips} clips" in caption and "eps=0.01569" in caption
    assert "1 draw(s) per gradient" in caption and "JPEG bpda" in caption
    assert (results / "fig4.png").stat().st_size > 0 and (results / "fig4.pdf").stat().st_size > 0


def test_fig4_reads_table1s_traces_where_its_settings_are_table1s(smoke_ablations):
    """smoke's figures.fig4 (steps and clips null) is Table I's attack: no attack of its own, every
    row drawn from Table I's files (the CPU test above draws it from rule attack_setting')."""
    results = smoke_ablations / "results"
    assert not (results / "attacks" / "smoke" / "NL" / "linf~4_steps~2_clips~all").exists()
    check_fig4(results, "adaptive", DEFENSE_ROWS[1:], steps=2, clips=4)
    assert "Not drawn" not in (results / "fig4.md").read_text()


def test_fig5a_is_table1s_ours_at_table1s_steps_and_its_own_attacks_elsewhere(smoke_ablations):
    """Fig. 5 (a) on smoke (steps 1 and 2, every clip): at Table I's 2 steps its points are Table I's
    Ours cells for PGD and PGD+BPDA (the same votes, though Table I's come through the caches), at 1
    step they come from rule attack_setting' 1-step attacks: gray-box through "None", PGD+BPDA through Ours."""
    results = smoke_ablations / "results"
    points = pd.read_csv(results / "fig5a.csv", keep_default_na=False).set_index("steps")
    assert list(points.columns) == ["Clips", "Robust Acc*", "Robust Acc"] and list(points.index) == [1, 2]
    table = pd.read_csv(results / "table1.csv", dtype=str, keep_default_na=False).set_index("Defense")
    assert points.loc[2, "Robust Acc*"] == float(table.loc["Ours", "PGD"])
    assert points.loc[2, "Robust Acc"] == float(table.loc["Ours", "PGD+BPDA"])
    for defense, column in (("None", "pgd"), ("Ours", "pgd_bpda")):
        record = read_h5(results / "attacks" / "smoke" / "NL" / "linf~4_steps~1_clips~all" / defense / f"{column}.h5")
        assert record.params["attack"]["steps"] == 1 and record.params["defense"] == defense
        assert len(record["labels"]) == points.loc[1, "Clips"] == int(table.loc["Ours", "Clips"])
    caption = (results / "fig5a.md").read_text()
    assert "Ours's accuracy" in caption and "eps=0.01569" in caption and "Not drawn" not in caption


def test_the_artifact_target_builds_every_table_and_figure_and_the_report_gathers_them(smoke_ablations, tmp_path):
    """`snakemake artifact` in one call (here Fig. 3 and the claims report with its unbounded attacks are
    all the shared build lacks), then `snakemake artifact --report`: a zip with every table and
    figure, each under its category."""
    import zipfile

    workdir = tmp_path / "copy"
    shutil.copytree(smoke_ablations, workdir, symlinks=True)
    result = run_snakemake(workdir, "artifact", *FILL)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    targets = [f"results/table{n}.csv" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)]
    targets += [f"results/fig{n}.png" for n in ("2", "3", "4", "5a", "5b", "6")] + ["results/config.yaml"]
    targets += ["results/claims.csv", "results/sanity.csv"]
    assert all((workdir / target).stat().st_size > 0 for target in targets)
    report = workdir / "results" / "report.zip"
    result = run_snakemake(workdir, "artifact", *FILL, "--report", str(report))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    names = zipfile.ZipFile(report).namelist()
    for target in targets + ["results/software.json"]:
        assert any(name.endswith(target.split("/")[-1]) for name in names), (target, names[:20])
    config = yaml.safe_load((workdir / "results" / "config.yaml").read_text())
    assert config["profile"] == "smoke" and config["figures"]["fig5a"]["steps"] == [1, 2]
    software = json.loads((workdir / "results" / "software.json").read_text())
    pins = dict(line.split("==") for line in (REPO / "requirements.txt").read_text().splitlines() if "==" in line)
    assert {name: software[name] for name in pins} == pins  # CI installs the pins: what ran is recorded
    check_table5(workdir)
    check_claims(workdir)


def check_table5(workdir: Path) -> None:
    """Table V on the filled smoke build: the paper's rows and columns; the video model's rows are
    Table I's cells; each image row ran on its own model, trained by the workflow, PGD+BPDA through it."""
    from videopure.tables.table5 import PAPER_LAYOUT

    results = workdir / "results"
    table = pd.read_csv(results / "table5.csv", dtype=str, keep_default_na=False)
    assert list(table.columns) == ["Diffusion Model", "Defense", "Standard Acc", "Robust Acc*", "Robust Acc",
                                   "Model here", "Clips", "Row"]  # fmt: skip
    assert [(m, d.lower()) for m, d in zip(table["Diffusion Model"], table["Defense"])] == [
        (m, d.lower()) for m, d in PAPER_LAYOUT
    ]
    table1 = pd.read_csv(results / "table1.csv", dtype=str, keep_default_na=False).set_index("Defense")
    for _, row in table[table["Diffusion Model"] == "ModelScope"].iterrows():
        cells = table1.loc[row["Defense"], ["None", "PGD", "PGD+BPDA"]]
        assert [float(v) for v in row[["Standard Acc", "Robust Acc*", "Robust Acc"]]] == [float(v) for v in cells]
    assert_clip_shares(table[["Standard Acc", "Robust Acc*", "Robust Acc"]].to_numpy(), 4)
    kinds = {"Stable Diffusion": "UNet2DConditionModel", "Guided Diffusion": "UNet2DModel", "ModelScope": "UNet3DConditionModel"}
    for _, row in table.iterrows():
        assert row["Model here"].startswith(f"{kinds[row['Diffusion Model']]}, trained by the workflow"), row["Model here"]
    settings = json.loads((results / "table5_settings.json").read_text())
    image_cells = [cell for cell in settings["cells"] if "@" in cell["defense"]]
    assert len(image_cells) == 4 and all(cell["pgd_bpda"]["gradient"] == "bpda" for cell in image_cells)
    identities = {cell["defense_settings"]["model"] for cell in settings["cells"]}
    assert len(identities) == 3  # one diffusion model per "Diffusion Model"
    record = read_h5(results / "attacks" / "smoke" / "NL" / "adaptive" / "DiffPure_DDPM@GuidedDiffusion" / "pgd_bpda.h5")
    assert record.params["defense_settings"]["model"] in identities
    claims = pd.read_csv(results / "claims.csv", dtype=str, keep_default_na=False)
    assert len(claims[claims["Claim"] == "C12"]) == 12


def check_claims(workdir: Path) -> None:
    """The claims report on the filled smoke build: every claim and check, S2's unbounded attacks
    measured; then Table I's undefended PGD cell edited to 100 %, and C1's verdict follows it."""
    from videopure.tables.claims import CHECK_COLUMNS, CLAIMS
    from videopure.tables.sanity import SANITY_COLUMNS

    results = workdir / "results"
    claims = pd.read_csv(results / "claims.csv", dtype=str, keep_default_na=False)
    assert tuple(claims.columns) == CHECK_COLUMNS and list(dict.fromkeys(claims["Claim"])) == [c.id for c in CLAIMS]
    assert set(claims["Verdict"]) <= {"holds", "fails", "inconclusive", "not measured here"}
    sanity = pd.read_csv(results / "sanity.csv", dtype=str, keep_default_na=False)
    assert tuple(sanity.columns) == SANITY_COLUMNS and set(sanity["Check"]) == {"S1", "S2", "S3", "S4"}
    unbounded = sanity[sanity["Check"] == "S2"].set_index("Defense")
    assert list(unbounded.index) == ["None", "JPEG"] and (unbounded["Result"] != "not measured here").all()
    assert unbounded["Attack"].str.endswith("at 64/255").all() and "PGD+BPDA, gradient: bpda" in unbounded.loc["JPEG", "Attack"]
    record = read_h5(results / "attacks" / "smoke" / "NL" / "linf~64_steps~2_clips~all_step~80" / "JPEG" / "pgd_bpda.h5")
    assert record.params["attack"]["eps"] == pytest.approx(64 / 255) and record.params["attack"]["alpha"] == pytest.approx(80 / 255)
    assert "Verdicts read 95 % confidence intervals" in (results / "claims.md").read_text()

    def c1_pgd() -> pd.Series:
        table = pd.read_csv(results / "claims.csv", dtype=str, keep_default_na=False)
        return table[(table["Claim"] == "C1") & (table["Check"] == "None under PGD")].iloc[0]

    assert c1_pgd()["Ours"] == "0.0 % of 4 clips" and c1_pgd()["Verdict"] == "inconclusive"  # 4 clips: [0, 49 %]
    table1 = pd.read_csv(results / "table1.csv", dtype=str, keep_default_na=False)
    table1.loc[table1["Defense"] == "None", "PGD"] = "100.0"
    table1.to_csv(results / "table1.csv", index=False)
    result = run_snakemake(workdir, "results/claims.csv", *FILL)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert c1_pgd()["Ours"] == "100.0 % of 4 clips" and c1_pgd()["Verdict"] == "fails"  # [51 %, 100 %] > 15 %


def test_the_notebook_executes_on_the_smoke_build_and_draws_one_plot_per_question(smoke_ablations, monkeypatch):
    """notebooks/explore_results.ipynb in a kernel of this environment, on the shared smoke build (read
    only): every cell runs, and each question's cell draws its plot. The stored notebook has no outputs."""
    import nbformat
    from nbclient import NotebookClient

    stored = nbformat.read(REPO / "notebooks" / "explore_results.ipynb", as_version=4)
    code = [cell for cell in stored.cells if cell.cell_type == "code"]
    assert not any(cell.outputs for cell in code)  # committed clean: a diff shows code, not images
    monkeypatch.setenv("VIDEOPURE_WORKDIR", str(smoke_ablations))
    monkeypatch.setenv("VIDEOPURE_CONFIG", str(REPO / "config" / "smoke.yaml"))
    NotebookClient(stored, timeout=600, kernel_name="python3").execute()  # fills ``code``; raises on a cell's error
    images = [sum("image/png" in output.get("data", {}) for output in cell.outputs) for cell in code]
    assert images == [0, 0, 1, 1, 1, 1, 1], images  # setup, Table I, then one figure per question
    table = code[1].outputs[0]["data"]["text/plain"]
    assert "DiffPure_DDPM" in table and "Ours" in table


def test_fig2_shows_table4s_inversions_of_graybox_pgd_clips(smoke_ablations):
    """Fig. 2's data recomputed here: the clips are gray-box PGD's (a class-balanced pair), x_di and
    x_tdi are Table IV's first two variants run on them, each distance and prediction as stated."""
    import torch

    from videopure.defenses import build_defense
    from videopure.evaluation.latents import load_diffusion_model
    from videopure.plots.inversions import DATA_COLUMNS
    from videopure.tables.ablations import ablation_setup

    results = smoke_ablations / "results"
    data = pd.read_csv(results / "fig2.csv", keep_default_na=False)
    assert tuple(data.columns) == DATA_COLUMNS and list(data["Image"].unique()) == ["x_adv", "x_di", "x_tdi"]
    pgd = read_h5(results / "attacks" / "smoke" / "NL" / "graybox" / "pgd.h5")
    shown = data[data["Image"] == "x_adv"]
    positions = [list(pgd["video_ids"]).index(video) for video in shown["Video"]]
    assert len(positions) == 2 and len(set(shown["Label"])) == 2
    adversarial = torch.from_numpy(pgd["clips"][positions])
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config.setdefault("ablations", {})
    setup = ablation_setup(config)
    model = load_diffusion_model({"diffusion": {"dtype": "float32"}}, str(results / "models" / "smoke-ldm"), "cpu")
    np.testing.assert_array_equal(shown["Mean |x - x_adv|"], 0.0)
    for image, (name, _) in zip(("x_di", "x_tdi"), setup.rows("table4")[:2]):
        purified = build_defense(setup.variant_specs()[name], diffusion_model=model)(adversarial, gradient="none")[:, 0]
        distance = (purified - adversarial).abs().flatten(1).mean(1).numpy()
        np.testing.assert_allclose(data[data["Image"] == image]["Mean |x - x_adv|"], distance, rtol=1e-4)
    caption = (results / "fig2.md").read_text()
    assert "2 gray-box PGD clips" in caption and "eps=0.01569, 2 steps" in caption and "t*=2" in caption
    assert re.search(r"multiplied by [0-9.]+ so the largest shown is white", caption)
    assert (results / "fig2.png").stat().st_size > 0 and (results / "fig2.pdf").stat().st_size > 0


def check_fig3(results: Path) -> None:
    """Fig. 3 from a CPU build: (a) Table I's cells of smoke/NL, (b) the mean over clips of each
    classical row's stored PGD+BPDA loss trace; the diffusion rows named as not drawn, with the fill
    command. Recomputed here from the inputs, so a figure drawn from anything else fails."""
    data = pd.read_csv(results / "fig3.csv", keep_default_na=False)
    assert list(data.columns) == ["Panel", "Defense", "Metric", "Step", "Value"]
    table = pd.read_csv(results / "table1.csv", dtype=str, keep_default_na=False).set_index("Defense")
    bars = data[data["Panel"] == "a"]
    sources = {"Standard Acc": "None", "Robust Acc*": "PGD", "Robust Acc": "PGD+BPDA"}
    for row in bars.itertuples():
        assert row.Value == float(table.loc[row.Defense, sources[row.Metric]]), row
    assert set(bars[bars["Metric"] == "Robust Acc"]["Defense"]) == set(CLASSICAL_ROWS[1:])
    lines = data[data["Panel"] == "b"]
    assert set(lines["Defense"]) == set(CLASSICAL_ROWS[1:])
    for defense in CLASSICAL_ROWS[1:]:
        trace = read_h5(results / "attacks" / "smoke" / "NL" / "adaptive" / defense / "pgd_bpda.h5")["loss_trace"]
        drawn = lines[lines["Defense"] == defense].sort_values("Step")["Value"].to_numpy()
        np.testing.assert_allclose(drawn, trace.mean(axis=1), rtol=1e-6)
    caption = (results / "fig3.md").read_text()
    assert "Not drawn: DiffPure_DDPM, DiffPure_DDIM, DDIM_Inversion, Ours under PGD+BPDA" in caption
    assert "diffusion_adaptive=run" in caption and "eps=0.01569, 2 steps" in caption
    assert (results / "fig3.png").stat().st_size > 0 and (results / "fig3.pdf").stat().st_size > 0


def test_table2_has_the_papers_rows_each_sub_attack_and_the_worst_case_per_clip(smoke_ablations):
    """Table II on smoke with every row run: the paper's defenses, APGD-CE and APGD-DLR through each
    (EOT draws only for a stochastic one), their clips in the eps-ball, and Robust Acc the worst case
    per clip recomputed from the votes in the files."""
    from videopure.evaluation.autoattack import robust_per_clip

    results = smoke_ablations / "results"
    table = pd.read_csv(results / "table2.csv")
    assert list(table.columns) == ["Dataset", "Model", "Defense", "APGD-CE", "APGD-DLR", "Robust Acc", "Clips"]
    assert table["Defense"].tolist() == ["TemporalShuffle", "DiffPure_DDPM", "Ours"]  # the paper's rows
    assert (table["Clips"] == 2).all() and "not run" not in (results / "table2.md").read_text()
    settings = json.loads((results / "table2_settings.json").read_text())
    eot = {row["defense"]: row["attacks"]["eot_samples"] for row in settings["rows"]}
    assert eot == {"TemporalShuffle": 2, "DiffPure_DDPM": 2, "Ours": 1}  # Ours is deterministic
    evaluation_clips = read_h5(results / "frames" / "smoke" / "test.h5")["frames"]
    for row in table.itertuples():
        record = read_h5(results / "autoattack" / "smoke" / "NL" / f"{row.Defense}.h5",
                         keys=["labels", "index", "apgd_ce/clips", "apgd_ce/votes", "apgd_dlr/clips", "apgd_dlr/votes"])
        assert record.params["attacks"]["steps"] == 2 and record.params["gradient"] in ("exact", "bpda")
        clean = evaluation_clips[record["index"]].astype(np.float32) / 255
        for slug in ("apgd_ce", "apgd_dlr"):
            moved = np.abs(record[f"{slug}/clips"] - clean.transpose(0, 1, 4, 2, 3))
            assert moved.max() <= 4 / 255 + 1e-6 and moved.max() > 1 / 255
        robust = robust_per_clip({slug: record[f"{slug}/votes"] for slug in ("apgd_ce", "apgd_dlr")}, record["labels"])
        assert row._6 == round(100 * robust["worst"].mean(), 1) <= min(row._4, row._5)


def test_tables_6_11_and_12_are_table1s_cells_at_its_setting_and_their_own_attacks_elsewhere(smoke_ablations):
    """Tables VI, XI and XII on smoke (Ours), every cell run. Table XI at Table I's radius is Table I's
    cells. Table VI's gray-box PGD with the flow term through the trained raft_small, and Table XII's
    l2 PGD, are rule attack_setting's: their clips keep to their ball, Table VI's leave Table I's
    (same seed and start: the flow term moved them), and w/o Defense is the recognizer's accuracy on
    them, recomputed here. (The paper's rows are the defaults: tests/test_budget_tables.py.)"""
    import torch

    from videopure.attacks import scale_l2_eps
    from videopure.evaluation.loading import load_classifier

    results = smoke_ablations / "results"
    table1 = pd.read_csv(results / "table1.csv", dtype=str, keep_default_na=False).set_index("Defense")
    six = pd.read_csv(results / "table6.csv", dtype=str, keep_default_na=False)
    eleven = pd.read_csv(results / "table11.csv", dtype=str, keep_default_na=False)
    twelve = pd.read_csv(results / "table12.csv", dtype=str, keep_default_na=False)
    assert list(eleven.columns) == ["Dataset", "Model", "Defense", "eps", "w/o Defense", "Robust Acc*", "Robust Acc", "Clips"]
    assert list(six.columns) == list(twelve.columns) == ["Dataset", "Model", "Defense", "w/o Defense", "Robust Acc*",
                                                         "Robust Acc", "Clips"]  # fmt: skip
    assert six["Defense"].tolist() == ["Ours_raft_small"]  # smoke's Ours uses DIS: the attacked flow instead
    assert eleven["Defense"].tolist() == ["Ours"] and twelve["Defense"].tolist() == ["Ours"]  # smoke's rows
    assert eleven["eps"].tolist() == ["4/255"]
    notes = "".join((results / f"table{n}.md").read_text() for n in (6, 11, 12))
    assert "not run" not in notes
    row = eleven.iloc[0]
    assert (row["w/o Defense"], row["Robust Acc*"], row["Robust Acc"]) == (
        table1.loc["None", "PGD"], table1.loc["Ours", "PGD"], table1.loc["Ours", "PGD+BPDA"])  # fmt: skip
    for table in (six, twelve):
        assert_clip_shares(table.iloc[:, 3:6], 4)
    frames = read_h5(results / "frames" / "smoke" / "test.h5")
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    classifier = load_classifier(config, "smoke", "NL", str(results / "models" / "smoke-NL" / "checkpoint.pth"),
                                 list(frames["class_names"]), "cpu")  # fmt: skip
    trained = {"type": "raft", "size": "small", "weights": "results/models/smoke-raft_small.pth", "iterations": 2,
               "input_range": "unit"}  # fmt: skip
    attacks = results / "attacks" / "smoke" / "NL"
    table1_pgd = read_h5(attacks / "graybox" / "pgd.h5")["clips"]
    for folder, table, norm in (("linf~4_steps~2_clips~all_flow~1", six, "linf"), ("l2~2_steps~2_clips~all", twelve, "l2")):
        record = read_h5(attacks / folder / "None" / "pgd.h5")
        attack = record.params["attack"]
        clean = frames["frames"][record["index"]].astype(np.float32).transpose(0, 1, 4, 2, 3) / 255
        delta = (record["clips"] - clean).reshape(len(clean), -1)
        if norm == "linf":
            assert attack["eps"] == 4 / 255 and np.abs(delta).max() <= 4 / 255 + 1e-6
            assert attack["flow_deviation"] == {"flow": trained, "weight": 1.0}
            assert np.abs(record["clips"] - table1_pgd).max() > 1 / 255
            bpda = read_h5(attacks / folder / "Ours_raft_small" / "pgd_bpda.h5").params
            assert bpda["attack"]["flow_deviation"] == attack["flow_deviation"] and bpda["gradient"] == "bpda"
            assert bpda["defense_settings"]["flow"] == trained
        else:
            eps = scale_l2_eps(2.0, clean.shape[1:])
            assert attack["norm"] == "l2" and attack["eps"] == pytest.approx(eps) and "flow_deviation" not in attack
            assert (np.linalg.norm(delta, axis=1) <= eps * (1 + 1e-5)).all()
        with torch.no_grad():
            predicted = classifier(torch.from_numpy(record["clips"])).argmax(-1).numpy()
        undefended = round(100 * float((predicted == record["labels"]).mean()), 1)
        assert (table["w/o Defense"].astype(float) == undefended).all(), (folder, undefended)
    caption = (results / "table12.md").read_text()
    assert "l2 eps 2 (eps=" in caption and "2 steps" in caption and "Ours bpda" in caption
    caption = (results / "table6.md").read_text()
    assert "cross-entropy + 1 x the mean end-point error" in caption and "size small" in caption
    assert "row Ours_raft_small: Ours with the attacked flow model" in caption


def test_table3_transfers_tt_mi_from_the_surrogate_and_votes_every_column_on_its_clips(smoke_ablations):
    """Table III on smoke: TT+MI crafted on the surrogate SlowFast (its own checkpoint, the TT authors'
    black-box settings, inside 16/255), classified by NL through each column; None is NL's accuracy on
    those clips, recomputed here, and the Average of one transfer is that transfer."""
    import torch

    from videopure.evaluation.loading import load_classifier
    from videopure.params import file_digest

    results = smoke_ablations / "results"
    table = pd.read_csv(results / "table3.csv", keep_default_na=False)
    columns = ["None", "JPEG", "TemporalShuffle", "DiffPure_DDPM", "DDIM_Inversion", "Ours"]  # the paper's
    assert list(table.columns) == ["Dataset", "Source", "Target", *columns, "Clips"]
    assert table[["Dataset", "Source", "Target"]].values.tolist() == [["smoke", "SlowFast", "NL"], ["Average", "", ""]]
    assert table.iloc[0][columns].tolist() == table.iloc[1][columns].tolist()
    assert_clip_shares(table.iloc[0][columns], 4)
    record = read_h5(results / "attacks" / "smoke" / "SlowFast" / "linf~16_steps~10_clips~all" / "None" / "tt_mi.h5")
    attack = record.params["attack"]
    assert record.params["model"] == "SlowFast" and record.params["column"] == "TT+MI"
    assert (attack["name"], attack["eps"], attack["steps"], attack["momentum"], attack["random_start"]) == (
        "TT", 16 / 255, 10, 1.0, None)  # fmt: skip
    assert attack["alpha"] == pytest.approx(1.6 / 255)
    surrogate = results / "models" / "smoke-SlowFast" / "checkpoint.pth"
    assert record.upstream["checkpoint"] == file_digest(surrogate) != file_digest(results / "models" / "smoke-NL" / "checkpoint.pth")
    frames = read_h5(results / "frames" / "smoke" / "test.h5")
    clean = frames["frames"][record["index"]].astype(np.float32).transpose(0, 1, 4, 2, 3) / 255
    moved = np.abs(record["clips"] - clean)
    assert moved.max() <= 16 / 255 + 1e-6 and moved.max() > 8 / 255
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    classifier = load_classifier(config, "smoke", "NL", str(results / "models" / "smoke-NL" / "checkpoint.pth"),
                                 list(frames["class_names"]), "cpu")  # fmt: skip
    with torch.no_grad():
        predicted = classifier(torch.from_numpy(record["clips"])).argmax(-1).numpy()
    assert table.iloc[0]["None"] == round(100 * float((predicted == record["labels"]).mean()), 1)
    votes = read_h5(results / "predictions" / "smoke" / "NL" / "linf~16_steps~10_clips~all" / "transfer_from_SlowFast.h5",
                    keys=["labels"])  # fmt: skip
    assert (votes.params["source"], votes.params["model"]) == ("SlowFast", "NL") and set(votes.params["defenses"]) == set(columns)
    caption = (results / "table3.md").read_text()
    assert "black-box TT+MI (linf eps 16/255, 10 steps, step 1.6/255, momentum 1" in caption


def test_ablation_tables_follow_the_papers_layout_and_share_rows(smoke_ablations):
    results = smoke_ablations / "results"
    tables = {name: pd.read_csv(results / f"{name}.csv", dtype=str, keep_default_na=False) for name in ("table4", "table7", "table8", "table9")}
    accuracy = ["Standard Acc", "Robust Acc*", "Robust Acc"]
    assert list(tables["table4"].columns) == [
        "Temporal DDIM Inversion", "Spatial-temporal Optimization", "Multi-step Voting", *accuracy, "Clips", "Defense"
    ]
    assert list(tables["table7"]["selected z_0^t"]) == ["2", "1", "0", "multi-step voting"]  # smoke: t* = 2
    assert list(tables["table8"]["Defense Method"]) == ["Ours*", "Ours"]
    assert list(tables["table9"][["L_temp", "L_spa"]].itertuples(index=False, name=None)) == [("✓", ""), ("", "✓"), ("✓", "✓")]
    for table in tables.values():
        assert_clip_shares(table[accuracy], int(table["Clips"].iloc[0]))
        assert table.iloc[-1]["Defense"] == "Ours"  # every table ends with the full method ...
        assert list(table.iloc[-1][accuracy]) == list(tables["table4"].iloc[-1][accuracy])  # ... computed once
    # Without voting (Table IV, row 4) is the final candidate alone (Table VII, k = 0): one variant.
    assert tables["table4"].iloc[3]["Defense"] == tables["table7"].iloc[2]["Defense"] == "Ours+candidate~0"
    # Table IV's first row is DDIM inversion (smoke: t* = 2 for both): Table I's clean and gray-box accuracy.
    table1 = pd.read_csv(results / "table1.csv", dtype=str, keep_default_na=False)
    ddim = table1[(table1["Defense"] == "DDIM_Inversion") & (table1["Model"] == "NL")].iloc[0]
    assert list(tables["table4"].iloc[0][["Standard Acc", "Robust Acc*"]]) == [ddim["None"], ddim["PGD"]]
    ours = table1[(table1["Defense"] == "Ours") & (table1["Model"] == "NL")].iloc[0]
    assert list(tables["table4"].iloc[-1][accuracy]) == [ours["None"], ours["PGD"], ours["PGD+BPDA"]]
    assert "eps=4/255" in (results / "table4.md").read_text()
    settings = json.loads((results / "table7_settings.json").read_text())
    assert [cell["defense_settings"]["candidate"] for cell in settings["cells"]] == [2, 1, 0, None]
    assert all(cell["pgd_bpda"]["gradient"] == "bpda" for cell in settings["cells"])


def test_table10_times_both_defenses_in_one_run(smoke_ablations):
    table = pd.read_csv(smoke_ablations / "results" / "table10.csv")
    assert list(table["Defense Method"]) == ["DiffPure_DDPM", "Ours", "Ours (early exit)"]
    # smoke: t* = 21 and 2; VideoPure's full vote decodes and classifies its 3 candidates, the early
    # exit at least 2 (a majority of 3) and, with the trajectory computed as needed, 2 + that many
    # UNet calls up to 4.
    assert list(table["UNet calls"][:2]) == [21, 4] and list(table["Candidates"]) == [1, 3, 3]
    assert list(table["Decodes"][:2]) == [1, 3] and list(table["Classified"][:2]) == [1, 3]
    early = table.iloc[2]
    assert 2 <= early["Decodes"] == early["Classified"] <= 3 and early["UNet calls"] == min(2 + early["Decodes"], 4)
    assert (table["Time(s)"] > 0).all() and table["Machine"].str.contains("cores").all()
    report = json.loads((smoke_ablations / "results" / "speed" / "smoke-NL.json").read_text())
    assert report["ratio"] == pytest.approx(table["Time(s)"][0] / table["Time(s)"][1], rel=0.01)
    assert report["ratio_early_exit"] == pytest.approx(table["Time(s)"][0] / table["Time(s)"][2], rel=0.01)
    assert report["sweep_point_early_exit"]["early_exit"] and not report["sweep_point"]["early_exit"]


def test_early_exit_votes_equal_the_full_votes_of_smoke_videopure_predictions(smoke_ablations, tmp_path):
    """Rule predict's VideoPure rows that vote at each t* of the smoke build (Table I's Ours at t* = 2,
    three candidates; the sweep's t* = 1, two, where one can decide), every source: the default
    early-exit votes equal those of the same rule run with evaluation.early_exit false, which
    classifies every candidate. (Exactness on every kind of vote: tests/test_defenses.py and
    tests/test_videopure.py.)"""
    workdir = tmp_path / "copy"
    shutil.copytree(smoke_ablations, workdir, symlinks=True)
    predictions = workdir / "results" / "predictions" / "smoke" / "NL"
    voting = {read_attrs(predictions / "Ours.h5")[0]["defense_settings"]["tstar"]: predictions / "Ours.h5"}
    for path in sorted(predictions.glob("*.h5")):
        settings = read_attrs(path)[0]["defense_settings"]
        if settings["name"] == "videopure" and settings["candidate"] is None:
            voting.setdefault(settings["tstar"], path)
    assert sorted(voting) == [1, 2], voting
    voting = [path.relative_to(workdir) for path in voting.values()]
    full_vote = tmp_path / "full_vote.yaml"
    full_vote.write_text("evaluation: {early_exit: false}\n")
    result = run_snakemake(workdir, *map(str, voting), *FILL, extra_config=full_vote)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    saved = 0
    for path in voting:
        sources = read_attrs(smoke_ablations / path)[0]["sources"]
        keys = [f"{source}/{name}" for source in sources for name in ("votes", "logits", "evaluated")]
        early, full = read_h5(smoke_ablations / path, keys=keys), read_h5(workdir / path, keys=keys)
        assert early.params["early_exit"] and not full.params["early_exit"]
        assert early.params["sources"] == full.params["sources"]
        for source in early.params["sources"]:
            np.testing.assert_array_equal(early[f"{source}/votes"], full[f"{source}/votes"], err_msg=f"{path} {source}")
            candidates = full[f"{source}/logits"].shape[2]
            assert (full[f"{source}/evaluated"] == candidates).all()
            # No vote is decided by fewer than half its candidates (t* = 1: one of two can decide,
            # the other could at best tie, and ties go to the smallest class index).
            assert ((early[f"{source}/evaluated"] >= (candidates + 1) // 2) & (early[f"{source}/evaluated"] <= candidates)).all()
            saved += int((candidates - early[f"{source}/evaluated"]).sum())
    assert saved > 0  # the exit stopped somewhere: the comparison is not between two full votes


def test_graybox_checks_score_the_reference_purifiers_as_table1_scores_its_rows(smoke_run):
    result = run_snakemake(smoke_run, "results/models/smoke-graybox-checks.json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    checks = json.loads((smoke_run / "results" / "models" / "smoke-graybox-checks.json").read_text())
    # smoke's references (config diagnostics.graybox_references): the default's, at smoke's t*
    videopure = ["VideoPure_t2_dis", "VideoPure_t2_dis_no_optimization", "VideoPure_t2_dis_loss_through_unet"]
    references = ["None", "JPEG", "WN", "DDIM_Inversion_t2", "DiffPure_DDPM_t21", *videopure]
    assert list(checks["defenses"]) == references and list(checks["accuracy"]) == ["NL"]
    assert checks["defenses"]["DiffPure_DDPM_t21"]["tstar"] == 21
    settings = [checks["defenses"][name] for name in videopure]
    assert all(setting["flow"]["type"] == "dis" and setting["tstar"] == 2 for setting in settings)
    assert [(setting["optimize"], setting["loss_through_unet"]) for setting in settings] == [
        (True, False),
        (False, False),
        (True, True),
    ]
    assert checks["attacks"]["NL"]["name"] == "PGD" and checks["attacks"]["NL"]["eps"] == pytest.approx(4 / 255)
    accuracy = checks["accuracy"]["NL"]
    for defense in references:
        assert set(accuracy[defense]) == {"Standard Acc", "Robust Acc* (PGD)"}
        assert_clip_shares([100 * value for value in accuracy[defense].values()], checks["clips"])
    # Scored as Table I scores a row (WN's noise seeded alike): smoke's None, JPEG and WN rows have the
    # checks' settings, so their clean and gray-box PGD cells are the checks' numbers.
    table = pd.read_csv(smoke_run / TARGET, dtype=str, keep_default_na=False)
    for defense in ("None", "JPEG", "WN"):
        row = table[(table["Model"] == "NL") & (table["Defense"] == defense)].iloc[0]
        assert checks["clips"] == int(row["Clips"])
        assert 100 * accuracy[defense]["Standard Acc"] == pytest.approx(float(row["None"]), abs=0.05), defense
        assert 100 * accuracy[defense]["Robust Acc* (PGD)"] == pytest.approx(float(row["PGD"]), abs=0.05), defense


def test_diffusion_checks_score_the_whole_evaluation_split(smoke_run):
    result = run_snakemake(smoke_run, "results/models/smoke-ldm-checks.json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert (smoke_run / "logs" / "diffusion_checks" / "smoke.log").exists()
    assert (smoke_run / "results" / "benchmarks" / "diffusion_checks" / "smoke.tsv").exists()
    checks = json.loads((smoke_run / "results" / "models" / "smoke-ldm-checks.json").read_text())
    clean = read_h5(smoke_run / "results" / "clean" / "smoke" / "NL.h5")
    assert checks["split"] == "test" and checks["clips"] == len(clean["labels"])
    accuracy = checks["accuracy"]["NL"]
    assert list(accuracy) == ["clean", "vae_reconstruction", "ddim_inversion_t2", "diffpure_ddpm_t21"]  # smoke's t*
    assert_clip_shares([100 * value for value in accuracy.values()], checks["clips"])
    # The undefended clips go through the checks' defended path and rule classify_clean's plain one alike.
    assert accuracy["clean"] == pytest.approx(clean.params["accuracy"], abs=1e-9)
    assert 5 < checks["vae_psnr_db"] < 60


def test_diagnostics_report_gradient_agreement_and_flow_errors(smoke_ablations):
    results = smoke_ablations / "results"
    gradients = json.loads((results / "diagnostics" / "smoke-NL-gradients.json").read_text())
    assert gradients["defense"] == "Ours" and gradients["clips"] >= 1
    assert set(gradients["median_cosine"]) == {"bpda~frozen", "bpda~exact", "frozen~exact"}
    for pair, cosines in gradients["cosine"].items():  # one per clip, and their median as reported
        assert len(cosines) == gradients["clips"] and gradients["median_cosine"][pair] == pytest.approx(np.median(cosines))
    flows = json.loads((results / "models" / "smoke-flow-checks.json").read_text())
    learned = {slug: measured["spec"] for slug, measured in flows["models"].items() if measured["spec"]["type"] == "raft"}
    assert set(flows["models"]) - set(learned) == {"farneback", "dis"}
    assert [spec["weights"] for spec in learned.values()] == ["results/models/smoke-raft_small.pth"]  # rule train_flow's
    training = json.loads((results / "models" / "smoke-raft_small.json").read_text())
    assert len(training["loss_history"]) == 2 and training["settings"]["steps"] == 4
    for slug in ("farneback", "dis"):  # classical flow beats predicting no motion (its EPE is motion_moving)
        measured = flows["models"][slug]
        assert measured["epe_moving"] < 0.5 * measured["motion_moving"], (slug, measured)
    assert all(np.isfinite(measured["epe_moving"]) for measured in flows["models"].values())


def test_new_flow_training_settings_retrain_the_raft_small_alone(smoke_ablations, tmp_path):
    extra = tmp_path / "flow.yaml"
    extra.write_text("flow_training: {steps: 5, batch_size: 2, iterations: 2}\n")
    rules = scheduled_rules(run_snakemake(smoke_ablations, "-n", "results/models/smoke-flow-checks.json", *FILL, extra_config=extra))
    assert rules == {"train_flow", "flow_checks"}, rules


def test_sweep_figures_plot_every_point(smoke_ablations):
    results = smoke_ablations / "results"
    for figure, parameter, values in (("fig6", "tstar", [1, 2]), ("fig5b", "alpha_s", [-4.0, -2.0])):
        points = pd.read_csv(results / f"{figure}.csv")
        assert list(points[parameter]) == values
        assert_clip_shares(points[["Standard Acc", "Robust Acc*", "Robust Acc"]], int(points["Clips"].iloc[0]))
        assert (results / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"
        assert (results / f"{figure}.pdf").read_bytes()[:4] == b"%PDF"
        assert "eps=4/255" in (results / f"{figure}.md").read_text()
    # The base setting's point is the Table I row itself.
    assert "Ours" in list(pd.read_csv(results / "fig6.csv")["Defense"])


def test_a_new_alpha_s_reuses_every_cache(smoke_ablations, tmp_path):
    extra = tmp_path / "alpha.yaml"
    extra.write_text("sweeps: {tstar: [1, 2], alpha_s: [-2.0, -4.0, -8.0]}\n")
    rules = scheduled_rules(run_snakemake(smoke_ablations, "-n", "results/fig5b.png", *FILL, extra_config=extra))
    assert rules == {"predict", "attack_variant", "sweep_figure"}, rules


def test_every_job_wrote_its_log_and_benchmark(smoke_run):
    rules = ("generate_videos", "frames", "train_classifier", "classify_clean", "evaluation_set")
    diffusion = ("train_vae", "train_unet", "encode", "invert", "flow")
    for rule in (*rules, *diffusion):
        assert list((smoke_run / "logs" / rule).rglob("*.log")), rule
        assert list((smoke_run / "results" / "benchmarks" / rule).rglob("*.tsv")), rule
    metrics = json.loads((smoke_run / "results" / "models" / "smoke-NL" / "metrics.json").read_text())
    assert {"test_acc", "val_acc", "train_seconds"} <= set(metrics)


def test_the_smoke_recognizer_learns(smoke_run):
    """Smoke's numbers mean something only if its recognizer does better than chance (25 %, four
    classes) on clips it never trained on; the evaluation set then holds a clip of every class."""
    metrics = json.loads((smoke_run / "results" / "models" / "smoke-NL" / "metrics.json").read_text())
    assert metrics["test_acc"] >= 0.75 and metrics["val_acc"] >= 0.75, metrics["history"][-1]
    assert sorted(read_h5(smoke_run / "results" / "evalset" / "smoke.h5")["labels"]) == [0, 1, 2, 3]


def test_second_invocation_does_nothing(smoke_run):
    result = run_snakemake(smoke_run, "-n", TARGET)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_new_evaluation_subset_rebuilds_the_evaluation_set_and_what_reads_it(smoke_run, tmp_path):
    extra = tmp_path / "subset.yaml"
    extra.write_text("evaluation: {max_clips: 3}\n")
    rules = scheduled_rules(run_snakemake(smoke_run, "-n", TARGET, extra_config=extra))
    assert {"evaluation_set", "attack_graybox", "predict", "table1"} <= rules, rules
    assert not rules & {"train_classifier", "classify_clean"}, rules


def test_the_latent_cache_refuses_gray_box_clips_another_attack_made(smoke_run, tmp_path):
    """Rules encode_graybox and flow read attack clips as Table I's readers do: a TT file copied over
    PGD's is refused, named, with the command that rebuilds it, and no latents are written from it."""
    workdir = tmp_path / "copy"
    shutil.copytree(smoke_run, workdir, symlinks=True)
    graybox = workdir / "results" / "attacks" / "smoke" / "NL" / "graybox"
    shutil.copy(graybox / "tt.h5", graybox / "pgd.h5")
    target = "results/latents/smoke/NL/graybox/pgd.h5"
    result = run_snakemake(workdir, target)
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "results/attacks/smoke/NL/graybox/pgd.h5: stale cache — parameter 'column' is 'TT', expected 'PGD'" in text
    assert "rm 'results/attacks/smoke/NL/graybox/pgd.h5'" in text and not (workdir / target).exists()


def test_latent_cache_survives_new_defense_settings_and_not_a_new_model(smoke_filled, tmp_path):
    smoke_run = smoke_filled
    downstream = tmp_path / "tstar.yaml"
    downstream.write_text("defenses:\n  DiffPure_DDPM: {type: diffpure_ddpm, tstar: 51}\n")
    rules = scheduled_rules(run_snakemake(smoke_run, "-n", TARGET, *FILL, extra_config=downstream))
    assert {"attack_adaptive", "predict", "table1"} <= rules
    assert not rules & {"train_vae", "train_unet", "encode_clean", "encode_graybox", "attack_graybox"}, rules

    smoke = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    unet = {**smoke["diffusion"]["unet"], "steps": smoke["diffusion"]["unet"]["steps"] + 1}
    retrained = tmp_path / "unet.yaml"
    retrained.write_text(yaml.safe_dump({"diffusion": {**smoke["diffusion"], "unet": unet}}))
    rules = scheduled_rules(run_snakemake(smoke_run, "-n", TARGET, *FILL, extra_config=retrained))
    assert {"train_unet", "encode_clean", "encode_graybox", "attack_full_gradient", "predict"} <= rules
    assert not rules & {"train_vae", "train_classifier", "attack_graybox"}, rules

    # Trained on the VAE's reconstructions (train.vae_reconstructions, mini's setting), the recognizer
    # depends on the VAE: a new VAE retrains it, and everything after it. Smoke's does not.
    vae = {**smoke["diffusion"]["vae"], "steps": smoke["diffusion"]["vae"]["steps"] + 1}
    new_vae = tmp_path / "vae.yaml"
    new_vae.write_text(yaml.safe_dump({"diffusion": {**smoke["diffusion"], "vae": vae}}))
    rules = scheduled_rules(run_snakemake(smoke_run, "-n", TARGET, *FILL, extra_config=new_vae))
    assert "train_vae" in rules and not rules & {"train_classifier", "attack_graybox"}, rules
    new_vae.write_text(yaml.safe_dump({"diffusion": {**smoke["diffusion"], "vae": vae}, "train": {"vae_reconstructions": 0.5}}))
    rules = scheduled_rules(run_snakemake(smoke_run, "-n", TARGET, *FILL, extra_config=new_vae))
    assert {"train_vae", "reconstruct_frames", "train_classifier", "attack_graybox", "train_unet"} <= rules


NEW_DEFENSE = """
from videopure.defenses import Purifier


class Passthrough(Purifier):
    name = "passthrough"
    stochastic = False
    exact_gradient = False  # so the adaptive columns take the BPDA path

    def purify(self, x):
        return x.unsqueeze(1)
"""


def test_a_new_defense_needs_one_class_and_one_config_entry_and_the_identity_scores_as_none(smoke_run, tmp_path):
    """A defense from the user's own module joins Table I with one config entry. The one here returns
    its input: its row must be the undefended row, and each adaptive attack through it (BPDA of the
    identity is the recognizer's own gradient, same seed) the gray-box attack, clip for clip."""
    workdir = tmp_path / "copy"
    shutil.copytree(smoke_run, workdir, symlinks=True)  # leave the shared run untouched
    (tmp_path / "my_defenses.py").write_text(NEW_DEFENSE)
    extra = tmp_path / "extra.yaml"
    extra.write_text("defenses:\n  Passthrough: {type: 'my_defenses:Passthrough'}\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = run_snakemake(workdir, TARGET, extra_config=extra, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    table = pd.read_csv(workdir / TARGET, dtype=str, keep_default_na=False).set_index("Defense")
    row, undefended = table.loc["Passthrough"], table.loc["None"]
    assert [row["None"], row["PGD"], row["TT"]] == [undefended["None"], undefended["PGD"], undefended["TT"]]
    assert [row["PGD+BPDA"], row["TT+BPDA"], row["EOT+BPDA"]] == [undefended["PGD"], undefended["TT"], undefended["PGD"]]
    attacks = workdir / "results" / "attacks" / "smoke" / "NL"
    for adaptive, graybox in (("pgd_bpda", "pgd"), ("tt_bpda", "tt"), ("eot_bpda", "pgd")):
        through = read_h5(attacks / "adaptive" / "Passthrough" / f"{adaptive}.h5", keys=["clips"])["clips"]
        np.testing.assert_allclose(through, read_h5(attacks / "graybox" / f"{graybox}.h5", keys=["clips"])["clips"], atol=1e-6)
    ran = result.stdout + result.stderr
    assert "train_classifier" not in ran and "attack_graybox" not in ran  # earlier stages reused


def test_gpu_script_recomputes_the_adaptive_cells_through_diffusion_as_the_rules_do(smoke_filled, tmp_path):
    """benchmarks/gpu_table1.sh packs a CPU run and, without Snakemake, computes the cells the CPU
    did not run; on the whole evaluation set (one attack batch, as the rules') they are Table I's."""
    from videopure.evaluation.columns import COLUMNS_BY_SLUG
    from videopure.paths import adaptive_file, predictions_file

    workdir = make_workdir(tmp_path / "cpu_run")
    shutil.copytree(smoke_filled / "results", workdir / "results", symlinks=True)
    script = REPO / "benchmarks" / "gpu_table1.sh"
    # The GPU machine has neither Snakemake nor decord: the script must not import them.
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['snakemake'] = sys.modules['decord'] = None\n")
    env = {**os.environ, "PYTHON": sys.executable, "GPU_TABLE1_WHEELS": "0", "OUT": str(tmp_path),
           "PYTHONPATH": str(blocker)}
    packed = subprocess.run(["bash", str(script), "pack", "config/smoke.yaml"], cwd=workdir, env=env, capture_output=True, text=True)
    assert packed.returncode == 0, packed.stderr[-3000:]
    assert "packed" in packed.stdout and (workdir / ".gpu" / "results" / "models" / "smoke-ldm").is_dir()
    defenses = ["DiffPure_DDIM", "Ours"]
    command = ["bash", str(script), "run", "--clips-per-class", "100", "--defenses", *defenses]
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_table1.json").read_text())
    table = pd.read_csv(smoke_filled / TARGET, dtype=str, keep_default_na=False).set_index("Defense")
    assert report["skipped"] == [] and len(report["video_ids"]["smoke"]) == int(table.loc["Ours", "Clips"])
    assert [(c["defense"], c["column"]) for c in report["cells"]] == [
        (defense, column) for defense in defenses for column in ADAPTIVE_THROUGH_DIFFUSION
    ]
    slugs = {column.name: slug for slug, column in COLUMNS_BY_SLUG.items()}
    for cell in report["cells"]:
        slug = slugs[cell["column"]]
        assert cell["accuracy"] == float(table.loc[cell["defense"], cell["column"]]), cell
        rule = read_h5(smoke_filled / adaptive_file("smoke", "NL", cell["defense"], slug))
        assert cell["attack"] == rule.params["attack"] and cell["gradient"] == rule.params["gradient"]
        assert cell["final_mean_loss"] == pytest.approx(float(rule["loss_trace"][-1].mean()), rel=1e-4), cell
        predictions = read_h5(smoke_filled / predictions_file("smoke", "NL", cell["defense"]), keys=["video_ids", f"{slug}/votes"])
        assert list(predictions["video_ids"].astype(str)) == report["video_ids"]["smoke"]
        np.testing.assert_array_equal(np.array(cell["votes"]), predictions[f"{slug}/votes"])  # clip by clip
