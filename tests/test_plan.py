"""The workflow's plan (videopure.plan) without Snakemake: rows, variants, caches and the inputs of a
few rules on the smoke and mini configs. The ``snakemake -n`` tests (test_workflow_static.py) check
the same plan through Snakemake."""

from __future__ import annotations

import copy
import shlex
from types import SimpleNamespace as Wildcards

import pytest

from tests.helpers import REPO
from videopure.config import ConfigError, load_config
from videopure.plan import ARTIFACT, Invocation, Plan, one_of

MINI = load_config(REPO / "config" / "config.yaml")
SMOKE = load_config(REPO / "config" / "smoke.yaml")
TABLE1_ROWS = ["None", "JPEG", "WN", "TemporalShuffle", "TemporalShuffle_w4", "DiffPure_DDPM", "DiffPure_DDIM",
               "DDIM_Inversion", "Ours"]
NOTHING_MADE = {"exists": lambda path: False}


def plan(config: dict, *, made: tuple[str, ...] = (), **overrides) -> Plan:
    """The plan of ``config`` with top-level ``overrides``, in a directory where only ``made`` exist."""
    config = {**copy.deepcopy(config), **overrides}
    return Plan(config, exists=lambda path: path in made)


def test_mini_has_table_i_s_nine_rows_and_every_variant_a_job_may_name():
    mini = plan(MINI)
    assert list(mini.defenses) == TABLE1_ROWS
    # Variants are named after their row and what they change; none of them is a Table I row.
    assert "Ours+tstar~2" in mini.variants and "Ours+alpha_s~-16.0" in mini.variants
    assert "DiffPure_DDPM@StableDiffusion" in mini.variants and "DiffPure_DDIM@GuidedDiffusion" in mini.variants
    assert not set(mini.variants) & set(mini.defenses)
    assert set(mini.all_defenses) == {*mini.defenses, *mini.variants, *mini.flow_variants}
    assert list(mini.flow_variants) == ["Ours_raft_small"]
    # Table V's rows purify on an image model: diffusion defenses, but not on the latent caches.
    assert "DiffPure_DDPM@StableDiffusion" in mini.diffusion_defenses
    assert "DiffPure_DDPM@StableDiffusion" not in mini.latent_cached
    assert {"DiffPure_DDPM", "Ours", "Ours+tstar~2"} <= set(mini.latent_cached)
    assert mini.full_gradient_defenses == ["DiffPure_DDPM", "DiffPure_DDIM", "DDIM_Inversion", "Ours"]


def test_videopure_caches_one_trajectory_per_t_star_and_inversion_and_one_flow_per_flow_model():
    mini = plan(MINI)
    tstars = sorted(int(key.split("_")[0].removeprefix("tstar~")) for key in mini.trajectories)
    assert tstars == [2, 3, 4, 5, 6, 6, 7, 8, 9, 10]  # t* = 6 twice: temporal and plain DDIM inversion
    assert "tstar~6_steps~50_temporal~false" in mini.trajectories
    # Table VI's raft_small variant purifies from scratch, so its flow is no cache.
    assert mini.flows == {"dis": {"type": "dis"}}


def test_predict_inputs_of_videopure_read_its_latents_trajectories_and_flows_per_clip_file():
    inputs = plan(MINI).predict_inputs(Wildcards(dataset="mini", model="NL", defense="Ours"))
    trajectory = "results/trajectories/mini/tstar~6_steps~50_temporal~true"
    assert inputs == {
        "frames": "results/frames/mini/test.h5",
        "evalset": "results/evalset/mini.h5",
        "checkpoint": "results/models/mini-NL/checkpoint.pth",
        "pgd": "results/attacks/mini/NL/graybox/pgd.h5",
        "tt": "results/attacks/mini/NL/graybox/tt.h5",
        "diffusion_model": "results/models/mini-ldm",
        "latents_clean": "results/latents/mini/clean.h5",
        "latents_pgd": "results/latents/mini/NL/graybox/pgd.h5",
        "latents_tt": "results/latents/mini/NL/graybox/tt.h5",
        "trajectory_clean": f"{trajectory}/clean.h5",
        "flow_clean": "results/flow/mini/dis/clean.h5",
        "trajectory_pgd": f"{trajectory}/NL/graybox/pgd.h5",
        "flow_pgd": "results/flow/mini/dis/NL/graybox/pgd.h5",
        "trajectory_tt": f"{trajectory}/NL/graybox/tt.h5",
        "flow_tt": "results/flow/mini/dis/NL/graybox/tt.h5",
    }


