"""Paths and commands shared by the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake_cmd(*args: str) -> list[str]:
    """Snakemake of this interpreter's venv, on this repository's Snakefile."""
    return [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), *args]


def run_snakemake(
    workdir: Path, *args: str, profile: str = "config/smoke.yaml", extra_config: Path | None = None, env=None
) -> subprocess.CompletedProcess:
    """Snakemake in ``workdir`` (see :func:`make_workdir`) with a profile's config and an optional overlay."""
    configs = [str(REPO / profile)] + ([str(extra_config)] if extra_config else [])
    return subprocess.run(
        snakemake_cmd("--directory", str(workdir), "--cores", "4", *args, "--configfile", *configs),
        capture_output=True,
        text=True,
        env=env,
    )


def scheduled_rules(result: subprocess.CompletedProcess) -> set[str]:
    """The rules a dry run would run, from its job-stats table ("Job stats:" up to "total")."""
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    lines = text.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("Job stats:"))
    rules = set()
    for line in lines[start + 1 :]:
        fields = line.split()
        if fields and fields[0] == "total":
            return rules
        if len(fields) == 2 and fields[1].isdigit():
            rules.add(fields[0])
    raise AssertionError(f"no job-stats table in the dry run's output:\n{text[-2000:]}")


def load_mini_with(tmp_path: Path, overlay: str) -> dict:
    """The mini config with a YAML ``overlay`` merged over it, loaded and validated."""
    from videopure.config import load_config

    path = tmp_path / "overlay.yaml"
    path.write_text(overlay + "\n")
    return load_config(REPO / "config" / "config.yaml", path)


def make_workdir(path: Path) -> Path:
    """A fresh working directory; config paths (config/models/...) are relative to it."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config").symlink_to(REPO / "config")
    return path


def tiny_diffusion(
    seed: int = 0,
    trained_tau_max: int = 999,
    cross_attention_dim: int = 8,
    embedding_length: int = 1,
    kind: str = "video",
):
    """A random LatentVideoDiffusion small enough for the tests (about 130 k parameters), frozen.

    VAE: 2 blocks (8, 16 channels), 4 latent channels, 8x8 frames -> 4x4 latents. UNet3D: 2 blocks
    (8, 16), one cross-attention block, 2 heads; about 10 ms per call on one thread. ModelScope's
    scheduler config; ``videopure.json``-style metadata with ``trained_tau_max``. ``kind`` "image"
    puts a UNet2DConditionModel of the same shape on the same VAE; "pixel" a UNet2DModel on RGB
    frames, with no VAE and no conditioning (Table V's models).
    """
    import diffusers
    import torch

    from videopure.diffusion import MODELSCOPE_SCHEDULER_CONFIG, LatentVideoDiffusion

    torch.manual_seed(seed)
    vae = diffusers.AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        scaling_factor=0.5,
    )
    shape = dict(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, attention_head_dim=2)
    if kind == "pixel":
        vae, embedding = None, None
        unet = diffusers.UNet2DModel(
            in_channels=3,
            out_channels=3,
            down_block_types=("AttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "AttnUpBlock2D"),
            **shape,
        )
    else:
        blocks = {"video": "3D", "image": "2D"}[kind]
        unet = getattr(diffusers, {"video": "UNet3DConditionModel", "image": "UNet2DConditionModel"}[kind])(
            down_block_types=(f"CrossAttnDownBlock{blocks}", f"DownBlock{blocks}"),
            up_block_types=(f"UpBlock{blocks}", f"CrossAttnUpBlock{blocks}"),
            cross_attention_dim=cross_attention_dim,
            **shape,
        )
        embedding = torch.randn(1, embedding_length, cross_attention_dim)
    metadata = {"source": "tests", "num_train_timesteps": 1000, "trained_tau_max": trained_tau_max}
    model = LatentVideoDiffusion(vae, unet, MODELSCOPE_SCHEDULER_CONFIG, embedding, metadata)
    return model.requires_grad_(False).eval()


def write_tiny_clip(path) -> None:
    """A tiny CLIP text encoder and tokenizer in ModelScope's layout (vocab.json, merges.txt, configs)."""
    import json

    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    (path / "tokenizer").mkdir(parents=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2, "a": 3, "a</w>": 4}
    (path / "tokenizer" / "vocab.json").write_text(json.dumps(vocab))
    (path / "tokenizer" / "merges.txt").write_text("#version: 0.2\n")
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "!",
    }
    (path / "tokenizer" / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "CLIPTokenizer", "model_max_length": 6, **special})
    )
    torch.manual_seed(3)
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=6,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
    )
    CLIPTextModel(config).save_pretrained(path / "text_encoder")
