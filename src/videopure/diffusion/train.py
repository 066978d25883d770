"""Training of the mini/smoke diffusion models.

The mini profile cannot download ModelScope's text-to-video model, so the workflow trains a small
stand-in with the same interfaces: a diffusers ``AutoencoderKL`` applied frame-wise (x4 spatial
downsampling: 64 x 64 frames -> 16 x 16 latents with 4 channels) and a diffusers
``UNet3DConditionModel`` trained with the epsilon-prediction loss under ModelScope's noise
schedule, conditioned on one fixed "empty prompt" embedding. Table V's image models are trained
the same way (``UNetTraining.kind``): a ``UNet2DConditionModel`` on each frame's latent, or a
``UNet2DModel`` on each frame's pixels. :func:`train_unet` writes the complete bundle (``unet/``,
``scheduler/``, ``videopure.json``; ``vae/`` for a latent model and
``empty_prompt_embedding.safetensors`` for a conditional one) that
``videopure.diffusion.bundle.LatentVideoDiffusion`` loads.

The purifiers only ever visit small timesteps (DDIM inversion to t* <= 10 of T = 50 reaches
tau <= 201, DiffPure_DDPM tau <= 101), so the UNet is trained on tau in [0, tau_max] only;
``videopure.json`` records ``trained_tau_max`` and the purifiers refuse larger t*.

Every hyperparameter is a field of :class:`VAETraining` / :class:`UNetTraining`; the config's
``diffusion.vae`` and ``diffusion.unet`` set them (the mini profile's values, and what was tried
to reach them, are in docs/results/2026-12-01-mini-diffusion-model.md). Runs are seeded and
deterministic on a given machine and thread count. The rule ``diffusion_checks`` measures what
the trained model costs the recognizers.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from videopure.cache import atomic_directory
from videopure.diffusion.bundle import DENOISER_KINDS, LatentVideoDiffusion
from videopure.diffusion.schedule import MODELSCOPE_SCHEDULER_CONFIG

log = logging.getLogger(__name__)

NUM_TRAIN_TIMESTEPS = MODELSCOPE_SCHEDULER_CONFIG["num_train_timesteps"]
# diffusers' down and up block names of each kind of noise predictor (plain, then with attention).
BLOCK_TYPES = {
    "video": (("DownBlock3D", "CrossAttnDownBlock3D"), ("UpBlock3D", "CrossAttnUpBlock3D")),
    "image": (("DownBlock2D", "CrossAttnDownBlock2D"), ("UpBlock2D", "CrossAttnUpBlock2D")),
    "pixel": (("DownBlock2D", "AttnDownBlock2D"), ("UpBlock2D", "AttnUpBlock2D")),
}
_ENCODE_BATCH = 256  # frames per VAE call when encoding a whole split
_STD_CLIPS = 100  # clips sampled for the latent std behind the VAE's scaling factor


# --------------------------------------------------------------------------------------------
# settings


def _check_channels(name: str, channels: Sequence[int], groups: int) -> None:
    if len(channels) == 0 or any(int(c) <= 0 for c in channels):
        raise ValueError(f"{name}.block_out_channels must be a non-empty list of positive ints, got {channels}")
    if groups <= 0:
        raise ValueError(f"{name}.norm_num_groups must be positive, got {groups}")
    bad = [c for c in channels if c % groups]
    if bad:
        raise ValueError(
            f"{name}.block_out_channels {list(channels)}: {bad} not divisible by norm_num_groups={groups} (GroupNorm)"
        )


def _check_positive(name: str, **values: float) -> None:
    for key, value in values.items():
        if not value > 0:
            raise ValueError(f"{name}.{key} must be > 0, got {value}")


def _check_nonnegative(name: str, **values: float) -> None:
    for key, value in values.items():
        if value < 0:
            raise ValueError(f"{name}.{key} must be >= 0, got {value}")


@dataclass(frozen=True)
class VAETraining:
    """Architecture and training schedule of the frame-wise ``AutoencoderKL``.

    The encoder has ``len(block_out_channels)`` blocks, each but the last halving the resolution
    (three blocks: x4). Training sees random ``crop_size`` crops of random frames (the model is
    fully convolutional when ``mid_block_attention`` is off), decodes the posterior mean (or a
    sample of the posterior with ``sample_posterior``), and minimises
    ``l1_weight * L1 + mse_weight * MSE + gradient_weight * L1(image gradients) + kl_weight * KL``,
    all per pixel (KL summed over the latent and divided by the number of pixels, as in Stable
    Diffusion's VAE recipe). AdamW with a one-cycle schedule, gradient clipping.

    The defaults are the mini profile's (64 x 64 frames, 2 CPU threads). Measured on the mini test
    split (PSNR per clip, mean): 800 steps with posterior samples and L1 only, 20.1 dB; 1000 steps
    of the posterior mean with L1 + MSE at lr 3e-3, 24.8 dB; the defaults, 29.4 to 31.3 dB over
    seeds 0 to 3; the defaults with lr 4e-3, 0.5 to 2.0 dB less under each of those seeds (and
    23.0 dB once, on another machine); the defaults with lr 4e-3 on whole 64 x 64 frames (8 per
    step, the same pixels per step), 17.7 dB — crops from 32 frames see far more backgrounds and
    colours per step.
    """

    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    latent_channels: int = 4
    norm_num_groups: int = 16
    mid_block_attention: bool = False
    steps: int = 1600
    batch_size: int = 32  # frames per step
    crop_size: int = 32  # 0: whole frames
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_fraction: float = 0.1  # one-cycle pct_start
    grad_clip: float = 1.0
    l1_weight: float = 1.0
    mse_weight: float = 1.0
    gradient_weight: float = 0.5
    kl_weight: float = 1e-6
    sample_posterior: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_out_channels", tuple(int(c) for c in self.block_out_channels))
        _check_channels("VAETraining", self.block_out_channels, self.norm_num_groups)
        _check_positive(
            "VAETraining", layers_per_block=self.layers_per_block, latent_channels=self.latent_channels,
            steps=self.steps, batch_size=self.batch_size, lr=self.lr,
        )  # fmt: skip
        _check_nonnegative(
            "VAETraining", crop_size=self.crop_size, weight_decay=self.weight_decay, grad_clip=self.grad_clip,
            l1_weight=self.l1_weight, mse_weight=self.mse_weight, gradient_weight=self.gradient_weight,
            kl_weight=self.kl_weight,
        )  # fmt: skip
        if not 0 < self.warmup_fraction < 1:
            raise ValueError(f"VAETraining.warmup_fraction must lie in (0, 1), got {self.warmup_fraction}")
        if self.l1_weight + self.mse_weight == 0:
            raise ValueError("VAETraining: l1_weight and mse_weight are both 0; nothing trains the reconstruction")
        if self.crop_size % self.downsampling:
            raise ValueError(f"VAETraining.crop_size {self.crop_size} must be a multiple of {self.downsampling}")

    @property
    def downsampling(self) -> int:
        """Spatial reduction factor of the encoder."""
        return 2 ** (len(self.block_out_channels) - 1)


@dataclass(frozen=True)
class UNetTraining:
    """Architecture and training schedule of the noise predictor of one :data:`~videopure.diffusion.bundle.DENOISER_KINDS` kind.

    ``kind`` ``video`` (the default) is ModelScope's ``UNet3DConditionModel`` on VAE latents;
    Table V's image models are ``image``, a ``UNet2DConditionModel`` on each frame's VAE latent,
    and ``pixel``, a ``UNet2DModel`` on each frame's pixels (no VAE). ``down_block_types`` /
    ``up_block_types`` are diffusers' names for the kind (:data:`BLOCK_TYPES`); a conditional
    UNet's mid block has cross-attention (and the video UNet's temporal attention). Note
    diffusers' naming quirk: in the conditional UNets ``attention_head_dim`` is the *number* of
    heads of the spatial transformers (and the head width of the video UNet's input temporal
    transformer, which has 8 heads); in ``UNet2DModel`` it is the width of each head.

    Training: timesteps are drawn uniformly from ``[0, tau_max]``; with probability
    ``low_tau_fraction`` from ``[0, low_tau_max]`` instead (the purifiers' range). Latent clips
    are randomly cropped to ``crop_size`` (0: whole latents) and ``num_frames`` consecutive frames
    (0: all). AdamW, one-cycle schedule, gradient clipping; the weights saved are an EMA when
    ``ema_decay`` > 0.
    """

    kind: str = "video"
    block_out_channels: tuple[int, ...] = (32, 64)
    layers_per_block: int = 1
    down_block_types: tuple[str, ...] = ("DownBlock3D", "DownBlock3D")
    up_block_types: tuple[str, ...] = ("UpBlock3D", "UpBlock3D")
    attention_head_dim: int = 4
    cross_attention_dim: int = 32
    norm_num_groups: int = 16
    tau_max: int = 250
    low_tau_max: int = 201
    low_tau_fraction: float = 0.0
    steps: int = 3000
    batch_size: int = 8  # latent clips per step
    crop_size: int = 0
    num_frames: int = 0
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_fraction: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.0
    embedding_seed: int = 0

    def __post_init__(self) -> None:
        for key in ("block_out_channels", "down_block_types", "up_block_types"):
            object.__setattr__(self, key, tuple(getattr(self, key)))
        _check_channels("UNetTraining", self.block_out_channels, self.norm_num_groups)
        n = len(self.block_out_channels)
        if len(self.down_block_types) != n or len(self.up_block_types) != n:
            raise ValueError(
                f"UNetTraining: {n} block_out_channels need {n} down_block_types and up_block_types, got "
                f"{len(self.down_block_types)} and {len(self.up_block_types)}"
            )
        if self.kind not in BLOCK_TYPES:
            raise ValueError(f"UNetTraining.kind: unknown {self.kind!r}, expected one of {sorted(BLOCK_TYPES)}")
        known_down, known_up = BLOCK_TYPES[self.kind]
        for key, blocks, known in (("down", self.down_block_types, known_down), ("up", self.up_block_types, known_up)):
            for block in blocks:
                if block not in known:
                    raise ValueError(
                        f"UNetTraining.{key}_block_types: unknown '{block}' for kind {self.kind!r}, expected one of {known}"
                    )
        _check_positive(
            "UNetTraining", layers_per_block=self.layers_per_block, attention_head_dim=self.attention_head_dim,
            cross_attention_dim=self.cross_attention_dim, steps=self.steps, batch_size=self.batch_size, lr=self.lr,
        )  # fmt: skip
        _check_nonnegative(
            "UNetTraining", crop_size=self.crop_size, num_frames=self.num_frames, weight_decay=self.weight_decay,
            grad_clip=self.grad_clip, tau_max=self.tau_max, low_tau_max=self.low_tau_max,
        )  # fmt: skip
        if self.tau_max >= NUM_TRAIN_TIMESTEPS:
            raise ValueError(f"UNetTraining.tau_max must be < num_train_timesteps={NUM_TRAIN_TIMESTEPS}, got {self.tau_max}")
        if self.low_tau_max > self.tau_max:
            raise ValueError(f"UNetTraining.low_tau_max {self.low_tau_max} exceeds tau_max {self.tau_max}")
        if not 0 <= self.low_tau_fraction <= 1:
            raise ValueError(f"UNetTraining.low_tau_fraction must lie in [0, 1], got {self.low_tau_fraction}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"UNetTraining.ema_decay must lie in [0, 1), got {self.ema_decay}")
        if not 0 < self.warmup_fraction < 1:
            raise ValueError(f"UNetTraining.warmup_fraction must lie in (0, 1), got {self.warmup_fraction}")
        if self.crop_size and self.crop_size % self.downsampling:
            raise ValueError(f"UNetTraining.crop_size {self.crop_size} must be a multiple of {self.downsampling}")

    @property
    def downsampling(self) -> int:
        """Spatial reduction factor of the UNet's encoder path."""
        return 2 ** (len(self.block_out_channels) - 1)


# --------------------------------------------------------------------------------------------
# models


def build_vae(settings: VAETraining):
    """A randomly initialised ``AutoencoderKL`` with ``settings``' architecture (RGB in and out)."""
    from diffusers import AutoencoderKL

    n = len(settings.block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=settings.block_out_channels,
        layers_per_block=settings.layers_per_block,
        latent_channels=settings.latent_channels,
        norm_num_groups=settings.norm_num_groups,
        mid_block_add_attention=settings.mid_block_attention,
        force_upcast=False,
        scaling_factor=1.0,
    )


def build_unet(settings: UNetTraining, latent_channels: int):
    """A randomly initialised noise predictor of ``settings.kind`` with ``settings``' architecture."""
    import diffusers

    shared = dict(
        in_channels=latent_channels,
        out_channels=latent_channels,
        down_block_types=settings.down_block_types,
        up_block_types=settings.up_block_types,
        block_out_channels=settings.block_out_channels,
        layers_per_block=settings.layers_per_block,
        norm_num_groups=settings.norm_num_groups,
        attention_head_dim=settings.attention_head_dim,
    )
    if settings.kind == "pixel":
        return diffusers.UNet2DModel(**shared)
    return getattr(diffusers, DENOISER_KINDS[settings.kind])(**shared, cross_attention_dim=settings.cross_attention_dim)


def empty_prompt_embedding(cross_attention_dim: int, seed: int) -> torch.Tensor:
    """The mini bundle's fixed conditioning: seeded standard normal, (1, 1, cross_attention_dim)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((1, 1, cross_attention_dim), generator=generator, dtype=torch.float32)


def _param_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------------------------
# encode / decode (the bundle's conventions: (B, T, C, H, W) in [0, 1] <-> (B, T, c, h, w))


def _frames_to_vae_input(frames: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, C) -> float (M, C, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).reshape(-1, *frames.shape[-3:])
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


@torch.no_grad()
def encode_frames(
    vae, frames: np.ndarray, *, device, scaled: bool = True, progress: bool = False, desc: str = "encode"
) -> torch.Tensor:
    """Posterior means of uint8 clips (N, T, H, W, C) -> (N, T, c, h, w) float32 on the CPU.

    Multiplied by ``vae.config.scaling_factor`` when ``scaled``.
    """
    vae.eval()
    n, t = frames.shape[:2]
    flat = frames.reshape(n * t, *frames.shape[2:])
    scale = float(vae.config.scaling_factor) if scaled else 1.0
    out = []
    for start in tqdm(range(0, len(flat), _ENCODE_BATCH), desc=desc, unit="batch", disable=not progress):
        x = _frames_to_vae_input(flat[start : start + _ENCODE_BATCH]).to(device)
        out.append(vae.encode(x).latent_dist.mean.float().cpu() * scale)
    z = torch.cat(out)
    return z.reshape(n, t, *z.shape[1:])


@torch.no_grad()
def reconstruct_frames(vae, frames: np.ndarray, *, device, progress: bool = False) -> np.ndarray:
    """D(E(x)) of uint8 clips (N, T, H, W, C), as uint8 of the same shape.

    The posterior mean decoded, as ``LatentVideoDiffusion.decode(encode(x))`` computes it: the
    best any diffusion defense's output can be, and what mini's recognizers may be trained on
    (``train.vae_reconstructions``).
    """
    latents = encode_frames(vae, frames, device=device, scaled=False, progress=progress).flatten(0, 1)
    out = np.empty((len(latents), *frames.shape[2:]), dtype=np.uint8)
    for start in tqdm(range(0, len(latents), _ENCODE_BATCH), desc="decode", unit="batch", disable=not progress):
        pixels = vae.decode(latents[start : start + _ENCODE_BATCH].to(device)).sample
        pixels = ((pixels.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        out[start : start + len(pixels)] = pixels.permute(0, 2, 3, 1).cpu().numpy()
    return out.reshape(frames.shape)


# --------------------------------------------------------------------------------------------
# helpers


def _check_frames(frames: np.ndarray, multiple: int) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[-1] != 3:
        raise ValueError(
            f"train frames must be a uint8 array (N, T, H, W, 3), got {getattr(frames, 'dtype', type(frames))} "
            f"{getattr(frames, 'shape', '')}"
        )
    if len(frames) == 0 or frames.shape[1] == 0:
        raise ValueError(f"train frames are empty: {frames.shape}")
    h, w = frames.shape[2:4]
    if h % multiple or w % multiple:
        raise ValueError(f"frame size {h}x{w} must be a multiple of the VAE's downsampling {multiple}")


def _random_crop(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A random ``size`` x ``size`` crop of the last two dims, drawn anew for each leading item."""
    if not size or size == x.shape[-1] and size == x.shape[-2]:
        return x
    h, w = x.shape[-2:]
    tops = torch.randint(0, h - size + 1, (len(x),), generator=generator)
    lefts = torch.randint(0, w - size + 1, (len(x),), generator=generator)
    return torch.stack([item[..., t : t + size, l : l + size] for item, t, l in zip(x, tops.tolist(), lefts.tolist())])


def _image_gradient_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between the horizontal and vertical finite differences of two image batches."""
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]  # noqa: E731
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]  # noqa: E731
    return 0.5 * (F.l1_loss(dx(a), dx(b)) + F.l1_loss(dy(a), dy(b)))


def _one_cycle(optimizer, lr: float, steps: int, warmup: float):
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=steps, pct_start=warmup, anneal_strategy="cos", div_factor=25.0,
        final_div_factor=1e3,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# VAE


def train_vae(
    train_frames: np.ndarray,
    settings: VAETraining,
    out_dir: str | Path,
    *,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Train an ``AutoencoderKL`` frame-wise on uint8 clips (N, T, H, W, C); ``save_pretrained`` it.

    After training, ``scaling_factor`` is set to 1 / std of the posterior means over the frames
    of evenly spaced clips of ``train_frames`` (fewer than 2 × ``_STD_CLIPS``). ``out_dir`` is
    written atomically (a temporary directory, then a rename).

    Returns:
        Metrics: ``train_seconds``, ``param_count``, ``latent_std`` (before scaling),
        ``scaling_factor``, final (last-10%-mean) losses, the settings and the seed.
    """
    _check_frames(train_frames, settings.downsampling)
    h, w = train_frames.shape[2:4]
    if settings.crop_size > min(h, w):
        raise ValueError(f"VAETraining.crop_size {settings.crop_size} exceeds the frame size {h}x{w}")
    out_dir = Path(out_dir)
    device = torch.device(device)
    start = time.perf_counter()
    torch.manual_seed(seed)
    vae = build_vae(settings).to(device)
    param_count = _param_count(vae)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = _one_cycle(optimizer, settings.lr, settings.steps, settings.warmup_fraction)
    flat = train_frames.reshape(-1, *train_frames.shape[2:])
    log.info(
        "training AutoencoderKL (%d parameters) on %d frames %dx%d; %d steps of %d frames (crop %s), lr %g, seed %d, %s",
        param_count, len(flat), h, w, settings.steps, settings.batch_size, settings.crop_size or "none",
        settings.lr, seed, device,
    )  # fmt: skip
    vae.train()
    history: list[dict[str, float]] = []
    bar = tqdm(range(settings.steps), desc="train VAE", unit="step", disable=not progress)
    for step in bar:
        index = torch.randint(0, len(flat), (settings.batch_size,), generator=generator).numpy()
        x = _random_crop(_frames_to_vae_input(flat[index]), settings.crop_size, generator).to(device)
        posterior = vae.encode(x).latent_dist
        if settings.sample_posterior:
            noise = torch.randn(posterior.mean.shape, generator=generator).to(device)
            z = posterior.mean + posterior.std * noise
        else:
            z = posterior.mean
        rec = vae.decode(z).sample
        l1 = F.l1_loss(rec, x)
        mse = F.mse_loss(rec, x)
        grad = _image_gradient_l1(rec, x)
        kl = posterior.kl().mean() / x[0].numel()
        loss = (
            settings.l1_weight * l1 + settings.mse_weight * mse + settings.gradient_weight * grad
            + settings.kl_weight * kl
        )  # fmt: skip
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(vae.parameters(), settings.grad_clip)
        optimizer.step()
        scheduler.step()
        record = {"loss": loss.item(), "l1": l1.item(), "mse": mse.item(), "grad": grad.item(), "kl": kl.item()}
        history.append(record)
        if step % 10 == 0:
            psnr = 10 * math.log10(4.0 / max(record["mse"], 1e-12))  # images in [-1, 1]
            bar.set_postfix(loss=f"{record['loss']:.4f}", psnr=f"{psnr:.1f}", refresh=False)
        if progress is False and (step + 1) % max(1, settings.steps // 10) == 0:
            log.info("VAE step %d/%d: %s", step + 1, settings.steps, {k: round(v, 5) for k, v in record.items()})
    train_seconds = time.perf_counter() - start
    # An evenly spaced sample of clips estimates the std to well under 1 % at a fraction of the cost
    # of encoding the whole split.
    sample = train_frames[:: max(1, len(train_frames) // _STD_CLIPS)]
    means = encode_frames(vae, sample, device=device, scaled=False, progress=progress, desc="latent std")
    latent_std = float(means.double().std())
    latent_mean = float(means.double().mean())
    vae.register_to_config(scaling_factor=1.0 / latent_std)
    tail = history[-max(1, len(history) // 10) :]
    final = {key: float(np.mean([r[key] for r in tail])) for key in tail[0]}
    metrics: dict[str, Any] = {
        "param_count": param_count,
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - start,
        "latent_std": latent_std,
        "latent_mean": latent_mean,
        "scaling_factor": 1.0 / latent_std,
        "final_losses": final,
        "final_train_psnr": 10 * math.log10(4.0 / max(final["mse"], 1e-12)),
        "loss_history": [r["loss"] for r in history],
        "settings": dataclasses.asdict(settings),
        "seed": seed,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "num_frames": int(len(flat)),
    }
    with atomic_directory(out_dir) as tmp:
        vae.save_pretrained(tmp, safe_serialization=True)
    log.info(
        "VAE: %.0f s, latent std %.4f -> scaling factor %.4f, final train PSNR %.2f dB; wrote %s",
        train_seconds, latent_std, 1.0 / latent_std, metrics["final_train_psnr"], out_dir,
    )  # fmt: skip
    return metrics


def load_vae(vae_dir: str | Path, device="cpu"):
    """The ``AutoencoderKL`` saved by :func:`train_vae` (eval mode, frozen)."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(vae_dir, local_files_only=True, low_cpu_mem_usage=False).to(device)
    vae.eval().requires_grad_(False)
    return vae


# --------------------------------------------------------------------------------------------
# UNet


def _sample_timesteps(settings: UNetTraining, batch: int, generator: torch.Generator) -> torch.Tensor:
    tau = torch.randint(0, settings.tau_max + 1, (batch,), generator=generator)
    if settings.low_tau_fraction > 0:
        low = torch.randint(0, settings.low_tau_max + 1, (batch,), generator=generator)
        pick = torch.rand(batch, generator=generator) < settings.low_tau_fraction
        tau = torch.where(pick, low, tau)
    return tau


def _crop_latents(z: torch.Tensor, settings: UNetTraining, generator: torch.Generator) -> torch.Tensor:
    """Random temporal window and spatial crop of latent clips (B, T, c, h, w)."""
    if settings.num_frames and settings.num_frames < z.shape[1]:
        starts = torch.randint(0, z.shape[1] - settings.num_frames + 1, (len(z),), generator=generator).tolist()
        z = torch.stack([item[s : s + settings.num_frames] for item, s in zip(z, starts)])
    return _random_crop(z, settings.crop_size, generator)


def train_unet(
    train_frames: np.ndarray,
    vae_dir: str | Path | None,
    settings: UNetTraining,
    out_dir: str | Path,
    *,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Train the noise predictor of ``settings.kind`` on ``train_frames``; write the whole bundle.

    A latent model's split is encoded once (``latent_dist.mean * scaling_factor``) with the VAE of
    ``vae_dir``; a pixel model (``vae_dir`` None) trains on the frames in [−1, 1]. Each step draws
    clips (``num_frames`` 1 makes an image model's batch one frame of each), timesteps in
    ``[0, tau_max]`` and noise, and regresses the noise (MSE) under ModelScope's schedule,
    conditioned on the fixed empty-prompt embedding where the UNet takes one. ``out_dir`` receives
    ``vae/`` (latent models), ``unet/``, ``scheduler/``, ``empty_prompt_embedding.safetensors``
    (conditional models) and ``videopure.json``, atomically.

    Returns:
        Metrics: ``train_seconds``, ``encode_seconds``, ``param_count``, final loss, the loss per
        timestep band on the last 10 % of steps, the settings and the seed.
    """
    device = torch.device(device)
    out_dir = Path(out_dir)
    start = time.perf_counter()
    if (vae_dir is None) != (settings.kind == "pixel"):
        raise ValueError(
            f"UNetTraining.kind {settings.kind!r} "
            + ("trains on pixels and takes no VAE" if settings.kind == "pixel" else "trains on VAE latents: give vae_dir")
        )
    vae = None if vae_dir is None else load_vae(vae_dir, device)
    vae_down = 1 if vae is None else 2 ** (len(vae.config.block_out_channels) - 1)
    _check_frames(train_frames, vae_down)
    h, w = train_frames.shape[2] // vae_down, train_frames.shape[3] // vae_down
    if settings.crop_size > min(h, w):
        raise ValueError(f"UNetTraining.crop_size {settings.crop_size} exceeds the latent size {h}x{w}")
    size = settings.crop_size or min(h, w)
    if size % settings.downsampling or (not settings.crop_size and max(h, w) % settings.downsampling):
        raise ValueError(f"latent size {h}x{w} (crop {settings.crop_size}) must be a multiple of the UNet's {settings.downsampling}")
    if settings.num_frames > train_frames.shape[1]:
        raise ValueError(f"UNetTraining.num_frames {settings.num_frames} exceeds the clip length {train_frames.shape[1]}")
    if vae is None:
        # uint8 (N, T, 3, H, W): a float copy of a split would be four times its size; each batch
        # is scaled to [-1, 1] as LatentVideoDiffusion.encode scales frames.
        latents = torch.from_numpy(np.ascontiguousarray(train_frames)).permute(0, 1, 4, 2, 3)
    else:
        latents = encode_frames(vae, train_frames, device=device, progress=progress, desc="encode train split")
        log.info("encoded %d clips to latents %s (std %.3f)", len(latents), tuple(latents.shape[1:]), float(latents.std()))
    encode_seconds = time.perf_counter() - start

    torch.manual_seed(seed)
    unet = build_unet(settings, 3 if vae is None else int(vae.config.latent_channels)).to(device)
    param_count = _param_count(unet)
    conditional = settings.kind != "pixel"
    embedding = empty_prompt_embedding(settings.cross_attention_dim, settings.embedding_seed) if conditional else None
    metadata = {
        "source": "trained by videopure.diffusion.train",
        "num_train_timesteps": NUM_TRAIN_TIMESTEPS,
        "trained_tau_max": int(settings.tau_max),
        **({} if vae is None else {"latent_std_before_scaling": 1.0 / float(vae.config.scaling_factor)}),
        **({"embedding_seed": settings.embedding_seed} if conditional else {}),
        "seed": seed,
        "settings": dataclasses.asdict(settings),
    }
    # The bundle's own noise prediction trains the UNet, so training and purification share one
    # layout conversion and one conditioning.
    model = LatentVideoDiffusion(vae, unet, MODELSCOPE_SCHEDULER_CONFIG, embedding, metadata).to(device)
    alphas_cumprod = model.schedule.alphas_cumprod.float()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    lr_schedule = _one_cycle(optimizer, settings.lr, settings.steps, settings.warmup_fraction)
    ema = [p.detach().clone() for p in unet.parameters()] if settings.ema_decay > 0 else None
    log.info(
        "training %s (%d parameters): %d steps of %d clips, tau <= %d, lr %g, seed %d, %s",
        type(unet).__name__, param_count, settings.steps, settings.batch_size, settings.tau_max, settings.lr, seed, device,
    )  # fmt: skip
    unet.train()
    history: list[dict[str, float]] = []
    train_start = time.perf_counter()
    bar = tqdm(range(settings.steps), desc="train UNet", unit="step", disable=not progress)
    for step in bar:
        index = torch.randint(0, len(latents), (settings.batch_size,), generator=generator)
        z0 = _crop_latents(latents[index], settings, generator)
        if vae is None:
            z0 = z0.float().div_(127.5).sub_(1.0)
        tau = _sample_timesteps(settings, len(z0), generator)
        noise = torch.randn(z0.shape, generator=generator)
        ab = alphas_cumprod[tau].view(-1, 1, 1, 1, 1)
        zt = (ab.sqrt() * z0 + (1 - ab).sqrt() * noise).to(device)
        pred = model.predict_noise(zt, tau.to(device))
        per_clip = (pred.float() - noise.to(device)).pow(2).mean(dim=(1, 2, 3, 4))
        loss = per_clip.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(unet.parameters(), settings.grad_clip)
        optimizer.step()
        lr_schedule.step()
        if ema is not None:
            decay = min(settings.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for e, p in zip(ema, unet.parameters()):
                    e.lerp_(p.detach(), 1 - decay)
        history.append({"loss": loss.item(), "tau": tau.tolist(), "per_clip": per_clip.detach().cpu().tolist()})
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean([r['loss'] for r in history[-50:]]):.4f}", refresh=False)
        if progress is False and (step + 1) % max(1, settings.steps // 10) == 0:
            log.info("UNet step %d/%d: loss %.4f", step + 1, settings.steps, np.mean([r["loss"] for r in history[-50:]]))
    train_seconds = time.perf_counter() - train_start
    if ema is not None:
        with torch.no_grad():
            for e, p in zip(ema, unet.parameters()):
                p.copy_(e)
    unet.eval()
    tail = history[-max(1, len(history) // 10) :]
    taus = np.concatenate([r["tau"] for r in tail])
    losses = np.concatenate([r["per_clip"] for r in tail])
    bands = {}
    for low, high in ((0, 50), (51, 101), (102, 201), (202, settings.tau_max)):
        mask = (taus >= low) & (taus <= high)
        if mask.any():
            bands[f"{low}-{high}"] = float(losses[mask].mean())
    metrics: dict[str, Any] = {
        "param_count": param_count,
        "vae_param_count": 0 if vae is None else _param_count(vae),
        "train_seconds": train_seconds,
        "encode_seconds": encode_seconds,
        "total_seconds": time.perf_counter() - start,
        "final_loss": float(np.mean([r["loss"] for r in tail])),
        "final_loss_by_tau": bands,
        "loss_history": [r["loss"] for r in history],
        "settings": dataclasses.asdict(settings),
        "seed": seed,
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    model.save_pretrained(out_dir)
    log.info("UNet: %.0f s training (+%.0f s encoding), final loss %.4f %s; wrote bundle %s",
             train_seconds, encode_seconds, metrics["final_loss"], bands, out_dir)  # fmt: skip
    return metrics
