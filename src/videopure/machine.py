"""Where a computation runs and how it is seeded: the device, the seed of every generator, and a
one-line description of the machine kept beside every timing."""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without one is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config key 'device' is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(name)


def machine_description() -> str:
    """A one-line description of where numbers were measured (kept beside every timing)."""
    cpu = platform.processor() or platform.machine()
    text = f"{platform.system()} {platform.machine()} {cpu}, {os.cpu_count()} logical cores, torch {torch.__version__}"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text
