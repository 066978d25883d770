"""The diffusion core: schedule and steps cross-checked against diffusers, the bundle loader, the paper shapes."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler, DDPMScheduler

from tests.helpers import tiny_diffusion, write_tiny_clip
from videopure.diffusion import (
    MODELSCOPE_SCHEDULER_CONFIG,
    DiffusionSchedule,
    LatentVideoDiffusion,
    ddim_denoise,
    ddim_inversion_step,
    ddim_invert,
    ddpm_step,
    paper_architecture,
)
from videopure.diffusion.bundle import MODELSCOPE

LATENTS = (2, 3, 4, 4, 4)  # B, T, c, h, w of the tiny model (8x8 frames)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def model() -> LatentVideoDiffusion:
    return tiny_diffusion()


def latents(shape=LATENTS, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def unet_eps(model: LatentVideoDiffusion, z_diffusers: torch.Tensor, tau) -> torch.Tensor:
    """ε from the UNet called directly, in diffusers' (B, c, T, h, w) layout."""
    condition = model.empty_prompt_embedding.expand(z_diffusers.shape[0], -1, -1)
    return model.unet(z_diffusers, tau, encoder_hidden_states=condition).sample


# --- the schedule -------------------------------------------------------------------------------


def test_schedule_and_timestep_mapping_match_diffusers():
    schedule = DiffusionSchedule.from_config(MODELSCOPE_SCHEDULER_CONFIG)
    scheduler = DDIMScheduler.from_config(MODELSCOPE_SCHEDULER_CONFIG)
    # ᾱ from the formula, not from diffusers: "scaled_linear" spaces √β evenly from √0.00085 to
    # √0.012 over 1000 steps, ᾱ_τ = Π_{s ≤ τ} (1 − β_s) (diffusers computes it in float32).
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    np.testing.assert_allclose(schedule.alphas_cumprod.numpy(), np.cumprod(1 - betas), rtol=2e-6)
    assert schedule.alpha_bar(101) == pytest.approx(0.8929805, abs=1e-6)
    assert schedule.alpha_bar(999) == pytest.approx(0.0046601, abs=1e-6)
    # set_alpha_to_one=False: below τ = 0 lies ᾱ[0] = 1 − β_0, not 1.
    assert schedule.final_alpha_cumprod == schedule.alpha_bar(-19) == schedule.alpha_bar(0) == pytest.approx(0.99915, abs=1e-7)

    scheduler.set_timesteps(50)
    assert scheduler.timesteps[:3].tolist() == [981, 961, 941] and scheduler.timesteps[-1] == 1
    timesteps = schedule.ddim_timesteps(6, 50)
    assert timesteps.taus == (1, 21, 41, 61, 81, 101)  # t* = 6 of T = 50: tau_k = 20 (k - 1) + 1
    assert list(timesteps.taus) == scheduler.timesteps[-6:].flip(0).tolist()
    assert timesteps.previous == (-19, 1, 21, 41, 61, 81)
    assert schedule.ddim_timesteps(50, 50).taus[-1] == 981

    ddpm = schedule.ddpm_timesteps(101)
    assert ddpm.taus == tuple(range(1, 102)) and ddpm.previous == tuple(range(101)) and len(ddpm) == 101


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.ddim_timesteps(0), r"tstar .* \[1, num_inference_steps=50\]"),
        (lambda s: s.ddim_timesteps(51), r"tstar .* \[1, num_inference_steps=50\]"),
        (lambda s: s.ddim_timesteps(True), "tstar must be an integer"),
        (lambda s: s.ddim_timesteps(6, 0), "num_inference_steps"),
        (lambda s: s.ddim_timesteps(6), "train timestep 101, beyond the 100"),
        (lambda s: s.ddpm_timesteps(101), "train timestep 101, beyond the 100"),
        (lambda s: s.ddpm_timesteps(0), r"\[1, 999\]"),
    ],
)
def test_timestep_errors(call, message):
    schedule = DiffusionSchedule.from_config(MODELSCOPE_SCHEDULER_CONFIG, trained_tau_max=100)
    assert schedule.ddim_timesteps(5).taus[-1] == 81 and schedule.ddpm_timesteps(100).taus[-1] == 100
    with pytest.raises(ValueError, match=message):
        call(schedule)


