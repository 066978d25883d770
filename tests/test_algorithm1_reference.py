"""An independent reference of VideoPure's purification (paper, Alg. 1), checked against the package.

The other VideoPure tests rebuild candidates from the package's own pieces
(``videopure.diffusion.sampling``, ``DiffusionSchedule``, ``spatial_temporal_loss``), so they share
any bug in them. The reference below is written loop by loop from the paper (eqs. 10–16, Alg. 1)
and from docs/design.md, "The algorithm, as the authors' public code runs it". From the package it
borrows only what is not the algorithm:

* the model itself: its VAE (encoder and decoder, called directly), its UNet and its empty-prompt
  conditioning (called directly, as ``LatentVideoDiffusion.predict_noise`` does);
* ᾱ and the DDIM timesteps, from diffusers' ``DDIMScheduler`` built from the model's scheduler
  config (diffusers, not ``videopure.diffusion.schedule``);
* a fixed optical flow (a latent-size tensor, or a flow model with a known constant output), so
  flow estimation is not what is tested; the warp is re-implemented by hand.

Everything else — DDIM inversion (eq. 10), temporal DDIM inversion (eq. 11), ẑ0 (eq. 15), the
losses (eqs. 12–13), the optimisation step (eqs. 14 and 16, Alg. 1 lines 4–14), the DDIM step
(eq. 8), the final candidate, decoding and the majority vote — is written out here, one clip,
one timestep and one frame at a time.

Tolerance. Everything runs in float64. The reference and the package do the same arithmetic in
another order (per clip here, batched there; a hand-written bilinear warp here, ``grid_sample``
there), so they agree to rounding: measured, at most 2e-15 on candidates of size 0.4, and 1e-14
relative to the largest value where ``loss_reduction="norm"`` drives latents to 1e4. We ask for
``rtol = atol = 1e-9``: far above that rounding, far below the effect of a planted bug
(tests/mutations.txt: the candidates move by 4e-2 and more).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
import pytest
import torch
from torch import nn

from videopure.defenses import DefendedClassifier, VideoPure, check_defense_spec
from videopure.evaluation.voting import predict_defended, votes
from videopure.flow import FlowModel

from tests.helpers import tiny_diffusion

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLIPS, FRAMES, HEIGHT, WIDTH = 2, 5, 8, 8  # 4 x 4 latents under the tiny VAE
CLASSES = 5
PAPER_LATENT_SHAPE = (32, 4, 28, 28)  # docs/design.md, "Scale": 32 frames of 224 x 224 under an x8 VAE
RTOL = ATOL = 1e-9  # see the module docstring


@pytest.fixture(scope="module")
def model():
    return tiny_diffusion().double()


def video_batch(seed: int = 0) -> torch.Tensor:
    return torch.rand((CLIPS, FRAMES, 3, HEIGHT, WIDTH), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def random_latent_flow(shape, seed: int = 0) -> torch.Tensor:
    """A non-uniform flow (B, T − 1, 2, h, w) in latent pixels, up to 1.5 pixels: sub-pixel shifts
    (bilinear weights matter) and samples outside the frame (zero padding matters)."""
    batch, frames, _, h, w = shape
    generator = torch.Generator().manual_seed(1000 + seed)
    return 3 * torch.rand((batch, frames - 1, 2, h, w), generator=generator, dtype=torch.float64) - 1.5


# --- the reference ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """VideoPure's constructor arguments (its defaults: the paper's values, the authors' code)."""

    tstar: int = 3
    num_inference_steps: int = 50
    alpha_s: float = -4.0
    lambda_temp: float = 5.0
    lambda_spa: float = 800.0
    temporal_inversion: bool = True
    optimize: bool = True
    candidate: int | None = None
    replace_trajectory: bool = False
    loss_through_unet: bool = False
    loss_reduction: str = "paper_shape_mean"
    variance: str = "log"
    final_candidate: str = "code"
    detach_warped: bool = True

    def arguments(self) -> dict:
        return {field.name: getattr(self, field.name) for field in fields(self)}


