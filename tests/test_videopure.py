"""VideoPure: temporal inversion, the optimisation step's sign and scale, ablations, gradients, cost, bad input."""

from __future__ import annotations

import math

import numpy as np

import pytest
import torch
import torch.nn.functional as F

from videopure.defenses import DDIMInversion, DefendedClassifier, VideoPure, build_defense
from videopure.defenses.videopure import PAPER_LATENT_SHAPE, spatial_temporal_loss
from videopure.diffusion import MODELSCOPE_SCHEDULER_CONFIG
from videopure.diffusion.sampling import ddim_inversion_step, noise_estimate
from videopure.diffusion.schedule import DiffusionSchedule
from videopure.evaluation.speed import WorkPerClip
from videopure.flow import backward_warp

from tests.helpers import tiny_diffusion

SHAPE = (2, 6, 3, 8, 8)  # B, T, C, H, W: 4x4 latents under the tiny VAE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    return tiny_diffusion()


def videos(seed: int = 0, shape=SHAPE, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def latents(shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- temporal DDIM inversion and the candidates ------------------------------------------------


def test_temporal_inversion_adds_the_same_noise_to_every_frame(model):
    schedule = model.schedule
    timesteps = schedule.ddim_timesteps(6)
    with torch.no_grad():
        z = model.encode(videos())
        for tau, tau_prev in zip(timesteps.taus, timesteps.previous):
            for temporal in (True, False):
                z_next = ddim_inversion_step(model, z, tau, tau_prev, temporal=temporal)
                added = z_next - math.sqrt(schedule.alpha_bar(tau) / schedule.alpha_bar(tau_prev)) * z
                same = torch.allclose(added, added[:, :1].expand_as(added), rtol=0, atol=1e-6)
                assert same == temporal, (tau, temporal)  # eq. 11 yes; per-frame eq. 10 no
            z = ddim_inversion_step(model, z, tau, tau_prev, temporal=True)


@pytest.mark.parametrize("tstar", range(1, 11))
def test_timesteps_and_number_of_candidates(model, tstar):
    purifier = VideoPure(model, tstar=tstar)
    assert purifier.timesteps.taus == tuple(20 * (k - 1) + 1 for k in range(1, tstar + 1))
    assert purifier.num_candidates == tstar + 1
    assert VideoPure(model, tstar=tstar, candidate=tstar).num_candidates == 1


def test_candidates_run_from_the_top_step_to_the_final_latent(model):
    """With the optimisation off, candidate k is ẑ0 at τ_k and candidate 0 is the DDIM output."""
    x = videos()
    with torch.no_grad():
        z0 = model.encode(x)
        plain = VideoPure(model, tstar=3, optimize=False).purify_latents(x, z0)
        timesteps = model.schedule.ddim_timesteps(3)
        z = z0
        for tau, tau_prev in zip(timesteps.taus, timesteps.previous):
            z = ddim_inversion_step(model, z, tau, tau_prev, temporal=True)
        for index, (tau, tau_prev) in enumerate(zip(reversed(timesteps.taus), reversed(timesteps.previous))):
            eps = noise_estimate(model, z, tau)
            torch.testing.assert_close(plain[:, index], model.schedule.predict_original(z, eps, tau), rtol=0, atol=0)
            z = model.schedule.ddim_move(z, eps, tau, tau_prev)
        assert torch.equal(plain[:, 3], z)
        temporal_ddim = DDIMInversion(model, tstar=3, temporal=True).purify_latents(x, z0)
        assert torch.equal(plain[:, 3], temporal_ddim[:, 0])


def test_ablations_are_the_same_pipeline(model):
    x = videos(1)
    with torch.no_grad():
        z0 = model.encode(x)
        full = VideoPure(model).purify_latents(x, z0)
        # Table VII: candidate k alone is the k-th vote of the full defense.
        for k in (6, 3, 0):
            single = VideoPure(model, candidate=k).purify_latents(x, z0)
            assert torch.equal(single[:, 0], full[:, 6 - k])
        # Table IV's first row is the DDIM inversion baseline.
        baseline = VideoPure(model, temporal_inversion=False, optimize=False, candidate=0).purify_latents(x, z0)
        assert torch.equal(baseline, DDIMInversion(model).purify_latents(x, z0))
        # Table VIII: feeding z' back changes every later candidate, not the first.
        replaced = VideoPure(model, replace_trajectory=True).purify_latents(x, z0)
        assert torch.equal(replaced[:, 0], full[:, 0])
        assert not torch.allclose(replaced[:, 1:], full[:, 1:])
        # The optimisation moves every candidate.
        plain = VideoPure(model, optimize=False).purify_latents(x, z0)
        assert ((plain - full).flatten(2).norm(dim=2) > 0).all()


def test_unet_calls_per_clip(model):
    """t* = 6: 6 inversion + 6 denoising calls; loss_through_unet adds one per optimised candidate."""
    x = videos()
    for purifier, calls in ((VideoPure(model), 12), (VideoPure(model, loss_through_unet=True), 12 + 7)):
        model.unet_calls = 0
        purifier(x, gradient="none")
        assert model.unet_calls == calls * SHAPE[0]


class BrightnessBins(torch.nn.Module):
    """One-hot logits over 3 classes from a video's mean brightness in bins of 1/1000: the tiny
    model's candidates differ by a few thousandths, so their votes split."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.one_hot((x.mean(dim=(1, 2, 3, 4)) * 1000).floor().long() % 3, 3).float()


def test_early_exit_vote_saves_decodes_and_denoising_calls_with_the_same_votes(model):
    """t* = 6 per clip: the full vote makes 12 UNet calls and 7 decodes; the early-exit vote the same
    class, n decodes for the n candidates it classified and 6 + min(n, 6) UNet calls (candidate k
    needs the denoising trajectory down to its own τ; the final one all of it), n < 7 on some clip."""
    purifier = VideoPure(model)
    defended = DefendedClassifier(BrightnessBins(), purifier, gradient="none")
    x = videos(shape=(8, *SHAPE[1:]))
    evaluated, classes = [], []
    for clip in x.split(1):
        model.unet_calls = model.decodes = 0
        full = defended.classify(clip, early_exit=False)
        assert (model.unet_calls, model.decodes) == (12, 7) and int(full.evaluated[0]) == 7
        model.unet_calls = model.decodes = 0
        early = defended.classify(clip)
        n = int(early.evaluated[0])
        assert (model.unet_calls, model.decodes) == (6 + min(n, 6), n)
        # Table X's priced work (benchmarks/paper_scale.py) counts what the model counted.
        work = WorkPerClip.videopure(6, n)
        assert (work.unet_calls, work.decodes, work.classified) == (model.unet_calls, model.decodes, n)
        assert torch.equal(early.classes, full.classes)
        # The decoder sees n candidates in a batch instead of 7: float32 rounding, nothing more.
        torch.testing.assert_close(early.logits[:, :n], full.logits[:, :n], rtol=1e-4, atol=1e-4)
        assert early.logits[:, n:].isnan().all()
        evaluated.append(n)
        classes.append(int(full.classes[0]))
    assert min(evaluated) < 7 and max(evaluated) > 4 and len(set(classes)) > 1  # the clips exercise the exit
    # One batch, its clips decided at different candidates: the same classes and counts.
    model.decodes = 0
    batched = defended.classify(x)
    assert batched.classes.tolist() == classes and batched.evaluated.tolist() == evaluated
    assert model.decodes == sum(evaluated)


# --- the optimisation step: sign and scale -----------------------------------------------------


def translation_flow(shape, dx: float = 1.0) -> torch.Tensor:
    batch, frames, _, h, w = shape
    flow = torch.zeros(batch, frames - 1, 2, h, w, dtype=torch.float64)
    flow[:, :, 0] = dx
    return flow


def test_one_step_lowers_the_loss_and_the_flipped_step_raises_it(model):
    shape = (2, 8, 4, 8, 8)
    z, eps, z0 = latents(shape, 0), latents(shape, 1), latents(shape, 2)
    flow = translation_flow(shape)
    tau, tau_prev = 101, 81
    schedule = model.schedule

    def clean(latent):
        return schedule.predict_original(latent, eps, tau)

    def loss(purifier, latent):
        return spatial_temporal_loss(clean(latent), z0, flow, purifier.lambda_temp, purifier.lambda_spa)

    def temporal_residual(latent):
        z0_hat = clean(latent)
        warped = backward_warp(z0_hat[:, 1:].flatten(0, 1), flow.flatten(0, 1)).unflatten(0, (2, 7))
        return (warped - z0_hat[:, :-1]).abs().sum()

    for alpha_s, lower in ((-4.0, True), (4.0, False)):
        purifier = VideoPure(model, alpha_s=alpha_s)
        sigma2 = purifier.step_variance(tau, tau_prev)
        assert sigma2 < 0 and alpha_s * sigma2 * (1 if lower else -1) > 0
        moved = purifier.optimized(z, clean, sigma2, z0, flow)
        assert ((loss(purifier, moved) < loss(purifier, z)) == lower).all()
        spatial_only = VideoPure(model, alpha_s=alpha_s, lambda_temp=0.0)
        away = spatial_only.optimized(z, clean, sigma2, z0, flow)
        farther = (clean(away) - z0).flatten(1).norm(dim=1) > (clean(z) - z0).flatten(1).norm(dim=1)
        assert bool(farther.all()) == lower  # ẑ0 moves away from z0
        temporal_only = VideoPure(model, alpha_s=alpha_s, lambda_spa=0.0)
        together = temporal_only.optimized(z, clean, sigma2, z0, flow)
        assert (temporal_residual(together) < temporal_residual(z)) == lower  # warped frames move closer


PAPER = (1, *PAPER_LATENT_SHAPE)  # a 32 x 224 x 224 clip under ModelScope's VAE
MINI = (1, 16, 4, 16, 16)  # a 16 x 64 x 64 clip under the mini VAE (x4)


@pytest.fixture(scope="module")
def paper_schedule():
    return DiffusionSchedule.from_config(MODELSCOPE_SCHEDULER_CONFIG)


def step_of(purifier, shape, tau, tau_prev, seed=0):
    z, eps, z0 = latents(shape, seed), latents(shape, seed + 1), latents(shape, seed + 2)
    flow = translation_flow(shape, 0.5)
    schedule = purifier.model.schedule

    def clean(latent):
        return schedule.predict_original(latent, eps, tau)

    moved = purifier.optimized(z, clean, purifier.step_variance(tau, tau_prev), z0, flow)
    return z, moved, clean, z0, flow


@pytest.mark.parametrize(("tau", "tau_prev", "expected"), [(101, 81, 0.278), (1, -19, 0.496)])
def test_spatial_step_is_the_same_at_every_clip_size(model, tau, tau_prev, expected):
    """λ1 = 0: ‖ẑ0(z') − ẑ0(z)‖ / ‖ẑ0(z) − z0‖ is c = 2 α_s σ² λ2 / (N ᾱ) with the paper's N at
    every size (docs/design.md, "Scale": 0.28 at τ = 101, 0.50 at τ = 1)."""
    purifier = VideoPure(model, lambda_temp=0.0)
    ratios = {}
    for name, shape in (("paper", PAPER), ("mini", MINI)):
        z, moved, clean, z0, _ = step_of(purifier, shape, tau, tau_prev)
        ratios[name] = float((clean(moved) - clean(z)).norm() / (clean(z) - z0).norm())
    assert ratios["mini"] == pytest.approx(ratios["paper"], rel=0.01)
    assert ratios["paper"] == pytest.approx(expected, abs=0.001)
    clip_mean = VideoPure(model, lambda_temp=0.0, loss_reduction="clip_mean")
    z, moved, clean, z0, _ = step_of(clip_mean, MINI, tau, tau_prev)
    unscaled = float((clean(moved) - clean(z)).norm() / (clean(z) - z0).norm())
    assert unscaled == pytest.approx(ratios["paper"] * math.prod(PAPER[1:]) / math.prod(MINI[1:]), rel=0.01)


def test_temporal_step_per_element_is_the_same_at_every_clip_size(model):
    """λ2 = 0: every element of frames 0 … T−2 moves by α_s σ² λ1 / (M √ᾱ), M the paper's c·h·w."""
    purifier = VideoPure(model, lambda_spa=0.0)
    tau, tau_prev = 101, 81
    sigma2, alpha = purifier.step_variance(tau, tau_prev), model.schedule.alpha_bar(tau)
    expected = abs(purifier.alpha_s * sigma2 * purifier.lambda_temp / (math.prod(PAPER_LATENT_SHAPE[1:]) * math.sqrt(alpha)))
    for shape in (PAPER, MINI):
        z, moved, *_ = step_of(purifier, shape, tau, tau_prev)
        step = (moved - z).abs()
        torch.testing.assert_close(step[:, :-1], torch.full_like(step[:, :-1], expected), rtol=1e-9, atol=0)
        assert torch.equal(step[:, -1], torch.zeros_like(step[:, -1]))  # the last frame has no successor


def test_paper_shape_step_equals_the_authors_formula(model):
    """At 32 x 224 x 224 the default equals the code: L = λ1 Σ_i mean|Warp − ẑ0[i]| − λ2 mean (ẑ0 − z0)²
    (means over the clip's elements, the warped frame detached), z' = z − α_s log β̃ ∇L."""
    purifier = VideoPure(model)
    tau, tau_prev = 61, 41
    z, moved, clean, z0, flow = step_of(purifier, PAPER, tau, tau_prev, seed=5)
    schedule = model.schedule
    beta_tilde = (1 - schedule.alpha_bar(tau_prev)) / (1 - schedule.alpha_bar(tau)) * (
        1 - schedule.alpha_bar(tau) / schedule.alpha_bar(tau_prev)
    )
    variable = z.clone().requires_grad_(True)
    z0_hat = clean(variable)
    temporal = sum(
        F.l1_loss(backward_warp(z0_hat[:, i + 1].detach(), flow[:, i]), z0_hat[:, i]) for i in range(PAPER[1] - 1)
    )
    loss = 5.0 * temporal + 800.0 * -F.mse_loss(z0_hat, z0)
    (gradient,) = torch.autograd.grad(loss, variable)
    torch.testing.assert_close(moved, z - (-4.0) * math.log(beta_tilde) * gradient, rtol=1e-10, atol=1e-12)


def test_losses_are_per_clip(model):
    """A clip's step does not depend on the other clips of its batch."""
    purifier = VideoPure(model)
    shape = (3, 6, 4, 8, 8)
    z, eps, z0 = latents(shape, 0), latents(shape, 1), latents(shape, 2)
    flow = translation_flow(shape)

    def clean(latent):
        return model.schedule.predict_original(latent, eps[: len(latent)], 101)

    batch = purifier.optimized(z, clean, -3.9, z0, flow)
    alone = purifier.optimized(z[:1], clean, -3.9, z0[:1], flow[:1])
    torch.testing.assert_close(batch[:1], alone, rtol=1e-12, atol=1e-12)


# --- gradients ---------------------------------------------------------------------------------


class ReplayedNoise:
    """Stands in for the UNet: returns the noise estimates recorded at a reference input, in order,
    whatever it is given — the ε-fixed function whose gradient ``gradient="frozen"`` must be."""

    def __init__(self, model, purifier, x):
        self.recorded = []
        self.position = 0
        original = model.predict_noise

        def recording(z, tau):
            eps = original(z, tau)
            self.recorded.append(eps.detach())
            return eps

        model.predict_noise = recording
        try:
            with torch.no_grad():
                purifier(x, gradient="none")
        finally:
            del model.predict_noise

    def __call__(self, z, tau):
        eps = self.recorded[self.position]
        self.position += 1
        return eps


def test_frozen_gradient_matches_finite_differences_with_the_noise_held_fixed():
    model = tiny_diffusion().double()
    purifier = VideoPure(model, tstar=3)
    x = torch.round((videos(2, dtype=torch.float64) * 0.5 + 0.25) * 255) / 255  # decoded-frame values
    weights = torch.randn((SHAPE[0], 4, *SHAPE[1:]), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x_var = x.clone().requires_grad_(True)
    (frozen,) = torch.autograd.grad((weights * purifier(x_var, gradient="frozen")).sum(), x_var)
    (exact,) = torch.autograd.grad((weights * purifier(x_var, gradient="exact")).sum(), x_var)
    assert not torch.allclose(frozen, exact)  # the UNet's Jacobian is really left out

    replay = ReplayedNoise(model, purifier, x)

    def objective(inputs):
        replay.position = 0
        model.predict_noise = replay
        try:
            with torch.no_grad():
                return (weights * purifier(inputs, gradient="none")).sum()
        finally:
            del model.predict_noise

    step = 1e-6
    for seed in range(3):
        direction = torch.randn(x.shape, generator=torch.Generator().manual_seed(20 + seed), dtype=torch.float64)
        numeric = (objective(x + step * direction) - objective(x - step * direction)) / (2 * step)
        torch.testing.assert_close((frozen * direction).sum(), numeric, rtol=1e-6, atol=1e-8)


def test_frozen_gradient_calls_the_unet_once_per_step(model):
    x = videos().requires_grad_(True)
    purifier = VideoPure(model)
    for mode, calls in (("frozen", 12), ("exact", 24)):  # exact: checkpointing recomputes every call
        model.unet_calls = 0
        purifier(x, gradient=mode).sum().backward()
        assert model.unet_calls == calls * SHAPE[0], mode


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tstar": 0}, "tstar"),
        ({"tstar": 51}, "tstar"),
        ({"alpha_s": 0.0}, "alpha_s = 0"),
        ({"lambda_temp": -1.0}, ">= 0"),
        ({"lambda_temp": 0.0, "lambda_spa": 0.0}, "no-op"),
        ({"alpha_s": float("nan")}, "finite"),
        ({"candidate": 7}, "candidate"),
        ({"variance": "cosine"}, "variance"),
        ({"loss_reduction": "sum"}, "loss_reduction"),
        ({"final_candidate": "last"}, "final_candidate"),
        ({"optimize": "yes"}, "optimize"),
        ({"flow": {"type": "pwc"}}, "unknown flow model 'pwc'"),
        ({"flow": {"type": "dis", "preset": 1}}, "no parameters"),
    ],
)
def test_bad_settings_are_refused(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        VideoPure(model, **kwargs)


def test_bad_settings_are_refused_from_a_config_spec(model):
    with pytest.raises(ValueError, match="no parameter"):
        build_defense({"type": "videopure", "lambda_3": 1.0}, diffusion_model=model)


def test_flow_of_another_size_is_refused():
    z = latents((1, 4, 4, 8, 8))
    with pytest.raises(ValueError, match="does not fit latents"):
        spatial_temporal_loss(z, z, torch.zeros(1, 3, 2, 16, 16, dtype=torch.float64), 5.0, 800.0)


def test_exact_gradient_needs_a_differentiable_flow_when_the_warped_frame_is_not_detached(model):
    purifier = VideoPure(model, detach_warped=False)
    with pytest.raises(ValueError, match="not differentiable"):
        purifier(videos(), gradient="exact")
    assert purifier(videos(), gradient="bpda").shape == (SHAPE[0], 7, *SHAPE[1:])


def test_exact_gradient_through_the_loss_gradient_of_the_unet_is_refused(model):
    purifier = VideoPure(model, loss_through_unet=True)
    with pytest.raises(ValueError, match="second derivatives"):
        purifier(videos(), gradient="exact")
    assert purifier(videos().requires_grad_(True), gradient="frozen").requires_grad


# --- the trajectory and flow caches ------------------------------------------------------------


def test_cached_trajectory_and_flow_give_the_same_candidates(model, tmp_path):
    from videopure.cache import StaleCacheError
    from videopure.evaluation.trajectories import (
        compute_flows,
        compute_trajectories,
        read_flows,
        read_trajectories,
        write_flows,
        write_trajectories,
    )

    x = torch.round(videos(4, shape=(3, 6, 3, 16, 16)) * 255) / 255
    purifier = VideoPure(model, flow={"type": "dis"})
    with torch.no_grad():
        z0 = model.encode(x)
        direct = purifier.purify_latents(x, z0)
        # The trajectory depends on t*, T and the inversion alone: not on alpha_s or lambda.
        swept = VideoPure(model, alpha_s=-8.0, lambda_spa=100.0, candidate=2)
        torch.testing.assert_close(swept.trajectory(z0).states, purifier.trajectory(z0).states, rtol=0, atol=0)
    ids = np.array(["a", "b", "c"])
    settings = VideoPure.spec_trajectory({"type": "videopure"})
    upstream = {"latents": "z", "diffusion_model": model.identity}
    write_trajectories(tmp_path / "t.h5", compute_trajectories(purifier, z0, batch_size=3), ids, settings, upstream)
    flow_spec = {"type": "dis"}
    write_flows(tmp_path / "f.h5", compute_flows(purifier.flow_model, x, (8, 8), batch_size=2), ids, flow_spec, {"clips": "x"})
    trajectory = read_trajectories(tmp_path / "t.h5", settings, upstream, ids)
    flow = read_flows(tmp_path / "f.h5", flow_spec, (8, 8), {"clips": "x"}, ids)
    model.unet_calls = 0
    with torch.no_grad():
        cached = purifier.purify_latents(x, z0, trajectory=trajectory, flow=flow)
    assert model.unet_calls == 0  # a new sweep point needs no UNet call
    torch.testing.assert_close(cached, direct, rtol=0, atol=0)
    with pytest.raises(StaleCacheError, match="tstar"):
        read_trajectories(tmp_path / "t.h5", {**settings, "tstar": 5}, upstream, ids)
    with pytest.raises(StaleCacheError, match="diffusion_model"):
        read_trajectories(tmp_path / "t.h5", settings, {**upstream, "diffusion_model": "other"}, ids)
    with pytest.raises(StaleCacheError, match="latent_size"):
        read_flows(tmp_path / "f.h5", flow_spec, (16, 16), {"clips": "x"}, ids)


def test_a_flow_cache_of_retrained_weights_is_refused(tmp_path):
    from videopure.cache import StaleCacheError
    from videopure.evaluation.trajectories import read_flows, write_flows

    weights = tmp_path / "raft_small.pth"
    weights.write_bytes(b"first training")
    spec, ids = {"type": "raft", "size": "small", "weights": str(weights)}, np.array(["a"])
    write_flows(tmp_path / "f.h5", torch.zeros(1, 2, 2, 4, 4), ids, spec, {"clips": "x"})
    assert read_flows(tmp_path / "f.h5", spec, (4, 4), {"clips": "x"}, ids).shape == (1, 2, 2, 4, 4)
    weights.write_bytes(b"second training")  # same path and spec, other weights
    with pytest.raises(StaleCacheError, match="flow_weights"):
        read_flows(tmp_path / "f.h5", spec, (4, 4), {"clips": "x"}, ids)


def test_replacing_the_trajectory_needs_the_flow(model):
    purifier = VideoPure(model, replace_trajectory=True)
    with pytest.raises(ValueError, match="pass the latent flow"):
        purifier.trajectory(torch.zeros(1, 6, 4, 4, 4))


def test_gradient_agreement_reports_bpda_against_the_exact_modes(model):
    """The report's cosines are those of the modes' input gradients, clip by clip; the exact gradient
    is the loss's (a central difference along it gives its norm), and BPDA's is not (the loss barely
    changes along it): the masking the +BPDA columns suffer from, on a tiny model."""
    from videopure.evaluation.gradients import candidate_loss, gradient_agreement, input_gradient

    torch.manual_seed(0)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6 * 3 * 8 * 8, 4))
    clips = torch.round(videos(5, shape=(2, 6, 3, 8, 8)) * 255) / 255 * 0.9 + 0.05  # room for +-h
    labels, modes, purifier = torch.tensor([0, 3]), ("bpda", "frozen", "exact"), VideoPure(model, tstar=2)
    report = gradient_agreement(classifier, purifier, clips, labels, modes, 0)
    assert set(report["median_cosine"]) == {"bpda~frozen", "bpda~exact", "frozen~exact"}
    for index in range(2):
        x, y = clips[index : index + 1], labels[index : index + 1]
        gradients = {mode: input_gradient(classifier, purifier, mode, x, y, 0) for mode in modes}
        for pair, values in report["cosine"].items():
            a, b = pair.split("~")
            expected = F.cosine_similarity(gradients[a].flatten(), gradients[b].flatten(), dim=0)
            assert values[index] == pytest.approx(float(expected), abs=1e-6), pair

        def loss(z: torch.Tensor) -> float:
            with torch.no_grad():
                return float(candidate_loss(DefendedClassifier(classifier, purifier, gradient="none")(z), y))

        def slope(direction: torch.Tensor, h: float = 1e-3) -> float:
            unit = direction / direction.norm()
            return (loss(x + h * unit) - loss(x - h * unit)) / (2 * h)

        exact, bpda = gradients["exact"], gradients["bpda"]
        assert slope(exact) == pytest.approx(float(exact.norm()), rel=0.1)
        assert abs(slope(bpda)) < 0.1 * float(bpda.norm())


def test_with_settings_is_a_sweep_point_on_the_same_models(model):
    """Table X's new sweep point (evaluation.speed.speed_report): the row's defense with the swept
    settings changed, on the same diffusion and flow models, as if built from the changed spec."""
    row = VideoPure(model, tstar=2, lambda_spa=100.0, flow={"type": "dis"})
    point = row.with_settings(alpha_s=-8.0)
    assert point.model is row.model and point.flow_model is row.flow_model
    assert point.settings() == VideoPure(model, tstar=2, lambda_spa=100.0, alpha_s=-8.0, flow={"type": "dis"}).settings()
    assert row.settings()["alpha_s"] == -4.0  # the row is unchanged
    assert row.with_settings(flow={"type": "farneback"}).settings()["flow"] == {"type": "farneback"}
    with pytest.raises(ValueError, match="alpha_s = 0"):
        row.with_settings(alpha_s=0.0)
