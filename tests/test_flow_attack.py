"""Table VI's attack: the recognizer and the optical-flow model attacked together (videopure.attacks.flow)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from videopure.attacks import APGDCE, PGD
from videopure.attacks.flow import SMOOTHING, FlowDeviation
from videopure.flow import build_flow_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EPS, STEP = 8 / 255, 2 / 255


@pytest.fixture(scope="module")
def raft_spec(tmp_path_factory) -> dict:
    """A raft_small at seeded random weights, saved as the workflow's trained one is."""
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("raft") / "raft_small.pth"
    torch.save(raft_small(weights=None, progress=False).state_dict(), path)
    return {"type": "raft", "weights": str(path), "size": "small", "iterations": 2}


class Blind(nn.Module):
    """Logits that do not depend on the clip (but carry a graph): the recognizer gives no gradient."""

    num_classes = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 3) + 0 * x.flatten(1).sum(1, keepdim=True)


class Pixels(nn.Module):
    """A linear video classifier with a dense input gradient."""

    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.fc = nn.Linear(3 * 3 * 16 * 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def moving_clips(batch: int) -> torch.Tensor:
    """Clips (B, 3, 3, 16, 16) of smooth random texture shifted one pixel per frame."""
    texture = torch.rand(batch, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    texture = nn.functional.interpolate(texture, size=(20, 20), mode="bilinear", align_corners=False)
    return torch.stack([texture[..., 2:18, 2 - t : 18 - t] for t in range(3)], dim=1).clamp(0, 1)


def gaussian_start(x: torch.Tensor, seed: int) -> torch.Tensor:
    """The attack's documented start: x + eps * randn from a generator seeded with its seed, clipped."""
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    return (x + EPS * noise).clamp(0, 1)


def test_the_step_follows_the_flow_terms_gradient_through_the_flow_model(raft_spec):
    """With a recognizer that gives no gradient, the one step is the sign of the gradient of
    weight x mean smoothed end-point error, taken through RAFT by autograd here."""
    x, y = moving_clips(2), torch.tensor([0, 1])
    adv = PGD(Blind(), eps=EPS, alpha=STEP, steps=1, seed=3, flow_deviation={"flow": raft_spec, "weight": 2.0})(x, y)
    flow = build_flow_model(raft_spec)
    start = gaussian_start(x, 3).requires_grad_(True)
    with torch.no_grad():
        clean = flow(x)
    term = 2.0 * ((flow(start) - clean).square().sum(2) + SMOOTHING).sqrt().flatten(1).mean(1)
    (grad,) = torch.autograd.grad(term.sum(), start)
    assert grad.abs().max() > 0
    expected = (x + (start.detach() + STEP * grad.sign() - x).clamp(-EPS, EPS)).clamp(0, 1)
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-6)


def test_the_flow_terms_weight_changes_the_attack_and_its_traced_loss(raft_spec):
    x = moving_clips(2)
    with torch.no_grad():
        y = Pixels()(x).argmax(1)
    runs = {}
    for weight in (None, 1.0, 50.0):
        term = None if weight is None else {"flow": raft_spec, "weight": weight}
        attack = PGD(Pixels(), eps=EPS, alpha=STEP, steps=2, seed=0, flow_deviation=term)
        runs[weight] = (attack(x, y), attack.loss_trace)
    assert not torch.equal(runs[None][0], runs[1.0][0]) and not torch.equal(runs[1.0][0], runs[50.0][0])
    # The traced objective is the cross-entropy plus the term: at the shared start it grows with the weight.
    start = runs[None][1][0]
    assert (runs[1.0][1][0] > start).all() and (runs[50.0][1][0] - start > 40 * (runs[1.0][1][0] - start)).all()


def test_a_flow_attack_keeps_the_contract_on_5d_batches(raft_spec):
    """eps-ball, [0, 1], the same clips under the same seed, and a clip's result independent of its batch."""
    x = moving_clips(3)
    with torch.no_grad():
        y = Pixels()(x).argmax(1)
    term = {"flow": raft_spec, "weight": 1.0}
    attack = PGD(Pixels(), eps=EPS, steps=2, seed=0, flow_deviation=term, max_batch=2)
    adv = attack(x, y)
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= EPS + 1e-6
    assert (adv - x).abs().max() > EPS / 2
    assert torch.equal(adv, PGD(Pixels(), eps=EPS, steps=2, seed=0, flow_deviation=term)(x, y))
    assert attack.loss_trace.shape == (3, 3)
    settings = attack.settings()["flow_deviation"]
    assert settings["weight"] == 1.0 and settings["flow"]["type"] == "raft" and settings["flow"]["size"] == "small"


def test_a_flow_term_needs_a_differentiable_flow_model_and_a_positive_weight(raft_spec):
    with pytest.raises(ValueError, match="flow 'dis' is not differentiable"):
        FlowDeviation({"type": "dis"}, 1.0)
    for weight in (0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="weight must be a finite number > 0"):
            FlowDeviation(raft_spec, weight)
    with pytest.raises(ValueError, match="flow 'farneback' is not differentiable"):
        PGD(Pixels(), flow_deviation={"flow": {"type": "farneback"}, "weight": 1.0})
    with pytest.raises(TypeError, match="flow_deviation"):
        APGDCE(Pixels(), flow_deviation={"flow": raft_spec, "weight": 1.0})