def test_one_candidate_diffusion_rows_read_their_clean_votes_from_one_purification_for_every_recognizer():
    mini = plan(MINI)
    assert mini.shared_clean == ["DiffPure_DDPM", "DiffPure_DDIM", "DDIM_Inversion"]  # not Ours: 7 candidates
    inputs = mini.predict_inputs(Wildcards(dataset="mini", model="SlowFast", defense="DiffPure_DDPM"))
    assert inputs["shared_clean"] == "results/predictions_clean/mini/DiffPure_DDPM.h5"
    assert "latents_clean" not in inputs and inputs["latents_pgd"] == "results/latents/mini/SlowFast/graybox/pgd.h5"
    assert mini.shared_clean_inputs(Wildcards(dataset="mini", defense="DiffPure_DDPM")) == {
        "frames": "results/frames/mini/test.h5",
        "evalset": "results/evalset/mini.h5",
        "latents_clean": "results/latents/mini/clean.h5",
        "diffusion_model": "results/models/mini-ldm",
        "checkpoint_NL": "results/models/mini-NL/checkpoint.pth",
        "checkpoint_SlowFast": "results/models/mini-SlowFast/checkpoint.pth",
    }
    # Variants and Table V's rows purify their clean clips in their own row.
    for defense in ("Ours+tstar~2", "DiffPure_DDPM@StableDiffusion"):
        assert "shared_clean" not in mini.predict_inputs(Wildcards(dataset="mini", model="NL", defense=defense))


def test_adaptive_cells_through_diffusion_are_read_where_scheduled_or_already_made():
    ours = Wildcards(dataset="mini", model="NL", defense="Ours")
    assert plan(MINI, diffusion_adaptive="skip").row_sources(ours) == ["clean", "pgd", "tt"]
    every = ["clean", "pgd", "tt", "pgd_bpda", "tt_bpda", "eot_bpda", "pgd_diffattack"]
    assert plan(MINI, diffusion_adaptive="run").row_sources(ours) == every
    # A GPU run made one file: a CPU run reads it and schedules no other.
    made = ("results/attacks/mini/NL/adaptive/Ours/pgd_bpda.h5",)
    assert plan(MINI, diffusion_adaptive="skip", made=made).row_sources(ours) == ["clean", "pgd", "tt", "pgd_bpda"]
    # A classical defense's adaptive cells are always measured.
    jpeg = Wildcards(dataset="mini", model="NL", defense="JPEG")
    assert plan(MINI, diffusion_adaptive="skip").row_sources(jpeg) == ["clean", "pgd", "tt", "pgd_bpda", "tt_bpda",
                                                                       "eot_bpda"]


def test_table_v_rows_purify_on_their_image_model_without_latent_caches():
    mini = plan(MINI)
    inputs = mini.predict_inputs(Wildcards(dataset="mini", model="NL", defense="DiffPure_DDPM@GuidedDiffusion"))
    assert inputs["diffusion_model"] == "results/models/mini-table5-GuidedDiffusion"
    assert not [key for key in inputs if key.startswith(("latents_", "trajectory_", "flow_"))]
    assert mini.image_model_inputs(Wildcards(dataset="mini", image_model="GuidedDiffusion")) == {
        "train": "results/frames/mini/train.h5"}  # pixel space: no VAE
    assert mini.image_model_inputs(Wildcards(dataset="mini", image_model="StableDiffusion"))["vae"] == (
        "results/models/mini-vae")