class ReferenceSchedule:
    """ᾱ and the DDIM grid, straight from diffusers' ``DDIMScheduler`` (docs/design.md, "Scheduler").

    ``alpha_bar(τ)`` for τ ≥ 0 is ``alphas_cumprod[τ]``; below τ = 0 lies the final level
    ``final_alpha_cumprod`` (ᾱ[0] under ModelScope's ``set_alpha_to_one=False``, not 1).
    """

    def __init__(self, scheduler_config: dict, tstar: int, num_inference_steps: int) -> None:
        from diffusers import DDIMScheduler

        scheduler = DDIMScheduler.from_config(dict(scheduler_config))
        scheduler.set_timesteps(num_inference_steps)
        self.alphas_cumprod = scheduler.alphas_cumprod.to(torch.float64)
        self.final_alpha_cumprod = float(scheduler.final_alpha_cumprod)
        # DDIMScheduler.step connects τ to τ − num_train_timesteps // num_inference_steps.
        stride = scheduler.config.num_train_timesteps // num_inference_steps
        ascending = sorted(int(tau) for tau in scheduler.timesteps)
        self.taus = ascending[:tstar]  # the t* lowest timesteps: τ = 1, 21, 41, … for T = 50
        self.previous = [tau - stride for tau in self.taus]

    def alpha_bar(self, tau: int) -> float:
        return float(self.alphas_cumprod[tau]) if tau >= 0 else self.final_alpha_cumprod

    def step_variance(self, tau: int, tau_prev: int, variance: str) -> float:
        """σ²_τ of eq. 16: the code's log β̃ (``"log"``) or the text's β̃ (``"linear"``), with
        β̃ = (1 − ᾱ_prev)/(1 − ᾱ_τ) · (1 − ᾱ_τ/ᾱ_prev) clamped at 1e-20 (docs/design.md, "Denoising")."""
        alpha, alpha_prev = self.alpha_bar(tau), self.alpha_bar(tau_prev)
        beta_tilde = max((1 - alpha_prev) / (1 - alpha) * (1 - alpha / alpha_prev), 1e-20)
        return math.log(beta_tilde) if variance == "log" else beta_tilde


def unet_noise(model, clip_latents: torch.Tensor, tau: int) -> torch.Tensor:
    """ε_θ(z, τ) of one clip (T, c, h, w): the UNet on (1, c, T, h, w) with the empty-prompt embedding
    (docs/design.md, "Conditioning": one call, no classifier-free guidance)."""
    unet_input = clip_latents.unsqueeze(0).transpose(1, 2)
    output = model.unet(unet_input, tau, encoder_hidden_states=model.empty_prompt_embedding).sample
    return output.transpose(1, 2)[0]


def clean_estimate(z: torch.Tensor, eps: torch.Tensor, alpha: float) -> torch.Tensor:
    """ẑ0 = (z − √(1 − ᾱ) ε) / √ᾱ (eq. 15)."""
    return (z - math.sqrt(1 - alpha) * eps) / math.sqrt(alpha)


def ddim_update(z: torch.Tensor, eps: torch.Tensor, alpha_from: float, alpha_to: float) -> torch.Tensor:
    """√ᾱ_to ẑ0 + √(1 − ᾱ_to) ε, ẑ0 taken at ᾱ_from: eq. 8 downwards, eqs. 10–11 upwards."""
    return math.sqrt(alpha_to) * clean_estimate(z, eps, alpha_from) + math.sqrt(1 - alpha_to) * eps


