"""Attacks against defended recognizers on tiny models: the gradient an adaptive attack claims to
follow is the one it climbs, and its clips keep to the ε-ball and [0, 1] through every gradient mode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.helpers import tiny_diffusion
from tests.test_attacks import ConvNet
from videopure.attacks import build_attack
from videopure.defenses import DefendedClassifier, DiffPureDDPM, VideoPure

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EPS = 8 / 255
LABELS = torch.arange(4)


@pytest.fixture(scope="module")
def model():
    return tiny_diffusion()


def clips(seed: int = 0) -> torch.Tensor:
    return torch.rand(4, 6, 3, 8, 8, generator=torch.Generator().manual_seed(seed))  # 4x4 latents


def defended_loss(classifier, purifier, x: torch.Tensor) -> torch.Tensor:
    """Per clip, the mean cross-entropy over the clip's candidates, without any gradient."""
    with torch.no_grad():
        logits = DefendedClassifier(classifier, purifier, gradient="none")(x)
    k = logits.shape[1]
    return F.cross_entropy(logits.flatten(0, 1), LABELS.repeat_interleave(k), reduction="none").view(-1, k).mean(1)


def assert_in_eps_ball(adversarial: torch.Tensor, x: torch.Tensor) -> None:
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert (adversarial - x).abs().amax() <= EPS + 1e-6
    assert (adversarial - x).abs().amax() > EPS / 2  # it moved


@pytest.mark.parametrize("seed", [0, 1])
def test_pgd_through_videopure_climbs_the_defended_loss_with_the_exact_gradient_and_not_with_bpda(model, seed):
    """The tiny VAE at random weights decodes far from its input, so BPDA's identity backward passes
    the recognizer's gradient at the candidates, which has nothing to do with how the input moves them:
    BPDA's five steps leave the defended loss where it was, while the exact gradient through every
    UNet call, the optimisation step and the decoder raises it for every clip. A sign flip or a broken
    backward in the exact mode loses that, as would an attack that quietly used BPDA."""
    x, classifier, purifier = clips(seed), ConvNet(classes=4, seed=seed), VideoPure(model, tstar=2)
    start = defended_loss(classifier, purifier, x)
    rise = {}
    for gradient in ("bpda", "exact"):
        attack = build_attack("PGD", DefendedClassifier(classifier, purifier, gradient=gradient), eps=EPS, steps=5,
                              alpha=2 / 255, seed=0)
        adversarial = attack(x, LABELS)
        assert_in_eps_ball(adversarial, x)
        final = defended_loss(classifier, purifier, adversarial)
        torch.testing.assert_close(attack.loss_trace[-1], final, rtol=0, atol=1e-5)  # the trace is the defended loss
        rise[gradient] = final - start
    assert (rise["exact"] > 0).all() and (rise["exact"] > rise["bpda"]).all(), rise
    assert rise["exact"].mean() > 4 * rise["bpda"].abs().mean(), rise


def test_eot_and_full_gradient_attacks_through_a_stochastic_purifier_stay_in_the_eps_ball(model):
    """DiffPure_DDPM draws new noise at every call: the EOT attack averages two draws per step, the
    full-gradient one differentiates through every ancestral step of one draw. Both return clips in
    the ε-ball and [0, 1], reproducible under their seed, and raise the loss they climb on average."""
    x, classifier = clips(2), ConvNet(classes=4, seed=3)
    purifier = DiffPureDDPM(model, tstar=3)
    for gradient, eot_samples in (("bpda", 2), ("exact", 1), ("exact", 2)):
        defended = DefendedClassifier(classifier, purifier, gradient=gradient)
        settings = {"eps": EPS, "steps": 3, "alpha": 4 / 255, "eot_samples": eot_samples, "seed": 5}
        attack = build_attack("PGD", defended, **settings)
        adversarial = attack(x, LABELS)
        assert_in_eps_ball(adversarial, x)
        assert torch.equal(adversarial, build_attack("PGD", defended, **settings)(x, LABELS)), (gradient, eot_samples)
        assert attack.loss_trace.shape == (4, 4)
        if gradient == "exact":
            assert attack.loss_trace[-1].mean() > attack.loss_trace[0].mean(), attack.loss_trace