def test_budget_cells_put_the_undefended_row_first_and_reuse_table_i_at_its_setting():
    smoke = plan(SMOKE)
    cells = smoke.budget_cells("table11")
    assert [cell[0] for cell in cells] == ["None", "Ours"]
    # Table XI's 4/255 point is Table I's attack setting: its row's predictions, not a new file.
    assert cells[0][2] == "results/predictions/smoke/NL/None.h5"
    assert smoke.budget_inputs(Wildcards(table="table11")) == [cell[2] for cell in cells]


def test_claims_read_the_tables_this_config_builds_and_s2_only_where_its_attack_is_scheduled():
    inputs = plan(SMOKE).claims_inputs(Wildcards())
    assert [name for name in inputs if name.startswith(("table", "fig"))] == [
        "table1", "table1_settings", "table4", "table7", "table8", "table10", "fig5a", "fig5b", "fig6", "table5",
        "table11"]
    unbounded = "results/predictions/smoke/NL/linf~64_steps~2_clips~all_step~80"
    assert inputs["unbounded"] == [f"{unbounded}/None.h5", f"{unbounded}/JPEG.h5"]
    without_image_models = copy.deepcopy(SMOKE)
    without_image_models["table5"]["models"]["Stable Diffusion"]["path"] = "nowhere/stable-diffusion"
    assert "table5" not in plan(without_image_models).claims_inputs(Wildcards())


def test_the_fill_command_repeats_the_run_and_switches_the_adaptive_cells_on():
    elsewhere = Invocation(snakefile="/repo/Snakefile", directory="/runs/a", configfiles=("config/smoke.yaml",),
                           config_args=("diffusion_adaptive=skip", "threads=1"))
    command = shlex.split(elsewhere.fill_command("results/table1.csv"))
    assert command == ["snakemake", "--snakefile", "/repo/Snakefile", "--directory", "/runs/a", "--cores", "4",
                       "results/table1.csv", "--configfile", "config/smoke.yaml", "--config", "threads=1",
                       "diffusion_adaptive=run"]
    here = Invocation(snakefile="/repo/Snakefile", directory="/repo")
    assert shlex.split(here.fill_command("results/fig4.png")) == [
        "snakemake", "--cores", "4", "results/fig4.png", "--config", "diffusion_adaptive=run"]
    skipped = plan(SMOKE).diffusion_adaptive_params("results/table1.csv")
    assert not skipped["run"] and "'device' is 'cpu'" in skipped["reason"] and skipped["fill_command"]
    assert plan(SMOKE, diffusion_adaptive="run").diffusion_adaptive_params("x")["fill_command"] == ""


def test_a_target_the_config_cannot_build_names_the_key_to_set():
    without_ddpm = copy.deepcopy(SMOKE)
    del without_ddpm["defenses"]["DiffPure_DDPM"]
    with pytest.raises(ConfigError, match="'defenses' needs a diffpure_ddpm row"):
        plan(without_ddpm).speed_report(Wildcards())
    without_videopure = copy.deepcopy(MINI)
    del without_videopure["defenses"]["Ours"]
    with pytest.raises(ConfigError, match="no defense in config 'defenses' has type videopure"):
        plan(without_videopure).ablation_predictions(Wildcards(table="table4"))


def test_stage_config_hands_a_job_only_the_keys_its_script_reads():
    declared = plan(SMOKE).stage_config("table10")(Wildcards())
    assert set(declared) < set(SMOKE)
    assert plan(SMOKE).stage_config("frames")(Wildcards(dataset="smoke"))["datasets"].keys() == {"smoke"}


def test_wildcard_constraints_match_the_names_and_nothing_else():
    import re

    pattern = re.compile(f"(?:{one_of(['Ours', 'Ours+tstar~2'])})$")
    assert pattern.match("Ours+tstar~2") and pattern.match("Ours") and not pattern.match("Ours+tstar~20")
    assert not re.match(f"(?:{one_of([])})$", "anything")
    assert ARTIFACT[0] == "results/table1.csv" and "results/claims.csv" in ARTIFACT