def test_schedule_refuses_configs_the_steps_do_not_implement():
    with pytest.raises(ValueError, match="prediction_type"):
        DiffusionSchedule.from_config({**MODELSCOPE_SCHEDULER_CONFIG, "prediction_type": "v_prediction"})
    with pytest.raises(ValueError, match="clip_sample"):
        DiffusionSchedule.from_config({**MODELSCOPE_SCHEDULER_CONFIG, "clip_sample": True})
    with pytest.raises(ValueError, match="trained_tau_max"):
        DiffusionSchedule.from_config(MODELSCOPE_SCHEDULER_CONFIG, trained_tau_max=1000)


def test_add_noise_matches_diffusers():
    schedule = DiffusionSchedule.from_config(MODELSCOPE_SCHEDULER_CONFIG)
    z0, noise = latents(seed=1), latents(seed=2)
    expected = DDPMScheduler.from_config(MODELSCOPE_SCHEDULER_CONFIG).add_noise(z0, noise, torch.tensor([101]))
    torch.testing.assert_close(schedule.add_noise(z0, noise, 101), expected)


# --- steps against diffusers on the same tiny UNet ------------------------------------------------


def test_ddim_inversion_matches_ddim_inverse_scheduler(model):
    """Our inversion to t* = 6 equals stepping diffusers' DDIMInverseScheduler over its first 6 timesteps.

    The correspondence: ``DDIMInverseScheduler.set_timesteps(50)`` gives 1, 21, …, 981 (leading,
    offset 1) and ``step(ε, t, z)`` moves z from level t − 20 (below 0: ``initial_alpha_cumprod``,
    ᾱ[0] under set_alpha_to_one=False) up to t, with ε evaluated by the caller at the *target* t on
    the current z — eq. 10's ε_θ(z_{t−1}, t), our ``ddim_inversion_step(z, τ=t, τ_prev=t − 20)``.
    """
    z0 = latents()
    ours = ddim_invert(model, z0, model.schedule.ddim_timesteps(6))

    inverse = DDIMInverseScheduler.from_config(MODELSCOPE_SCHEDULER_CONFIG)
    inverse.set_timesteps(50)
    assert inverse.timesteps[:6].tolist() == [1, 21, 41, 61, 81, 101]
    assert float(inverse.initial_alpha_cumprod) == model.schedule.final_alpha_cumprod
    z = z0.transpose(1, 2)
    with torch.no_grad():
        for t in inverse.timesteps[:6]:
            z = inverse.step(unet_eps(model, z, t), t, z).prev_sample
    torch.testing.assert_close(ours, z.transpose(1, 2), rtol=1e-5, atol=1e-5)


def test_ddim_denoising_matches_ddim_scheduler(model):
    z_start = latents(seed=3)
    ours = ddim_denoise(model, z_start, model.schedule.ddim_timesteps(6))

    scheduler = DDIMScheduler.from_config(MODELSCOPE_SCHEDULER_CONFIG)
    scheduler.set_timesteps(50)
    z = z_start.transpose(1, 2)
    with torch.no_grad():
        for t in scheduler.timesteps[-6:]:  # 101, 81, ..., 1; the step from 1 lands on final_alpha_cumprod
            z = scheduler.step(unet_eps(model, z, t), t, z, eta=0.0).prev_sample
    torch.testing.assert_close(ours, z.transpose(1, 2), rtol=1e-5, atol=1e-5)


def test_ddpm_step_matches_ddpm_scheduler(model):
    """``DDPMScheduler.step`` without ``set_timesteps`` steps t -> t − 1 with fixed_small variance; the
    same generator gives the same noise (drawn in diffusers' layout, then transposed to ours)."""
    scheduler = DDPMScheduler.from_config(MODELSCOPE_SCHEDULER_CONFIG)
    assert scheduler.config.variance_type == "fixed_small"
    z = latents(seed=4)
    with torch.no_grad():
        for t in (101, 100, 50, 2, 1):  # 1 -> 0 lands on ᾱ[0] and still adds noise
            theirs = z.transpose(1, 2)
            generator = torch.Generator().manual_seed(t)
            expected = scheduler.step(unet_eps(model, theirs, t), t, theirs, generator=generator).prev_sample
            noise = torch.randn(theirs.shape, generator=torch.Generator().manual_seed(t)).transpose(1, 2)
            torch.testing.assert_close(
                ddpm_step(model, z, t, t - 1, noise), expected.transpose(1, 2), rtol=1e-5, atol=1e-5
            )
            z = expected.transpose(1, 2)


