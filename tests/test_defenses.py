"""Defenses: the purifier contract (every registered defense), classical defenses, voting, registry."""

from __future__ import annotations

import io
import itertools
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from videopure.defenses import (
    DEFENSES,
    JPEG,
    DefendedClassifier,
    NoDefense,
    Purifier,
    TemporalShuffle,
    WhiteNoise,
    build_defense,
    derive_seed,
    majority_vote,
    register_defense,
    seeded,
    seeded_clips,
)
from videopure.defenses.defended import votes_to_decide
from videopure.randomness import normal, uniform

from tests.helpers import tiny_diffusion

REPO = Path(__file__).resolve().parents[1]
SHAPE = (2, 6, 3, 8, 8)  # B, T, C, H, W
CLASSES = 5


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def videos(shape=SHAPE, seed: int = 0, dtype=torch.float32, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (low + (high - low) * x).to(dtype)


class TinyClassifier(nn.Module):
    """A small nonlinear classifier (N, T, C, H, W) -> (N, classes): its input gradient depends on the input."""

    def __init__(self, shape=SHAPE[1:], dtype=torch.float32) -> None:
        super().__init__()
        torch.manual_seed(0)
        size = shape[0] * shape[1] * shape[2] * shape[3]
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(size, 16), nn.Tanh(), nn.Linear(16, CLASSES)).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build(spec, kind: str = "video") -> Purifier:
    """``build_defense`` with a fresh tiny diffusion model of ``kind`` (the same seed, so the same
    identity) for the diffusion-based defenses; classical ones ignore it."""
    return build_defense(spec, diffusion_model=tiny_diffusion(kind=kind))


