"""Attacks: cross-checks against torchattacks, the contract every registered attack meets, and
the details of docs/design.md's "Attacks" section (random start, best iterate, TT, MI, EOT)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchattacks
from torch import nn

from videopure.attacks import ATTACKS, PGD, TT, build_attack, normalize_per_frame, scale_l2_eps

REPO = Path(__file__).resolve().parents[1]
SMOKE_NL = REPO / "config/models/smoke_nl.py"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def clips(batch: int, frames: int = 8, size: int = 16, seed: int = 0, low: float = 0.0, high: float = 1.0):
    x = torch.rand(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))
    return low + (high - low) * x


class ConvNet(nn.Module):
    """A small deterministic video classifier: Conv3d over (B, C, T, H, W), BN, ReLU, pooling, linear."""

    def __init__(self, classes: int = 4, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv3d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm3d(8)
        self.fc = nn.Linear(8, classes)
        self.bn.running_mean.normal_()
        self.bn.running_var.uniform_(0.5, 2.0)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x.permute(0, 2, 1, 3, 4))))
        return self.fc(h.mean(dim=(2, 3, 4)))


class _ContiguousGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous()


class ContiguousGrad(nn.Module):
    """torchattacks' PGDL2 calls ``.view`` on the input gradient, which fails for the non-contiguous
    gradient of any model that starts with a permute (ConvNet, mmaction2's NCTHW layout)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        # torchattacks restores train() on the whole wrapper if the wrapper was in train mode.
        self.train(model.training)

    def forward(self, x):
        return self.model(_ContiguousGrad.apply(x))


class Recorder:
    """Wraps a model (as a plain callable) and records every input batch."""

    def __init__(self, model, num_classes: int | None = None) -> None:
        self.model = model
        self.inputs: list[torch.Tensor] = []
        if num_classes is not None:
            self.num_classes = num_classes

    def __call__(self, x):
        self.inputs.append(x.detach().clone())
        return self.model(x)


class Linear(nn.Module):
    def __init__(self, shape=(8, 3, 16, 16), classes: int = 4, seed: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            torch.randn(classes, math.prod(shape), generator=torch.Generator().manual_seed(seed))
        )

    def forward(self, x):
        return x.flatten(1) @ self.weight.T * 0.01


def ce(model, x, y) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


def grad_of(model, x, y) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    return torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)[0]


@pytest.fixture(scope="module")
def convnet() -> ConvNet:
    return ConvNet()


@pytest.fixture(scope="module")
def smoke():
    """An undefended smoke NL recognizer (untrained) at 8x32x32 with 5 classes."""
    from videopure.models.classifier import VideoClassifier
    from videopure.models.mmaction import build_recognizer, load_model_config

    torch.manual_seed(0)
    return VideoClassifier(build_recognizer(load_model_config(SMOKE_NL), 5), [f"c{i}" for i in range(5)])


# --- cross-checks against torchattacks ------------------------------------------------------------


def test_pgd_linf_equals_torchattacks(convnet):
    x, y = clips(4), torch.tensor([0, 1, 2, 3])
    ours = PGD(convnet, eps=8 / 255, alpha=2 / 255, steps=5, random_start=None)(x, y)
    theirs = torchattacks.PGD(convnet, eps=8 / 255, alpha=2 / 255, steps=5, random_start=False)(x, y)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-6)
    assert (ours - x).abs().max() > 7 / 255  # the attack moved


def test_pgd_l2_equals_torchattacks_on_one_clip_and_each_clip_alone_on_a_batch(convnet):
    x, y = clips(4), torch.tensor([3, 1, 0, 2])
    attack = PGD(convnet, eps=1.0, steps=5, norm="l2", random_start=None)
    assert attack.alpha == pytest.approx(2.5 * 1.0 / 5)
    batch = attack(x, y)
    for i in range(4):
        alone = attack(x[i : i + 1], y[i : i + 1])
        theirs = torchattacks.PGDL2(ContiguousGrad(convnet), eps=1.0, alpha=attack.alpha, steps=5, random_start=False)(
            x[i : i + 1], y[i : i + 1]
        )
        assert torch.allclose(alone, theirs, rtol=0, atol=1e-6)
        assert torch.allclose(batch[i : i + 1], alone, rtol=0, atol=1e-6)
    # torchattacks' (N, 1, 1, 1) norms broadcast against (T, C, H, W): with B == T it runs, wrongly.
    x8 = clips(8, frames=8, seed=1)
    y8 = torch.arange(8) % 4
    theirs8 = torchattacks.PGDL2(ContiguousGrad(convnet), eps=1.0, alpha=attack.alpha, steps=5, random_start=False)(
        x8, y8
    )
    assert not torch.allclose(theirs8, attack(x8, y8), atol=1e-3)