def test_temporal_inversion_adds_the_same_noise_to_every_frame(model):
    """Eq. 11: with frame 0's ε for all frames, z_τ − √(ᾱ_τ/ᾱ_prev) z_prev = c·ε* is frame-independent."""
    z_prev = latents(seed=5)
    alpha, alpha_prev = model.schedule.alpha_bar(21), model.schedule.alpha_bar(1)
    with torch.no_grad():
        for temporal in (True, False):
            residual = (
                ddim_inversion_step(model, z_prev, 21, 1, temporal=temporal) - math.sqrt(alpha / alpha_prev) * z_prev
            )
            same = torch.allclose(residual, residual[:, :1].expand_as(residual), rtol=1e-5, atol=1e-6)
            assert same == temporal


def test_steps_are_checkpointed_under_autograd_and_exact(model):
    """Under autograd every step is checkpointed (the backward pass re-runs each UNet call) and the
    gradient equals that of the plain, uncheckpointed chain; under no_grad the UNet runs once per step."""
    timesteps = model.schedule.ddim_timesteps(3)
    z0 = latents(seed=6)
    weights = latents(seed=7)

    with torch.no_grad():
        model.unet_calls = 0
        ddim_denoise(model, ddim_invert(model, z0, timesteps), timesteps)
    assert model.unet_calls == 2 * 3 * LATENTS[0]

    model.unet_calls = 0
    z = z0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((weights * ddim_denoise(model, ddim_invert(model, z, timesteps), timesteps)).sum(), z)
    assert model.unet_calls == 2 * (2 * 3 * LATENTS[0])  # forward, then the recomputation

    z = z0.clone().requires_grad_(True)
    plain = z
    for tau, tau_prev in zip(timesteps.taus, timesteps.previous):
        plain = model.schedule.ddim_move(plain, model.predict_noise(plain, tau), tau_prev, tau)
    for tau, tau_prev in zip(reversed(timesteps.taus), reversed(timesteps.previous)):
        plain = model.schedule.ddim_move(plain, model.predict_noise(plain, tau), tau, tau_prev)
    (expected,) = torch.autograd.grad((weights * plain).sum(), z)
    torch.testing.assert_close(grad, expected)
    assert grad.abs().sum() > 0


def test_no_classifier_free_guidance_needed(model):
    """The official code's CFG with the empty prompt on both halves, ε_u + g (ε_c − ε_u) in one batch of
    2B, equals our single conditioned call."""
    z = latents(seed=8)
    with torch.no_grad():
        doubled = torch.cat([z, z]).transpose(1, 2)
        uncond, cond = unet_eps(model, doubled, 101).chunk(2)
        guided = (uncond + 9.0 * (cond - uncond)).transpose(1, 2)
        torch.testing.assert_close(model.predict_noise(z, 101), guided, rtol=1e-5, atol=1e-5)


def test_encode_decode_conventions(model):
    """Encode: 2x − 1, the posterior mean, times scaling_factor; decode: the inverse, (D + 1) / 2 clamped."""
    x = torch.rand(2, 3, 3, 8, 8)
    with torch.no_grad():
        z = model.encode(x)
        frames = (2 * x - 1).flatten(0, 1)
        torch.testing.assert_close(z.flatten(0, 1), model.vae.encode(frames).latent_dist.mean * 0.5)
        decoded = ((model.vae.decode(z.flatten(0, 1) / 0.5).sample + 1) / 2).clamp(0, 1)
        torch.testing.assert_close(model.decode(z).flatten(0, 1), decoded)


