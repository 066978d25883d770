"""Config validation: defaults, unknown keys, types, ranges, cross-field rules, missing downloads."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.helpers import REPO
from videopure.config import ConfigError, load_config, missing_local_inputs, validate_config
from videopure.defenses.registry import DEFENSES


@pytest.fixture
def mini() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_profiles_validate_and_paper_defaults_are_filled():
    """The schema's defaults are the paper's values; the paper profile keeps them all."""
    import inspect

    from videopure.defenses import VideoPure

    config = load_config(REPO / "config" / "paper.yaml")
    paper = {"tstar": 6, "num_inference_steps": 50, "alpha_s": -4.0, "lambda_temp": 5.0, "lambda_spa": 800.0}
    ours = config["defenses"]["Ours"]
    assert ours["type"] == "videopure" and {key: ours[key] for key in paper} == paper
    assert ours["flow"]["type"] == "raft" and ours["flow"]["iterations"] == 10
    defaults = {key: p.default for key, p in inspect.signature(VideoPure).parameters.items() if key in paper}
    assert defaults == paper  # the class defaults are the paper's values too
    assert config["ablations"] == {"defense": "Ours", "dataset": "ucf101", "model": "NL"}
    attack = config["attack"]
    assert attack["eps"] == pytest.approx(4 / 255) and attack["step_size"] == pytest.approx(2 / 255)
    assert (attack["steps"], attack["eps_l2"], attack["eot_samples"]) == (10, 2.0, 20)
    assert attack["blackbox_eps"] == pytest.approx(16 / 255)
    assert config["diffusion"]["dtype"] == "float32"
    for name in ("config.yaml", "smoke.yaml"):
        load_config(REPO / "config" / name)


def test_the_default_profile_has_every_table1_row_and_decides_diffusion_adaptive_cells_by_device():
    """One config describes all of Table I's rows (paper's order); where its adaptive cells through
    diffusion run is the key 'diffusion_adaptive', resolved where the job graph is built."""
    import torch

    from videopure.evaluation.columns import (
        adaptive_columns,
        decide_diffusion_adaptive,
        defense_specs,
        diffusion_adaptive_columns,
    )

    mini = load_config(REPO / "config" / "config.yaml")
    specs = defense_specs(mini)
    assert list(specs) == ["None", "JPEG", "WN", "TemporalShuffle", "TemporalShuffle_w4",
                           "DiffPure_DDPM", "DiffPure_DDIM", "DDIM_Inversion", "Ours"]
    assert (specs["DiffPure_DDPM"]["tstar"], specs["Ours"]["tstar"]) == (101, 6)  # never shrunk to fit a CPU
    assert mini["diffusion_adaptive"] == "auto"
    assert decide_diffusion_adaptive({**mini, "diffusion_adaptive": "run", "device": "cpu"}) == (True, "")
    assert decide_diffusion_adaptive({**mini, "device": "cuda"}) == (True, "")  # jobs are said to run on CUDA
    assert decide_diffusion_adaptive({**mini, "diffusion_adaptive": "skip"}) == (False, "config 'diffusion_adaptive' is 'skip'")
    run, reason = decide_diffusion_adaptive({**mini, "device": "cpu"})
    assert not run and "'device' is 'cpu'" in reason
    run, reason = decide_diffusion_adaptive({**mini, "device": "auto"})
    assert run == torch.cuda.is_available() and (run or "no CUDA device" in reason)
    names = [column.name for column in diffusion_adaptive_columns(specs["Ours"])]
    assert names == ["PGD+BPDA", "TT+BPDA", "EOT+BPDA", "PGD+DiffAttack"]
    assert diffusion_adaptive_columns(specs["Ours"]) == adaptive_columns(specs["Ours"])
    assert diffusion_adaptive_columns(specs["JPEG"]) == () and adaptive_columns(specs["JPEG"])  # a CPU affords these
    assert diffusion_adaptive_columns(specs["None"]) == ()


def test_validation_does_not_modify_its_argument(mini):
    before = copy.deepcopy(mini)
    validate_config(mini)
    assert mini == before


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"unknown_key": 1}, "<top level>"),
        ({"seed": "zero"}, "seed"),
        ({"threads": 0}, "threads"),
        ({"attack": {"eps": 0}}, "attack.eps"),
        ({"attack": {"eps": -0.1}}, "attack.eps"),
        ({"attack": {"steps": 0}}, "attack.steps"),
        ({"attack": {"norm": "l1"}}, "attack.norm"),
        ({"defenses": {"Ours": {"type": "videopure", "tstar": 0}}}, "defenses.Ours"),
        ({"defenses": {"Ours": {"type": "videopure", "tstar": 51}}}, "defenses.Ours"),
        ({"defenses": {"Ours": {"type": "videopure", "lambda_spa": -1}}}, "defenses.Ours"),
        ({"defenses": {"Ours": {"type": "videopure", "alpha_s": 0}}}, "defenses.Ours"),
        ({"defenses": {"Ours": {"type": "videopure", "flow": {"type": "pwcnet"}}}}, "defenses.Ours"),
        ({"defenses": {"X": {"type": "median_filter"}}}, "defenses.X"),
        ({"defenses": {"JPEG": {"type": "jpeg", "quality": 150}}}, "defenses.JPEG"),
        ({"defenses": {"WN": {"type": "white_noise", "sigma": -0.1}}}, "defenses.WN"),
        ({"defenses": {"TS": {"type": "temporal_shuffle", "window": 1}}}, "defenses.TS"),
        ({"defenses": {"DDPM": {"type": "diffpure_ddpm", "tstar": 0}}}, "defenses.DDPM"),
        ({"defenses": {"DDIM": {"type": "diffpure_ddim", "tstar": 60}}}, "defenses.DDIM"),
        ({"defenses": {"Inv": {"type": "ddim_inversion", "temporal": "yes"}}}, "defenses.Inv"),
        # beyond the range mini's workflow-trained UNet sees (diffusion.unet.tau_max 201): t* = 12 reaches 221
        ({"defenses": {"DDIM": {"type": "diffpure_ddim", "tstar": 12}}}, "defenses.DDIM"),
        ({"defenses": {"DDPM": {"type": "diffpure_ddpm", "tstar": 202}}}, "defenses.DDPM"),
        ({"sweeps": {"tstar": [2, 12]}}, "sweeps"),
        ({"autoattack": {"defenses": ["Nope"]}}, "autoattack.defenses"),
        ({"autoattack": {"model": "I3D"}}, "autoattack.model"),
        ({"autoattack": {"steps": 0}}, "autoattack.steps"),
        ({"eps_sweep": {"eps": [4, 0]}}, "eps_sweep.eps.1"),
        ({"eps_sweep": {"defenses": ["Nope"]}}, "eps_sweep.defenses"),
        ({"l2_attack": {"defenses": ["DiffPure_DDPM", "Nope"]}}, "l2_attack.defenses"),
        ({"l2_attack": {"clips": 0}}, "l2_attack.clips"),
        ({"attack": {"eps_l2": 0}}, "attack.eps_l2"),
        ({"device": "cpu", "diffusion": {"dtype": "float16"}}, "diffusion.dtype"),
        ({"datasets": {"mini": {"source": "generated", "classifiers": {"NL": {"config": "x"}},
                                "frame_files": {"template": "{}.png"}}}}, "datasets.mini.frame_files"),
        # JPEG has no exact gradient (BPDA only): an exact-gradient AutoAttack through it is refused
        ({"autoattack": {"defenses": ["JPEG", "Ours"], "gradient": "exact"}}, "autoattack.gradient"),
        ({"diagnostics": {"graybox_references": {"X": {"type": "jpeg", "quality": 150}}}}, "diagnostics.graybox_references.X"),
        ({"diagnostics": {"graybox_references": {"Y": {"type": "diffpure_ddpm", "tstar": 300}}}}, "diagnostics.graybox_references.Y"),
        ({"diagnostics": {"speed_sweep_point": {"alpha": -8.0}}}, "diagnostics.speed_sweep_point"),
        ({"diagnostics": {"speed_sweep_point": {"alpha_s": 0.0}}}, "diagnostics.speed_sweep_point"),
        ({"attack": {"norm": "l2"}}, "attack.norm"),
        ({"defenses": {"JPEG": {"type": "jpeg", "qualty": 75}}}, "defenses.JPEG"),
        ({"ablations": {"defense": "JPEG"}, "defenses": {"JPEG": {"type": "jpeg"}}}, "ablations.defense"),
        ({"ablations": {"model": "I3D"}, "defenses": {"Ours": {"type": "videopure"}}}, "ablations.model"),
        ({"datasets": {"mini": {"source": "youtube", "classifiers": {"NL": {"config": "x"}}}}}, "datasets.mini.source"),
        ({"datasets": {"mini": {"source": "generated", "classifiers": {}}}}, "datasets.mini.classifiers"),
        ({"datasets": {"mini": {"source": "ucf101", "classifiers": {"NL": {"config": "x"}}}}}, "datasets.mini.video_root"),
        ({"generator": {"per_class": {"test": 0}}}, "generator.per_class.test"),
        ({"diffusion": {"unet": {"tau_max": 1000}}}, "diffusion.unet"),
        ({"diffusion": {"vae": {"crop_sise": 32}}}, "diffusion.vae"),
        ({"flow_training": {"gamma": 1.5}}, "flow_training"),
        ({"flow_training": {"epochs": 3}}, "flow_training"),
    ],
)
def test_bad_values_name_their_key(mini, patch, key):
    config = {**mini, **patch}
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert f"'{key}'" in str(error.value)


def test_crop_larger_than_short_side_is_refused(mini):
    mini["datasets"]["mini"]["clip"] = {"short_side": 32, "crop": 64}
    with pytest.raises(ConfigError, match="datasets.mini.clip.crop"):
        validate_config(mini)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_paper_profile_lists_every_missing_download(tmp_path):
    config = load_config(REPO / "config" / "paper.yaml")
    problems = missing_local_inputs(config, root=tmp_path)
    text = "\n".join(problems)
    for key in ("ucf101.video_root", "ucf101.annotations", "k400.video_root", "k400.annotations", "k400.class_names"):
        assert f"datasets.{key}" in text
    checkpoints = [p for p in problems if ".checkpoint" in p]
    assert len(checkpoints) == 4 and all("download" in p for p in checkpoints)
    assert "UCF101.rar" in text and "label_map_k400.txt" in text
    models = [p for p in problems if ".diffusion_model" in p]
    assert len(models) == 2 and all("text-to-video-ms-1.7b" in p and "unet/" in p for p in models)
    flows = [p for p in problems if ".flow.weights" in p]
    assert len(flows) == 1 and "defenses.Ours" in flows[0] and "Raft_Large_Weights.C_T_V1" in flows[0]


def test_mini_profile_needs_no_download():
    assert missing_local_inputs(load_config(REPO / "config" / "config.yaml"), root=REPO) == []


def test_the_raft_small_the_workflow_trains_is_not_a_download():
    config = load_config(REPO / "config" / "config.yaml")
    trained = {"type": "raft", "size": "small", "weights": "results/models/mini-raft_small.pth"}
    config["defenses"]["Ours"] = {"type": "videopure", "flow": trained}
    assert missing_local_inputs(config, root=REPO) == []
    config["defenses"]["Ours"]["flow"] = {**trained, "weights": "results/models/ucf101-raft_small.pth"}
    (problem,) = missing_local_inputs(config, root=REPO)  # not a generated dataset of this config
    assert "defenses.Ours.flow.weights" in problem and "raft_small the workflow trains" in problem


@pytest.mark.parametrize("name", sorted(DEFENSES))
def test_every_registered_defense_refuses_a_bad_argument_before_anything_is_built(name):
    """Config validation builds nothing, yet refuses a wrong value of any constructor argument of any
    registered defense (a string where a number, flag, choice or flow spec belongs)."""
    import inspect

    from videopure.defenses import check_defense_spec, resolve_defense

    parameters = [p for p in inspect.signature(resolve_defense(name)).parameters if p != "model"]
    for parameter in parameters:
        with pytest.raises(ValueError, match=parameter):
            check_defense_spec({"type": name, parameter: "not-a-value"})
    check_defense_spec({"type": name})  # the defaults pass


@pytest.mark.parametrize("profile", ["config.yaml", "smoke.yaml", "paper.yaml"])
def test_validation_fills_the_defaults_snakemake_fills_without_importing_it(profile):
    """Jobs and the GPU script validate with jsonschema alone; the result must be the config the
    workflow validated with Snakemake's validate()."""
    import subprocess
    import sys

    from snakemake.utils import validate

    raw = yaml.safe_load((REPO / "config" / profile).read_text())
    theirs = copy.deepcopy(raw)
    validate(theirs, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    assert validate_config(raw) == theirs
    # Importable and usable where Snakemake is not installed.
    blocked = "import sys; sys.modules['snakemake'] = None; from videopure.config import load_config; "
    code = blocked + f"load_config({str(REPO / 'config' / profile)!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]


def leaf_keys(config: dict, prefix: str = "") -> list[str]:
    """Dotted paths of a config's leaves (a list or an empty section is a leaf)."""
    keys = []
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else key
        keys += leaf_keys(value, path) if isinstance(value, dict) and value else [path]
    return keys


@pytest.mark.parametrize("profile", ["config.yaml", "smoke.yaml", "paper.yaml"])
def test_every_config_key_reaches_jobs_through_rule_params_or_shapes_the_job_graph(profile):
    """Scope: Snakemake reruns a job when its params change. Each config key is read by the stages
    that declare it (passed as params.config, so recorded) or only where the job graph is built;
    and every declared key is one the schema knows, so no declaration names a key no stage gets."""
    from videopure.params import GRAPH_CONFIG, OPTIONAL_CONFIG, STAGE_CONFIG

    config = load_config(REPO / "config" / profile)
    patterns = {key for keys in STAGE_CONFIG.values() for key in ("seed", *keys)} | set(GRAPH_CONFIG)
    covered = {pattern.format(dataset=dataset) for pattern in patterns for dataset in config["datasets"]}
    uncovered = [
        key for key in leaf_keys(config)
        if not any(key == prefix or key.startswith(prefix + ".") for prefix in covered)
    ]
    assert uncovered == []
    known = set(leaf_keys(config)) | {prefix for key in leaf_keys(config) for prefix in _prefixes(key)}
    for stage, keys in STAGE_CONFIG.items():
        for dataset in config["datasets"]:
            optional = {key.format(dataset=dataset) for key in OPTIONAL_CONFIG}
            unknown = {key.format(dataset=dataset) for key in keys} - known - optional - {"generator"}
            assert not unknown, f"stage {stage} declares keys the {profile} config does not hold: {unknown}"


def _prefixes(key: str) -> list[str]:
    parts = key.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def test_a_job_sees_the_config_keys_its_rule_declares_and_no_other(mini):
    """What rule predict passes as params.config, and how its job reads it: declared keys as in the
    config; any other key, by indexing, ``in``, ``get`` or iteration, an error naming key and rule."""
    from videopure.params import STAGE_CONFIG, UndeclaredConfigError, declared_config, restrict_config

    config = validate_config(mini)
    declared = declared_config(config, STAGE_CONFIG["predict"], "mini")
    assert set(declared) == {"seed", "datasets", "diffusion", "evaluation", "generator"}
    assert declared["evaluation"] == config["evaluation"] and declared["diffusion"] == {"dtype": "float32"}
    assert declared["datasets"]["mini"]["classifiers"] == config["datasets"]["mini"]["classifiers"]
    view = restrict_config(config, declared, "predict")
    assert view["evaluation"] == config["evaluation"] and type(view["evaluation"]) is dict
    assert view["datasets"]["mini"]["clip"] == config["datasets"]["mini"]["clip"]
    reads = [
        ("attack", lambda: view["attack"]),
        ("attack", lambda: "attack" in view),
        ("attack", lambda: view.get("attack")),
        ("diffusion.unet", lambda: view["diffusion"]["unet"]),
        ("datasets.mini.diffusion_model", lambda: dict(view["datasets"]["mini"])),
    ]
    for key, read in reads:
        with pytest.raises(UndeclaredConfigError, match=rf"rule predict reads config key '{key}'.*STAGE_CONFIG"):
            read()
    assert view["datasets"]["mini"].get("no_such_key", "absent") == "absent"  # as in the full config


def test_an_exact_gradient_autoattack_is_accepted_through_differentiable_defenses(mini):
    """The refusal above is JPEG's: Temporal Shuffle, DiffPure_DDPM and VideoPure have an exact gradient."""
    from videopure.evaluation.autoattack import autoattack_setup

    config = validate_config({**mini, "autoattack": {"gradient": "exact"}})
    assert autoattack_setup(config).gradient == "exact"
    assert autoattack_setup(config).defenses == ("TemporalShuffle", "DiffPure_DDPM", "Ours")


@pytest.mark.parametrize("template", ["frame.png", "{name}.png", "{:d}/{:d}.png", "{}/x.png"])
def test_a_frame_file_template_that_names_no_file_per_frame_is_refused(template):
    from videopure.data.readers import check_frame_files

    with pytest.raises(ValueError, match="template"):
        check_frame_files({"template": template, "start_index": 0})
    check_frame_files({"template": "{}.png", "start_index": 0})


def test_half_precision_is_refused_before_any_job_where_no_gpu_runs_them(mini):
    """float16 (the authors' precision) needs CUDA: refused with device cpu, and with device auto on
    a machine without a CUDA device; accepted with device cuda (the jobs run on GPU nodes)."""
    import torch

    half = {**mini, "diffusion": {**mini["diffusion"], "dtype": "float16"}}
    for device in ("cpu",) if torch.cuda.is_available() else ("cpu", "auto"):
        with pytest.raises(ConfigError, match=r"'diffusion\.dtype': float16 runs on a CUDA GPU only"):
            validate_config({**half, "device": device})
    assert validate_config({**half, "device": "cuda"})["diffusion"]["dtype"] == "float16"
    assert validate_config({**mini, "diffusion": {**mini["diffusion"], "dtype": "bfloat16"}, "device": "cpu"})
