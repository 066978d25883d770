"""The diffusion purifiers (DiffPure_DDPM, DiffPure_DDIM, DDIM inversion): latent entry point, cost,
gradient modes, construction from config. The purifier contract itself is in test_defenses.py."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import tiny_diffusion
from videopure.defenses import (
    DEFENSES,
    DDIMInversion,
    DefendedClassifier,
    DiffPureDDIM,
    DiffPureDDPM,
    JPEG,
    build_defense,
    register_defense,
    seeded,
)
from videopure.diffusion import ddim_denoise
from videopure.evaluation.speed import WorkPerClip

NAMES = ("diffpure_ddpm", "diffpure_ddim", "ddim_inversion")
SHAPE = (2, 4, 3, 8, 8)  # B, T, C, H, W


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    return tiny_diffusion()


def videos(seed: int = 0) -> torch.Tensor:
    return torch.rand(SHAPE, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", NAMES)
def test_purify_equals_decode_of_purified_cached_latents(model, name):
    """The workflow may encode once, cache z0 and purify the cache: the same result as purify(x)."""
    purifier = build_defense({"type": name}, diffusion_model=model)
    x = videos()
    with seeded(3):
        direct = purifier(x, gradient="none")
    with torch.no_grad():
        z0 = model.encode(x)
        with seeded(3):
            candidates = purifier.purify_latents(x, z0)
        assert candidates.shape == (SHAPE[0], 1, *z0.shape[1:])
        via_latents = model.decode(candidates[:, 0]).unsqueeze(1)
    assert torch.equal(direct, via_latents)


@pytest.mark.parametrize(
    ("name", "calls_per_clip"), [("diffpure_ddpm", 101), ("diffpure_ddim", 6), ("ddim_inversion", 12)]
)
def test_unet_calls_per_clip(model, name, calls_per_clip):
    purifier = build_defense({"type": name}, diffusion_model=model)
    model.unet_calls = 0
    with seeded(0):
        purifier(videos(), gradient="none")
    assert model.unet_calls == calls_per_clip * SHAPE[0]
    if name == "diffpure_ddpm":  # Table X's priced work (benchmarks/paper_scale.py) counts the same
        assert WorkPerClip.diffpure_ddpm(purifier.tstar).unet_calls == calls_per_clip


def test_auto_gradient_is_bpda_but_exact_is_available(model):
    for name in NAMES:
        cls = DEFENSES[name]
        assert cls.diffusion_based and cls.exact_gradient and cls.auto_gradient == "bpda"
        purifier = build_defense({"type": name}, diffusion_model=model)
        assert purifier.resolve_gradient("auto") == "bpda" and purifier.resolve_gradient("exact") == "exact"
        assert DefendedClassifier(torch.nn.Flatten(), purifier).gradient == "bpda"
    # Classical defenses keep their meaning of "auto".
    assert not JPEG.diffusion_based and JPEG().resolve_gradient("auto") == "bpda"
    assert build_defense({"type": "white_noise"}).resolve_gradient("auto") == "exact"


def test_register_defense_checks_auto_gradient():
    class ExactOnlyByName(DiffPureDDIM):
        name = "exact_only_by_name"
        exact_gradient = False
        auto_gradient = "exact"

    with pytest.raises(ValueError, match="auto_gradient"):
        register_defense(ExactOnlyByName)
    assert "exact_only_by_name" not in DEFENSES


def test_build_defense_supplies_the_model_and_records_its_identity(model):
    purifier = build_defense({"type": "diffpure_ddpm", "tstar": 50}, diffusion_model=model)
    assert isinstance(purifier, DiffPureDDPM) and purifier.model is model
    assert purifier.settings() == {"name": "diffpure_ddpm", "model": model.identity, "tstar": 50}
    assert "tstar=50" in repr(purifier)
    pinned = build_defense({"type": "ddim_inversion", "model": model.identity}, diffusion_model=model)
    assert pinned.model is model
    with pytest.raises(ValueError, match=r"'diffpure_ddim' is diffusion-based: pass its model"):
        build_defense({"type": "diffpure_ddim", "tstar": 6})
    with pytest.raises(ValueError, match="names diffusion model 'feedfacefeedface'"):
        build_defense({"type": "diffpure_ddim", "model": "feedfacefeedface"}, diffusion_model=model)
    with pytest.raises(TypeError, match="needs a videopure.diffusion.LatentVideoDiffusion"):
        DiffPureDDPM("results/models/mini")
    # Non-diffusion defenses ignore the model, so a caller can pass it to every spec.
    assert build_defense({"type": "jpeg"}, diffusion_model=model).settings() == {"name": "jpeg", "quality": 75}


def test_timesteps_beyond_the_trained_range_are_refused():
    partly_trained = tiny_diffusion(trained_tau_max=100)
    assert DiffPureDDPM(partly_trained, tstar=100).timesteps.taus[-1] == 100
    assert DiffPureDDIM(partly_trained, tstar=5).timesteps.taus[-1] == 81
    for make in (
        lambda: DiffPureDDPM(partly_trained),
        lambda: DiffPureDDIM(partly_trained),
        lambda: DDIMInversion(partly_trained),
    ):
        with pytest.raises(ValueError, match="beyond the 100 this UNet was trained up to"):
            make()
    with pytest.raises(ValueError, match="tstar"):
        DDIMInversion(partly_trained, tstar=0)


def test_diffpure_ddim_is_noise_then_ddim(model):
    purifier = DiffPureDDIM(model, tstar=3)
    x = videos()
    z0 = model.encode(x).detach()
    with torch.no_grad(), seeded(5):
        out = purifier.purify_latents(x, z0)
    with torch.no_grad(), seeded(5):
        z = model.schedule.add_noise(z0, torch.randn(z0.shape), 41)  # t* = 3 of 50: tau = 41; row-major draw
        expected = ddim_denoise(model, z, model.schedule.ddim_timesteps(3))
    assert torch.equal(out[:, 0], expected)


def test_ddim_inversion_temporal_option(model):
    """(Determinism under any RNG state is the defense contract's, tests/test_defenses.py.)"""
    x = videos(1)
    per_frame = DDIMInversion(model)(x, gradient="none")
    temporal = DDIMInversion(model, temporal=True)(x, gradient="none")
    assert not torch.equal(per_frame, temporal)
    with pytest.raises(ValueError, match="temporal"):
        DDIMInversion(model, temporal=1)


def test_dtypes_follow_the_input_and_the_model():
    model64 = tiny_diffusion().double()
    purifier = DiffPureDDIM(model64, tstar=2)
    out = purifier(videos(), gradient="none")
    assert out.dtype == torch.float32 and out.shape == (SHAPE[0], 1, *SHAPE[1:])
    with torch.no_grad():
        cached = model64.encode(videos()).float()  # latents as the HDF5 cache stores them
        assert purifier.purify_latents(videos(), cached).dtype == torch.float64


@pytest.mark.parametrize("name", ["diffpure_ddpm", "diffpure_ddim", "ddim_inversion", "videopure"])
def test_config_validation_computes_the_highest_timestep_as_the_schedule_does(name):
    """Config validation checks t* against a workflow-trained UNet's range by arithmetic (no
    diffusers import); it must agree with the schedule's DDIM and DDPM grids (diffusers')."""
    from videopure.defenses import resolve_defense
    from videopure.diffusion.schedule import MODELSCOPE_SCHEDULER_CONFIG, DiffusionSchedule

    schedule = DiffusionSchedule.from_config(MODELSCOPE_SCHEDULER_CONFIG)
    grid = MODELSCOPE_SCHEDULER_CONFIG["num_train_timesteps"], MODELSCOPE_SCHEDULER_CONFIG["steps_offset"]
    cls = resolve_defense(name)
    settings = [{}, {"tstar": 1}, {"tstar": 12}, {"tstar": 50}]
    if "num_inference_steps" in cls.defaults():
        settings += [{"tstar": 3, "num_inference_steps": 7}, {"tstar": 25, "num_inference_steps": 25}]
    for values in settings:
        assert cls.highest_timestep(values, *grid) == cls.visited_timesteps(schedule, values).taus[-1], values


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_runs_every_purifier_end_to_end_near_float32(dtype):
    """The authors run the model in float16, VideoPure's optimisation step included: each purifier on a
    half-precision copy of the model gives float32 candidates in [0, 1] within a few grey levels of
    float32's (same noise). On the CPU, as here, the workflow refuses float16 for speed (config
    diffusion.dtype); the arithmetic is the same."""
    specs = {
        "diffpure_ddpm": {"type": "diffpure_ddpm", "tstar": 21},
        "diffpure_ddim": {"type": "diffpure_ddim", "tstar": 2},
        "ddim_inversion": {"type": "ddim_inversion", "tstar": 2},
        "videopure": {"type": "videopure", "tstar": 2, "flow": {"type": "farneback"}},
    }
    for name, spec in specs.items():
        outputs = []
        for model in (tiny_diffusion(), tiny_diffusion().to(dtype)):
            torch.manual_seed(1)
            outputs.append(build_defense(spec, diffusion_model=model)(videos(), gradient="none"))
        full, half = outputs
        assert half.dtype == torch.float32 and half.min() >= 0 and half.max() <= 1, name
        difference = (half - full).abs()
        assert difference.mean() < 0.02 and difference.max() < 0.15, (name, difference.mean(), difference.max())
