"""Table V's image models behind the purifiers: a frame-wise latent UNet (Stable Diffusion's kind) and a
pixel-space UNet (Guided Diffusion's kind), loaded, saved and trained like the video model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, PNDMScheduler

from videopure.diffusion import LatentVideoDiffusion
from videopure.diffusion.bundle import DOWNLOADED_SOURCES, PIXEL_MODEL, STABLE_DIFFUSION
from videopure.diffusion.train import UNetTraining, train_unet, train_vae

from tests.helpers import tiny_diffusion, write_tiny_clip
from tests.test_diffusion_train import TINY_VAE, tiny_frames

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FRAME_WISE = ("image", "pixel")


def clips(model: LatentVideoDiffusion, batch: int = 2, frames: int = 3, seed: int = 0) -> torch.Tensor:
    """Random latents (B, T, c, h, w) of the model's kind: 4 × 4 VAE latents, or 8 × 8 RGB frames."""
    size = 8 if model.kind == "pixel" else 4
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((batch, frames, model.latent_channels, size, size), generator=generator)


@pytest.mark.parametrize("kind", FRAME_WISE)
def test_an_image_model_denoises_each_frame_alone(kind):
    """predict_noise equals the UNet called on each frame with its clip's τ, and a change to one frame
    changes that frame's noise estimate only; the video UNet's estimates mix frames (the contrast)."""
    model = tiny_diffusion(kind=kind)
    z, tau = clips(model), torch.tensor([41, 101])
    with torch.no_grad():
        noise = model.predict_noise(z, tau)
        for b in range(z.shape[0]):
            for t in range(z.shape[1]):
                frame = z[b, t : t + 1]
                kwargs = {} if kind == "pixel" else {"encoder_hidden_states": model.empty_prompt_embedding}
                expected = model.unet(frame, tau[b : b + 1], **kwargs).sample
                torch.testing.assert_close(noise[b, t : t + 1], expected, rtol=1e-5, atol=1e-6)
        changed = z.clone()
        changed[:, 1] += 1.0
        moved = (model.predict_noise(changed, tau) - noise).abs().amax(dim=(0, 2, 3, 4))
        assert moved[1] > 1e-3 and moved[0] == 0 and moved[2] == 0
        video = tiny_diffusion(kind="video")
        z = clips(video)
        changed = z.clone()
        changed[:, 1] += 1.0
        moved = (video.predict_noise(changed, 41) - video.predict_noise(z, 41)).abs().amax(dim=(0, 2, 3, 4))
        assert moved[0] > 1e-4 and moved[2] > 1e-4
    assert model.unet_calls == 4  # counted per clip, as for the video model
    with torch.no_grad():  # one τ for the batch, as a number or a tensor of one
        z = clips(model)
        for tau in (41, torch.tensor(41), torch.tensor([41])):
            torch.testing.assert_close(model.predict_noise(z, tau), model.predict_noise(z, torch.tensor([41, 41])))


def test_pixel_space_latents_are_the_frames():
    model = tiny_diffusion(kind="pixel")
    assert model.vae is None and model.empty_prompt_embedding is None
    assert model.vae_scale_factor == 1 and model.scaling_factor == 1.0 and model.latent_channels == 3
    x = torch.rand(2, 3, 3, 8, 8)
    z = model.encode(x)
    torch.testing.assert_close(z, 2 * x - 1)
    torch.testing.assert_close(model.decode(z), x)
    assert model.decodes == 2
    torch.testing.assert_close(model.decode(torch.full_like(z, 3.0)), torch.ones_like(x))  # clamped to [0, 1]


@pytest.mark.parametrize("kind", FRAME_WISE)
def test_save_and_load_keep_the_kind_and_identity(kind, tmp_path):
    model = tiny_diffusion(kind=kind)
    model.save_pretrained(tmp_path / "bundle")
    assert (tmp_path / "bundle" / "vae").is_dir() == (kind == "image")
    assert (tmp_path / "bundle" / "empty_prompt_embedding.safetensors").is_file() == (kind == "image")
    loaded = LatentVideoDiffusion.from_pretrained(tmp_path / "bundle", kind=kind)
    assert loaded.kind == kind and loaded.identity == model.identity
    z = clips(model)
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict_noise(z, 21), model.predict_noise(z, 21), rtol=0, atol=0)
    assert tiny_diffusion(kind=kind, seed=1).identity != model.identity
    assert len({tiny_diffusion(kind=other).identity for other in ("video", *FRAME_WISE)}) == 3


def test_stable_diffusion_layout(tmp_path):
    """A bundle laid out as Stable Diffusion v1.5's diffusers directory (a UNet2DConditionModel, a PNDM
    scheduler config with scaled-linear betas, a CLIP text encoder, no videopure.json) loads as an
    image model whose schedule is diffusers' own."""
    model = tiny_diffusion(kind="image")
    path = tmp_path / "stable-diffusion-v1-5"
    model.vae.save_pretrained(path / "vae")
    model.unet.save_pretrained(path / "unet")
    sd_config = {
        "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
        "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "prediction_type": "epsilon",
    }  # fmt: skip
    PNDMScheduler(**sd_config).save_pretrained(path / "scheduler")
    write_tiny_clip(path)
    loaded = LatentVideoDiffusion.from_pretrained(path, kind="image", embedding_cache=tmp_path / "embedding.safetensors")
    assert loaded.kind == "image" and loaded.metadata["source"] == DOWNLOADED_SOURCES["image"]
    assert loaded.empty_prompt_embedding.shape == (1, 6, 8)
    reference = DDIMScheduler.from_config(PNDMScheduler(**sd_config).config)
    torch.testing.assert_close(loaded.schedule.alphas_cumprod, reference.alphas_cumprod.double())
    assert loaded.schedule.ddim_timesteps(6).taus == (1, 21, 41, 61, 81, 101)
    # SD's config leaves clip_sample out (diffusers' DDIM default is True): read as our steps run, off.
    assert loaded.scheduler_config["clip_sample"] is False
    loaded.save_pretrained(tmp_path / "saved")
    assert LatentVideoDiffusion.from_pretrained(tmp_path / "saved").identity == loaded.identity