def warp_by_hand(frame: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp(frame, O) of eq. 13 for one frame (c, h, w) and flow (2, h, w): the frame sampled at
    p + O(p), bilinearly, zero outside (``grid_sample``'s bilinear, zeros, ``align_corners=True``,
    docs/design.md, "Flow"), written as the four-neighbour sum."""
    _, height, width = frame.shape
    rows, columns = torch.meshgrid(
        torch.arange(height, dtype=flow.dtype), torch.arange(width, dtype=flow.dtype), indexing="ij"
    )
    sample_x, sample_y = columns + flow[0], rows + flow[1]
    left, top = torch.floor(sample_x), torch.floor(sample_y)
    right_weight, bottom_weight = sample_x - left, sample_y - top
    warped = torch.zeros_like(frame)
    for dy, weight_y in ((0, 1 - bottom_weight), (1, bottom_weight)):
        for dx, weight_x in ((0, 1 - right_weight), (1, right_weight)):
            x, y = left + dx, top + dy
            inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
            values = frame[:, y.clamp(0, height - 1).long(), x.clamp(0, width - 1).long()]
            warped = warped + weight_y * weight_x * inside * values
    return warped


def reference_loss(z0_hat: torch.Tensor, z0: torch.Tensor, flow: torch.Tensor, settings: Settings) -> torch.Tensor:
    """L = λ1 L_temp + λ2 L_spa of one clip (eqs. 12–13), reduced as ``loss_reduction`` says.

    L_spa = −Σ(ẑ0 − z0)² / N and L_temp = Σ_{i=1}^{T−1} Σ|Warp(ẑ0[i+1], O_i) − ẑ0[i]| / M, with N, M
    the element counts of the paper's latent (``"paper_shape_mean"``, the code's means at paper
    scale) or of this clip (``"clip_mean"``); ``"norm"`` is eq. 12's −‖z0 − ẑ0‖_2 and eq. 13's ‖·‖_1.
    The warped frame is a constant of L when ``detach_warped`` (the code).
    """
    frames = z0_hat.shape[0]
    if settings.loss_reduction == "paper_shape_mean":
        clip_elements, frame_elements = math.prod(PAPER_LATENT_SHAPE), math.prod(PAPER_LATENT_SHAPE[1:])
    else:
        clip_elements, frame_elements = z0_hat.numel(), z0_hat[0].numel()
    squared_distance = ((z0_hat - z0) ** 2).sum()
    if settings.loss_reduction == "norm":
        spatial = -torch.sqrt(squared_distance)
    else:
        spatial = -squared_distance / clip_elements
    temporal = torch.zeros((), dtype=z0_hat.dtype)
    for i in range(frames - 1):
        following = z0_hat[i + 1].detach() if settings.detach_warped else z0_hat[i + 1]
        residual = (warp_by_hand(following, flow[i]) - z0_hat[i]).abs().sum()
        temporal = temporal + (residual if settings.loss_reduction == "norm" else residual / frame_elements)
    return settings.lambda_temp * temporal + settings.lambda_spa * spatial


def optimisation_step(z, to_loss_input, sigma2: float, z0, flow, settings: Settings) -> torch.Tensor:
    """z' = z − α_s σ² ∇_z L(to_loss_input(z)) (eq. 16; Alg. 1 lines 8 and 13), for one clip.

    ``to_loss_input`` is ẑ0 of eq. 15 (with ε held fixed, the code's choice, or recomputed from z
    when ``loss_through_unet``), or the identity for the paper's final candidate (line 12).
    """
    with torch.enable_grad():
        variable = z.detach().clone().requires_grad_(True)
        loss = reference_loss(to_loss_input(variable), z0, flow, settings)
        (gradient,) = torch.autograd.grad(loss, variable)
    return z - settings.alpha_s * sigma2 * gradient


def reference_clip_candidates(model, z0: torch.Tensor, flow: torch.Tensor, settings: Settings) -> torch.Tensor:
    """The candidates (K, T, c, h, w) of one clip's latents z0 (T, c, h, w), in the code's vote-list
    order: τ = τ_max, …, τ_1, then the final candidate (Alg. 1, lines 3–14)."""
    schedule = ReferenceSchedule(model.scheduler_config, settings.tstar, settings.num_inference_steps)
    frames = z0.shape[0]

    # Line 3: (temporal) DDIM inversion from z0, which sits at the final level, up to τ_max.
    # Eq. 10 takes ε_θ(z_{t−1}, t): the UNet at the upper τ on the lower latent.
    z = z0
    for tau, tau_prev in zip(schedule.taus, schedule.previous):
        estimate = unet_noise(model, z, tau)
        if settings.temporal_inversion:
            # Eq. 11: frame 0's noise estimate, replicated to every frame.
            eps = torch.stack([estimate[0] for _ in range(frames)])
        else:
            eps = estimate
        z = ddim_update(z, eps, schedule.alpha_bar(tau_prev), schedule.alpha_bar(tau))

    # Lines 4–11: DDIM denoising; at every τ one optimisation step on a copy gives the candidate.
    def clean_estimate_for_the_loss(tau, eps):
        """z ↦ ẑ0(z) at τ as L sees it: ε = ε_θ(z*_τ, τ) a constant (the code), or, with
        ``loss_through_unet``, ε_θ(z, τ) recomputed at the point being differentiated."""
        alpha = schedule.alpha_bar(tau)
        if settings.loss_through_unet:
            return lambda latent: clean_estimate(latent, unet_noise(model, latent, tau), alpha)
        return lambda latent: clean_estimate(latent, eps, alpha)

    candidates = []
    eps = None
    for tau, tau_prev in zip(reversed(schedule.taus), reversed(schedule.previous)):
        with torch.no_grad():
            eps = unet_noise(model, z, tau)  # ε_θ(z*_τ, τ), used by lines 5, 6 and 9 alike
        if settings.optimize:
            sigma2 = schedule.step_variance(tau, tau_prev, settings.variance)
            optimised = optimisation_step(z, clean_estimate_for_the_loss(tau, eps), sigma2, z0, flow, settings)
        else:
            optimised = z
        candidates.append(clean_estimate(optimised, eps, schedule.alpha_bar(tau)))  # line 9
        # Line 6 (and Table VIII's "Ours*", which continues from z' instead of z*_τ).
        followed = optimised if settings.replace_trajectory and settings.optimize else z
        z = ddim_update(followed, eps, schedule.alpha_bar(tau), schedule.alpha_bar(tau_prev))

    # Lines 12–14: the final candidate from z*_0, with τ = τ_1's ε, ᾱ and σ² (the code), the loss
    # on ẑ0(z*_0) (the code) or on z*_0 itself (the paper's line 12); z'_0 itself is the candidate.
    final = z
    if settings.optimize:
        tau_1, tau_1_prev = schedule.taus[0], schedule.previous[0]
        sigma2 = schedule.step_variance(tau_1, tau_1_prev, settings.variance)
        if settings.final_candidate == "code":
            # eps is still τ_1's, the last one computed; with loss_through_unet ε_θ(z*_0, τ_1) instead.
            to_loss_input = clean_estimate_for_the_loss(tau_1, eps)
        else:
            to_loss_input = lambda latent: latent  # noqa: E731
        final = optimisation_step(z, to_loss_input, sigma2, z0, flow, settings)
    candidates.append(final)

    if settings.candidate is not None:  # Table VII: candidate k alone; k = 0 is the final one
        candidates = [candidates[settings.tstar - settings.candidate]]
    return torch.stack(candidates)


def reference_candidates(model, z0: torch.Tensor, flow: torch.Tensor, settings: Settings) -> torch.Tensor:
    """Candidates (B, K, T, c, h, w): each clip on its own (losses and steps are per clip)."""
    with torch.no_grad():
        return torch.stack([reference_clip_candidates(model, z0[b], flow[b], settings) for b in range(len(z0))])


def encode_by_hand(model, videos: torch.Tensor) -> torch.Tensor:
    """z0 = E(x) (eq. 4): each frame 2x − 1 through the VAE, posterior mean, times the scaling factor."""
    vae = model.vae
    clips = []
    for clip in videos:
        frames = [vae.encode(2 * frame.unsqueeze(0) - 1).latent_dist.mean[0] for frame in clip]
        clips.append(torch.stack(frames) * vae.config.scaling_factor)
    return torch.stack(clips)


def decode_by_hand(model, latents: torch.Tensor) -> torch.Tensor:
    """D(z) (eq. 4) of one video's latents (T, c, h, w): (VAE decode(z / scale) + 1)/2, clamped to [0, 1]."""
    vae = model.vae
    frames = [vae.decode(frame.unsqueeze(0) / vae.config.scaling_factor).sample[0] for frame in latents]
    return ((torch.stack(frames) + 1) / 2).clamp(0, 1)