def candidate_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over clips and candidates (the authors' adaptive loss)."""
    return F.cross_entropy(logits.flatten(0, 1), y.repeat_interleave(logits.shape[1]))


# --- the contract, for every registered defense with its default settings ----------------------


# Every registered defense with its default settings, and every VideoPure ablation variant (at
# t* = 2, to keep them cheap; the default case runs t* = 6). DiffPure_DDPM runs 21 of its 101
# ancestral steps: the same step code, and a fifth of the float64 finite differences' time.
CONTRACT_SPECS = [{"type": name, **({"tstar": 21} if name == "diffpure_ddpm" else {})} for name in sorted(DEFENSES)] + [
    {"type": "videopure", "tstar": 2, **variant}
    for variant in (
        {"temporal_inversion": False, "optimize": False, "candidate": 0},
        {"optimize": False},
        {"candidate": 1},
        {"replace_trajectory": True},
        {"lambda_spa": 0.0},
        {"lambda_temp": 0.0},
    )
]


# Every diffusion defense, on each of Table V's image models as well (the video model above).
CONTRACT_CASES = [(spec, "video") for spec in CONTRACT_SPECS] + [
    (spec, kind)
    for kind in ("image", "pixel")
    for spec in CONTRACT_SPECS
    if spec["type"] in ("diffpure_ddpm", "diffpure_ddim", "ddim_inversion") or spec == {"type": "videopure"}
]


@pytest.mark.parametrize(
    ("spec", "kind"),
    CONTRACT_CASES,
    ids=[f"{kind}-" + "-".join(f"{k}={v}" for k, v in spec.items()) for spec, kind in CONTRACT_CASES],
)
def test_defense_contract(spec, kind):
    name = spec["type"]
    defense = build(spec, kind)
    assert defense.name == name and isinstance(defense, Purifier)
    k = defense.num_candidates
    x = videos()
    x_before = x.clone()

    # Shape, dtype, range, finite; the input is not modified.
    with seeded(0):
        out = defense(x, gradient="none")
    assert out.shape == (SHAPE[0], k, *SHAPE[1:]) and out.dtype == x.dtype
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert torch.equal(x, x_before)
    # Every defense but the undefended row's changes what the recognizer sees.
    assert ((out - x.unsqueeze(1)).abs().amax() > 1e-3) == (name != "none")

    # Determinism, or seed-reproducibility and variation across seeds.
    if defense.stochastic:
        with seeded(0):
            again = defense(x, gradient="none")
        with seeded(1):
            other = defense(x, gradient="none")
        assert torch.equal(out, again)
        assert not torch.equal(out, other)
        # Evaluation batches a stochastic defense whose draws go through videopure.randomness
        # (draws_per_clip): under seeded_clips each clip draws what it draws alone under seeded,
        # and nothing is drawn from torch's global stream.
        assert defense.draws_per_clip, f"{name} draws from torch directly: evaluation would run it clip by clip"
        keys = [(5, clip) for clip in range(SHAPE[0])]
        stream = torch.random.get_rng_state()
        with seeded_clips(keys):
            batched = defense(x, gradient="none")
        assert torch.equal(torch.random.get_rng_state(), stream)
        alone = []
        for index, key in enumerate(keys):
            with seeded(*key):
                alone.append(defense(x[index : index + 1], gradient="none"))
        if defense.diffusion_based:  # the UNet's batched arithmetic rounds differently, the draws are equal
            torch.testing.assert_close(batched, torch.cat(alone), rtol=0, atol=1e-5)
        else:
            assert torch.equal(batched, torch.cat(alone))
    else:
        with seeded(123):  # a deterministic defense ignores the RNG state
            assert torch.equal(defense(x, gradient="none"), out)

    # settings() records every constructor argument (a diffusion model by its identity): it rebuilds
    # the same defense.
    settings = defense.settings()
    assert settings["name"] == name
    rebuilt = build({"type": name, **{key: value for key, value in settings.items() if key != "name"}}, kind)
    assert rebuilt.settings() == settings

    # BPDA: the gradient of the loss equals the classifier's gradient at the candidates P(x), summed
    # over candidates (each candidate's identity backward), which with the mean loss is their mean.
    classifier = TinyClassifier()
    y = torch.tensor([1, 3])
    x_grad = x.clone().requires_grad_(True)
    with seeded(7):
        loss = candidate_loss(DefendedClassifier(classifier, defense, gradient="bpda")(x_grad), y)
    (bpda_grad,) = torch.autograd.grad(loss, x_grad)
    with seeded(7):
        candidates = defense(x, gradient="none").requires_grad_(True)
    loss = candidate_loss(classifier(candidates.flatten(0, 1)).unflatten(0, candidates.shape[:2]), y)
    (at_candidates,) = torch.autograd.grad(loss, candidates)
    torch.testing.assert_close(bpda_grad, at_candidates.sum(dim=1))

    # Exact gradient: autograd matches central finite differences along random directions (float64
    # inputs and parameters, the same random draw in every evaluation, inputs away from [0, 1]'s edges
    # and, like decoded frames, multiples of 1/255: a defense may quantise its input where no
    # gradient flows, as VideoPure's classical flow does).
    if not defense.exact_gradient:
        with pytest.raises(ValueError, match="not differentiable"):
            defense(x, gradient="exact")
        return
    defense = defense.double()
    x64 = torch.round(videos(dtype=torch.float64, low=0.25, high=0.75, seed=1) * 255) / 255
    weights = torch.randn((SHAPE[0], k, *SHAPE[1:]), generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    def objective(inputs: torch.Tensor) -> torch.Tensor:
        with seeded(11):
            return (weights * defense(inputs, gradient="exact")).sum()

    x_var = x64.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(x_var), x_var)
    step = 1e-6
    for seed in range(3):
        direction = torch.randn(x64.shape, generator=torch.Generator().manual_seed(10 + seed), dtype=torch.float64)
        numeric = (objective(x64 + step * direction) - objective(x64 - step * direction)) / (2 * step)
        torch.testing.assert_close((grad * direction).sum(), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(DEFENSES))
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.rand(2, 3, 8, 8), "shape"),
        (torch.zeros(2, 0, 3, 8, 8), "shape"),
        (torch.randint(0, 2, SHAPE), "dtype"),
        (torch.rand(SHAPE) + 0.5, r"\[0, 1\]"),
        (torch.full(SHAPE, float("nan")), r"\[0, 1\]"),
    ],
    ids=["4d", "empty", "int", "range", "nan"],
)
def test_defenses_reject_bad_input(name, bad, message):
    with pytest.raises(ValueError, match=message):
        build({"type": name})(bad)


