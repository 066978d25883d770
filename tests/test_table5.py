"""Table V's plan (videopure.tables.table5): rows in the paper's layout, config errors naming the key,
image models checked when the table is asked for, the table's cells, and claim C12 read from it."""

from __future__ import annotations

import json

import pytest

from videopure.config import ConfigError, load_config
from videopure.tables.claims import ClaimsInputs, NotRun, Verdict, evaluate_claims
from videopure.tables.table1 import NOT_RUN
from videopure.tables.table5 import PAPER_LAYOUT, VIDEO_MODEL, build_table5, describe_model, table5_setup

from tests.helpers import REPO, load_mini_with, tiny_diffusion

MINI = load_config(REPO / "config" / "config.yaml")
PAPER = load_config(REPO / "config" / "paper.yaml")


@pytest.mark.parametrize("config", [MINI, PAPER], ids=["mini", "paper"])
def test_rows_follow_the_papers_layout(config):
    setup = table5_setup(config, "Ours")
    assert [(label, defense.lower()) for label, defense, _ in setup.rows()] == [
        (label, defense.lower()) for label, defense in PAPER_LAYOUT
    ]
    names = [name for _, _, name in setup.rows()]
    assert names[:4] == ["DiffPure_DDPM@StableDiffusion", "DiffPure_DDIM@StableDiffusion",
                         "DiffPure_DDPM@GuidedDiffusion", "DiffPure_DDIM@GuidedDiffusion"]  # fmt: skip
    assert names[4:] == ["DiffPure_DDPM", "DiffPure_DDIM", "Ours"]  # the video model's rows are Table I's
    assert setup.variant_specs(config["defenses"])["DiffPure_DDPM@GuidedDiffusion"] == config["defenses"]["DiffPure_DDPM"]
    assert (setup.dataset, setup.model) == (("mini", "NL") if config is MINI else ("ucf101", "NL"))
    pixel = setup.image_models["Guided Diffusion"]
    assert pixel.kind == "pixel" and pixel.training["kind"] == "pixel" and pixel.training["num_frames"] == 1


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ("table5: {defenses: [DiffPure_DDQM]}", "'table5.defenses': 'DiffPure_DDQM' is not a defense"),
        ("table5: {defenses: [Ours]}", "'Ours' (videopure) is not one of the diffusion baselines"),
        ("table5: {defenses: [JPEG]}", "'JPEG' (jpeg) is not one of the diffusion baselines"),
        ("table5: {defenses: [DiffPure_DDPM, DiffPure_DDPM]}", "names a defense twice; name each once"),
        ("table5: {models: {Model Scope: {kind: image}}}",
         "'table5.models.Model Scope': the name gives the path component 'ModelScope', already \"the video model's rows"),
        ("table5: {models: {'---': {kind: image}}}", "'table5.models.---': a name needs a letter or digit"),
        ("table5: {models: {Stable Diffusion: {kind: image}, StableDiffusion: {kind: pixel}}}",
         "'table5.models.StableDiffusion': the name gives the path component 'StableDiffusion'"),
        ("table5: {models: {SD: {kind: video}}}", "'table5.models.SD.kind'"),
        ("table5: {models: {SD: {kind: image, unet: {blocks: 2}}}}", "'table5.models.SD.unet': "),
        ("table5: {models: {SD: {kind: image, unet: {tau_max: 60, low_tau_max: 20}}}}",
         "'table5.models.SD.unet.tau_max': DiffPure_DDPM reaches train timestep 101, beyond the 60"),
    ],
)
def test_config_errors_name_the_key(tmp_path, overlay, message):
    with pytest.raises(ConfigError, match=f".*{message.replace('(', '[(]').replace(')', '[)]')}"):
        load_mini_with(tmp_path, overlay)