def test_kind_errors_name_the_model_to_get(tmp_path):
    video = tiny_diffusion()
    video.save_pretrained(tmp_path / "video")
    with pytest.raises(ValueError, match=r"holds a UNet3DConditionModel \(video model\) where a UNet2DConditionModel \(image model\) is expected"):
        LatentVideoDiffusion.from_pretrained(tmp_path / "video", kind="image")
    with pytest.raises(ValueError, match="unknown diffusion model kind 'latent'"):
        LatentVideoDiffusion.from_pretrained(tmp_path / "video", kind="latent")
    for kind, name in (("image", STABLE_DIFFUSION), ("pixel", PIXEL_MODEL)):
        with pytest.raises(FileNotFoundError) as error:
            LatentVideoDiffusion.from_pretrained(tmp_path / "missing", kind=kind)
        assert name in str(error.value) and str(tmp_path / "missing") in str(error.value)
    config = tmp_path / "video" / "unet" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "_class_name": "UNet1DModel"}))
    with pytest.raises(ValueError, match="_class_name 'UNet1DModel' is not a noise predictor"):
        LatentVideoDiffusion.from_pretrained(tmp_path / "video")

    image = tiny_diffusion(kind="image")
    image.save_pretrained(tmp_path / "image")
    shutil.rmtree(tmp_path / "image" / "vae")
    with pytest.raises(FileNotFoundError, match="missing subfolder 'vae/'"):
        LatentVideoDiffusion.from_pretrained(tmp_path / "image")

    pixel = tiny_diffusion(kind="pixel")
    schedule = image.scheduler_config
    with pytest.raises(ValueError, match="takes no VAE"):
        LatentVideoDiffusion(image.vae, pixel.unet, schedule, None, image.metadata)
    with pytest.raises(ValueError, match="needs the VAE"):
        LatentVideoDiffusion(None, image.unet, schedule, image.empty_prompt_embedding, image.metadata)
    with pytest.raises(ValueError, match="unconditional"):
        LatentVideoDiffusion(None, pixel.unet, schedule, image.empty_prompt_embedding, image.metadata)
    with pytest.raises(ValueError, match=r"shape \(1, L, 8\)"):
        LatentVideoDiffusion(image.vae, image.unet, schedule, None, image.metadata)
    with pytest.raises(TypeError, match="noise predictor must be a diffusers"):
        LatentVideoDiffusion(image.vae, image.vae, schedule, None, image.metadata)
    conditional = type(pixel.unet)(**{**pixel.unet.config, "num_class_embeds": 10})
    with pytest.raises(ValueError, match="unconditional UNet2DModel with positional time embedding"):
        LatentVideoDiffusion(None, conditional, schedule, None, image.metadata)
    with pytest.raises(ValueError, match="H and W multiples of 2"):
        pixel.encode(torch.rand(1, 2, 3, 7, 8))


TINY_IMAGE_UNET = UNetTraining(
    kind="image", block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4, attention_head_dim=2,
    cross_attention_dim=8, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), tau_max=60, low_tau_max=20, steps=3, batch_size=4, num_frames=1,
)  # fmt: skip
TINY_PIXEL_UNET = UNetTraining(
    kind="pixel", block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4, attention_head_dim=4,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    tau_max=60, low_tau_max=20, steps=3, batch_size=4, crop_size=8, num_frames=1,
)  # fmt: skip


def test_training_writes_bundles_of_each_kind(tmp_path):
    frames = tiny_frames()
    train_vae(frames, TINY_VAE, tmp_path / "vae", seed=0, progress=False)
    metrics = train_unet(frames, tmp_path / "vae", TINY_IMAGE_UNET, tmp_path / "image", seed=0, progress=False)
    image = LatentVideoDiffusion.from_pretrained(tmp_path / "image", kind="image")
    assert metrics["param_count"] == sum(p.numel() for p in image.unet.parameters())
    assert json.loads((tmp_path / "image" / "videopure.json").read_text())["settings"]["kind"] == "image"

    metrics = train_unet(frames, None, TINY_PIXEL_UNET, tmp_path / "pixel", seed=0, progress=False)
    pixel = LatentVideoDiffusion.from_pretrained(tmp_path / "pixel", kind="pixel")
    assert not (tmp_path / "pixel" / "vae").exists() and metrics["vae_param_count"] == 0
    assert np.isfinite(metrics["final_loss"]) and pixel.schedule.trained_tau_max == 60
    again = train_unet(frames, None, TINY_PIXEL_UNET, tmp_path / "pixel-again", seed=0, progress=False)
    assert again["loss_history"] == metrics["loss_history"]  # seeded

    with pytest.raises(ValueError, match="trains on pixels and takes no VAE"):
        train_unet(frames, tmp_path / "vae", TINY_PIXEL_UNET, tmp_path / "bad", seed=0, progress=False)
    with pytest.raises(ValueError, match="trains on VAE latents: give vae_dir"):
        train_unet(frames, None, TINY_IMAGE_UNET, tmp_path / "bad", seed=0, progress=False)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="unknown 'DownBlock3D' for kind 'image'"):
        UNetTraining(kind="image")
    with pytest.raises(ValueError, match="UNetTraining.kind: unknown 'latent'"):
        UNetTraining(kind="latent")