def first_argmax(values) -> int:
    """The index of the largest value; among equal ones the first (torch.argmax's rule)."""
    best = 0
    for index in range(1, len(values)):
        if values[index] > values[best]:
            best = index
    return best


def vote_by_hand(candidate_logits) -> int:
    """Multi-step voting (Sec. III-D, Alg. 1 lines 15–19) over one clip's candidate logits (K, classes):
    each candidate votes for its argmax, the class with most votes wins, ties to the smallest class
    index (the authors' code, and ``videopure.defenses.defended.majority_vote``)."""
    counts = [0] * len(candidate_logits[0])
    for logits in candidate_logits:
        counts[first_argmax(logits)] += 1
    return first_argmax(counts)


# --- the reference against the package --------------------------------------------------------

SWITCHES = {
    "code_defaults": {},
    "plain_ddim_inversion_eq10": {"temporal_inversion": False},
    "no_optimisation": {"optimize": False},
    "ours_star_replace_trajectory": {"replace_trajectory": True},
    "loss_through_unet": {"loss_through_unet": True},
    "clip_mean": {"loss_reduction": "clip_mean"},
    "norm_eqs_12_13": {"loss_reduction": "norm"},
    "linear_variance": {"variance": "linear"},
    "paper_final_candidate": {"final_candidate": "paper"},
    "warped_not_detached": {"detach_warped": False},
    "spatial_loss_only": {"lambda_temp": 0.0},
    "temporal_loss_only": {"lambda_spa": 0.0},
    "other_step_and_weights": {"alpha_s": 2.5, "lambda_temp": 3.0, "lambda_spa": 300.0},
    "final_candidate_alone": {"candidate": 0},
    "first_candidate_alone": {"candidate": 1},
    "no_voting_plain_baseline": {"temporal_inversion": False, "optimize": False, "candidate": 0},
    "paper_text_everywhere": {
        "loss_reduction": "norm",
        "variance": "linear",
        "final_candidate": "paper",
        "detach_warped": False,
        "loss_through_unet": True,
    },
    "ours_star_paper_text": {"replace_trajectory": True, "loss_reduction": "norm", "final_candidate": "paper"},
    "ours_star_through_unet": {"replace_trajectory": True, "loss_through_unet": True, "detach_warped": False},
    "ddim_grid_of_20_steps": {"num_inference_steps": 20},
}