def test_image_models_are_checked_when_table5_is_asked_for(tmp_path):
    config = load_mini_with(tmp_path, "table5: {models: {Stable Diffusion: {kind: image, path: models/sd}}}")
    setup = table5_setup(config, "Ours")
    (problem,) = setup.missing_models(tmp_path)
    assert "table5.models.Stable Diffusion.path = 'models/sd' does not exist" in problem
    assert "Stable Diffusion v1.5" in problem
    tiny_diffusion().save_pretrained(tmp_path / "models" / "sd")  # a video model where an image model belongs
    (problem,) = setup.missing_models(tmp_path)
    assert "holds no UNet2DConditionModel" in problem
    tiny_diffusion(kind="image").save_pretrained(tmp_path / "models" / "sd")
    assert setup.missing_models(tmp_path) == []
    assert describe_model(tmp_path / "models" / "sd") == f"UNet2DConditionModel, downloaded ({tmp_path / 'models' / 'sd'})"
    metadata = tmp_path / "models" / "sd" / "videopure.json"
    metadata.write_text(json.dumps({**json.loads(metadata.read_text()), "source": "trained by videopure.diffusion.train"}))
    assert describe_model(tmp_path / "models" / "sd").startswith("UNet2DConditionModel, trained by the workflow")


def accuracies(video: float, image: float, bpda: bool = True) -> dict[str, dict[str, float]]:
    """Every row's accuracy fractions: the video model's rows at ``video``, the image models' at ``image``."""
    setup = table5_setup(MINI, "Ours")
    return {
        name: {"clean": value, "pgd": value, **({"pgd_bpda": value} if bpda else {})}
        for label, _, name in setup.rows()
        for value in [video if label == VIDEO_MODEL else image]
    }


def test_table_cells_and_claim_c12():
    setup = table5_setup(MINI, "Ours")
    described = {label: f"{label} here" for label in ("Stable Diffusion", "Guided Diffusion", VIDEO_MODEL)}
    table = build_table5(setup, accuracies(0.9, 0.2, bpda=False), described, clips=50)
    assert list(table.columns) == ["Diffusion Model", "Defense", "Standard Acc", "Robust Acc*", "Robust Acc",
                                   "Model here", "Clips", "Row"]  # fmt: skip
    assert (table["Robust Acc"] == NOT_RUN).all() and (table["Standard Acc"].isin([90.0, 20.0])).all()
    assert list(table["Model here"][:2]) == ["Stable Diffusion here"] * 2

    def c12(video: float, image: float, bpda: bool = True) -> list:
        table = build_table5(setup, accuracies(video, image, bpda), described, clips=50).astype(str)
        not_run = NotRun("no GPU", "snakemake --cores 4 results/table5.csv --config diffusion_adaptive=run")
        inputs = ClaimsInputs({"table5": table}, {}, not_run, "Ours", ("mini", "NL"))
        return [check for check in evaluate_claims(inputs) if check.claim == "C12"]

    checks = c12(0.9, 0.2)
    assert len(checks) == 12  # two image models x two defenses x three metrics
    assert {check.verdict for check in checks} == {Verdict.HOLDS}
    assert checks[0].check == "DiffPure_DDPM: ModelScope above Stable Diffusion, Standard Acc"
    assert {check.verdict for check in c12(0.2, 0.9)} == {Verdict.FAILS}
    assert {check.verdict for check in c12(0.5, 0.48)} == {Verdict.INCONCLUSIVE}  # one clip of 50 apart
    unmeasured = [check for check in c12(0.9, 0.2, bpda=False) if check.check.endswith("Robust Acc")]
    assert {check.verdict for check in unmeasured} == {Verdict.NOT_MEASURED}
    assert all("results/table5.csv --config diffusion_adaptive=run" in check.why for check in unmeasured)
    missing = [c for c in evaluate_claims(ClaimsInputs({}, {}, NotRun("", ""), "Ours", ("mini", "NL"))) if c.claim == "C12"]
    assert [check.verdict for check in missing] == [Verdict.NOT_MEASURED] and "table5.csv was not built" in missing[0].why