def test_unknown_gradient_mode_and_auto():
    with pytest.raises(ValueError, match="gradient mode"):
        NoDefense()(videos(), gradient="approx")
    assert JPEG().resolve_gradient("auto") == "bpda"
    assert WhiteNoise().resolve_gradient("auto") == "exact"


# --- classical defenses -------------------------------------------------------------------------


def source_frames(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """For each output frame (B, T), the index of the input frame of the same clip it equals."""
    equal = (out.unsqueeze(2) == x.unsqueeze(1)).flatten(3).all(dim=3)  # (B, T_out, T_in)
    assert (equal.sum(dim=2) == 1).all(), "every output frame is exactly one input frame"
    return equal.float().argmax(dim=2)


def test_temporal_shuffle_full_permutation():
    x = videos((3, 12, 3, 4, 4))
    moved = 0
    for draw in range(5):
        with seeded(draw):
            out = TemporalShuffle()(x)[:, 0]
        sources = source_frames(x, out)
        assert torch.equal(sources.sort(dim=1).values, torch.arange(12).expand(3, 12))  # a permutation
        moved = max(moved, int((sources - torch.arange(12)).abs().max()))
    assert moved > 3  # frames travel across the whole clip, beyond any small window


def test_temporal_shuffle_window_keeps_frames_in_their_window():
    x = videos((3, 10, 3, 4, 4))
    shuffled = False
    for draw in range(5):
        with seeded(draw):
            out = TemporalShuffle(window=4)(x)[:, 0]
        sources = source_frames(x, out)
        assert torch.equal(sources.sort(dim=1).values, torch.arange(10).expand(3, 10))
        assert torch.equal(sources // 4, torch.arange(10).expand(3, 10) // 4)  # windows 0-3, 4-7, 8-9
        shuffled |= not torch.equal(sources, torch.arange(10).expand(3, 10))
    assert shuffled


def test_jpeg_quantises_keeps_colours_and_changes_the_input():
    ramp = torch.linspace(0.1, 0.9, 32)
    smooth = (ramp[None, :] * ramp[:, None]).expand(1, 2, 3, 32, 32).clone()  # B, T, C, H, W
    out = JPEG(quality=75)(smooth)[:, 0]
    assert not torch.equal(out, smooth)
    torch.testing.assert_close(out * 255, (out * 255).round(), rtol=0, atol=1e-4)  # 8-bit levels
    assert (out - smooth).abs().mean() < 0.02  # mild at quality 75 on a smooth image
    # The same codec as Pillow's RGB JPEG at that quality: channels reach OpenCV (BGR) in the right
    # order (swapped channels give a mean error of ~6 levels here). Builds of libjpeg may round
    # differently, hence a tolerance rather than equality.
    colour = F.interpolate(videos((1, 4, 3, 8, 8))[0], size=(32, 32), mode="bilinear").unsqueeze(0)
    reference = []
    for frame in (colour[0] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy():
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=75)
        reference.append(torch.from_numpy(np.array(Image.open(buffer))).permute(2, 0, 1))
    levels = (JPEG(quality=75)(colour)[0, 0] * 255).round() - torch.stack(reference)
    assert levels.abs().mean() < 0.5
    # Lower quality, larger change; grayscale clips are supported, other channel counts are not.
    assert (JPEG(quality=10)(smooth)[:, 0] - smooth).abs().mean() > (out - smooth).abs().mean()
    assert JPEG()(smooth[:, :, :1]).shape == (1, 1, 2, 1, 32, 32)
    with pytest.raises(ValueError, match="C=2"):
        JPEG()(smooth[:, :, :2])


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"type": "jpeg", "quality": 0}, "quality"),
        ({"type": "jpeg", "quality": 75.5}, "quality"),
        ({"type": "white_noise", "sigma": -0.1}, "sigma"),
        ({"type": "temporal_shuffle", "window": 1}, "window"),
    ],
)
def test_bad_parameter_values(spec, key):
    with pytest.raises(ValueError, match=key):
        build_defense(spec)