class ImageNet(nn.Module):
    """A small deterministic image classifier (B, C, H, W) -> 5 logits, for torchattacks' APGD."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 5)
        )
        self.eval()

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize(("name", "loss"), [("APGD-CE", "ce"), ("APGD-DLR", "dlr")])
@pytest.mark.parametrize(("norm", "eps"), [("linf", 8 / 255), ("l2", 0.5)])
def test_apgd_equals_torchattacks_apgd_on_images(name, loss, norm, eps):
    """Ours on one-frame clips against torchattacks' APGD on the same images, same seed: one
    restart, best-loss mode (every image attacked, the highest-loss iterate returned). Within
    float32 rounding of the l2 norms (2.4e-7 measured); l-inf to the last bit or one ulp."""
    images = torch.rand(6, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    y = torch.arange(6) % 5
    net = ImageNet()
    ours = build_attack(name, lambda clips: net(clips[:, 0]), eps=eps, steps=20, norm=norm, seed=3)
    adv = ours(images[:, None], y)[:, 0]
    theirs = torchattacks.APGD(net, norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, steps=20, seed=3, loss=loss)
    torch.manual_seed(3)  # torchattacks seeds only its fooling mode; its best-loss mode draws from the global RNG
    best_loss, expected = theirs.perturb(images, y, best_loss=True)
    assert torch.allclose(adv, expected, rtol=0, atol=1e-6)
    assert torch.allclose(ours.loss_trace[-1], best_loss, rtol=0, atol=1e-6)
    assert (adv - images).flatten(1).norm(dim=1).min() > 0.5 * (eps if norm == "l2" else 0)  # it moved
    assert (ours.loss_trace[1:] >= ours.loss_trace[:-1]).all()  # the best loss so far never falls


def test_dlr_is_scale_and_shift_invariant_and_refuses_two_classes():
    from videopure.attacks import APGDDLR

    logits, y = torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 0])
    dlr = APGDDLR.logit_loss(logits, y)
    assert torch.allclose(APGDDLR.logit_loss(3 * logits + 7, y), dlr, atol=1e-6)
    assert ((dlr > 0) == (logits.argmax(1) != y)).all()  # positive exactly when misclassified
    with pytest.raises(ValueError, match="at least 3 classes"):
        APGDDLR.logit_loss(logits[:, :2], y % 2)


# --- the contract of every registered attack -------------------------------------------------------


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_contract_on_undefended_smoke_classifier(name, norm, smoke):
    """On clips the model gets right (what the workflow attacks: the evaluation set), every attack
    stays in the eps-ball and [0, 1], is seeded, and raises its own objective on nearly every clip.
    (With a wrong label ranked third, DLR is constant, 1, with a zero gradient: no attack moves it.)"""
    x = clips(10, frames=8, size=32, seed=3)
    with torch.no_grad():
        y = smoke(x).argmax(1)
    eps = 4 / 255 if norm == "linf" else scale_l2_eps(2.0, x.shape[1:])
    attack = build_attack(name, smoke, eps=eps, steps=5, norm=norm, seed=7)
    adv = attack(x, y)
    assert adv.shape == x.shape and adv.dtype == x.dtype and not adv.requires_grad
    assert adv.min() >= 0 and adv.max() <= 1
    delta = (adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert (size <= eps + 1e-6).all()
    assert torch.equal(adv, build_attack(name, smoke, eps=eps, steps=5, norm=norm, seed=7)(x, y))
    assert not torch.equal(adv, build_attack(name, smoke, eps=eps, steps=5, norm=norm, seed=8)(x, y))
    with torch.no_grad():  # each attack's own objective (cross-entropy, or APGD-DLR's DLR)
        clean, final = attack.row_loss(smoke(x), y), attack.row_loss(smoke(adv), y)
    assert (final > clean).float().mean() >= 0.9
    assert attack.loss_trace.shape == (6, 10)
    assert torch.allclose(attack.loss_trace[-1], final, atol=1e-5)
    assert {"name", "norm", "eps", "steps", "alpha", "random_start", "eot_samples", "best_iterate", "seed"} <= set(
        attack.settings()
    )


# --- validation -----------------------------------------------------------------------------------

BAD_SETTINGS = [
    ({"eps": 0.0}, "eps"),
    ({"eps": -1 / 255}, "eps"),
    ({"eps": float("nan")}, "eps"),
    ({"steps": 0}, "steps"),
    ({"steps": 2.5}, "steps"),
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": -0.1}, "alpha"),
    ({"norm": "l1"}, "unknown norm"),
    ({"random_start": "sobol"}, "unknown random_start"),
    ({"eot_samples": 0}, "eot_samples"),
    ({"momentum": -1.0}, "momentum"),
    ({"max_batch": 0}, "max_batch"),
]


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize(("settings", "message"), BAD_SETTINGS, ids=[m for _, m in BAD_SETTINGS])
def test_bad_settings_raise(name, settings, message, convnet):
    with pytest.raises(ValueError, match=message):
        build_attack(name, convnet, **settings)


def test_unknown_attack_name_lists_the_known_ones(convnet):
    with pytest.raises(ValueError, match="unknown attack 'CW'.*APGD-CE, APGD-DLR, PGD, TT"):
        build_attack("CW", convnet)
    assert isinstance(build_attack("TT", convnet, momentum=1.0), TT)


BAD_INPUTS = [
    (lambda x, y: (x[0], y), "video batch"),
    (lambda x, y: (x * 1.01, y), r"\[0, 1\]"),
    (lambda x, y: (x - 0.01, y), r"\[0, 1\]"),
    (lambda x, y: (torch.where(x > 0.5, float("nan"), x), y), r"\[0, 1\]"),
    (lambda x, y: ((x * 255).to(torch.uint8), y), "floating-point"),
    (lambda x, y: (x, y[:2]), "3 clips but y holds 2"),
    (lambda x, y: (x, y.float()), "integer labels"),
    (lambda x, y: (x, y + 2), r"labels must be in \[0, 4\)"),
    (lambda x, y: (x, y - 1), "labels must be in"),
]


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize(("corrupt", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_inputs_raise_before_any_model_call(name, corrupt, message, convnet):
    model = Recorder(convnet, num_classes=4)
    x, y = corrupt(clips(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=message):
        build_attack(name, model)(x, y)
    assert model.inputs == []


def test_labels_out_of_range_without_num_classes_raise_at_the_first_forward(convnet):
    model = Recorder(convnet)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\)"):
        PGD(model, steps=3)(clips(3), torch.tensor([0, 1, 4]))
    assert len(model.inputs) == 1


# --- the step, the random start, the best iterate -------------------------------------------------


@pytest.mark.parametrize(("norm", "momentum"), [("linf", 0.0), ("l2", 0.0), ("linf", 1.0)])
def test_one_step_ascends_along_the_gradient(norm, momentum):
    model = Linear()
    x, y = clips(5, low=0.2, high=0.8), torch.tensor([0, 1, 2, 3, 0])
    attack = PGD(model, eps=1.0, alpha=1e-3, steps=1, norm=norm, random_start=None, momentum=momentum)
    adv = attack(x, y)
    assert (attack.loss_trace[1] > attack.loss_trace[0]).all()
    g = grad_of(model, x, y)
    expected = g.sign() if norm == "linf" else g / g.flatten(1).norm(dim=1).view(-1, 1, 1, 1, 1)
    assert torch.allclose((adv - x) / 1e-3, expected, atol=1e-3)


def test_gaussian_start_is_clipped_not_projected_and_the_final_iterate_is_projected(convnet):
    x, y, eps = clips(3), torch.tensor([0, 1, 2]), 4 / 255
    model = Recorder(convnet)
    adv = PGD(model, eps=eps, steps=2, seed=5)(x, y)
    start = model.inputs[0]
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    assert torch.equal(start, (x + eps * noise).clamp(0, 1))
    assert (start - x).abs().max() > 2 * eps  # not projected
    assert (adv - x).abs().max() <= eps + 1e-7

    tracked = Recorder(convnet)
    PGD(tracked, eps=eps, steps=2, seed=5, best_iterate=True)(x, y)
    assert torch.equal(tracked.inputs[0], (x + (start - x).clamp(-eps, eps)).clamp(0, 1))


class Sine(nn.Module):
    """Logits (A sin(w m), 0) of the clip mean m: sign steps overshoot the peak and oscillate."""

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3, 4))
        return torch.stack([4 * torch.sin(40 * m), torch.zeros_like(m)], dim=1)


def test_best_iterate_returns_the_iterate_with_the_highest_loss():
    x, y = clips(6, seed=2, low=0.3, high=0.7), torch.ones(6, dtype=torch.long)
    model = Recorder(Sine())
    attack = PGD(model, eps=0.2, alpha=0.03, steps=8, random_start=None, best_iterate=True)
    adv = attack(x, y)
    iterates = torch.stack(model.inputs)  # steps + 1 forwards, one per iterate
    best = attack.loss_trace.argmax(0)
    assert torch.equal(adv, iterates[best, torch.arange(6)])
    assert (best < 8).any()  # the test is not vacuous: some last iterate is not the best
    last = PGD(Sine(), eps=0.2, alpha=0.03, steps=8, random_start=None)(x, y)
    assert torch.equal(last, iterates[-1])


# --- TT ---------------------------------------------------------------------------------------------


def test_tt_shift_range_scales_with_clip_length_and_uses_the_authors_kernel():
    tt = TT(Linear())
    assert [tt.shift_range(t) for t in (32, 16, 8, 4, 2, 64)] == [7, 4, 2, 1, 1, 14]
    assert TT(Linear(), max_shift=3).shift_range(32) == 3
    w = TT.kernel(7)
    assert len(w) == 15 and w.sum().item() == pytest.approx(1.0)
    assert torch.allclose(w, w.flip(0)) and w.argmax() == 7
    assert (w[0] / w[7]).item() == pytest.approx(math.exp(-4.5))  # sigma = k / 3
    assert [v.loss_weight for v in tt.views(8)] == [0, 0, 1, 0, 0]


def test_tt_gradient_is_the_kernel_weighted_sum_over_shifted_copies(convnet):
    x, y = clips(3, low=0.1, high=0.9), torch.tensor([0, 1, 2])
    attack = TT(convnet, eps=1.0, alpha=1e-4, steps=1, norm="l2", random_start=None)
    adv = attack(x, y)
    k, weights = 2, TT.kernel(2)
    g = sum(w * grad_of(convnet, x.roll(s, dims=1), y).roll(-s, dims=1) for s, w in zip(range(-k, k + 1), weights))
    expected = g / g.flatten(1).norm(dim=1).view(-1, 1, 1, 1, 1)
    assert torch.allclose((adv - x) / 1e-4, expected.float(), atol=2e-3)
    assert torch.allclose(attack.loss_trace[0], ce(convnet, x, y), atol=1e-6)  # the unshifted loss


def test_tt_batches_shifts_and_draws_in_one_forward_chunked_by_max_batch(convnet):
    x, y = clips(3), torch.tensor([0, 1, 2])
    model = Recorder(convnet)
    adv = TT(model, steps=2, eot_samples=2)(x, y)
    # 5 shifts x 2 draws x 3 clips per step; the final traced loss needs the unshifted copies only.
    assert [len(b) for b in model.inputs] == [30, 30, 6]
    chunked = Recorder(convnet)
    adv_chunked = TT(chunked, steps=2, eot_samples=2, max_batch=7)(x, y)
    assert max(len(b) for b in chunked.inputs) == 7
    assert torch.allclose(adv, adv_chunked, atol=1e-6)


# --- MI ---------------------------------------------------------------------------------------------


def reference_mi(model, x, y, eps, alpha, steps, mu):
    """MI-FGSM with the L1 normalisation written frame by frame."""
    adv, velocity = x.clone(), torch.zeros_like(x)
    for _ in range(steps):
        g = grad_of(model, adv, y)
        for b in range(len(x)):
            for t in range(x.shape[1]):
                g[b, t] = g[b, t] / g[b, t].abs().mean()
        velocity = mu * velocity + g
        adv = (x + (adv + alpha * velocity.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return adv


def test_mi_normalises_per_frame_unlike_torchattacks_mifgsm(convnet):
    g = torch.randn(2, 4, 3, 8, 8) * torch.tensor([1.0, 10.0, 0.1, 100.0]).view(1, 4, 1, 1, 1)
    ours = normalize_per_frame(g)
    assert torch.allclose(ours.abs().mean(dim=(2, 3, 4)), torch.ones(2, 4))
    theirs = g / g.abs().mean(dim=(1, 2, 3), keepdim=True)  # torchattacks' MIFGSM on 5-D input
    assert not torch.allclose(theirs.abs().mean(dim=(2, 3, 4)), torch.ones(2, 4), atol=0.1)

    # A clip whose frames have very different gradient scales (dark and bright frames).
    x = clips(2, low=0.05, high=0.95) * torch.tensor([0.05, 1, 1, 0.05, 1, 1, 1, 1]).view(1, 8, 1, 1, 1)
    y = torch.tensor([1, 3])
    eps, alpha = 8 / 255, 1 / 255
    ours = PGD(convnet, eps=eps, alpha=alpha, steps=6, random_start=None, momentum=1.0)(x, y)
    assert torch.allclose(ours, reference_mi(convnet, x, y, eps, alpha, 6, 1.0), atol=1e-6)
    theirs = torchattacks.MIFGSM(convnet, eps=eps, alpha=alpha, steps=6, decay=1.0)(x, y)
    assert not torch.allclose(ours, theirs, atol=1e-6)


# --- EOT, candidates, seeds, model mode ------------------------------------------------------------


class Noisy(nn.Module):
    """A stochastic 'defense': independent Gaussian noise per row from the global RNG; records it."""

    def __init__(self, classifier: nn.Module, sigma: float = 0.05) -> None:
        super().__init__()
        self.classifier, self.sigma, self.noise = classifier, sigma, []

    def forward(self, x):
        noise = self.sigma * torch.randn_like(x)
        self.noise.append(noise)
        return self.classifier(x + noise)


def test_eot_averages_the_gradient_over_draws_batched_in_one_forward(convnet):
    x, y, n = clips(2, low=0.1, high=0.9), torch.tensor([0, 3]), 4
    model = Noisy(convnet)
    adv = PGD(model, eps=1.0, alpha=1e-4, steps=1, norm="l2", random_start=None, eot_samples=n)(x, y)
    noise = model.noise[0].view(n, 2, *x.shape[1:])  # one forward: draws x clips
    assert len(model.noise) == 2 and not torch.allclose(noise[0], noise[1])
    g = sum(grad_of(convnet, x + noise[d], y) for d in range(n)) / n
    expected = g / g.flatten(1).norm(dim=1).view(-1, 1, 1, 1, 1)
    assert torch.allclose((adv - x) / 1e-4, expected, atol=2e-3)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_stochastic_model_is_seed_reproducible_and_the_global_rng_is_restored(name, convnet):
    x, y = clips(2), torch.tensor([0, 3])
    torch.manual_seed(123)
    a = build_attack(name, Noisy(convnet), steps=2, eot_samples=2, seed=1)(x, y)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), after)
    assert torch.equal(a, build_attack(name, Noisy(convnet), steps=2, eot_samples=2, seed=1)(x, y))
    assert not torch.equal(a, build_attack(name, Noisy(convnet), steps=2, eot_samples=2, seed=2)(x, y))


def test_candidate_logits_use_the_mean_cross_entropy_over_candidates(convnet):
    x, y = clips(3), torch.tensor([0, 1, 2])
    scales = torch.tensor([1.0, 2.0, -1.0]).view(1, 3, 1)
    attack = PGD(lambda v: convnet(v).unsqueeze(1) * scales, steps=1, random_start=None)
    attack(x, y)
    logits = convnet(x).detach()
    expected = torch.stack([F.cross_entropy(logits * s, y, reduction="none") for s in (1.0, 2.0, -1.0)]).mean(0)
    assert torch.allclose(attack.loss_trace[0], expected, atol=1e-6)


def test_model_runs_in_eval_mode_and_each_submodule_mode_is_restored():
    net = ConvNet()
    net.train()
    net.bn.eval()
    modes = []
    net.register_forward_pre_hook(lambda module, args: modes.append((module.training, module.conv.training)))
    PGD(net, steps=1)(clips(2), torch.tensor([0, 1]))
    assert modes == [(False, False), (False, False)]
    assert net.training and net.conv.training and not net.bn.training


def test_scale_l2_eps_keeps_the_per_pixel_size_of_the_paper_budget():
    assert scale_l2_eps(2.0, (32, 3, 224, 224)) == pytest.approx(2.0)
    eps = scale_l2_eps(2.0, (8, 3, 32, 32))
    assert eps / math.sqrt(8 * 3 * 32 * 32) == pytest.approx(2.0 / math.sqrt(32 * 3 * 224 * 224))
    with pytest.raises(ValueError, match="clip shape"):
        scale_l2_eps(2.0, (2, 8, 3, 32, 32))
    with pytest.raises(ValueError, match="eps_paper"):
        scale_l2_eps(0.0, (8, 3, 32, 32))
