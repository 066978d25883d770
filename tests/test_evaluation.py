"""Evaluation helpers: evaluation set, its cap, per-column attack settings, defended predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from videopure.defenses import DefendedClassifier, build_defense
from videopure.evaluation.clean import cap_evaluation_set, evaluation_mask
from videopure.evaluation.robust import (
    ADAPTIVE_COLUMNS,
    COLUMNS_BY_SLUG,
    FULL_GRADIENT_COLUMNS,
    GRAYBOX_COLUMNS,
    SideBySide,
    attack_settings,
    defended_accuracies,
    defense_specs,
    predict_defended,
    votes,
)

ATTACK = {"norm": "linf", "eps": 4 / 255, "steps": 10, "step_size": 2 / 255, "eot_samples": 20,
          "random_start": "gaussian", "best_iterate": False}


def test_evaluation_mask_is_the_clips_every_model_gets_right():
    labels = np.array([0, 1, 2, 1])
    a = np.eye(3)[[0, 1, 2, 0]]
    b = np.eye(3)[[0, 2, 2, 1]]
    np.testing.assert_array_equal(evaluation_mask({"a": a, "b": b}, labels), [True, False, True, False])
    with pytest.raises(ValueError, match="model b"):
        evaluation_mask({"b": b[:3]}, labels)


def test_cap_is_class_balanced_seeded_and_sorted():
    labels = np.repeat(np.arange(5), 10)
    index = np.arange(50)
    capped = cap_evaluation_set(index, labels, 15, seed=0)
    assert len(capped) == 15 and np.all(np.diff(capped) > 0)
    assert np.bincount(labels[capped], minlength=5).tolist() == [3, 3, 3, 3, 3]
    np.testing.assert_array_equal(capped, cap_evaluation_set(index, labels, 15, seed=0))
    assert not np.array_equal(capped, cap_evaluation_set(index, labels, 15, seed=1))
    np.testing.assert_array_equal(cap_evaluation_set(index, labels, None, seed=0), index)


def test_columns_and_settings():
    assert [c.name for c in GRAYBOX_COLUMNS + ADAPTIVE_COLUMNS] == ["PGD", "TT", "PGD+BPDA", "TT+BPDA", "EOT+BPDA"]
    assert [(c.name, c.gradient) for c in FULL_GRADIENT_COLUMNS] == [("PGD+DiffAttack", "exact")]
    assert {c.gradient for c in ADAPTIVE_COLUMNS} == {"auto"}  # the defense's own default, BPDA for diffusion
    eot = COLUMNS_BY_SLUG["eot_bpda"]
    assert attack_settings(ATTACK, eot, build_defense({"type": "white_noise"}), 3)["eot_samples"] == 20
    # a deterministic defense gives the same gradient at every draw: one draw
    assert attack_settings(ATTACK, eot, build_defense({"type": "jpeg"}), 3)["eot_samples"] == 1
    assert attack_settings(ATTACK, COLUMNS_BY_SLUG["pgd_bpda"], build_defense({"type": "white_noise"}), 3)[
        "eot_samples"
    ] == 1
    with pytest.raises(ValueError, match="attack.norm"):
        attack_settings({**ATTACK, "norm": "l2"}, eot, None, 0)
    assert list(defense_specs({"defenses": {"JPEG": {"type": "jpeg"}}})) == ["None", "JPEG"]


class MeanColour(nn.Module):
    """A tiny classifier: logits from the mean of each colour channel."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 3)

    def forward(self, x):
        return self.linear(x.mean(dim=(1, 3, 4)))


def test_stochastic_predictions_do_not_depend_on_batch_size_and_are_seeded():
    torch.manual_seed(0)
    defended = DefendedClassifier(MeanColour(), build_defense({"type": "white_noise", "sigma": 0.3}), gradient="none")
    clips = torch.rand(4, 3, 3, 8, 8)
    ids = np.arange(4)
    a = predict_defended(defended, clips, seed=0, draws=2, batch_size=4, clip_ids=ids)
    b = predict_defended(defended, clips[2:], seed=0, draws=2, batch_size=1, clip_ids=ids[2:])
    np.testing.assert_array_equal(a.logits[2:], b.logits)
    assert a.logits.shape == (4, 2, 1, 3) and not np.array_equal(a.logits[:, 0], a.logits[:, 1])
    c = predict_defended(defended, clips, seed=1, draws=2, batch_size=4, clip_ids=ids)
    assert not np.array_equal(a.logits, c.logits)
    np.testing.assert_array_equal(a.votes, votes(a.logits))
    np.testing.assert_array_equal(a.evaluated, np.ones((4, 2)))


def test_side_by_side_recognizers_share_one_purification_and_each_gets_its_own_logits():
    torch.manual_seed(0)
    recognizers = {"a": MeanColour(), "b": MeanColour()}
    purifier = build_defense({"type": "white_noise", "sigma": 0.3})
    clips, ids = torch.rand(3, 3, 3, 8, 8), np.arange(3)
    side_by_side = SideBySide(recognizers)
    together = predict_defended(DefendedClassifier(side_by_side, purifier, gradient="none"), clips, 0, 2, 2, ids).logits
    assert together.shape == (3, 2, 1, 6)
    parts = side_by_side.split(together)
    assert list(parts) == ["a", "b"] and not np.array_equal(parts["a"], parts["b"])
    for name, recognizer in recognizers.items():
        alone = predict_defended(DefendedClassifier(recognizer, purifier, gradient="none"), clips, 0, 2, 2, ids).logits
        np.testing.assert_array_equal(parts[name], alone)
    with pytest.raises(ValueError, match="at least one"):
        SideBySide({})


def test_defended_accuracies_score_each_recognizer_on_one_seeded_draw():
    torch.manual_seed(0)
    recognizers = {"a": MeanColour(), "b": MeanColour()}
    purifier = build_defense({"type": "white_noise", "sigma": 0.3})
    clips, labels, ids = torch.rand(6, 3, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2]), np.arange(6)
    accuracies = defended_accuracies(recognizers, purifier, clips, labels, ids, seed=0, batch_size=4)
    assert list(accuracies) == ["a", "b"]
    for name, recognizer in recognizers.items():
        voted = predict_defended(DefendedClassifier(recognizer, purifier, gradient="none"), clips, 0, 1, 4, ids).votes
        assert accuracies[name] == pytest.approx((voted[:, 0] == labels.numpy()).mean())
    clean = defended_accuracies(recognizers, build_defense({"type": "none"}), clips, labels, ids, 0, 4)
    assert clean["a"] == pytest.approx((recognizers["a"](clips).argmax(1) == labels).float().mean().item())