# --- voting and the defended classifier ---------------------------------------------------------


def one_hot_logits(choices: list[list[int]]) -> torch.Tensor:
    return F.one_hot(torch.tensor(choices), CLASSES).float()


def test_majority_vote_and_tie_rule():
    assert majority_vote(one_hot_logits([[3, 1, 3], [4, 4, 0]])).tolist() == [3, 4]
    assert majority_vote(one_hot_logits([[2, 1, 1, 2], [4, 0, 2, 3]])).tolist() == [1, 0]  # ties -> smallest
    assert majority_vote(torch.tensor([[[0.1, 0.7, 0.2]]])).tolist() == [1]  # K = 1: the argmax
    assert majority_vote(torch.tensor([[[0.0, 5.0, 5.0]]])).tolist() == [1]  # equal logits -> smallest
    with pytest.raises(ValueError, match="B, K, classes"):
        majority_vote(torch.zeros(2, CLASSES))


class ScaledCopies(Purifier):
    """A K = 3 test purifier: candidate k is x scaled by (k + 1) / 3."""

    name = "scaled_copies"
    stochastic = False
    exact_gradient = True
    num_candidates = 3

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        scales = torch.tensor([1 / 3, 2 / 3, 1.0], dtype=x.dtype).view(1, 3, 1, 1, 1, 1)
        return x.unsqueeze(1) * scales


def test_defended_classifier_shapes_and_candidate_order():
    classifier = TinyClassifier()
    x = videos((3, *SHAPE[1:]))
    defended = DefendedClassifier(classifier, ScaledCopies())
    assert defended.gradient == "exact"
    logits = defended(x)
    assert logits.shape == (3, 3, CLASSES)
    for k in range(3):  # one batch of B*K clips, unflattened back to (B, K)
        torch.testing.assert_close(logits[:, k], classifier(x * (k + 1) / 3))
    votes, predicted = defended.predict(x)
    assert votes.shape == (3,) and not predicted.requires_grad
    assert torch.equal(votes, majority_vote(predicted))

    single = DefendedClassifier(classifier, WhiteNoise())
    with seeded(0):
        votes, logits = single.predict(x)
    assert logits.shape == (3, 1, CLASSES) and torch.equal(votes, logits[:, 0].argmax(dim=1))


class ScriptedVotes(Purifier):
    """A K = 5 test purifier whose candidate k of a clip is a constant video holding the class that
    candidate should vote for (read back by :class:`ReadClass`): clip b's votes are ``script[b]``."""

    name = "scripted_votes"
    stochastic = False
    exact_gradient = False
    num_candidates = 5

    def __init__(self, script: torch.Tensor) -> None:
        super().__init__()
        self.script = script  # (B, K) class per candidate

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        values = self.script.to(x.dtype).view(*self.script.shape, 1, 1, 1, 1) / 10
        return values.expand(*self.script.shape, *x.shape[1:])


