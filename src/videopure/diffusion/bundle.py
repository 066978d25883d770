"""The latent video diffusion model: VAE, noise predictor, schedule and conditioning in one module.

A *bundle* is a directory in diffusers layout, loaded offline::

    <bundle>/vae/                AutoencoderKL.save_pretrained
    <bundle>/unet/               UNet3DConditionModel.save_pretrained
    <bundle>/scheduler/          scheduler_config.json (ModelScope's DDIM config)
    # trained by the workflow (mini, smoke):
    <bundle>/empty_prompt_embedding.safetensors   key "embedding", (1, L, cross_attention_dim)
    <bundle>/videopure.json                        {"trained_tau_max": ..., "num_train_timesteps": 1000, ...}
    # ModelScope text-to-video-ms-1.7b (paper) instead:
    <bundle>/text_encoder/ <bundle>/tokenizer/    CLIP; the empty-prompt embedding is computed from them

The paper (Sec. III-A) encodes a video with the VAE (eq. 4), diffuses and denoises the latent with
ModelScope's UNet conditioned on the empty prompt, and decodes. Our latent layout is (B, T, c, h, w)
everywhere; :meth:`LatentVideoDiffusion.predict_noise` is the one place that converts to the UNet's
(B, c, T, h, w).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from videopure.cache import atomic_directory, atomic_path, directory_digest
from videopure.diffusion.sampling import checkpointed
from videopure.diffusion.schedule import DiffusionSchedule

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, UNet3DConditionModel

log = logging.getLogger(__name__)

EMBEDDING_FILE = "empty_prompt_embedding.safetensors"
EMBEDDING_KEY = "embedding"
METADATA_FILE = "videopure.json"
MODELSCOPE = "ModelScope text-to-video-ms-1.7b (damo-vilab/text-to-video-ms-1.7b, diffusers layout)"
_SUBFOLDERS = {
    "vae": "AutoencoderKL",
    "unet": "UNet3DConditionModel",
    "scheduler": "scheduler_config.json",
}


def paper_architecture() -> tuple[AutoencoderKL, UNet3DConditionModel]:
    """Randomly initialised modules with the paper's shapes: Stable Diffusion's VAE and ModelScope's UNet.

    ModelScope text-to-video-ms-1.7b's UNet is ``UNet3DConditionModel()`` with its constructor
    defaults (blocks 320/640/1280/1280, cross-attention 1024, head dim 64: 1.411 B parameters); its
    VAE is Stable Diffusion's ``AutoencoderKL`` (blocks 128/256/512/512, 4 latent channels, 2 layers
    per block, scaling 0.18215: 83.7 M parameters). Honest time and memory figures need no
    download. Built on the current default device: ``with torch.device("meta"):`` is instant.
    """
    from diffusers import AutoencoderKL, UNet3DConditionModel

    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        scaling_factor=0.18215,
    )
    return vae, UNet3DConditionModel()


def _canonical_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config without diffusers' bookkeeping keys (``_diffusers_version``, ``_name_or_path``, …),
    which change with the library version and the load path but not the model."""
    return {key: value for key, value in dict(config).items() if not key.startswith("_")}


def _check_dtype(device: torch.device, dtype: torch.dtype) -> None:
    if dtype not in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        raise ValueError(f"dtype must be torch.float32, float64, bfloat16 or float16, got {dtype}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device} requested but torch.cuda.is_available() is False; use device='cpu'")
    if device.type == "cpu" and dtype == torch.float16:
        raise ValueError(
            "float16 needs a GPU (CPU half-precision kernels are missing or slow); on the CPU use float32 or bfloat16"
        )


