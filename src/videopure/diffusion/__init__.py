"""The latent video diffusion model behind the diffusion purifiers (paper, Sec. III-A).

* :class:`LatentVideoDiffusion` — VAE, UNet, schedule and empty-prompt conditioning in one module;
  :meth:`~LatentVideoDiffusion.from_pretrained` loads a bundle offline;
  :func:`paper_architecture` gives ModelScope's shapes at random weights.
* :class:`DiffusionSchedule`, :class:`Timesteps` — ᾱ, the timestep mapping (t* = 6 of 50 DDIM
  steps visits τ = 1, 21, …, 101) and the arithmetic of one step.
* :mod:`~videopure.diffusion.sampling` — DDIM inversion (eqs. 10–11), DDIM and DDPM denoising, each
  step gradient-checkpointed under autograd.

Importing this package does not import diffusers (about 2 s); building or loading a model does.
"""

from videopure.diffusion.bundle import LatentVideoDiffusion, encode_empty_prompt, paper_architecture
from videopure.diffusion.sampling import (
    ddim_denoise,
    ddim_inversion_step,
    ddim_invert,
    ddim_step,
    ddpm_denoise,
    ddpm_step,
)
from videopure.diffusion.schedule import MODELSCOPE_SCHEDULER_CONFIG, DiffusionSchedule, Timesteps

__all__ = [
    "MODELSCOPE_SCHEDULER_CONFIG",
    "DiffusionSchedule",
    "LatentVideoDiffusion",
    "Timesteps",
    "ddim_denoise",
    "ddim_inversion_step",
    "ddim_invert",
    "ddim_step",
    "ddpm_denoise",
    "ddpm_step",
    "encode_empty_prompt",
    "paper_architecture",
]