class ReadClass(nn.Module):
    """Logits that put a constant video holding class c / 10 on class c (of 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        held = (x.flatten(1).mean(dim=1) * 10).round().long()
        return F.one_hot(held, 3).float()


def first_decided(votes: tuple[int, ...], classes: int) -> int:
    """By brute force: the fewest leading votes after which every completion has the same winner."""
    total = len(votes)
    for seen in range(total + 1):
        winners = {
            int(np.bincount(votes[:seen] + rest, minlength=classes).argmax())  # argmax: ties to the smallest
            for rest in itertools.product(range(classes), repeat=total - seen)
        }
        if len(winners) == 1:
            return seen
    raise AssertionError("unreachable: all votes seen decide")


def test_early_exit_vote_equals_the_full_vote_and_stops_at_the_first_decided_candidate():
    """Every sequence of 5 votes over 3 classes (243 clips, one batch): the early-exit vote gives the
    full vote's class, classifies exactly the candidates before the vote is decided (brute force:
    no completion can change the winner, ties to the smallest index) and leaves the rest NaN."""
    script = torch.tensor(list(itertools.product(range(3), repeat=5)))
    defended = DefendedClassifier(ReadClass(), ScriptedVotes(script))
    x = torch.zeros(len(script), 2, 3, 4, 4)
    full, early = defended.classify(x, early_exit=False), defended.classify(x)
    expected = majority_vote(F.one_hot(script, 3).float())
    assert torch.equal(full.classes, expected) and torch.equal(early.classes, expected)
    assert (full.evaluated == 5).all() and not full.logits.isnan().any()
    decided = torch.tensor([first_decided(tuple(row.tolist()), 3) for row in script])
    assert torch.equal(early.evaluated, decided)
    assert set(decided.tolist()) == {3, 4, 5}  # the script exercises every exit point
    for clip, count in enumerate(early.evaluated.tolist()):
        assert torch.equal(early.logits[clip, :count], full.logits[clip, :count])
        assert early.logits[clip, count:].isnan().all()


def test_votes_to_decide_counts_the_candidates_every_completion_needs():
    """0 exactly when decided; otherwise d > 0 such that no d − 1 further votes can decide (brute force)."""
    for seen in range(6):
        for votes in itertools.product(range(3), repeat=seen):
            counts = torch.tensor([np.bincount(np.array(votes, dtype=int), minlength=3)])
            needed = int(votes_to_decide(counts, 5 - seen)[0])
            assert (needed == 0) == all(
                first_decided(votes + rest, 3) <= seen for rest in itertools.product(range(3), repeat=5 - seen)
            )
            for fewer in range(1, needed):
                for more in itertools.product(range(3), repeat=fewer):
                    later = counts + torch.tensor([np.bincount(np.array(more), minlength=3)])
                    assert int(votes_to_decide(later, 5 - seen - fewer)[0]) > 0


def test_defended_classifier_arguments():
    with pytest.raises(ValueError, match="not differentiable"):
        DefendedClassifier(TinyClassifier(), JPEG(), gradient="exact")
    assert DefendedClassifier(TinyClassifier(), JPEG()).gradient == "bpda"
    with pytest.raises(ValueError, match="vote"):
        DefendedClassifier(TinyClassifier(), NoDefense(), vote="mean")
    with pytest.raises(TypeError, match="Purifier"):
        DefendedClassifier(TinyClassifier(), nn.Identity())


def test_defended_mmaction_recognizer_bpda_gradient():
    """A purifier in front of an mmaction2 recognizer (VideoClassifier): logits, vote, BPDA gradient."""
    from videopure.models.classifier import VideoClassifier
    from videopure.models.mmaction import build_recognizer, load_model_config

    torch.manual_seed(0)
    recognizer = build_recognizer(load_model_config(REPO / "config/models/smoke_nl.py"), CLASSES)
    defended = DefendedClassifier(VideoClassifier(recognizer, [f"c{i}" for i in range(CLASSES)]), JPEG())
    x = videos((2, 8, 3, 32, 32)).requires_grad_(True)
    logits = defended(x)
    assert logits.shape == (2, 1, CLASSES)
    (grad,) = torch.autograd.grad(candidate_loss(logits, torch.tensor([0, 1])), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert defended.predict(x)[0].shape == (2,)


# --- registry and seeding -----------------------------------------------------------------------


def test_build_defense_by_name_and_import_path(tmp_path, monkeypatch):
    assert build_defense({"type": "jpeg", "quality": 50}).settings() == {"name": "jpeg", "quality": 50}
    assert type(build_defense({"type": "videopure.defenses.classical:JPEG"})) is JPEG
    # A user's defense: one class in the user's own module, named by import path in the config.
    (tmp_path / "user_defense.py").write_text(
        textwrap.dedent(
            """
            import torch
            from videopure.defenses import Purifier

            class Darken(Purifier):
                name = "darken"
                stochastic = False
                exact_gradient = True

                def __init__(self, factor: float = 0.5):
                    super().__init__()
                    self.factor = factor

                def purify(self, x):
                    return (x * self.factor).unsqueeze(1)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    defense = build_defense({"type": "user_defense:Darken", "factor": 0.25})
    assert defense.settings() == {"name": "darken", "factor": 0.25}
    x = videos()
    torch.testing.assert_close(defense(x)[:, 0], x * 0.25)
    assert "darken" not in DEFENSES  # built, not registered


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "median_blur"}, r"unknown defense 'median_blur'.*'jpeg'"),
        ({"type": "jpeg", "qualty": 75}, "qualty"),
        ({"type": "none", "sigma": 0.1}, "sigma"),
        ({"quality": 75}, "'type'"),
        ({"type": "no_such_module_xyz:Defense"}, "no_such_module_xyz"),
        ({"type": "videopure.defenses.classical:Nope"}, "Nope"),
        ({"type": "torch.nn:Identity"}, "not a subclass"),
    ],
)
def test_build_defense_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        build_defense(spec)


