"""The diffusion model behind the purifiers: autoencoder, noise predictor, schedule and conditioning.

A *bundle* is a directory in diffusers layout, loaded offline::

    <bundle>/vae/                AutoencoderKL.save_pretrained (absent for a pixel-space model)
    <bundle>/unet/               UNet3DConditionModel, UNet2DConditionModel or UNet2DModel
    <bundle>/scheduler/          scheduler_config.json (ModelScope's DDIM config, SD's PNDM config, ...)
    # trained by the workflow (mini, smoke):
    <bundle>/empty_prompt_embedding.safetensors   key "embedding", (1, L, cross_attention_dim)
    <bundle>/videopure.json                        {"trained_tau_max": ..., "num_train_timesteps": 1000, ...}
    # ModelScope text-to-video-ms-1.7b or Stable Diffusion v1.5 (paper) instead:
    <bundle>/text_encoder/ <bundle>/tokenizer/    CLIP; the empty-prompt embedding is computed from them

The paper (Sec. III-A) encodes a video with the VAE (eq. 4), diffuses and denoises the latent with
ModelScope's UNet conditioned on the empty prompt, and decodes. Its Table V puts two image models
behind the same purifiers; the UNet's class says which :data:`DENOISER_KINDS` a bundle is:

* ``video``: a ``UNet3DConditionModel`` denoises the whole latent clip (ModelScope);
* ``image``: a ``UNet2DConditionModel`` denoises each frame's latent on its own (Stable Diffusion);
* ``pixel``: a ``UNet2DModel`` denoises each frame in pixel space, with no autoencoder (Guided
  Diffusion): the "latents" are the frames scaled to [−1, 1].

Our latent layout is (B, T, c, h, w) everywhere, whatever the kind; :meth:`LatentVideoDiffusion.predict_noise`
is the one place that converts to the UNet's (B, c, T, h, w) or (B·T, c, h, w). The purifiers'
temporal parts (temporal DDIM inversion, the temporal loss, the flow) act across frames on every
kind.
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
STABLE_DIFFUSION = "Stable Diffusion v1.5 (stable-diffusion-v1-5/stable-diffusion-v1-5, diffusers layout)"
PIXEL_MODEL = (
    "a pixel-space diffusers UNet2DModel with its scheduler/ (e.g. google/ddpm-ema-church-256, its scheduler config "
    "with clip_sample false); OpenAI's Guided Diffusion checkpoints are not in this layout and stock diffusers cannot "
    "load them (docs/design.md, \"Table V's models\")"
)
# The UNet class of each kind of model, the paper's model of that kind (Table V) for error messages,
# and the metadata source of a downloaded one (part of its identity, so fixed).
DENOISER_KINDS = {"video": "UNet3DConditionModel", "image": "UNet2DConditionModel", "pixel": "UNet2DModel"}
PAPER_MODELS = {"video": MODELSCOPE, "image": STABLE_DIFFUSION, "pixel": PIXEL_MODEL}
DOWNLOADED_SOURCES = {"video": "modelscope", "image": "stable-diffusion-v1-5", "pixel": "pixel-unet2d"}


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
                f"{path}: no '{EMBEDDING_FILE}' and no '{sub}/' subfolder; a downloaded conditional model needs "
                f"text_encoder/ and tokenizer/ to compute the empty-prompt embedding (download the complete "
                f"{MODELSCOPE} or {STABLE_DIFFUSION})"
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


def denoiser_kind(unet: nn.Module) -> str:
    """The :data:`DENOISER_KINDS` key of a diffusers UNet, by its class."""
    for kind, class_name in DENOISER_KINDS.items():
        if type(unet).__name__ == class_name:
            return kind
    raise TypeError(
        f"the noise predictor must be a diffusers {', '.join(DENOISER_KINDS.values())}, got {type(unet).__name__}"
    )


class LatentVideoDiffusion(nn.Module):
    """A diffusion model of videos: ``vae``, ``unet``, the noise schedule and the empty-prompt conditioning.

    The paper's ModelScope (a video UNet on VAE latents) and Table V's image models (a frame-wise
    UNet on the same kind of latents, or on pixels) behind one interface: encode, predict noise,
    decode. Load a bundle with :meth:`from_pretrained`; build one in memory from modules (the mini
    trainer, the tests, :func:`paper_architecture`).

    Args:
        vae: a diffusers ``AutoencoderKL`` (frames in [−1, 1] ↔ latents with ``latent_channels``);
            ``None`` for a pixel-space ``UNet2DModel``.
        unet: a diffusers ``UNet3DConditionModel`` (kind ``video``), ``UNet2DConditionModel``
            (``image``) or ``UNet2DModel`` (``pixel``, RGB), with ``in_channels == out_channels ==``
            the latent channels.
        scheduler_config: the diffusers scheduler config (ModelScope's DDIM config).
        empty_prompt_embedding: (1, L, cross_attention_dim) conditioning of every noise prediction;
            ``None`` for the unconditional ``UNet2DModel``.
        metadata: the bundle's ``videopure.json`` (``trained_tau_max``, ``num_train_timesteps`` and
            free-form training facts); ``None`` for a downloaded model (fully trained on 1000 timesteps).

    Attributes:
        kind: ``"video"``, ``"image"`` or ``"pixel"`` (:data:`DENOISER_KINDS`).
        schedule: the :class:`~videopure.diffusion.schedule.DiffusionSchedule`.
        unet_calls: UNet evaluations so far, counted per clip (a call on B clips adds B, whatever the
            kind), including the recomputations of the backward pass under gradient checkpointing
            (so forward plus backward through t* steps counts 2 t*). Reset it by assignment.
        decodes: videos decoded so far by :meth:`decode` (a call on B videos adds B; recomputations
            under gradient checkpointing are not counted). Reset it by assignment.
        noise_frozen: True inside :meth:`frozen_noise`.
    """

    def __init__(
        self,
        vae: AutoencoderKL | None,
        unet: nn.Module,
        scheduler_config: Mapping[str, Any],
        empty_prompt_embedding: torch.Tensor | None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.kind = denoiser_kind(unet)
        num_train = scheduler_config.get("num_train_timesteps", 1000)  # diffusers' default
        if metadata is None:
            metadata = {"source": DOWNLOADED_SOURCES[self.kind], "num_train_timesteps": 1000, "trained_tau_max": 999}
        missing = [key for key in ("trained_tau_max", "num_train_timesteps") if key not in metadata]
        if missing:
            raise ValueError(f"bundle metadata ({METADATA_FILE}) lacks {missing}; the trainer must record them")
        if num_train != metadata["num_train_timesteps"]:
            raise ValueError(
                f"scheduler config has num_train_timesteps={num_train} but the model was trained with "
                f"{metadata['num_train_timesteps']} ({METADATA_FILE}, or 1000 for a downloaded model); "
                "use the bundle's own scheduler/"
            )
        if (vae is None) != (self.kind == "pixel"):
            raise ValueError(
                "a pixel-space UNet2DModel denoises frames and takes no VAE (vae=None)"
                if vae is not None
                else f"a {DENOISER_KINDS[self.kind]} denoises VAE latents and needs the VAE"
            )
        latent = 3 if vae is None else vae.config.latent_channels
        if not latent == unet.config.in_channels == unet.config.out_channels:
            raise ValueError(
                f"{'RGB frames have 3' if vae is None else f'VAE latent_channels={latent}'} but UNet "
                f"in_channels={unet.config.in_channels}, out_channels={unet.config.out_channels}: the "
                f"{'frames' if vae is None else 'VAE'} and the UNet come from different models"
            )
        if self.kind == "pixel":
            if empty_prompt_embedding is not None:
                raise ValueError("a UNet2DModel is unconditional: pass empty_prompt_embedding=None")
            if unet.config.num_class_embeds or unet.config.class_embed_type or unet.config.time_embedding_type != "positional":
                raise ValueError(
                    "the pixel model must be an unconditional UNet2DModel with positional time embedding (a DDPM); "
                    f"this one has num_class_embeds={unet.config.num_class_embeds}, class_embed_type="
                    f"{unet.config.class_embed_type}, time_embedding_type={unet.config.time_embedding_type!r}"
                )
        else:
            cross = unet.config.cross_attention_dim
            if (
                empty_prompt_embedding is None
                or empty_prompt_embedding.ndim != 3
                or empty_prompt_embedding.shape[0] != 1
                or empty_prompt_embedding.shape[2] != cross
            ):
                shape = None if empty_prompt_embedding is None else tuple(empty_prompt_embedding.shape)
                raise ValueError(
                    f"empty-prompt embedding must have shape (1, L, {cross}) for this UNet's cross_attention_dim, "
                    f"got {shape}"
                )
            empty_prompt_embedding = empty_prompt_embedding.detach().clone()
        self.vae = vae
        self.unet = unet
        self.schedule = DiffusionSchedule.from_config(scheduler_config, metadata["trained_tau_max"])
        # The complete config (diffusers' defaults filled in), so that a saved and reloaded bundle
        # has the same identity.
        self.scheduler_config = _canonical_config(self.schedule.config)
        self.metadata = dict(metadata)
        self.register_buffer("empty_prompt_embedding", empty_prompt_embedding)
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
        kind: str | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        embedding_cache: str | Path | None = None,
    ) -> LatentVideoDiffusion:
        """Load a bundle from local disk (never the network), frozen and in eval mode.

        Args:
            path: the bundle directory (layout in the module docstring).
            kind: the :data:`DENOISER_KINDS` key the caller expects (refused if ``unet/`` holds
                another class); ``None`` takes what ``unet/`` holds. Error messages name the paper's
                model of this kind (ModelScope when ``None``).
            device: ``"cpu"`` or ``"cuda"`` (an error if CUDA is not available).
            dtype: float32 (default), float64, bfloat16, or float16 (GPU only).
            embedding_cache: for a downloaded conditional model, where to cache the empty-prompt
                embedding (see :func:`encode_empty_prompt`); ignored when the bundle stores it.

        Raises:
            FileNotFoundError: the bundle or one of its parts is missing (the message says what to get).
            ValueError: inconsistent parts, another kind than ``kind``, non-finite weights, or an
                unsupported dtype.
        """
        import diffusers
        from safetensors.torch import load_file

        if kind is not None and kind not in DENOISER_KINDS:
            raise ValueError(f"unknown diffusion model kind {kind!r}; expected one of {sorted(DENOISER_KINDS)}")
        path = Path(path)
        device = torch.device(device)
        _check_dtype(device, dtype)
        wanted = PAPER_MODELS[kind or "video"]
        if not path.is_dir():
            raise FileNotFoundError(
                f"diffusion model bundle '{path}' does not exist. For the paper profile download {wanted} and put "
                f"it at '{path}' (subfolders {'' if kind == 'pixel' else 'vae/, '}unet/, scheduler/"
                f"{'' if kind == 'pixel' else ', text_encoder/, tokenizer/'}); mini and smoke bundles are trained by "
                "the workflow (snakemake builds them)"
            )
        unet_config = path / "unet" / "config.json"
        if not unet_config.is_file():
            raise FileNotFoundError(
                f"{path}: missing subfolder 'unet/' or its config.json (the noise predictor); the bundle is incomplete "
                f"— re-download {wanted} or retrain the mini model"
            )
        try:
            class_name = json.loads(unet_config.read_text()).get("_class_name")
        except json.JSONDecodeError as error:
            raise ValueError(f"{unet_config} is not valid JSON ({error}); re-download or retrain the model") from None
        found = {name: kind for kind, name in DENOISER_KINDS.items()}.get(class_name)
        if found is None:
            raise ValueError(
                f"{unet_config}: _class_name {class_name!r} is not a noise predictor this project runs "
                f"({', '.join(DENOISER_KINDS.values())})"
            )
        if kind is not None and found != kind:
            raise ValueError(
                f"{path} holds a {class_name} ({found} model) where a {DENOISER_KINDS[kind]} ({kind} model) is "
                "expected; point the config at the right directory"
            )
        subfolders = {"scheduler": "scheduler_config.json", **({} if found == "pixel" else {"vae": "AutoencoderKL"})}
        for sub, what in subfolders.items():
            if not (path / sub).is_dir():
                raise FileNotFoundError(
                    f"{path}: missing subfolder '{sub}/' ({what}); the bundle is incomplete — re-download "
                    f"{PAPER_MODELS[found]} or retrain the mini model"
                )
        scheduler_file = path / "scheduler" / "scheduler_config.json"
        if not scheduler_file.is_file():
            raise FileNotFoundError(
                f"{scheduler_file} is missing; the bundle's scheduler/ must hold a diffusers scheduler config"
            )
        scheduler_config = json.loads(scheduler_file.read_text())
        metadata_file = path / METADATA_FILE
        metadata = json.loads(metadata_file.read_text()) if metadata_file.is_file() else None

        parts = {"vae": diffusers.AutoencoderKL, "unet": getattr(diffusers, class_name)}
        parts = {
            part: module.from_pretrained(path / part, local_files_only=True, low_cpu_mem_usage=False)
            for part, module in parts.items()
            if part in subfolders or part == "unet"
        }
        embedding = None
        embedding_file = path / EMBEDDING_FILE
        if found != "pixel" and embedding_file.is_file():
            tensors = load_file(embedding_file)
            if EMBEDDING_KEY not in tensors:
                raise ValueError(
                    f"{embedding_file} has no tensor '{EMBEDDING_KEY}' (has {sorted(tensors)}); rewrite the bundle"
                )
            embedding = tensors[EMBEDDING_KEY].float()
        elif found != "pixel":
            embedding = encode_empty_prompt(path, embedding_cache)
        for part, module in parts.items():
            for name, tensor in module.state_dict().items():
                if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                    raise ValueError(
                        f"{path / part}: weight '{name}' has NaN or inf values; the bundle is corrupt or its training "
                        "diverged — retrain or re-download it"
                    )
        if embedding is not None and not torch.isfinite(embedding).all():
            raise ValueError(
                f"{path}: the empty-prompt embedding has NaN or inf values; delete it (and any cache) and rebuild"
            )
        model = cls(parts.get("vae"), parts["unet"], scheduler_config, embedding, metadata)
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
            if self.vae is not None:
                self.vae.save_pretrained(tmp / "vae", safe_serialization=True)
            self.unet.save_pretrained(tmp / "unet", safe_serialization=True)
            DDIMScheduler.from_config(self.scheduler_config).save_pretrained(tmp / "scheduler")
            if self.empty_prompt_embedding is not None:
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
                "vae": None if self.vae is None else _canonical_config(self.vae.config),
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
        return self.unet.conv_in.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.unet.conv_in.weight.device

    @property
    def latent_channels(self) -> int:
        return self.unet.config.in_channels

    @property
    def scaling_factor(self) -> float:
        """The VAE's latent scale (1 for a pixel-space model, whose latents are the frames in [−1, 1])."""
        return 1.0 if self.vae is None else float(self.vae.config.scaling_factor)

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along each spatial axis (8 for Stable Diffusion's VAE, 1 in pixel space)."""
        return 1 if self.vae is None else 2 ** (len(self.vae.config.block_out_channels) - 1)

    def _check_latents(self, z: torch.Tensor, where: str) -> None:
        channels = self.latent_channels
        if z.ndim != 5 or z.shape[2] != channels:
            raise ValueError(
                f"{where} expects latents (B, T, c={channels}, h, w) in our layout, got shape {tuple(z.shape)}"
            )

    def encode(self, x: torch.Tensor, frame_batch: int = 16) -> torch.Tensor:
        """Latents z0 = E(x) (eq. 4), (B, T, c, h, w), of videos ``x`` (B, T, C, H, W) in [0, 1].

        ``2x − 1``, the posterior mean ``vae.encode(·).latent_dist.mean`` times ``scaling_factor``,
        ``frame_batch`` frames per VAE call (any T), each call gradient-checkpointed under autograd
        (an attack through 32 frames at 224 × 224 would otherwise hold every frame's activations).
        In pixel space, ``2x − 1`` itself. Computed in the model's dtype.
        """
        # A pixel model's skip connections need frames its UNet halves exactly (UNet2DModel has no
        # fallback for odd sizes).
        factor = self.vae_scale_factor if self.vae is not None else 2 ** (len(self.unet.config.block_out_channels) - 1)
        if x.ndim != 5 or x.shape[2] != 3 or x.shape[3] % factor or x.shape[4] % factor:
            raise ValueError(
                f"encode expects videos (B, T, C=3, H, W) with H and W multiples of {factor}, got shape {tuple(x.shape)}"
            )
        frames = (2 * x - 1).flatten(0, 1).to(device=self.device, dtype=self.dtype)
        if self.vae is None:
            return frames.unflatten(0, x.shape[:2])
        latents = torch.cat([checkpointed(self._encode_frames, chunk) for chunk in frames.split(frame_batch)])
        return (latents * self.scaling_factor).unflatten(0, x.shape[:2])

    def decode(self, z: torch.Tensor, frame_batch: int = 16) -> torch.Tensor:
        """Videos D(z) (eq. 4), (B, T, C, H, W) in [0, 1], of latents ``z`` (B, T, c, h, w).

        ``(vae.decode(z / scaling_factor) + 1) / 2`` clamped to [0, 1], ``frame_batch`` frames per
        call, each call gradient-checkpointed under autograd. In pixel space, ``(z + 1) / 2`` clamped.
        """
        self._check_latents(z, "decode")
        self.decodes += z.shape[0]
        if self.vae is None:
            return ((z + 1) / 2).clamp(0, 1)
        frames = z.flatten(0, 1) / self.scaling_factor
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
        ε at twice the cost, so we make the single call. An image model (Table V) predicts each
        frame's noise on its own, every frame of a clip at the clip's τ.
        """
        self._check_latents(z, "predict_noise")
        batch, frames = z.shape[:2]
        # Counted before the call: a checkpoint's recomputation stops early, after the UNet's last
        # saved activation, and must count as well.
        self.unet_calls += batch
        if self.kind == "video":
            # UNet3DConditionModel wants (B, c, T, h, w).
            condition = self.empty_prompt_embedding.expand(batch, -1, -1)
            return self.unet(z.transpose(1, 2), tau, encoder_hidden_states=condition).sample.transpose(1, 2)
        if torch.is_tensor(tau) and tau.ndim == 1:
            tau = tau.expand(batch).repeat_interleave(frames)
        if self.kind == "image":
            condition = self.empty_prompt_embedding.expand(batch * frames, -1, -1)
            noise = self.unet(z.flatten(0, 1), tau, encoder_hidden_states=condition).sample
        else:
            noise = self.unet(z.flatten(0, 1), tau).sample
        return noise.unflatten(0, (batch, frames))