def test_shapes_are_checked(model):
    with pytest.raises(ValueError, match=r"predict_noise expects latents \(B, T, c=4"):
        model.predict_noise(latents((2, 4, 3, 4, 4)), 1)  # diffusers' layout by mistake
    with pytest.raises(ValueError, match="decode expects latents"):
        model.decode(latents((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="multiples of 2"):
        model.encode(torch.rand(1, 2, 3, 7, 8))
    x = torch.rand(2, 5, 3, 8, 8)
    z = model.encode(x, frame_batch=3)  # batches of frames across clips, any T
    assert z.shape == (2, 5, 4, 4, 4)
    torch.testing.assert_close(z, model.encode(x, frame_batch=16))
    assert model.decode(z, frame_batch=4).shape == x.shape


# --- the bundle -------------------------------------------------------------------------------------


def test_save_and_load_round_trip(model, tmp_path):
    path = tmp_path / "bundle"
    model.save_pretrained(path)
    assert sorted(p.name for p in path.iterdir()) == [
        "empty_prompt_embedding.safetensors",
        "scheduler",
        "unet",
        "vae",
        "videopure.json",
    ]
    assert json.loads((path / "videopure.json").read_text())["trained_tau_max"] == 999
    assert json.loads((path / "scheduler" / "scheduler_config.json").read_text())["_class_name"] == "DDIMScheduler"
    loaded = LatentVideoDiffusion.from_pretrained(path)
    assert loaded.identity == model.identity and loaded.metadata == model.metadata
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training
    x = torch.rand(1, 2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.decode(loaded.encode(x)), model.decode(model.encode(x)), rtol=0, atol=0)
        torch.testing.assert_close(
            loaded.predict_noise(latents(), 21), model.predict_noise(latents(), 21), rtol=0, atol=0
        )
    model.save_pretrained(path)  # overwriting an existing bundle
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_identity_follows_weights_and_dtype(model):
    identity = model.identity
    assert identity == model.identity and len(identity) == 16
    assert tiny_diffusion(seed=0).identity == identity and tiny_diffusion(seed=1).identity != identity
    with torch.no_grad():
        model.unet.conv_out.bias.add_(1e-3)  # an in-place update, as an optimiser makes
    assert model.identity != identity
    assert model.double().identity not in (identity, tiny_diffusion().identity)


def test_missing_bundle_names_modelscope_and_the_path(tmp_path):
    missing = tmp_path / "models" / "text-to-video-ms-1.7b"
    with pytest.raises(FileNotFoundError) as error:
        LatentVideoDiffusion.from_pretrained(missing)
    assert MODELSCOPE in str(error.value) and str(missing) in str(error.value)


def test_bundle_errors(model, tmp_path):
    path = tmp_path / "bundle"
    model.save_pretrained(path)

    shutil.rmtree(path / "unet")
    with pytest.raises(FileNotFoundError, match="missing subfolder 'unet/'"):
        LatentVideoDiffusion.from_pretrained(path)
    model.save_pretrained(path)

    config_file = path / "scheduler" / "scheduler_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "num_train_timesteps": 500}))
    with pytest.raises(ValueError, match="num_train_timesteps=500 but the model was trained with 1000"):
        LatentVideoDiffusion.from_pretrained(path)
    config_file.write_text(json.dumps(config))

    with pytest.raises(ValueError, match="float16 needs a GPU"):
        LatentVideoDiffusion.from_pretrained(path, dtype=torch.float16)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="cuda"):
            LatentVideoDiffusion.from_pretrained(path, device="cuda")

    broken = tiny_diffusion()
    with torch.no_grad():
        broken.unet.conv_in.weight[0, 0, 0, 0] = float("nan")
    broken.save_pretrained(path)
    with pytest.raises(ValueError, match=r"unet: weight 'conv_in.weight' has NaN or inf"):
        LatentVideoDiffusion.from_pretrained(path)


def test_inconsistent_parts_are_refused(model):
    from diffusers import UNet3DConditionModel

    wide = UNet3DConditionModel(**{**model.unet.config, "in_channels": 8, "out_channels": 8})
    with pytest.raises(ValueError, match="latent_channels=4 but UNet in_channels=8"):
        LatentVideoDiffusion(model.vae, wide, MODELSCOPE_SCHEDULER_CONFIG, model.empty_prompt_embedding)
    with pytest.raises(ValueError, match=r"shape \(1, L, 8\)"):
        LatentVideoDiffusion(model.vae, model.unet, MODELSCOPE_SCHEDULER_CONFIG, torch.zeros(1, 1, 5))
    with pytest.raises(ValueError, match="lacks \\['trained_tau_max'\\]"):
        LatentVideoDiffusion(
            model.vae,
            model.unet,
            MODELSCOPE_SCHEDULER_CONFIG,
            model.empty_prompt_embedding,
            {"num_train_timesteps": 1000},
        )


def test_modelscope_layout_with_text_encoder_and_embedding_cache(model, tmp_path, monkeypatch):
    """A bundle in ModelScope's diffusers layout (text_encoder/, tokenizer/, no videopure.json): the
    empty-prompt embedding is computed once, cached, and reused while the text encoder is unchanged."""
    from transformers import CLIPTextModel, CLIPTokenizer

    path = tmp_path / "text-to-video-ms-1.7b"
    model.vae.save_pretrained(path / "vae")
    model.unet.save_pretrained(path / "unet")
    DDIMScheduler.from_config(MODELSCOPE_SCHEDULER_CONFIG).save_pretrained(path / "scheduler")
    write_tiny_clip(path)
    cache = tmp_path / "cache" / "empty-prompt.safetensors"

    loaded = LatentVideoDiffusion.from_pretrained(path, embedding_cache=cache)
    tokenizer = CLIPTokenizer.from_pretrained(path / "tokenizer")
    ids = tokenizer("", padding="max_length", max_length=6, return_tensors="pt").input_ids
    assert ids.tolist() == [[0, 1, 2, 2, 2, 2]]  # start, end, padding
    with torch.no_grad():
        expected = CLIPTextModel.from_pretrained(path / "text_encoder")(ids).last_hidden_state
    torch.testing.assert_close(loaded.empty_prompt_embedding, expected)
    assert loaded.metadata["trained_tau_max"] == 999 and cache.is_file()

    in_memory = LatentVideoDiffusion(model.vae, model.unet, MODELSCOPE_SCHEDULER_CONFIG, expected)
    z = latents()
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict_noise(z, 41), in_memory.predict_noise(z, 41), rtol=0, atol=0)
    assert loaded.identity == in_memory.identity

    def no_text_encoder(*args, **kwargs):
        raise AssertionError("the cached embedding should have been reused")

    stamp = cache.stat().st_mtime_ns
    monkeypatch.setattr(CLIPTextModel, "from_pretrained", no_text_encoder)
    again = LatentVideoDiffusion.from_pretrained(path, embedding_cache=cache)
    assert torch.equal(again.empty_prompt_embedding, loaded.empty_prompt_embedding)
    assert cache.stat().st_mtime_ns == stamp
    monkeypatch.undo()

    vocab_file = path / "tokenizer" / "vocab.json"  # another text encoder: the cache is recomputed
    vocab_file.write_text(vocab_file.read_text() + "\n")
    LatentVideoDiffusion.from_pretrained(path, embedding_cache=cache)
    assert cache.stat().st_mtime_ns != stamp

    config_file = path / "scheduler" / "scheduler_config.json"  # ModelScope's UNet knows 1000 timesteps
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "num_train_timesteps": 500}))
    with pytest.raises(ValueError, match="num_train_timesteps=500 but the model was trained with 1000"):
        LatentVideoDiffusion.from_pretrained(path, embedding_cache=cache)

    shutil.rmtree(path / "text_encoder")
    with pytest.raises(FileNotFoundError, match="'text_encoder/' subfolder"):
        LatentVideoDiffusion.from_pretrained(path)
    shutil.rmtree(path / "scheduler")
    with pytest.raises(FileNotFoundError, match="missing subfolder 'scheduler/'"):
        LatentVideoDiffusion.from_pretrained(path)


def test_paper_architecture_parameter_counts():
    with torch.device("meta"):
        vae, unet = paper_architecture()

    def count(module) -> float:
        total = sum(p.numel() for p in module.parameters())
        return float(f"{total:.3g}")

    assert count(unet) == 1.41e9  # ModelScope text-to-video-ms-1.7b's UNet: 1.411 B
    assert count(vae) == 83.7e6  # Stable Diffusion's VAE
    assert unet.config.block_out_channels == (320, 640, 1280, 1280) and unet.config.cross_attention_dim == 1024
    assert vae.config.scaling_factor == 0.18215 and vae.config.latent_channels == 4
