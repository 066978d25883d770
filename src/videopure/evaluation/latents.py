"""The latent cache (stage 4): z0 = E(x) of every clip file a diffusion defense purifies.

One HDF5 file per clip file and diffusion model (docs/architecture.md, "Stages and caches"), written by the
rules ``encode_clean`` and ``encode_attack``. Its ``upstream`` attrs name the clip file and the
model by identity, so a retrained model or a recomputed attack makes readers refuse the file
(:class:`videopure.cache.StaleCacheError`) instead of silently purifying stale latents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from videopure.cache import read_h5, write_h5


def load_diffusion_model(config: dict[str, Any], path: str | Path, device: torch.device):
    """The diffusion model at ``path`` with the config's dtype; ModelScope's empty-prompt embedding
    is computed once and cached beside the trained models."""
    from videopure.diffusion import LatentVideoDiffusion

    path = Path(path)
    return LatentVideoDiffusion.from_pretrained(
        path,
        device=device,
        dtype=getattr(torch, config["diffusion"]["dtype"]),
        embedding_cache=Path("results/models") / f"{path.name}-empty-prompt.safetensors",
    )


@torch.no_grad()
def encode_clips(model, clips: torch.Tensor, batch_size: int) -> np.ndarray:
    """Latents (N, T, c, h, w) float32 of clips (N, T, C, H, W) in [0, 1], ``batch_size`` clips at a time."""
    device = next(model.parameters()).device
    latents = []
    for start in tqdm(range(0, len(clips), batch_size), desc="encode", unit="batch"):
        batch = clips[start : start + batch_size].to(device=device, dtype=model.dtype)
        latents.append(model.encode(batch).float().cpu())
    return torch.cat(latents).numpy()


def write_latents(path: str | Path, latents: np.ndarray, video_ids: np.ndarray, model, clips_upstream: dict[str, str]) -> str:
    """Write a latent cache file; ``clips_upstream`` names the clip file(s) it encodes."""
    return write_h5(
        path,
        {"latents": latents.astype(np.float32), "video_ids": video_ids},
        params={"scaling_factor": model.scaling_factor},
        upstream={**clips_upstream, "diffusion_model": model.identity},
    )


def read_latents(path: str | Path, model, clips_upstream: dict[str, str], video_ids: np.ndarray) -> tuple[torch.Tensor, str]:
    """Cached latents (N, T, c, h, w) of the clips ``clips_upstream`` names, encoded by ``model``,
    and the cache file's identity (what downstream caches name as their ``latents`` upstream).

    Raises:
        StaleCacheError: the file was encoded by another model or from other clips (rerun the
            workflow: Snakemake rebuilds it).
        ValueError: its clips are not ``video_ids``, in order.
    """
    record = read_h5(path, expect_upstream={**clips_upstream, "diffusion_model": model.identity})
    if not np.array_equal(record["video_ids"], video_ids):
        raise ValueError(f"{path} holds other clips than its clip file; delete it and rerun the workflow")
    return torch.from_numpy(record["latents"]), record.identity
