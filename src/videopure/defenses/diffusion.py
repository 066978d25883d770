"""The diffusion baselines of Table I: DiffPure (DDPM and DDIM) and DDIM inversion, in the latent space.

All three run on the same :class:`~videopure.diffusion.bundle.LatentVideoDiffusion` as VideoPure
(ModelScope at paper scale) and give one candidate: encode (eq. 4), diffuse to t*, denoise,
decode. They follow the authors' code (docs/design.md, "Baselines in the same pipeline"):

* DiffPure_DDPM: fresh noise to τ = t* (eq. 6), then t* ancestral DDPM steps t* … 1 with
  ``fixed_small`` variance, as ``DDPMScheduler.step`` runs them; the last step lands on ᾱ[0];
* DiffPure_DDIM: fresh noise to the t*-th DDIM timestep (τ = 101 for t* = 6 of 50), then t* DDIM
  steps (η = 0) down to the final level ᾱ[0];
* DDIM inversion: deterministic DDIM inversion (eq. 10) to the same τ, then the same t* DDIM steps.

They are differentiable — autograd reaches the input through every UNet step, each step
checkpointed — but ``gradient="auto"`` means BPDA for them (see :mod:`videopure.defenses.base`).

The latent entry point :meth:`DiffusionPurifier.purify_latents` lets the workflow encode a clip
once, cache z0, and purify it under many settings: ``purify(x)`` is exactly
``decode(purify_latents(x, encode(x)))``, which :meth:`DiffusionPurifier.purify_from_latents` runs
from a cached z0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from videopure.defenses.base import Purifier
from videopure.defenses.registry import register_defense
from videopure.diffusion.bundle import LatentVideoDiffusion
from videopure.diffusion.sampling import ddim_denoise, ddim_invert, ddpm_denoise, fresh_noise
from videopure.diffusion.schedule import DiffusionSchedule, Timesteps


class DiffusionPurifier(Purifier):
    """Base class of purifiers on a latent video diffusion model: encode, :meth:`purify_latents`, decode.

    Subclasses set ``name`` and ``stochastic``, take the model as their first argument ``model``
    and implement :meth:`_purify_latents`. :meth:`settings` records the model by its identity.
    """

    exact_gradient = True
    auto_gradient = "bpda"
    diffusion_based = True

    def __init__(self, model: LatentVideoDiffusion) -> None:
        super().__init__()
        if not isinstance(model, LatentVideoDiffusion):
            raise TypeError(
                f"{type(self).__name__} needs a videopure.diffusion.LatentVideoDiffusion as model, got "
                f"{type(model).__name__}; load one with LatentVideoDiffusion.from_pretrained(path)"
            )
        self.model = model

    def gradient_context(self, mode: str) -> contextlib.AbstractContextManager:
        return self.model.frozen_noise() if mode == "frozen" else contextlib.nullcontext()

    def purify_latents(self, x: torch.Tensor, z0: torch.Tensor, **cached: Any) -> torch.Tensor:
        """Candidate latents (B, K, T, c, h, w) of videos ``x`` (B, T, C, H, W) from their latents
        z0 = E(x) (B, T, c, h, w), in the model's device and dtype (cached latents are float32: they
        are converted first). The baselines read z0 alone; VideoPure also needs the frames' flow,
        and takes its cached trajectory and flow as ``cached`` keywords."""
        model = self.model
        return self._purify_latents(
            x.to(device=model.device, dtype=model.dtype), z0.to(device=model.device, dtype=model.dtype), **cached
        )

    def _purify_latents(self, x: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def iter_candidate_latents(self, x: torch.Tensor, z0: torch.Tensor, **cached: Any) -> Iterator[torch.Tensor]:
        """The candidate latents of :meth:`purify_latents` one at a time, (B, T, c, h, w) each, in
        the vote's order. A subclass whose candidates come one after another (VideoPure, along its
        trajectory) computes each when it is asked for, so a vote that stops early saves the rest."""
        model = self.model
        return self._iter_candidate_latents(
            x.to(device=model.device, dtype=model.dtype), z0.to(device=model.device, dtype=model.dtype), **cached
        )

    def _iter_candidate_latents(self, x: torch.Tensor, z0: torch.Tensor, **cached: Any) -> Iterator[torch.Tensor]:
        return iter(self._purify_latents(x, z0, **cached).unbind(1))

    def purify_from_latents(self, x: torch.Tensor, z0: torch.Tensor, **cached: Any) -> torch.Tensor:
        """Candidates (B, K, T, C, H, W) in [0, 1], in the model's dtype, of videos ``x`` given their
        latents z0 = E(x) (B, T, c, h, w) — e.g. read from the workflow's latent cache instead of
        encoding ``x`` again — and whatever else of theirs the workflow cached (``cached``)."""
        candidates = self.purify_latents(x, z0, **cached)
        return self.model.decode(candidates.flatten(0, 1)).unflatten(0, candidates.shape[:2])

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        return self.purify_from_latents(x, self.model.encode(x)).to(device=x.device, dtype=x.dtype)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "model": self.model.identity}

    @classmethod
    def visited_timesteps(cls, schedule: DiffusionSchedule, settings: Mapping[str, Any]) -> Timesteps:
        """The timesteps a purifier with ``settings`` (constructor arguments; defaults filled in)
        visits on ``schedule``: the t* lowest of its DDIM grid. Refused beyond the range the UNet was
        trained on, so a config is checked against a model's range before anything is built."""
        values = {**cls.defaults(), **settings}
        return schedule.ddim_timesteps(values["tstar"], values["num_inference_steps"])

    @classmethod
    def highest_timestep(cls, settings: Mapping[str, Any], num_train_timesteps: int, steps_offset: int) -> int:
        """The last of :meth:`visited_timesteps`, by arithmetic on diffusers' "leading" DDIM grid
        (k · num_train_timesteps // num_inference_steps + steps_offset) rather than through
        diffusers, which takes seconds to import: config validation, which every job runs, uses it."""
        values = {**cls.defaults(), **settings}
        return (values["tstar"] - 1) * (num_train_timesteps // values["num_inference_steps"]) + steps_offset

    @classmethod
    def check_settings(cls, settings: dict[str, Any]) -> None:
        """Refuse a t* (and DDIM grid) that no model could run: integers, t* >= 1 and, where the
        constructor takes ``num_inference_steps``, t* within the DDIM grid. Whether the model was
        trained that far is :meth:`visited_timesteps`' check on the model's schedule."""
        values = {**cls.defaults(), **settings}
        for key in ("tstar", "num_inference_steps"):
            value = values.get(key)
            if key in values and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{cls.name} {key} must be an integer >= 1, got {value!r}")
        if {"tstar", "num_inference_steps"} <= set(values) and values["tstar"] > values["num_inference_steps"]:
            raise ValueError(
                f"{cls.name} tstar (t*) counts DDIM steps and must be in [1, num_inference_steps="
                f"{values['num_inference_steps']}], got {values['tstar']}"
            )


@register_defense
class DiffPureDDPM(DiffusionPurifier):
    """DiffPure (Nie et al., 2022) with DDPM sampling in the video latent space (Table I, "DiffPure_DDPM").

    z_{t*} = √ᾱ_{t*} z0 + √(1 − ᾱ_{t*}) ε with fresh ε (eq. 6), then t* ancestral steps (eq. 7):
    t* UNet calls per clip. Stochastic.

    Args:
        model: the latent video diffusion model.
        tstar: diffusion timestep t* (train timesteps; the authors' 101).
    """

    name = "diffpure_ddpm"
    stochastic = True
    draws_per_clip = True  # every draw is videopure.diffusion.sampling.fresh_noise

    def __init__(self, model: LatentVideoDiffusion, tstar: int = 101) -> None:
        super().__init__(model)
        self.check_settings({"tstar": tstar})
        self.tstar = tstar
        self.timesteps = self.visited_timesteps(model.schedule, {"tstar": tstar})

    @classmethod
    def visited_timesteps(cls, schedule: DiffusionSchedule, settings: Mapping[str, Any]) -> Timesteps:
        """τ = 1 … t*: the ancestral chain (refused beyond the UNet's trained range)."""
        return schedule.ddpm_timesteps({**cls.defaults(), **settings}["tstar"])

    @classmethod
    def highest_timestep(cls, settings: Mapping[str, Any], num_train_timesteps: int, steps_offset: int) -> int:
        return {**cls.defaults(), **settings}["tstar"]

    def _purify_latents(self, x: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
        z = self.model.schedule.add_noise(z0, fresh_noise(z0), self.timesteps.taus[-1])
        return ddpm_denoise(self.model, z, self.timesteps).unsqueeze(1)


@register_defense
class DiffPureDDIM(DiffusionPurifier):
    """DiffPure with DDIM sampling (Table I, "DiffPure_DDIM").

    Fresh noise to τ = 20(t* − 1) + 1 (eq. 6; 1000 train steps, 50 inference steps), then t* DDIM
    steps (eq. 8, η = 0): t* UNet calls per clip. Stochastic.

    Args:
        model: the latent video diffusion model.
        tstar: number of DDIM steps t* (the authors' 6: τ = 101).
        num_inference_steps: the DDIM grid (50: steps of 20 train timesteps).
    """

    name = "diffpure_ddim"
    stochastic = True
    draws_per_clip = True  # every draw is videopure.diffusion.sampling.fresh_noise

    def __init__(self, model: LatentVideoDiffusion, tstar: int = 6, num_inference_steps: int = 50) -> None:
        super().__init__(model)
        self.check_settings({"tstar": tstar, "num_inference_steps": num_inference_steps})
        self.tstar = tstar
        self.num_inference_steps = num_inference_steps
        self.timesteps = self.visited_timesteps(model.schedule, {"tstar": tstar, "num_inference_steps": num_inference_steps})

    def _purify_latents(self, x: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
        z = self.model.schedule.add_noise(z0, fresh_noise(z0), self.timesteps.taus[-1])
        return ddim_denoise(self.model, z, self.timesteps).unsqueeze(1)


@register_defense
class DDIMInversion(DiffusionPurifier):
    """DDIM inversion then DDIM sampling (Table I, "DDIM Inversion"; Fig. 3's "temporal DDIM inversion"
    with ``temporal=True``).

    t* inversion steps (eq. 10) from z0 to τ = 20(t* − 1) + 1, then t* DDIM steps back: 2 t* UNet
    calls per clip. Deterministic.

    Args:
        model: the latent video diffusion model.
        tstar: number of DDIM steps t* each way (the authors' 6: τ = 101).
        num_inference_steps: the DDIM grid (50).
        temporal: use frame 0's noise estimate for every frame during inversion (eq. 11,
            VideoPure's temporal DDIM inversion); False (per-frame ε, eq. 10) is Table I's baseline.
    """

    name = "ddim_inversion"
    stochastic = False

    def __init__(
        self, model: LatentVideoDiffusion, tstar: int = 6, num_inference_steps: int = 50, temporal: bool = False
    ) -> None:
        super().__init__(model)
        self.check_settings({"tstar": tstar, "num_inference_steps": num_inference_steps, "temporal": temporal})
        self.tstar = tstar
        self.num_inference_steps = num_inference_steps
        self.temporal = temporal
        self.timesteps = self.visited_timesteps(model.schedule, {"tstar": tstar, "num_inference_steps": num_inference_steps})

    @classmethod
    def check_settings(cls, settings: dict[str, Any]) -> None:
        super().check_settings(settings)
        values = {**cls.defaults(), **settings}
        if not isinstance(values["temporal"], bool):
            raise ValueError(f"{cls.name} temporal must be True or False, got {values['temporal']!r}")

    def _purify_latents(self, x: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
        z = ddim_invert(self.model, z0, self.timesteps, temporal=self.temporal)
        return ddim_denoise(self.model, z, self.timesteps).unsqueeze(1)
