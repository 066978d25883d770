"""The noise schedule, the timestep mapping and the arithmetic of one diffusion step (paper, Sec. III-A).

Everything here is plain tensor arithmetic on latents (B, T, c, h, w); the steps that call the
noise predictor live in :mod:`videopure.diffusion.sampling`. The cumulative products ᾱ and the
DDIM timesteps come from diffusers' ``DDIMScheduler`` built from the bundle's scheduler config, so
they agree with diffusers by construction; the tests cross-check every step against diffusers'
``DDIMScheduler``, ``DDIMInverseScheduler`` and ``DDPMScheduler``.

Notation. ``tau`` is a train timestep in [0, num_train_timesteps). A step runs between two noise
levels ᾱ(τ) and ᾱ(τ_prev); a negative τ_prev means the final level ``final_alpha_cumprod``, which
is ᾱ[0] (not 1) under ModelScope's ``set_alpha_to_one=False`` — the clean end of every trajectory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

MODELSCOPE_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "set_alpha_to_one": False,
    "clip_sample": False,
    "timestep_spacing": "leading",
}
"""ModelScope text-to-video-ms-1.7b's ``scheduler/scheduler_config.json`` (the bundle spec's values)."""


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


@dataclass(frozen=True)
class Timesteps:
    """The train timesteps a trajectory visits, ascending, and the level each step connects to.

    Inversion steps from ``previous[k]`` up to ``taus[k]``; denoising from ``taus[k]`` down to
    ``previous[k]``, in reverse order. A negative entry of ``previous`` is the final level
    (:meth:`DiffusionSchedule.alpha_bar`).

    Example (DDIM, 50 inference steps, t* = 6): ``taus = (1, 21, 41, 61, 81, 101)``,
    ``previous = (-19, 1, 21, 41, 61, 81)``.
    """

    taus: tuple[int, ...]
    previous: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.taus)


@dataclass(frozen=True, eq=False)
class DiffusionSchedule:
    """ᾱ of the forward process (eq. 6) and the timesteps of the samplers, from a scheduler config.

    Build it with :meth:`from_config`. Purifiers ask for their timesteps here, which refuses any τ
    beyond ``trained_tau_max``, the largest timestep the UNet was trained on.

    Attributes:
        alphas_cumprod: ᾱ[τ] for τ = 0 … num_train_timesteps − 1, float64 (diffusers' float32
            values, exactly).
        final_alpha_cumprod: the level below τ = 0 where DDIM ends: ᾱ[0], or 1 with
            ``set_alpha_to_one=True``.
        trained_tau_max: the largest train timestep the noise predictor has seen.
        config: the scheduler config it was built from.
    """

    alphas_cumprod: torch.Tensor
    final_alpha_cumprod: float
    trained_tau_max: int
    config: Mapping[str, Any]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], trained_tau_max: int | None = None) -> DiffusionSchedule:
        """The schedule of a diffusers scheduler config (``scheduler_config.json`` as a mapping).

        Args:
            config: scheduler config; its ``prediction_type`` must be ``"epsilon"`` and it must not
                clip or threshold ẑ0 (our steps, like ModelScope's config, do neither).
            trained_tau_max: default ``num_train_timesteps − 1`` (a fully trained model).
        """
        # diffusers takes ~2 s to import: only code that builds a model pays for it.
        from diffusers import DDIMScheduler

        for key, expected in (("prediction_type", "epsilon"), ("clip_sample", False), ("thresholding", False)):
            if config.get(key, expected) != expected:
                raise ValueError(
                    f"scheduler config key {key!r} is {config[key]!r}; the diffusion steps support only "
                    f"{expected!r} (ModelScope's value)"
                )
        # Only the betas are read: the switches our steps do not have are set off, where diffusers'
        # defaults (clip_sample True) would otherwise fill a config that leaves them out (SD's PNDM).
        scheduler = DDIMScheduler.from_config({**dict(config), "clip_sample": False, "thresholding": False})
        num_train = scheduler.config.num_train_timesteps
        tau_max = num_train - 1 if trained_tau_max is None else _check_int("trained_tau_max", trained_tau_max)
        if not 0 <= tau_max < num_train:
            raise ValueError(f"trained_tau_max must be in [0, {num_train - 1}], got {tau_max}")
        return cls(
            alphas_cumprod=scheduler.alphas_cumprod.to(torch.float64),
            final_alpha_cumprod=float(scheduler.final_alpha_cumprod),
            trained_tau_max=tau_max,
            config=dict(scheduler.config),
        )

    @property
    def num_train_timesteps(self) -> int:
        return len(self.alphas_cumprod)

    def alpha_bar(self, tau: int) -> float:
        """ᾱ(τ); the final level ``final_alpha_cumprod`` for τ < 0."""
        return float(self.alphas_cumprod[tau]) if tau >= 0 else self.final_alpha_cumprod

    def ddim_timesteps(self, tstar: int, num_inference_steps: int = 50) -> Timesteps:
        """The t* lowest timesteps of DDIM with ``num_inference_steps`` steps, ascending.

        Taken from ``DDIMScheduler.set_timesteps``: with ModelScope's leading spacing and offset 1,
        50 steps give 981, 961, …, 21, 1, so t* = 6 visits τ_k = 20(k − 1) + 1 = 1, 21, …, 101 —
        t* counts UNet steps, not train timesteps. Each step connects τ to τ − 1000 // 50, the rule
        of ``DDIMScheduler.step``; below τ = 1 lies the final level.
        """
        from diffusers import DDIMScheduler

        steps = _check_int("num_inference_steps", num_inference_steps)
        tstar = _check_int("tstar", tstar)
        if not 1 <= steps <= self.num_train_timesteps:
            raise ValueError(f"num_inference_steps must be in [1, {self.num_train_timesteps}], got {steps}")
        if not 1 <= tstar <= steps:
            raise ValueError(
                f"tstar (t*) counts DDIM steps and must be in [1, num_inference_steps={steps}], got {tstar}"
            )
        scheduler = DDIMScheduler.from_config(dict(self.config))
        scheduler.set_timesteps(steps)
        taus = tuple(int(tau) for tau in scheduler.timesteps.flip(0)[:tstar])
        stride = self.num_train_timesteps // steps
        return self._checked(Timesteps(taus, tuple(tau - stride for tau in taus)), f"t*={tstar} of {steps} DDIM steps")

    def ddpm_timesteps(self, tstar: int) -> Timesteps:
        """τ = 1, 2, …, t*, each connected to τ − 1: DDPM's ancestral chain (``DDPMScheduler.step``
        without ``set_timesteps``), whose last step lands on ᾱ[0]."""
        tstar = _check_int("tstar", tstar)
        if not 1 <= tstar < self.num_train_timesteps:
            raise ValueError(
                f"tstar (t*) counts DDPM steps and must be in [1, {self.num_train_timesteps - 1}], got {tstar}"
            )
        return self._checked(Timesteps(tuple(range(1, tstar + 1)), tuple(range(tstar))), f"t*={tstar} DDPM steps")

    def _checked(self, timesteps: Timesteps, what: str) -> Timesteps:
        if timesteps.taus[-1] > self.trained_tau_max:
            raise ValueError(
                f"{what} reach train timestep {timesteps.taus[-1]}, beyond the {self.trained_tau_max} this UNet "
                "was trained up to (videopure.json 'trained_tau_max'); lower t* or retrain with a larger tau range"
            )
        return timesteps

    # --- the arithmetic of one step; coefficients are Python floats, so tensors keep their dtype ---

    def add_noise(self, z0: torch.Tensor, noise: torch.Tensor, tau: int) -> torch.Tensor:
        """A draw of q(z_τ | z0) (eq. 6): √ᾱ_τ z0 + √(1 − ᾱ_τ) ε for the given noise ε."""
        alpha = self.alpha_bar(tau)
        return math.sqrt(alpha) * z0 + math.sqrt(1 - alpha) * noise

    def predict_original(self, z: torch.Tensor, eps: torch.Tensor, tau: int) -> torch.Tensor:
        """ẑ0 = (z_τ − √(1 − ᾱ_τ) ε) / √ᾱ_τ (eq. 15)."""
        alpha = self.alpha_bar(tau)
        return (z - math.sqrt(1 - alpha) * eps) / math.sqrt(alpha)

    def ddim_move(self, z: torch.Tensor, eps: torch.Tensor, tau_from: int, tau_to: int) -> torch.Tensor:
        """The deterministic DDIM update from level τ_from to τ_to with noise estimate ε.

        √ᾱ_to · ẑ0 + √(1 − ᾱ_to) · ε with ẑ0 from ``(z, ε)`` at τ_from. Downwards (τ_to < τ_from)
        it is DDIM sampling with η = 0 (eq. 8); upwards it is DDIM inversion (eq. 10): one formula,
        so the two directions cannot drift apart.
        """
        alpha_to = self.alpha_bar(tau_to)
        return math.sqrt(alpha_to) * self.predict_original(z, eps, tau_from) + math.sqrt(1 - alpha_to) * eps

    def ddpm_move(
        self, z: torch.Tensor, eps: torch.Tensor, tau: int, tau_prev: int, noise: torch.Tensor
    ) -> torch.Tensor:
        """One ancestral DDPM step from τ to τ_prev (eq. 7) with ``fixed_small`` variance.

        The posterior mean of q(z_prev | z_τ, ẑ0) plus σ ε' with σ² = β̃ = (1 − ᾱ_prev)/(1 − ᾱ_τ) ·
        β, β = 1 − ᾱ_τ/ᾱ_prev (DDPM's eqs. 6–7), and ``noise`` ε' ~ N(0, I) given by the caller so
        that a recomputed step (gradient checkpointing) draws nothing new.
        """
        alpha, alpha_prev = self.alpha_bar(tau), self.alpha_bar(tau_prev)
        beta = 1 - alpha / alpha_prev
        mean = (math.sqrt(alpha_prev) * beta / (1 - alpha)) * self.predict_original(z, eps, tau) + (
            math.sqrt(1 - beta) * (1 - alpha_prev) / (1 - alpha)
        ) * z
        return mean + math.sqrt(self.posterior_variance(tau, tau_prev)) * noise

    def posterior_variance(self, tau: int, tau_prev: int) -> float:
        """β̃ = (1 − ᾱ_prev)/(1 − ᾱ_τ) · (1 − ᾱ_τ/ᾱ_prev), the variance of q(z_prev | z_τ, z0), clamped
        at 1e-20 as diffusers clamps it (DDPM's ``fixed_small``; VideoPure's σ² is its log)."""
        alpha, alpha_prev = self.alpha_bar(tau), self.alpha_bar(tau_prev)
        return max((1 - alpha_prev) / (1 - alpha) * (1 - alpha / alpha_prev), 1e-20)