# Every switch at t* = 3 (three candidates along the trajectory and the final one); the switches
# that touch the inversion, the trajectory or the final candidate also at t* = 1 and 2, where the
# top step is τ = 1 itself or its neighbour. Fewer cases keep the file under a minute on one core.
EVERY_TSTAR = (
    "code_defaults",
    "plain_ddim_inversion_eq10",
    "no_optimisation",
    "ours_star_replace_trajectory",
    "loss_through_unet",
    "paper_final_candidate",
    "final_candidate_alone",
    "first_candidate_alone",
    "paper_text_everywhere",
)
CASES = [(name, tstar) for name in SWITCHES for tstar in ((1, 2, 3) if name in EVERY_TSTAR else (3,))]


@pytest.mark.parametrize(
    ("switches", "tstar"),
    [(SWITCHES[name], tstar) for name, tstar in CASES],
    ids=[f"{name}-tstar{tstar}" for name, tstar in CASES],
)
def test_candidates_equal_the_reference(model, switches, tstar):
    """Every candidate latent of ``VideoPure.purify_latents`` equals the reference's, for every
    code-versus-paper switch and ablation of the constructor, t* = 1 … 3, two clips of five frames."""
    settings = replace(Settings(tstar=tstar), **switches)
    x = video_batch(tstar)
    with torch.no_grad():
        z0 = encode_by_hand(model, x)
        flow = random_latent_flow(z0.shape, tstar)
        expected = reference_candidates(model, z0, flow, settings)
        actual = VideoPure(model, **settings.arguments()).purify_latents(x, z0, flow=flow)
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)


def test_without_optimisation_there_is_no_optimised_trajectory_to_follow(model):
    """Table VIII's "Ours*" continues denoising from the optimised z'_t; with the optimisation off
    (Table IV) there is no z'_t, so ``replace_trajectory`` is refused — by the constructor and by
    config validation — instead of optimising with a zero flow, as it once did."""
    with pytest.raises(ValueError, match="replace_trajectory continues from the optimised"):
        VideoPure(model, optimize=False, replace_trajectory=True)
    with pytest.raises(ValueError, match="replace_trajectory continues from the optimised"):
        check_defense_spec({"type": "videopure", "optimize": False, "replace_trajectory": True})


def test_the_reference_timesteps_are_the_documented_ones(model):
    """docs/design.md, "Scheduler": t* = 6 of T = 50 visits τ = 1, 21, …, 101, each step to τ − 20,
    the one below τ = 1 being the final level ᾱ[0]."""
    schedule = ReferenceSchedule(model.scheduler_config, 6, 50)
    assert schedule.taus == [1, 21, 41, 61, 81, 101]
    assert schedule.previous == [-19, 1, 21, 41, 61, 81]
    assert schedule.alpha_bar(-19) == pytest.approx(1 - 0.00085, abs=1e-7)  # ᾱ[0] = 1 − β_0 (set_alpha_to_one=False)
    assert schedule.alpha_bar(101) == pytest.approx(0.8929805, abs=1e-6)  # Π (1 − β_s), scaled_linear β


