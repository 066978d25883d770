"""Training of the mini latent video diffusion model (videopure.diffusion.train), on tiny settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from videopure.diffusion import MODELSCOPE_SCHEDULER_CONFIG, LatentVideoDiffusion
from videopure.diffusion.train import (
    UNetTraining,
    VAETraining,
    encode_frames,
    load_vae,
    reconstruct_frames,
    train_unet,
    train_vae,
)

TINY_VAE = VAETraining(
    block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4, steps=4, batch_size=4, crop_size=8, lr=1e-3
)
TINY_UNET = UNetTraining(
    block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4, attention_head_dim=2, cross_attention_dim=8,
    down_block_types=("DownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "UpBlock3D"),
    tau_max=60, low_tau_max=20, low_tau_fraction=0.5, steps=3, batch_size=2, crop_size=4, num_frames=3,
    ema_decay=0.9,
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_frames(n: int = 3, t: int = 4, size: int = 16, seed: int = 0) -> np.ndarray:
    """Smooth moving gradients: uint8 (N, T, H, W, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    clips = []
    for _ in range(n):
        colour, shift = rng.uniform(0.2, 0.8, 3), rng.uniform(0.02, 0.1)
        frames = [
            0.5 + 0.4 * np.sin(2 * np.pi * (x + y + k * shift))[..., None] * colour[None, None, :] for k in range(t)
        ]
        clips.append(np.stack(frames))
    return (np.clip(np.stack(clips), 0, 1) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ldm")
    frames = tiny_frames()
    vae_metrics = train_vae(frames, TINY_VAE, root / "vae", seed=0, progress=False)
    unet_metrics = train_unet(frames, root / "vae", TINY_UNET, root / "bundle", seed=0, progress=False)
    return root, frames, vae_metrics, unet_metrics


def test_bundle_layout(trained):
    root, frames, _, unet_metrics = trained
    bundle = root / "bundle"
    for name in ("vae/config.json", "vae/diffusion_pytorch_model.safetensors", "unet/config.json",
                 "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json",
                 "empty_prompt_embedding.safetensors", "videopure.json"):  # fmt: skip
        assert (bundle / name).is_file(), name
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")]  # no temporary directories left
    scheduler = json.loads((bundle / "scheduler/scheduler_config.json").read_text())
    assert scheduler["_class_name"] == "DDIMScheduler"
    for key, value in MODELSCOPE_SCHEDULER_CONFIG.items():
        assert scheduler[key] == value, key
    info = json.loads((bundle / "videopure.json").read_text())
    assert info["trained_tau_max"] == TINY_UNET.tau_max and info["num_train_timesteps"] == 1000
    assert info["latent_std_before_scaling"] > 0 and info["seed"] == 0
    # The bundle is what the purifiers load; its VAE is the trained one, scaling factor included.
    model = LatentVideoDiffusion.from_pretrained(bundle)
    assert model.empty_prompt_embedding.shape == (1, 1, TINY_UNET.cross_attention_dim)
    assert model.unet.config.block_out_channels == list(TINY_UNET.block_out_channels)
    assert model.schedule.trained_tau_max == TINY_UNET.tau_max
    assert unet_metrics["param_count"] == sum(p.numel() for p in model.unet.parameters())
    z = model.encode(torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float() / 255)
    torch.testing.assert_close(z, encode_frames(load_vae(root / "vae"), frames, device="cpu"), rtol=1e-5, atol=1e-5)
    assert z.shape == (3, 4, 4, 8, 8)
    x = model.decode(z)
    assert x.shape == (3, 4, 3, 16, 16) and 0 <= float(x.min()) and float(x.max()) <= 1


def test_reconstructions_are_what_the_purifiers_decode(trained):
    root, frames, _, _ = trained
    reconstructed = reconstruct_frames(load_vae(root / "vae"), frames, device="cpu")
    assert reconstructed.dtype == np.uint8 and reconstructed.shape == frames.shape
    model = LatentVideoDiffusion.from_pretrained(root / "bundle")
    x = torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float() / 255
    expected = (model.decode(model.encode(x)) * 255).permute(0, 1, 3, 4, 2).numpy()
    assert np.abs(reconstructed - expected).max() <= 0.5 + 1e-3  # rounding to uint8 only
    assert not np.array_equal(reconstructed, frames)


def test_scaling_factor_is_inverse_latent_std(trained):
    root, frames, vae_metrics, _ = trained
    vae = load_vae(root / "vae")
    means = encode_frames(vae, frames, device="cpu", scaled=False)
    assert vae.config.scaling_factor == pytest.approx(1 / float(means.double().std()), rel=1e-4)
    assert vae_metrics["scaling_factor"] == pytest.approx(vae.config.scaling_factor)
    assert float(encode_frames(vae, frames, device="cpu").double().std()) == pytest.approx(1.0, rel=1e-4)


def test_same_seed_same_weights(trained, tmp_path):
    from safetensors.torch import load_file

    root, frames, _, _ = trained
    train_vae(frames, TINY_VAE, tmp_path / "vae", seed=0, progress=False)
    train_unet(frames, root / "vae", TINY_UNET, tmp_path / "bundle", seed=0, progress=False)
    for name in ("vae", "bundle/unet"):
        other = load_file(str(tmp_path / name / "diffusion_pytorch_model.safetensors"))
        first = load_file(str(root / name / "diffusion_pytorch_model.safetensors"))
        assert first.keys() == other.keys()
        assert all(torch.equal(first[k], other[k]) for k in first), name
    train_vae(frames, TINY_VAE, tmp_path / "vae1", seed=1, progress=False)
    other = load_file(str(tmp_path / "vae1" / "diffusion_pytorch_model.safetensors"))
    first = load_file(str(root / "vae" / "diffusion_pytorch_model.safetensors"))
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_rewriting_replaces_the_output(trained, tmp_path):
    root, frames, _, _ = trained
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "stale.txt").write_text("old")
    train_vae(frames, TINY_VAE, tmp_path / "vae", seed=0, progress=False)
    assert not (tmp_path / "vae" / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vae"]


def test_losses_decrease(tmp_path):
    frames = tiny_frames()
    vae = train_vae(frames, VAETraining(**{**TINY_VAE.__dict__, "steps": 30, "lr": 3e-3}), tmp_path / "vae", seed=0,
                    progress=False)  # fmt: skip
    history = vae["loss_history"]
    assert np.mean(history[-5:]) < 0.8 * np.mean(history[:5])
    settings = UNetTraining(**{**TINY_UNET.__dict__, "steps": 40, "lr": 3e-3, "ema_decay": 0.0, "batch_size": 4})
    unet = train_unet(frames, tmp_path / "vae", settings, tmp_path / "bundle", seed=0, progress=False)
    history = unet["loss_history"]
    assert np.mean(history[-10:]) < np.mean(history[:10])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"block_out_channels": (8, 12), "norm_num_groups": 8}, "not divisible by norm_num_groups"),
        ({"crop_size": 5}, "multiple of"),
        ({"steps": 0}, "steps must be > 0"),
        ({"l1_weight": 0.0, "mse_weight": 0.0}, "nothing trains"),
    ],
)
def test_bad_vae_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAETraining(**{**TINY_VAE.__dict__, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tau_max": 1000}, "tau_max must be < num_train_timesteps"),
        ({"tau_max": 50, "low_tau_max": 60}, "exceeds tau_max"),
        ({"block_out_channels": (8, 10)}, "not divisible by norm_num_groups"),
        ({"down_block_types": ("DownBlock3D",)}, "need 2 down_block_types"),
        ({"up_block_types": ("UpBlock3D", "UpBlock2D")}, "unknown 'UpBlock2D'"),
        ({"crop_size": 3}, "multiple of 2"),
        ({"ema_decay": 1.0}, "ema_decay"),
    ],
)
def test_bad_unet_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UNetTraining(**{**TINY_UNET.__dict__, **kwargs})


def test_bad_inputs(trained, tmp_path):
    root, frames, _, _ = trained
    with pytest.raises(ValueError, match="crop_size 16 exceeds the latent size 8x8"):
        train_unet(frames, root / "vae", UNetTraining(**{**TINY_UNET.__dict__, "crop_size": 16}), tmp_path / "b",
                   seed=0, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="num_frames 8 exceeds the clip length 4"):
        train_unet(frames, root / "vae", UNetTraining(**{**TINY_UNET.__dict__, "num_frames": 8}), tmp_path / "b",
                   seed=0, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="crop_size 32 exceeds the frame size"):
        train_vae(frames, VAETraining(**{**TINY_VAE.__dict__, "crop_size": 32}), tmp_path / "v", seed=0, progress=False)
    with pytest.raises(ValueError, match="uint8"):
        train_vae(frames.astype(np.float32), TINY_VAE, tmp_path / "v", seed=0, progress=False)
    assert not (tmp_path / "b").exists() and not (tmp_path / "v").exists()