def test_register_defense_rejects_a_taken_name():
    class OtherJPEG(NoDefense):
        name = "jpeg"

    with pytest.raises(ValueError, match="already registered"):
        register_defense(OtherJPEG)
    assert DEFENSES["jpeg"] is JPEG


def test_seeded_is_reproducible_and_restores_the_outer_stream():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with seeded(1, 2, 3):
        inner = torch.rand(3)
    assert torch.equal(torch.rand(3), expected)  # the outer stream continues untouched
    with seeded(1, 2, 3):
        assert torch.equal(torch.rand(3), inner)
    with seeded(4):
        assert torch.equal(torch.rand(3), torch.rand(3, generator=torch.Generator().manual_seed(4)))  # = manual_seed(4)
    assert derive_seed(1, 2) != derive_seed(2, 1) and derive_seed(7) == 7
    with pytest.raises(ValueError, match="integers"):
        derive_seed(1.5)


def test_seeded_clips_gives_each_row_the_draws_of_its_clip_alone_and_refuses_other_batches():
    keys = [(0, 3, 1), (0, 8, 1)]
    with seeded_clips(keys):
        noise, keys_u = normal((2, 5)), uniform((2, 4))
    for row, key in enumerate(keys):
        with seeded(*key):  # alone: the clip's first draw, then its second
            assert torch.equal(normal((1, 5)), noise[row : row + 1])
            assert torch.equal(uniform((1, 4)), keys_u[row : row + 1])
    torch.manual_seed(3)
    outside = normal((2, 5))
    torch.manual_seed(3)
    assert torch.equal(outside, torch.randn(2, 5))  # outside seeded_clips: torch's global stream
    with seeded_clips(keys), pytest.raises(ValueError, match=r"shape \(4, 5\) inside seeded_clips for 2 clips"):
        normal((4, 5))  # e.g. an EOT batch of draws: those belong under seeded
    with seeded_clips(keys):
        with seeded(9):  # seeded inside: one stream again, for any batch
            nested = normal((4, 5))
        assert torch.equal(normal((2, 5)), noise)  # the clips' streams untouched by it
    assert torch.equal(nested, torch.randn(4, 5, generator=torch.Generator().manual_seed(9)))
    with pytest.raises(ValueError, match="one seed key per clip"):
        with seeded_clips([]):
            pass