def encode_empty_prompt(path: str | Path, cache: str | Path | None = None) -> torch.Tensor:
    """The empty prompt's CLIP embedding (1, max_length, hidden), float32, from ``path``'s text encoder.

    As ModelScope's pipeline computes it: ``""`` tokenized and padded to the tokenizer's
    ``model_max_length``, the text encoder's ``last_hidden_state``. With ``cache``, the embedding
    is stored there (safetensors, written atomically) with a digest of the ``text_encoder/`` and
    ``tokenizer/`` files, and reused while the digest matches — loading a 1.4 GB text encoder for
    one fixed vector per run is wasted time.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = Path(path)
    for sub in ("text_encoder", "tokenizer"):
        if not (path / sub).is_dir():
            raise FileNotFoundError(
                f"{path}: no '{EMBEDDING_FILE}' and no '{sub}/' subfolder; a ModelScope bundle needs text_encoder/ and "
                f"tokenizer/ to compute the empty-prompt embedding (download the complete {MODELSCOPE})"
            )
    key = directory_digest(path / "text_encoder", path / "tokenizer")
    if cache is not None and Path(cache).is_file():
        with safe_open(str(cache), framework="pt") as handle:
            if (handle.metadata() or {}).get("text_encoder") == key:
                return handle.get_tensor(EMBEDDING_KEY)
        log.info("empty-prompt embedding cache %s was made with another text encoder; recomputing", cache)

    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(path / "tokenizer", local_files_only=True)
    text_encoder = CLIPTextModel.from_pretrained(path / "text_encoder", local_files_only=True).eval()
    ids = tokenizer(
        "", padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids
    with torch.no_grad():
        embedding = text_encoder(ids).last_hidden_state.float().contiguous()
    if cache is not None:
        with atomic_path(cache) as tmp:
            save_file({EMBEDDING_KEY: embedding}, str(tmp), metadata={"text_encoder": key})
        log.info("computed the empty-prompt embedding %s and cached it at %s", tuple(embedding.shape), cache)
    return embedding


class LatentVideoDiffusion(nn.Module):
    """A latent video diffusion model: ``vae``, ``unet``, the noise schedule and the empty-prompt conditioning.

    Load a bundle with :meth:`from_pretrained`; build one in memory from modules (the mini trainer,
    the tests, :func:`paper_architecture`).

    Args:
        vae: a diffusers ``AutoencoderKL`` (frames in [−1, 1] ↔ latents with ``latent_channels``).
        unet: a diffusers ``UNet3DConditionModel`` with ``in_channels == out_channels == latent_channels``.
        scheduler_config: the diffusers scheduler config (ModelScope's DDIM config).
        empty_prompt_embedding: (1, L, cross_attention_dim) conditioning of every noise prediction.
        metadata: the bundle's ``videopure.json`` (``trained_tau_max``, ``num_train_timesteps`` and
            free-form training facts); ``None`` for ModelScope (fully trained on 1000 timesteps).

    Attributes:
        schedule: the :class:`~videopure.diffusion.schedule.DiffusionSchedule`.
        unet_calls: UNet evaluations so far, counted per clip (a call on B clips adds B), including
            the recomputations of the backward pass under gradient checkpointing (so forward plus
            backward through t* steps counts 2 t*). Reset it by assignment.
        decodes: videos decoded so far by :meth:`decode` (a call on B videos adds B; recomputations
            under gradient checkpointing are not counted). Reset it by assignment.
        noise_frozen: True inside :meth:`frozen_noise`.
    """

    def __init__(
        self,
        vae: AutoencoderKL,
        unet: UNet3DConditionModel,
        scheduler_config: Mapping[str, Any],
        empty_prompt_embedding: torch.Tensor,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        num_train = scheduler_config.get("num_train_timesteps", 1000)  # diffusers' default
        if metadata is None:
            metadata = {"source": "modelscope", "num_train_timesteps": 1000, "trained_tau_max": 999}
        missing = [key for key in ("trained_tau_max", "num_train_timesteps") if key not in metadata]
        if missing:
            raise ValueError(f"bundle metadata ({METADATA_FILE}) lacks {missing}; the trainer must record them")
        if num_train != metadata["num_train_timesteps"]:
            raise ValueError(
                f"scheduler config has num_train_timesteps={num_train} but the model was trained with "
                f"{metadata['num_train_timesteps']} ({METADATA_FILE}, or 1000 for ModelScope); "
                "use the bundle's own scheduler/"
            )
        latent = vae.config.latent_channels
        if not latent == unet.config.in_channels == unet.config.out_channels:
            raise ValueError(
                f"VAE latent_channels={latent} but UNet in_channels={unet.config.in_channels}, "
                f"out_channels={unet.config.out_channels}: the VAE and the UNet come from different models"
            )
        cross = unet.config.cross_attention_dim
        if (
            empty_prompt_embedding.ndim != 3
            or empty_prompt_embedding.shape[0] != 1
            or empty_prompt_embedding.shape[2] != cross
        ):
            raise ValueError(
                f"empty-prompt embedding must have shape (1, L, {cross}) for this UNet's cross_attention_dim, "
                f"got {tuple(empty_prompt_embedding.shape)}"
            )
        self.vae = vae
        self.unet = unet
        self.schedule = DiffusionSchedule.from_config(scheduler_config, metadata["trained_tau_max"])
        # The complete config (diffusers' defaults filled in), so that a saved and reloaded bundle
        # has the same identity.
        self.scheduler_config = _canonical_config(self.schedule.config)
        self.metadata = dict(metadata)
        self.register_buffer("empty_prompt_embedding", empty_prompt_embedding.detach().clone())
        self.unet_calls = 0
        self.decodes = 0
        self.noise_frozen = False
        self._identity: tuple[tuple, str] | None = None

    # --- loading and saving ----------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        embedding_cache: str | Path | None = None,
    ) -> LatentVideoDiffusion:
        """Load a bundle from local disk (never the network), frozen and in eval mode.

        Args:
            path: the bundle directory (layout in the module docstring).
            device: ``"cpu"`` or ``"cuda"`` (an error if CUDA is not available).
            dtype: float32 (default), float64, bfloat16, or float16 (GPU only).
            embedding_cache: for a ModelScope bundle, where to cache the empty-prompt embedding
                (see :func:`encode_empty_prompt`); ignored when the bundle stores it.

        Raises:
            FileNotFoundError: the bundle or one of its parts is missing (the message says what to get).
            ValueError: inconsistent parts, non-finite weights, or an unsupported dtype.
        """
        from diffusers import AutoencoderKL, UNet3DConditionModel
        from safetensors.torch import load_file

        path = Path(path)
        device = torch.device(device)
        _check_dtype(device, dtype)
        if not path.is_dir():
            raise FileNotFoundError(
                f"diffusion model bundle '{path}' does not exist. For the paper profile download {MODELSCOPE} and put "
                f"it at '{path}' (subfolders vae/, unet/, scheduler/, text_encoder/, tokenizer/); mini and smoke "
                "bundles are trained by the workflow (snakemake builds them)"
            )
        for sub, what in _SUBFOLDERS.items():
            if not (path / sub).is_dir():
                raise FileNotFoundError(
                    f"{path}: missing subfolder '{sub}/' ({what}); the bundle is incomplete — re-download "
                    f"{MODELSCOPE} or retrain the mini model"
                )
        scheduler_file = path / "scheduler" / "scheduler_config.json"
        if not scheduler_file.is_file():
            raise FileNotFoundError(
                f"{scheduler_file} is missing; the bundle's scheduler/ must hold a diffusers scheduler config"
            )
        scheduler_config = json.loads(scheduler_file.read_text())
        metadata_file = path / METADATA_FILE
        metadata = json.loads(metadata_file.read_text()) if metadata_file.is_file() else None

        vae = AutoencoderKL.from_pretrained(path / "vae", local_files_only=True, low_cpu_mem_usage=False)
        unet = UNet3DConditionModel.from_pretrained(path / "unet", local_files_only=True, low_cpu_mem_usage=False)
        embedding_file = path / EMBEDDING_FILE
        if embedding_file.is_file():
            tensors = load_file(embedding_file)
            if EMBEDDING_KEY not in tensors:
                raise ValueError(
                    f"{embedding_file} has no tensor '{EMBEDDING_KEY}' (has {sorted(tensors)}); rewrite the bundle"
                )
            embedding = tensors[EMBEDDING_KEY].float()
        else:
            embedding = encode_empty_prompt(path, embedding_cache)
        for part, module in (("vae", vae), ("unet", unet)):
            for name, tensor in module.state_dict().items():
                if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                    raise ValueError(
                        f"{path / part}: weight '{name}' has NaN or inf values; the bundle is corrupt or its training "
                        "diverged — retrain or re-download it"
                    )
        if not torch.isfinite(embedding).all():
            raise ValueError(
                f"{path}: the empty-prompt embedding has NaN or inf values; delete it (and any cache) and rebuild"
            )
        model = cls(vae, unet, scheduler_config, embedding, metadata)
        model.requires_grad_(False)
        return model.eval().to(device=device, dtype=dtype)

    def save_pretrained(self, path: str | Path) -> None:
        """Write the bundle (the mini layout: with the embedding and ``videopure.json``) atomically.

        Everything goes to a temporary directory beside ``path`` that is renamed into place, so
        readers see the previous bundle or the complete new one, never a partial one.
        """
        from diffusers import DDIMScheduler
        from safetensors.torch import save_file

        with atomic_directory(path) as tmp:
            self.vae.save_pretrained(tmp / "vae", safe_serialization=True)
            self.unet.save_pretrained(tmp / "unet", safe_serialization=True)
            DDIMScheduler.from_config(self.scheduler_config).save_pretrained(tmp / "scheduler")
            embedding = self.empty_prompt_embedding.detach().float().cpu().contiguous()
            save_file({EMBEDDING_KEY: embedding}, str(tmp / EMBEDDING_FILE))
            (tmp / METADATA_FILE).write_text(json.dumps(self.metadata, indent=2, sort_keys=True) + "\n")

    # --- identity ------------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """A digest (16 hex digits of SHA-256) of the configs, metadata and every weight in its current dtype.

        Downstream caches record it, so a retrained (or re-typed) model invalidates them. Hashing
        a 1.4 B-parameter model takes seconds, so the digest is cached until a tensor changes:
        torch bumps a tensor's version counter on every in-place update (optimiser steps,
        ``load_state_dict``), and ``.to()`` makes new tensors.
        """
        state = self.state_dict()
        key = tuple((name, tensor.data_ptr(), tensor._version, tensor.dtype) for name, tensor in state.items())
        if self._identity is None or self._identity[0] != key:
            digest = hashlib.sha256()
            header = {
                "vae": _canonical_config(self.vae.config),
                "unet": _canonical_config(self.unet.config),
                "scheduler": self.scheduler_config,
                "metadata": self.metadata,
            }
            digest.update(json.dumps(header, sort_keys=True, default=str).encode())
            for name in sorted(state):
                tensor = state[name].detach().cpu().contiguous()
                digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\0".encode())
                digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
            self._identity = (key, digest.hexdigest()[:16])
        return self._identity[1]

    # --- encoding, decoding, noise prediction ---------------------------------------------------

    @property
    def dtype(self) -> torch.dtype:
        return self.empty_prompt_embedding.dtype

    @property
    def device(self) -> torch.device:
        return self.empty_prompt_embedding.device

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along each spatial axis (8 for Stable Diffusion's VAE)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def _check_latents(self, z: torch.Tensor, where: str) -> None:
        channels = self.vae.config.latent_channels
        if z.ndim != 5 or z.shape[2] != channels:
            raise ValueError(
                f"{where} expects latents (B, T, c={channels}, h, w) in our layout, got shape {tuple(z.shape)}"
            )

    def encode(self, x: torch.Tensor, frame_batch: int = 16) -> torch.Tensor:
        """Latents z0 = E(x) (eq. 4), (B, T, c, h, w), of videos ``x`` (B, T, C, H, W) in [0, 1].

        ``2x − 1``, the posterior mean ``vae.encode(·).latent_dist.mean`` times ``scaling_factor``,
        ``frame_batch`` frames per VAE call (any T), each call gradient-checkpointed under autograd
        (an attack through 32 frames at 224 × 224 would otherwise hold every frame's activations).
        Computed in the model's dtype.
        """
        factor = self.vae_scale_factor
        if x.ndim != 5 or x.shape[2] != self.vae.config.in_channels or x.shape[3] % factor or x.shape[4] % factor:
            raise ValueError(
                f"encode expects videos (B, T, C={self.vae.config.in_channels}, H, W) with H and W multiples of "
                f"{factor}, got shape {tuple(x.shape)}"
            )
        frames = (2 * x - 1).flatten(0, 1).to(device=self.device, dtype=self.dtype)
        latents = torch.cat([checkpointed(self._encode_frames, chunk) for chunk in frames.split(frame_batch)])
        return (latents * self.vae.config.scaling_factor).unflatten(0, x.shape[:2])

    def decode(self, z: torch.Tensor, frame_batch: int = 16) -> torch.Tensor:
        """Videos D(z) (eq. 4), (B, T, C, H, W) in [0, 1], of latents ``z`` (B, T, c, h, w).

        ``(vae.decode(z / scaling_factor) + 1) / 2`` clamped to [0, 1], ``frame_batch`` frames per
        call, each call gradient-checkpointed under autograd.
        """
        self._check_latents(z, "decode")
        self.decodes += z.shape[0]
        frames = z.flatten(0, 1) / self.vae.config.scaling_factor
        pixels = torch.cat([checkpointed(self._decode_frames, chunk) for chunk in frames.split(frame_batch)])
        return ((pixels + 1) / 2).clamp(0, 1).unflatten(0, z.shape[:2])

    def _encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(frames).latent_dist.mean

    def _decode_frames(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents).sample

    @contextlib.contextmanager
    def frozen_noise(self) -> Iterator[None]:
        """Within the block, the diffusion steps hold every noise estimate ε_θ constant: autograd
        reaches a purifier's input through the encoder, the steps' arithmetic and the decoder, not
        through the UNet (the ε-fixed gradient, docs/design.md, "Attacks"; one UNet pass per step, no
        recomputation)."""
        previous, self.noise_frozen = self.noise_frozen, True
        try:
            yield
        finally:
            self.noise_frozen = previous

    def predict_noise(self, z: torch.Tensor, tau: int | torch.Tensor) -> torch.Tensor:
        """ε_θ(z, τ), (B, T, c, h, w), for latents ``z`` (B, T, c, h, w) at train timestep ``tau``
        (one for the batch, or a tensor (B,) of one per clip, as in training).

        Conditioned on the empty-prompt embedding alone. ModelScope's pipeline runs classifier-free
        guidance with the empty prompt on both halves, ε_u + g (ε_c − ε_u) with ε_c = ε_u: the same
        ε at twice the cost, so we make the single call.
        """
        self._check_latents(z, "predict_noise")
        condition = self.empty_prompt_embedding.expand(z.shape[0], -1, -1)
        # Counted before the call: a checkpoint's recomputation stops early, after the UNet's last
        # saved activation, and must count as well.
        self.unet_calls += z.shape[0]
        # UNet3DConditionModel wants (B, c, T, h, w): this is the only place our layout is converted.
        return self.unet(z.transpose(1, 2), tau, encoder_hidden_states=condition).sample.transpose(1, 2)
