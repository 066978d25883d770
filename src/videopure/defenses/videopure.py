"""VideoPure (paper, Sec. III and Alg. 1): temporal DDIM inversion, spatial-temporal optimisation, multi-step voting.

The defense, as the authors' public code runs it (docs/design.md, "The algorithm"):

1. z0 = E(x) (eq. 4) and the forward flow O of the input frames, resized to latent size.
2. **Temporal DDIM inversion** (eq. 11): t* DDIM inversion steps in which every frame takes frame
   0's noise estimate, τ = 1, 21, …, 20(t* − 1) + 1.
3. **Denoising with spatial-temporal optimisation** (Alg. 1, lines 4–11): at every τ, from the
   top down, ε = ε_θ(z*_τ, τ) and ẑ0(z) = (z − √(1 − ᾱ_τ) ε)/√ᾱ_τ (eq. 15). A copy of z*_τ takes
   one step z' = z*_τ − α_s σ²_τ ∇L (eq. 16) on L = λ1 L_temp + λ2 L_spa (eqs. 12–13) and gives
   the candidate ẑ0(z'); the trajectory continues from the unoptimised z*_τ by the plain DDIM step.
4. **Final candidate** (lines 12–14): z*_0 itself, optimised once more with τ = 1's ε, ᾱ and σ².
5. **Multi-step voting**: the t* + 1 candidates are decoded, classified and majority-voted
   (:class:`~videopure.defenses.defended.DefendedClassifier`; ties to the smallest class index).

Candidates are ordered as the code's vote list, k = t*, …, 1, 0: the first comes from τ = 20(t*−1)+1,
the last is the final one. Table VII's single candidate k is ``candidate=k``.

Where the authors' code and the paper text differ, the code is the default and the text a switch:

=========================  =============================================  ================================================
switch                     code (default)                                 paper text
=========================  =============================================  ================================================
``variance``               ``"log"``: σ²_τ = log β̃_τ (negative, so with    ``"linear"``: σ²_τ = β̃_τ ("the variance of the
                           α_s = −4 a descent step on L)                  DDIM schedule"; with α_s = −4 an ascent step)
``loss_reduction``         ``"paper_shape_mean"``: the code's means over   ``"norm"``: L_spa = −‖z0 − ẑ0‖_2 (eq. 12) and
                           the latent elements, with the element counts   L_temp = Σ_i ‖·‖_1 (eq. 13), unnormalised;
                           of the paper's (32, 4, 28, 28) latent          ``"clip_mean"``: the code's means at the clip's
                           (see "Scale")                                  own size
``final_candidate``        ``"code"``: L on ẑ0(z*_0) with τ = 1's ε, ᾱ     ``"paper"``: L on z*_0 itself (Alg. 1, line 12)
``detach_warped``          True: the warped frame is a constant of L      False: gradients reach it too
=========================  =============================================  ================================================

Scale. The code reduces L_spa by a mean over N = T·c·h·w latent elements and each term of L_temp
by a mean over c·h·w, so the same λ moves a 16-frame 64 × 64 clip's candidates by another amount
than a 32-frame 224 × 224 clip's. With ``loss_reduction="paper_shape_mean"`` the sums are divided
by the element counts of the paper's latent instead: identical to the code at the paper's shape,
and the same per-element step at every clip size, for both terms. Losses are reduced per clip,
never across the batch (a batch mean would divide each clip's step by B).

Gradients. ∇L does not pass through ε_θ (the code's choice; ``loss_through_unet=True`` adds it, one
more UNet call per step). Under autograd the whole defense is differentiable: ``gradient="exact"``
goes through every UNet call (each checkpointed) and through the optimisation step itself (a
second-order graph); ``gradient="frozen"`` holds ε_θ constant — exact through the encoder,
inversion and denoising arithmetic, optimisation step and decoder, at the cost of the forward
pass. The flow of a classical estimator is a constant of the input; with the warped frame detached
the candidates depend on the flow only through the signs of L_temp's gradient, piecewise
constantly, so treating it as a constant is exact almost everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from videopure.defenses.diffusion import DiffusionPurifier
from videopure.defenses.registry import register_defense
from videopure.diffusion.bundle import LatentVideoDiffusion
from videopure.diffusion.sampling import ddim_invert, noise_estimate
from videopure.flow import FlowModel, backward_warp, build_flow_model, check_flow_spec, latent_flow

@dataclass(frozen=True)
class Trajectory:
    """VideoPure's denoising trajectory: the states z*_τ and noise estimates ε_θ(z*_τ, τ) at
    τ = τ_max, …, 1 (top down), each (B, t*, T, c, h, w), and the final latent z*_0 (B, T, c, h, w)."""

    states: torch.Tensor
    noise: torch.Tensor
    final: torch.Tensor

    def __getitem__(self, clips: slice) -> Trajectory:
        return Trajectory(self.states[clips], self.noise[clips], self.final[clips])

    def to(self, **kwargs: Any) -> Trajectory:
        return Trajectory(self.states.to(**kwargs), self.noise.to(**kwargs), self.final.to(**kwargs))


PAPER_LATENT_SHAPE = (32, 4, 28, 28)
"""(T, c, h, w) of the paper's latents: 32 frames of 224 × 224 under ModelScope's ×8 VAE."""

DEFAULT_FLOW = {"type": "farneback"}
"""The flow model when none is given: classical, no weights, any frame size (the paper: RAFT)."""
LOSS_REDUCTIONS = ("paper_shape_mean", "clip_mean", "norm")
VARIANCES = ("log", "linear")
FINAL_CANDIDATES = ("code", "paper")


def spatial_temporal_loss(
    z0_hat: torch.Tensor,
    z0: torch.Tensor,
    flow: torch.Tensor,
    lambda_temp: float,
    lambda_spa: float,
    reduction: str = "paper_shape_mean",
    detach_warped: bool = True,
) -> torch.Tensor:
    """L = λ1 L_temp + λ2 L_spa per clip, (B,) (eqs. 12–13).

    Args:
        z0_hat: predicted clean latents ẑ0 (B, T, c, h, w).
        z0: the input's latents E(x), same shape.
        flow: forward flow at latent size (B, T − 1, 2, h, w), in latent pixels.
        lambda_temp, lambda_spa: λ1, λ2 (the paper's 5 and 800).
        reduction: see the module docstring.
        detach_warped: hold Warp(ẑ0[i+1], O_i) constant, as the code does.

    L_spa = −‖ẑ0 − z0‖² / N and L_temp = Σ_{i<T−1} ‖Warp(ẑ0[i+1], O_i) − ẑ0[i]‖_1 / M, with N, M the
    element counts of a clip and of a frame: the paper's (``"paper_shape_mean"``) or the clip's
    (``"clip_mean"``); ``"norm"`` is eq. 12's −‖ẑ0 − z0‖_2 and eq. 13's plain sum.
    """
    if reduction not in LOSS_REDUCTIONS:
        raise ValueError(f"unknown loss_reduction {reduction!r}; expected one of {LOSS_REDUCTIONS}")
    batch, frames = z0_hat.shape[:2]
    if flow.shape != (batch, frames - 1, 2, *z0_hat.shape[-2:]):
        raise ValueError(
            f"flow of shape {tuple(flow.shape)} does not fit latents {tuple(z0_hat.shape)}; expected "
            f"(B, T - 1, 2, h, w) = {(batch, frames - 1, 2, *z0_hat.shape[-2:])}"
        )
    loss = torch.zeros(batch, dtype=z0_hat.dtype, device=z0_hat.device)
    if reduction == "paper_shape_mean":
        clip_elements, frame_elements = math.prod(PAPER_LATENT_SHAPE), math.prod(PAPER_LATENT_SHAPE[1:])
    else:
        clip_elements, frame_elements = z0_hat[0].numel(), z0_hat[0, 0].numel()
    if lambda_spa:
        squared = (z0_hat - z0).square().flatten(1).sum(dim=1)
        spatial = -squared.sqrt() if reduction == "norm" else -squared / clip_elements
        loss = loss + lambda_spa * spatial
    if lambda_temp and frames > 1:
        following = z0_hat[:, 1:]
        if detach_warped:
            following = following.detach()
        warped = backward_warp(following.flatten(0, 1), flow.flatten(0, 1).to(z0_hat.dtype)).unflatten(0, (batch, frames - 1))
        absolute = (warped - z0_hat[:, :-1]).abs().flatten(1).sum(dim=1)
        temporal = absolute if reduction == "norm" else absolute / frame_elements
        loss = loss + lambda_temp * temporal
    return loss


@register_defense
class VideoPure(DiffusionPurifier):
    """VideoPure (Table I, "Ours"), with every ablation of Tables IV, VII, VIII and IX as arguments.

    t* inversion and t* denoising UNet calls per clip (12 for t* = 6), t* + 1 candidates. Deterministic.

    Args:
        model: the latent video diffusion model.
        tstar: number of DDIM steps t* each way (the authors' 6: τ up to 101).
        num_inference_steps: the DDIM grid T (50).
        alpha_s: optimisation step size α_s (the authors' −4).
        lambda_temp: λ1, weight of L_temp (5).
        lambda_spa: λ2, weight of L_spa (800).
        flow: the flow model's spec (:func:`videopure.flow.build_flow_model`) or the model;
            ``None`` for :data:`DEFAULT_FLOW`.
        temporal_inversion: eq. 11 (True) or plain DDIM inversion, eq. 10 (Table IV's first row).
        optimize: the spatial-temporal optimisation (Table IV); off, every candidate is ẑ0(z*_τ).
        candidate: ``None`` votes over all t* + 1 candidates; ``k`` in 0 … t* keeps candidate k
            alone (Table VII; k = 0, the final one, is Table IV's "without voting").
        replace_trajectory: continue denoising from the optimised z' (Table VIII's "Ours*").
        loss_through_unet: let ∇L pass through ε_θ (one more UNet call per step).
        loss_reduction, variance, final_candidate, detach_warped: the code-versus-paper switches of
            the module docstring.
    """

    name = "videopure"
    stochastic = False

    def __init__(
        self,
        model: LatentVideoDiffusion,
        tstar: int = 6,
        num_inference_steps: int = 50,
        alpha_s: float = -4.0,
        lambda_temp: float = 5.0,
        lambda_spa: float = 800.0,
        flow: Mapping[str, Any] | FlowModel | None = None,
        temporal_inversion: bool = True,
        optimize: bool = True,
        candidate: int | None = None,
        replace_trajectory: bool = False,
        loss_through_unet: bool = False,
        loss_reduction: str = "paper_shape_mean",
        variance: str = "log",
        final_candidate: str = "code",
        detach_warped: bool = True,
    ) -> None:
        super().__init__(model)
        self.check_settings(
            {key: value for key, value in locals().items() if key not in ("self", "model", "__class__")}
        )
        self.timesteps = self.visited_timesteps(model.schedule, {"tstar": tstar, "num_inference_steps": num_inference_steps})
        self.flow_model = build_flow_model(DEFAULT_FLOW if flow is None else flow)
        self.tstar = tstar
        self.num_inference_steps = num_inference_steps
        self.alpha_s = float(alpha_s)
        self.lambda_temp = float(lambda_temp)
        self.lambda_spa = float(lambda_spa)
        self.flow = self.flow_model.settings()
        self.temporal_inversion = temporal_inversion
        self.optimize = optimize
        self.candidate = candidate
        self.replace_trajectory = replace_trajectory
        self.loss_through_unet = loss_through_unet
        self.loss_reduction = loss_reduction
        self.variance = variance
        self.final_candidate = final_candidate
        self.detach_warped = detach_warped
        self.num_candidates = 1 if candidate is not None else tstar + 1

    def with_settings(self, **changes: Any) -> VideoPure:
        """This defense on the same diffusion and flow models with some constructor arguments changed
        (``alpha_s=-8.0``): a new point of a sweep."""
        arguments = {key: getattr(self, key) for key in self.defaults() if key != "flow"}
        return type(self)(self.model, **{**arguments, "flow": self.flow_model, **changes})

    #: What a trajectory (:meth:`trajectory`) depends on, besides its input and model.
    TRAJECTORY_SETTINGS = ("tstar", "num_inference_steps", "temporal_inversion")

    @classmethod
    def spec_settings(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        """A ``type: videopure`` spec's constructor arguments, with the defaults filled in."""
        return {**cls.defaults(), **{key: value for key, value in spec.items() if key != "type"}}

    @classmethod
    def spec_flow(cls, spec: Mapping[str, Any]) -> dict[str, Any] | None:
        """The flow model spec the defense of ``spec`` runs, or None when its candidates do not depend on
        the input's flow (:meth:`needs_flow`)."""
        settings = cls.spec_settings(spec)
        if not cls._loss_uses_flow(settings["optimize"], settings["lambda_temp"]):
            return None
        return dict(settings["flow"] or DEFAULT_FLOW)

    @classmethod
    def spec_trajectory(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        """What the trajectory of the defense of ``spec`` depends on (:data:`TRAJECTORY_SETTINGS`)."""
        settings = cls.spec_settings(spec)
        return {key: settings[key] for key in cls.TRAJECTORY_SETTINGS}

    @classmethod
    def spec_trajectory_key(cls, spec: Mapping[str, Any]) -> str | None:
        """A name for the trajectory the defense of ``spec`` computes (``tstar~6_steps~50_temporal~true``),
        under which it can be cached; None when the trajectory depends on the optimisation
        (``replace_trajectory``), so no cache can stand in for it."""
        if cls.spec_settings(spec)["replace_trajectory"]:
            return None
        trajectory = cls.spec_trajectory(spec)
        temporal = str(trajectory["temporal_inversion"]).lower()
        return f"tstar~{trajectory['tstar']}_steps~{trajectory['num_inference_steps']}_temporal~{temporal}"

    @classmethod
    def check_settings(cls, settings: Mapping[str, Any]) -> None:
        """Refuse bad constructor arguments (those given in ``settings``) before any model is loaded."""
        values = {**cls.defaults(), **settings}
        for key in ("temporal_inversion", "optimize", "replace_trajectory", "loss_through_unet", "detach_warped"):
            if not isinstance(values[key], bool):
                raise ValueError(f"videopure {key} must be True or False, got {values[key]!r}")
        for key, choices in (
            ("loss_reduction", LOSS_REDUCTIONS),
            ("variance", VARIANCES),
            ("final_candidate", FINAL_CANDIDATES),
        ):
            if values[key] not in choices:
                raise ValueError(f"unknown videopure {key} {values[key]!r}; expected one of {choices}")
        tstar, steps = values["tstar"], values["num_inference_steps"]
        for key in ("tstar", "num_inference_steps"):
            if isinstance(values[key], bool) or not isinstance(values[key], int):
                raise ValueError(f"videopure {key} must be an integer, got {values[key]!r}")
        if not 1 <= tstar <= steps:
            raise ValueError(f"videopure tstar (t*) counts DDIM steps and must be in [1, num_inference_steps={steps}], got {tstar}")
        for key in ("alpha_s", "lambda_temp", "lambda_spa"):
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"videopure {key} must be a finite number, got {value!r}")
        if values["lambda_temp"] < 0 or values["lambda_spa"] < 0:
            raise ValueError(
                f"videopure lambda_temp and lambda_spa must be >= 0, got {values['lambda_temp']} and {values['lambda_spa']}"
            )
        if values["replace_trajectory"] and not values["optimize"]:
            raise ValueError(
                "videopure replace_trajectory continues from the optimised z'_t (Table VIII's Ours*), which "
                "optimize: false does not make; set optimize: true or replace_trajectory: false"
            )
        if values["optimize"] and values["alpha_s"] == 0:
            raise ValueError("videopure alpha_s = 0 makes the optimisation a no-op; set optimize: false instead")
        if values["optimize"] and values["lambda_temp"] == 0 and values["lambda_spa"] == 0:
            raise ValueError("videopure lambda_temp = lambda_spa = 0 makes the optimisation a no-op; set optimize: false")
        candidate = values["candidate"]
        if candidate is not None and (isinstance(candidate, bool) or not isinstance(candidate, int) or not 0 <= candidate <= tstar):
            raise ValueError(f"videopure candidate must be None (vote) or an integer k in [0, t*={tstar}], got {candidate!r}")
        if values["flow"] is not None and not isinstance(values["flow"], FlowModel):
            check_flow_spec(values["flow"])

    def resolve_gradient(self, gradient: str) -> str:
        mode = super().resolve_gradient(gradient)
        if mode == "exact" and self.loss_through_unet:
            raise ValueError(
                "loss_through_unet with gradient='exact' needs second derivatives through the UNet, which "
                "PyTorch's attention kernels do not provide; use gradient='frozen' or 'bpda'"
            )
        if mode in ("exact", "frozen") and not self.detach_warped and not self.flow_model.differentiable:
            raise ValueError(
                f"with detach_warped=False the candidates depend smoothly on the flow, and flow {self.flow['type']!r} "
                "is not differentiable: gradient='exact' would not be exact; use a RAFT flow or gradient='bpda'"
            )
        return mode

    def step_variance(self, tau: int, tau_prev: int) -> float:
        """σ²_τ of eq. 16: log β̃ (the code) or β̃ (the paper text), β̃ between τ and the DDIM level below."""
        variance = self.model.schedule.posterior_variance(tau, tau_prev)
        return math.log(variance) if self.variance == "log" else variance

    def optimized(
        self,
        z: torch.Tensor,
        to_clean: Callable[[torch.Tensor], torch.Tensor],
        sigma2: float,
        z0: torch.Tensor,
        flow: torch.Tensor,
    ) -> torch.Tensor:
        """One step z' = z − α_s σ² ∇_z L(to_clean(z)) (eqs. 14 and 16), for latents z (B, T, c, h, w).

        ``to_clean`` maps z to the latent the loss sees (ẑ0 of eq. 15 with a fixed ε, or the identity
        for the paper's final candidate). Under autograd the step is part of the graph (the gradient
        is taken with ``create_graph``), so an attack differentiates through it.
        """
        outer = torch.is_grad_enabled() and z.requires_grad
        with torch.enable_grad():
            # A new node: ∇L is taken with respect to it alone, not along the path by which ε_θ
            # was computed from z (ε is a constant of L unless loss_through_unet).
            variable = z.clone() if outer else z.detach().requires_grad_(True)
            loss = spatial_temporal_loss(
                to_clean(variable), z0, flow, self.lambda_temp, self.lambda_spa, self.loss_reduction, self.detach_warped
            ).sum()  # a sum of per-clip losses: each clip's gradient is its own
            (gradient,) = torch.autograd.grad(loss, variable, create_graph=outer)
        return z - self.alpha_s * sigma2 * gradient

    def _clean_estimate(self, tau: int, eps: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """z ↦ ẑ0(z) at τ (eq. 15): with ε fixed (the code), or with ε = ε_θ(z, τ) recomputed under
        autograd when ``loss_through_unet``."""
        schedule = self.model.schedule
        if self.loss_through_unet and not self.model.noise_frozen:
            return lambda z: schedule.predict_original(z, self.model.predict_noise(z, tau), tau)
        return lambda z: schedule.predict_original(z, eps, tau)

    def latent_flow(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The input's forward flow (B, T − 1, 2, h, w) at latent size ``size``, in latent pixels."""
        return latent_flow(self.flow_model, x, size)

    def trajectory(self, z0: torch.Tensor, flow: torch.Tensor | None = None) -> Trajectory:
        """Temporal DDIM inversion of z0 to τ_max, then DDIM denoising, recording every (z*_τ, ε_τ):
        all of the defense's UNet work (t* calls each way).

        Unless ``replace_trajectory``, it depends on z0, t*, T and the inversion kind alone, not on
        α_s or λ (the optimisation never feeds back): the workflow caches it once per input and t*
        (rule invert). With ``replace_trajectory`` each next state comes from the optimised z', so
        ``flow`` (latent size) is needed.
        """
        *steps, (final, _) = self._walk(z0, flow)
        states, noise = zip(*steps)
        return Trajectory(torch.stack(states, dim=1), torch.stack(noise, dim=1), final)

    def _walk(self, z0: torch.Tensor, flow: torch.Tensor | None) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """:meth:`trajectory` one state at a time: (z*_τ, ε_τ) from the top τ down, then (z*_0, None).

        The inversion runs at the first ``next``; each denoising UNet call only when its state is
        asked for, so a consumer that stops early (the early-exit vote) saves the calls below it.
        """
        model, schedule, timesteps = self.model, self.model.schedule, self.timesteps
        if self.replace_trajectory and flow is None:
            raise ValueError("replace_trajectory: the trajectory depends on the optimisation; pass the latent flow")
        z = ddim_invert(model, z0, timesteps, temporal=self.temporal_inversion)
        for tau, tau_prev in self._denoising_steps():
            eps = noise_estimate(model, z, tau)
            yield z, eps
            followed = self._optimized_at(z, eps, tau, tau_prev, z0, flow) if self.replace_trajectory else z
            z = schedule.ddim_move(followed, eps, tau, tau_prev)
        yield z, None

    def _denoising_steps(self) -> list[tuple[int, int]]:
        """(τ, τ_prev) of the denoising steps, from the top τ down to τ = 1."""
        return list(zip(reversed(self.timesteps.taus), reversed(self.timesteps.previous)))

    def candidates(self, trajectory: Trajectory, z0: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """The candidate latents (B, K, T, c, h, w) of a trajectory: one optimisation step per state
        (Alg. 1, lines 4–11) and the optimised final latent (lines 12–14); no UNet call unless
        ``loss_through_unet``. ``flow``: the input's flow at latent size (:meth:`latent_flow`)."""
        return torch.stack(list(self.iter_candidates(z0, flow, trajectory)), dim=1)

    def iter_candidates(
        self, z0: torch.Tensor, flow: torch.Tensor, trajectory: Trajectory | None = None
    ) -> Iterator[torch.Tensor]:
        """The candidate latents (B, T, c, h, w) one at a time, in the vote's order (k = t*, …, 0):
        what :meth:`candidates` stacks. Without a cached ``trajectory`` each denoising UNet call is
        made when the next candidate is asked for, not before (inversion comes first, in full)."""
        schedule = self.model.schedule
        if trajectory is None:
            walk = self._walk(z0, flow)
        else:
            walk = zip([*trajectory.states.unbind(1), trajectory.final], [*trajectory.noise.unbind(1), None])
        kept = None if self.candidate is None else self.tstar - self.candidate
        steps = self._denoising_steps()
        last_eps = None
        for index, (z, eps) in enumerate(walk):
            if index == self.tstar:  # z*_0, the final candidate: optimised with τ = 1's noise estimate
                if self.optimize:
                    tau, tau_prev = steps[-1]
                    code = self.final_candidate == "code"
                    to_clean = self._clean_estimate(tau, last_eps) if code else (lambda latent: latent)
                    z = self.optimized(z, to_clean, self.step_variance(tau, tau_prev), z0, flow)
                yield z
                return
            last_eps = eps
            if kept is None or kept == index:
                tau, tau_prev = steps[index]
                optimized = self._optimized_at(z, eps, tau, tau_prev, z0, flow) if self.optimize else z
                yield schedule.predict_original(optimized, eps, tau)
                if kept is not None:
                    return

    def _optimized_at(
        self, z: torch.Tensor, eps: torch.Tensor, tau: int, tau_prev: int, z0: torch.Tensor, flow: torch.Tensor
    ) -> torch.Tensor:
        return self.optimized(z, self._clean_estimate(tau, eps), self.step_variance(tau, tau_prev), z0, flow)

    def needs_flow(self) -> bool:
        """Whether the candidates depend on the input's flow (L_temp is on)."""
        return self._loss_uses_flow(self.optimize, self.lambda_temp)

    @staticmethod
    def _loss_uses_flow(optimize: bool, lambda_temp: float) -> bool:
        return optimize and lambda_temp > 0

    def _purify_latents(
        self,
        x: torch.Tensor,
        z0: torch.Tensor,
        trajectory: Trajectory | None = None,
        flow: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Candidates of ``x``; a cached ``trajectory`` (:meth:`trajectory`) or latent ``flow``
        (:meth:`latent_flow`) of the same input replaces its computation."""
        return torch.stack(list(self._iter_candidate_latents(x, z0, trajectory, flow)), dim=1)

    def _iter_candidate_latents(
        self,
        x: torch.Tensor,
        z0: torch.Tensor,
        trajectory: Trajectory | None = None,
        flow: torch.Tensor | None = None,
    ) -> Iterator[torch.Tensor]:
        if flow is None:
            if self.needs_flow():
                flow = self.latent_flow(x, z0.shape[-2:])
            else:  # L_temp is off: a zero flow keeps one loss function
                flow = z0.new_zeros((z0.shape[0], z0.shape[1] - 1, 2, *z0.shape[-2:]))
        flow = flow.to(device=z0.device, dtype=z0.dtype)
        if trajectory is not None:
            trajectory = trajectory.to(device=z0.device, dtype=z0.dtype)
        return self.iter_candidates(z0, flow, trajectory)
