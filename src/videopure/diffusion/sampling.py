"""Diffusion steps that call the noise predictor, and the loops of the purifiers (paper, Sec. III-A/B).

Each step evaluates ε_θ once (:func:`noise_estimate`) and applies one update of
:class:`~videopure.diffusion.schedule.DiffusionSchedule`. With autograd on, the UNet call runs under
``torch.utils.checkpoint`` (non-reentrant): the backward pass recomputes its activations instead of
storing them, so an attack can differentiate through every step of a long chain (DiffAttack's
segment-wise idea, one segment per step) at the memory of one step; the step's arithmetic on
latents is kept. Under ``torch.no_grad()`` the steps run plainly.

Randomness: the DDPM loop draws its noise through :func:`fresh_noise` (:mod:`videopure.randomness`:
torch's global RNG of the latent's device, or one generator per clip), outside the checkpointed step
(see :mod:`videopure.defenses.base` for the seeding protocol).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch.utils.checkpoint import checkpoint

from videopure.diffusion.schedule import Timesteps
from videopure.randomness import normal

if TYPE_CHECKING:
    from videopure.diffusion.bundle import LatentVideoDiffusion


def checkpointed(function: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> torch.Tensor:
    """``function(*tensors)``, under non-reentrant ``torch.utils.checkpoint`` when autograd is on.

    The forward pass keeps only the inputs; the backward pass recomputes the activations. Any
    randomness must come in through ``tensors`` so that the recomputation sees the same values.
    """
    if torch.is_grad_enabled():
        return checkpoint(function, *tensors, use_reentrant=False)
    return function(*tensors)


def fresh_noise(z: torch.Tensor) -> torch.Tensor:
    """Standard Gaussian noise shaped like ``z``, drawn in row-major order whatever ``z``'s memory
    layout: ``torch.randn_like`` follows the strides, so a permuted view (the UNet's output, a
    latent from the VAE) would get the same numbers in another arrangement and a seeded run would
    depend on how its input was computed."""
    return normal(z.shape, z.device, z.dtype)


def noise_estimate(model: LatentVideoDiffusion, z: torch.Tensor, tau: int) -> torch.Tensor:
    """ε_θ(z, τ) as a step uses it: checkpointed under autograd, or a constant of the graph while
    the model's noise is frozen (:meth:`~videopure.diffusion.bundle.LatentVideoDiffusion.frozen_noise`,
    the cheap ε-fixed gradient of an adaptive attack)."""
    if model.noise_frozen:
        with torch.no_grad():
            return model.predict_noise(z, tau)
    return checkpointed(model.predict_noise, z, tau)


def ddim_inversion_step(
    model: LatentVideoDiffusion, z: torch.Tensor, tau: int, tau_prev: int, *, temporal: bool = False
) -> torch.Tensor:
    """z_τ from z_prev by DDIM inversion (eq. 10): ε = ε_θ(z_prev, τ), then the DDIM update upwards.

    With ``temporal`` (eq. 11, temporal DDIM inversion), every frame uses frame 0's ε, so all
    frames receive the same noise.
    """
    eps = noise_estimate(model, z, tau)
    if temporal:
        eps = eps[:, :1].expand_as(eps)
    return model.schedule.ddim_move(z, eps, tau_prev, tau)


def ddim_step(model: LatentVideoDiffusion, z: torch.Tensor, tau: int, tau_prev: int) -> torch.Tensor:
    """z_prev from z_τ by deterministic DDIM sampling (eq. 8, η = 0)."""
    return model.schedule.ddim_move(z, noise_estimate(model, z, tau), tau, tau_prev)


def ddpm_step(
    model: LatentVideoDiffusion, z: torch.Tensor, tau: int, tau_prev: int, noise: torch.Tensor
) -> torch.Tensor:
    """z_prev from z_τ by one ancestral DDPM step (eq. 7, fixed_small variance) with the given noise."""
    return model.schedule.ddpm_move(z, noise_estimate(model, z, tau), tau, tau_prev, noise)


def ddim_invert(
    model: LatentVideoDiffusion, z0: torch.Tensor, timesteps: Timesteps, *, temporal: bool = False
) -> torch.Tensor:
    """z_{τ_max} from clean latents z0 (taken to sit at the final level) by DDIM inversion through ``timesteps``."""
    z = z0
    for tau, tau_prev in zip(timesteps.taus, timesteps.previous):
        z = ddim_inversion_step(model, z, tau, tau_prev, temporal=temporal)
    return z


def ddim_denoise(model: LatentVideoDiffusion, z: torch.Tensor, timesteps: Timesteps) -> torch.Tensor:
    """Latents at the final level from z at ``timesteps.taus[-1]`` by DDIM sampling down ``timesteps``."""
    for tau, tau_prev in zip(reversed(timesteps.taus), reversed(timesteps.previous)):
        z = ddim_step(model, z, tau, tau_prev)
    return z


def ddpm_denoise(model: LatentVideoDiffusion, z: torch.Tensor, timesteps: Timesteps) -> torch.Tensor:
    """Latents at ᾱ[0] from z at ``timesteps.taus[-1]`` by ancestral DDPM steps, fresh noise each step."""
    for tau, tau_prev in zip(reversed(timesteps.taus), reversed(timesteps.previous)):
        z = ddpm_step(model, z, tau, tau_prev, fresh_noise(z))
    return z