def test_the_optimisation_moves_every_candidate(model):
    """The comparison above is not vacuous: with the code's settings every candidate differs from
    the unoptimised one by far more than the tolerance, and so does temporal from plain inversion."""
    x = video_batch()
    with torch.no_grad():
        z0 = encode_by_hand(model, x)
        flow = random_latent_flow(z0.shape)
        optimised = reference_candidates(model, z0, flow, Settings())
        plain = reference_candidates(model, z0, flow, Settings(optimize=False))
        per_frame = reference_candidates(model, z0, flow, Settings(optimize=False, temporal_inversion=False))
    assert ((optimised - plain).flatten(2).abs().amax(dim=2) > 1e-3).all()
    assert ((plain - per_frame).flatten(2).abs().amax(dim=2) > 1e-3).all()


class ConstantFlow(FlowModel):
    """A flow model whose forward flow is one translation (dx, dy) pixels everywhere: resized to the
    latent grid it is exactly (dx · w/W, dy · h/H), so the reference needs no resizing code."""

    name = "constant"
    differentiable = False

    def __init__(self, dx: float, dy: float) -> None:
        super().__init__()
        self.dx, self.dy = dx, dy

    def _pair_flow(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        flow = torch.zeros(first.shape[0], 2, *first.shape[-2:], dtype=first.dtype)
        flow[:, 0], flow[:, 1] = self.dx, self.dy
        return flow

    def settings(self) -> dict:
        return {"type": "constant", "dx": self.dx, "dy": self.dy}


def tiny_classifier(seed: int = 0) -> nn.Module:
    """Videos (N, T, 3, 8, 8) → logits (N, CLASSES): one random linear layer on the centred pixels."""
    torch.manual_seed(seed)
    linear = nn.Linear(FRAMES * 3 * HEIGHT * WIDTH, CLASSES).double()

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = linear

        def forward(self, videos: torch.Tensor) -> torch.Tensor:
            return self.linear((videos - 0.5).flatten(1))

    return Classifier().requires_grad_(False).eval()


def reference_defended_prediction(model, classifier, x, flow_pixels, settings: Settings):
    """Decoded candidates (B, K, T, 3, H, W), their logits (B, K, classes) and the votes (B,) of the
    whole defense on videos x: encode, purify (reference), decode, classify, vote (Alg. 1)."""
    with torch.no_grad():
        z0 = encode_by_hand(model, x)
        scale = torch.tensor([z0.shape[-1] / x.shape[-1], z0.shape[-2] / x.shape[-2]], dtype=torch.float64)
        latent_flow = torch.zeros(len(x), x.shape[1] - 1, 2, *z0.shape[-2:], dtype=torch.float64)
        latent_flow[:, :, 0], latent_flow[:, :, 1] = flow_pixels[0] * scale[0], flow_pixels[1] * scale[1]
        candidates = reference_candidates(model, z0, latent_flow, settings)
        videos = torch.stack([torch.stack([decode_by_hand(model, latents) for latents in clip]) for clip in candidates])
        logits = torch.stack([classifier(clip_videos) for clip_videos in videos])
    voted = [vote_by_hand(clip_logits.tolist()) for clip_logits in logits]
    return videos, logits, voted


@pytest.mark.parametrize("final_candidate", ["code", "paper"])
def test_decoded_candidates_logits_and_vote_equal_the_reference(model, final_candidate):
    """The full defense — ``DefendedClassifier.predict`` on pixels, and ``predict_defended`` with
    ``votes`` over draws — equals the reference's decoded candidates, per-candidate logits and vote."""
    settings = Settings(final_candidate=final_candidate)
    x = video_batch(7)
    flow_pixels = (0.75, -0.5)
    classifier = tiny_classifier()
    purifier = VideoPure(model, **settings.arguments(), flow=ConstantFlow(*flow_pixels))
    defended = DefendedClassifier(classifier, purifier)

    expected_videos, expected_logits, expected_votes = reference_defended_prediction(
        model, classifier, x, flow_pixels, settings
    )
    with torch.no_grad():
        actual_videos = purifier(x, gradient="none")
    voted, logits = defended.predict(x)
    torch.testing.assert_close(actual_videos, expected_videos, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(logits, expected_logits, rtol=RTOL, atol=ATOL)
    assert voted.tolist() == expected_votes

    draws = 3  # a deterministic defense: every draw repeats the clip's candidates
    predictions = predict_defended(defended, x, seed=0, draws=draws, batch_size=1, clip_ids=np.arange(CLIPS))
    assert predictions.logits.shape == (CLIPS, draws, settings.tstar + 1, CLASSES)
    # predict_defended hands back float32 logits: float32's tolerance here.
    expected_per_draw = expected_logits.unsqueeze(1).expand(-1, draws, -1, -1).numpy()
    np.testing.assert_allclose(predictions.logits, expected_per_draw, rtol=1e-6, atol=1e-6)
    assert votes(predictions.logits).tolist() == [[vote] * draws for vote in expected_votes]
    assert predictions.votes.tolist() == [[vote] * draws for vote in expected_votes]
    # The early-exit vote: the reference's votes, and the candidates it classified are the reference's.
    early = predict_defended(defended, x, seed=0, draws=draws, batch_size=2, clip_ids=np.arange(CLIPS), early_exit=True)
    assert early.votes.tolist() == [[vote] * draws for vote in expected_votes]
    for clip, count in enumerate(early.evaluated[:, 0]):
        expected = expected_per_draw[clip, 0, :count]
        np.testing.assert_allclose(early.logits[clip, 0, :count], expected, rtol=1e-6, atol=1e-6)
        assert np.isnan(early.logits[clip, 0, count:]).all()


# --- the vote over draws and candidates -----------------------------------------------------------


def crafted_logits() -> np.ndarray:
    """Logits (N = 2 clips, 3 draws, K = 5 candidates, 4 classes) whose winners per (clip, draw) are
    arranged so that reading the array as (draws, clips) — or swapping the two after voting — changes
    the answer; with class ties and logit ties, which go to the smallest index."""
    # Per (clip, draw): the class each of the five candidates votes for.
    choices = [
        [[2, 2, 1, 0, 3], [1, 1, 1, 3, 0], [3, 0, 3, 0, 2]],  # votes 1 (see below); 1; 0 (0 and 3 tie: 0)
        [[3, 3, 3, 1, 2], [0, 1, 2, 1, 2], [0, 0, 2, 2, 2]],  # votes 3; 1 (1 and 2 tie: 1); 2
    ]
    logits = np.full((2, 3, 5, 4), -1.0)
    for clip, per_draw in enumerate(choices):
        for draw, per_candidate in enumerate(per_draw):
            for candidate, chosen in enumerate(per_candidate):
                logits[clip, draw, candidate, chosen] = 2.0 + 0.1 * candidate
    # A logit tie inside one candidate goes to the smaller class: candidate 4 of clip 0, draw 0
    # votes 3 with class 3 alone at the top; give class 1 the same logit and it votes 1 instead,
    # which leaves clip 0, draw 0 at two votes each for 1 and 2 — a class tie, won by 1.
    logits[0, 0, 4, 1] = logits[0, 0, 4, 3]
    return logits


def test_votes_over_draws_and_candidates_by_hand():
    """``votes`` of (N, draws, K, classes) logits is the majority vote of each (clip, draw) over its
    K candidates (Sec. III-D), ties to the smallest class index, returned as (N, draws)."""
    logits = crafted_logits()
    by_hand = [[vote_by_hand(logits[clip, draw].tolist()) for draw in range(3)] for clip in range(2)]
    assert by_hand == [[1, 1, 0], [3, 1, 2]]  # worked out on paper from crafted_logits' comments
    assert votes(logits).tolist() == by_hand
    # The bug this guards against: clips and draws read the wrong way round give another answer.
    read_as_draws_by_clips = logits.swapaxes(0, 1).reshape(2, 3, 5, 4)
    swapped = [[vote_by_hand(read_as_draws_by_clips[clip, draw].tolist()) for draw in range(3)] for clip in range(2)]
    assert swapped != by_hand
