"""Evaluation helpers: evaluation set, its cap, per-column attack settings, defended predictions."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from videopure.cache import StaleCacheError, read_attrs, write_h5
from videopure.defenses import DefendedClassifier, build_defense, seeded
from videopure.evaluation.clean import cap_evaluation_set, evaluation_mask
from videopure.evaluation.attacking import attack_settings
from videopure.evaluation.columns import (
    ADAPTIVE_COLUMNS,
    COLUMNS_BY_SLUG,
    FULL_GRADIENT_COLUMNS,
    GRAYBOX_COLUMNS,
    defense_specs,
)
from videopure.evaluation.loading import EvalClips, read_attack_clips
from videopure.evaluation.rows import read_shared_clean, shared_clean_predictions, vote_row
from videopure.evaluation.speed import WorkPerClip, priced_table10
from videopure.evaluation.voting import SideBySide, defended_accuracies, predict_defended, votes
from videopure.params import file_digest
from tests.helpers import tiny_diffusion

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


@pytest.mark.parametrize("spec", [{"type": "white_noise", "sigma": 0.3}, {"type": "temporal_shuffle"},
                                  {"type": "diffpure_ddpm", "tstar": 5}])
def test_batched_stochastic_predictions_equal_the_clip_by_clip_protocol(spec):
    """Batches of a ``draws_per_clip`` defense under per-clip streams give each clip the draws it gets
    alone under seeded(seed, clip, draw): the votes of the clip-by-clip run, the logits up to the
    rounding of batched arithmetic."""
    torch.manual_seed(0)
    purifier = build_defense(spec, diffusion_model=tiny_diffusion())
    assert purifier.stochastic and purifier.draws_per_clip
    classifier, clips, ids = MeanColour(), torch.rand(5, 4, 3, 8, 8), np.array([7, 3, 9, 0, 4])
    batched = predict_defended(DefendedClassifier(classifier, purifier, gradient="none"), clips, 0, 2, 3, ids)
    one_by_one = copy.copy(purifier)  # the same defense, as one drawing from torch directly: clip by clip
    one_by_one.draws_per_clip = False
    alone = predict_defended(DefendedClassifier(classifier, one_by_one, gradient="none"), clips, 0, 2, 3, ids)
    np.testing.assert_array_equal(batched.votes, alone.votes)
    np.testing.assert_allclose(batched.logits, alone.logits, rtol=0, atol=1e-5)
    assert not np.array_equal(batched.logits[:, 0], batched.logits[:, 1])  # draws differ
    with seeded(0, int(ids[1]), 1), torch.no_grad():  # the protocol: clip 1's draw 1 is keyed (seed, its id, 1)
        expected = classifier(purifier(clips[1:2], gradient="none")[:, 0])
    np.testing.assert_allclose(batched.logits[1, 1, 0], expected[0].numpy(), rtol=0, atol=1e-5)


def test_side_by_side_recognizers_share_one_purification_and_each_gets_its_own_logits():
    torch.manual_seed(0)
    recognizers = {"a": MeanColour(), "b": MeanColour()}
    purifier = build_defense({"type": "white_noise", "sigma": 0.3})
    clips, ids = torch.rand(3, 3, 3, 8, 8), np.arange(3)
    side_by_side = SideBySide(recognizers)
    together = predict_defended(side_by_side.behind(purifier), clips, 0, 2, 2, ids)
    assert together.logits.shape == (3, 2, 1, 6)
    parts = side_by_side.split_predictions(together)
    assert list(parts) == ["a", "b"] and not np.array_equal(parts["a"].logits, parts["b"].logits)
    for name, recognizer in recognizers.items():
        alone = predict_defended(DefendedClassifier(recognizer, purifier, gradient="none"), clips, 0, 2, 2, ids)
        for got, expected in zip(vars(parts[name]).values(), vars(alone).values()):
            np.testing.assert_array_equal(got, expected)
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


def eval_clips(n: int = 3) -> EvalClips:
    clips = torch.rand(n, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0)).clamp(0.1, 0.9)
    return EvalClips(clips, torch.zeros(n, dtype=torch.long), np.array([f"v{i}" for i in range(n)]), np.arange(n),
                     {"frames": "f1", "evalset": "e1"}, ("a", "b"))


def write_attack(path, data, clips, column="PGD+BPDA", defense="WN", model="NL", eps=4 / 255, upstream=None):
    params = {"dataset": "d", "model": model, "column": column, "attack": {"name": "PGD", "eps": eps, "norm": "linf"}}
    if defense is not None:
        params |= {"defense": defense, "defense_settings": {"name": "white_noise", "sigma": 0.03}}
    write_h5(path, {"clips": clips.numpy()}, params=params, upstream=upstream or data.upstream)
    return path


def test_attack_clips_are_read_only_for_the_cell_they_were_made_for(tmp_path):
    """An attack file is refused, named, with the command that rebuilds it, if it was made for another
    recognizer, column or defense (issue: a Temporal Shuffle file copied over White Noise's changed
    its row), from other frames, or holds values outside [0, 1] or its recorded eps-ball."""
    data = eval_clips()
    wn = ("WN", {"name": "white_noise", "sigma": 0.03})
    delta = (torch.rand(data.clips.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1) * 4 / 255
    good = write_attack(tmp_path / "good.h5", data, data.clips + delta)
    torch.testing.assert_close(read_attack_clips(str(good), data, "NL", "pgd_bpda", wn).clips, data.clips + delta)
    refusals = {
        "'model' is 'NL', expected 'SlowFast'": (good, "SlowFast", "pgd_bpda", wn),
        "'column' is 'PGD\\+BPDA', expected 'TT\\+BPDA'": (good, "NL", "tt_bpda", wn),
        "'defense' is 'WN', expected 'TemporalShuffle'": (good, "NL", "pgd_bpda", ("TemporalShuffle", wn[1])),
        "'defense_settings'": (good, "NL", "pgd_bpda", ("WN", {"name": "white_noise", "sigma": 0.1})),
        "'column' is 'PGD\\+BPDA', expected 'PGD'": (good, "NL", "pgd", None),
        "upstream 'frames'": (write_attack(tmp_path / "other.h5", data, data.clips, upstream={"frames": "f2", "evalset": "e1"}),
                              "NL", "pgd_bpda", wn),
        "not finite or not in \\[0, 1\\]": (write_attack(tmp_path / "nan.h5", data, data.clips.clone().index_fill_(0, torch.tensor([1]), float("nan"))),
                                      "NL", "pgd_bpda", wn),
        "outside the recorded eps": (write_attack(tmp_path / "far.h5", data, data.clips + 2 * delta), "NL", "pgd_bpda", wn),
        "clips of shape": (write_attack(tmp_path / "short.h5", data, data.clips[:2]), "NL", "pgd_bpda", wn),
    }
    for message, (path, model, column, defense) in refusals.items():
        with pytest.raises(StaleCacheError, match=message) as info:
            read_attack_clips(str(path), data, model, column, defense)
        assert f"rm '{path}'" in str(info.value), message
    graybox = write_attack(tmp_path / "pgd.h5", data, data.clips + delta, column="PGD", defense=None)
    assert read_attack_clips(str(graybox), data, "NL", "pgd").identity


# --- AutoAttack (Table II) ----------------------------------------------------------------------


def test_an_interrupted_autoattack_resumes_its_partial_file_and_gives_the_uninterrupted_result(tmp_path):
    """Scope: work is saved per batch. A job stopped after its first batch (its partial file holds
    two clips) resumes there and ends with the arrays of an uninterrupted run; a partial file made
    under other settings is discarded, not mixed in."""
    from videopure.evaluation.autoattack import SUB_ATTACKS, run_autoattack

    torch.manual_seed(0)
    classifier = MeanColour()
    purifier = build_defense({"type": "white_noise", "sigma": 0.03})  # stochastic: EOT draws and seeded votes
    target = DefendedClassifier(classifier, purifier, gradient="auto")
    defended = DefendedClassifier(classifier, purifier, gradient="none")
    clips = torch.rand(4, 4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    labels, ids = torch.tensor([0, 1, 2, 0]), np.arange(4)
    settings = {"eps": 8 / 255, "steps": 3, "norm": "linf", "eot_samples": 2, "seed": 5}
    record = {"params": {"defense": "WN", "attacks": settings}, "upstream": {"frames": "0123456789abcdef"}}

    def run(n, partial, record=record):
        return run_autoattack(target, defended, clips[:n], labels[:n], ids[:n], settings, 2, 2, partial, record)

    whole = run(4, tmp_path / "whole.partial.h5")
    assert whole["apgd_ce/clips"].shape == (4, 4, 3, 8, 8) and whole["apgd_dlr/votes"].shape == (4, 2)
    assert whole["apgd_ce/loss_trace"].shape == (4, 4)  # steps + 1 rows, one column per clip
    assert (np.abs(whole["apgd_ce/clips"] - clips.numpy()) <= 8 / 255 + 1e-6).all()
    partial = tmp_path / "job.partial.h5"
    run(2, partial)  # the first batch, then the job was stopped
    resumed = run(4, partial)
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)
    other = {"params": {"defense": "JPEG", "attacks": settings}, "upstream": record["upstream"]}
    run(2, partial, other)  # a partial file another job left: discarded, and the run starts afresh
    assert read_attrs(partial)[0] == other["params"]
    assert set(SUB_ATTACKS) == {"apgd_ce", "apgd_dlr"}


def test_autoattack_counts_a_clip_robust_only_if_every_sub_attack_fails():
    from videopure.evaluation.autoattack import robust_per_clip

    labels = np.array([0, 1, 2, 3])
    votes = {"apgd_ce": np.array([[0, 0], [9, 9], [2, 2], [3, 9]]), "apgd_dlr": np.array([[0, 0], [1, 1], [9, 9], [3, 3]])}
    robust = robust_per_clip(votes, labels)
    np.testing.assert_array_equal(robust["apgd_ce"], [1, 0, 1, 0.5])
    np.testing.assert_array_equal(robust["worst"], [1, 0, 0, 0.5])


def test_table2_marks_a_row_not_run_and_names_the_fill_command():
    from videopure.evaluation.autoattack import AutoAttackSetup
    from videopure.tables.table1 import NOT_RUN, not_run_note
    from videopure.tables.table2 import COLUMNS, collect_table2

    from videopure.tables.table2 import table2_caption

    setup = AutoAttackSetup("mini", "NL", ("DiffPure_DDPM",), 30, 100, 20, "auto")
    table, cells = collect_table2(setup, {"DiffPure_DDPM": None})
    caption = table2_caption(setup, {"norm": "linf", "eps": 4 / 255}, cells)
    assert "by each defense's default gradient (no row measured)" in caption
    assert list(table.columns) == list(COLUMNS) and table.loc[0, "Robust Acc"] == NOT_RUN and table.loc[0, "Clips"] == 30
    assert cells == [{"defense": "DiffPure_DDPM", "status": NOT_RUN}]
    note = not_run_note(table, ["Defense"], {"reason": "no GPU", "fill_command": "snakemake results/table2.csv"})
    assert "DiffPure_DDPM: APGD-CE, APGD-DLR, Robust Acc" in note and "snakemake results/table2.csv" in note


def test_table_x_priced_from_the_seconds_of_one_operation_of_each_kind():
    """Paper-scale Table X (benchmarks/paper_scale.py): each defense's counted work per clip times the
    seconds of one operation; the early-exit mean averages each vote's work, not the mean vote's."""
    costs = {"unet_forward": 2.0, "vae_decode": 3.0, "classify": 0.5, "vae_encode": 1.0, "flow": 4.0,
             "optimisation_step": 0.25}
    rows = priced_table10(costs, early_exit_candidates=[4, 7, 5])
    assert rows["DiffPure_DDPM"]["seconds"] == {"unet_forward": 202.0, "vae_decode": 3.0, "classify": 0.5,
                                                "vae_encode": 1.0, "flow": 0.0, "optimisation_step": 0.0,
                                                "total": 206.5}
    full = rows["VideoPure"]
    assert full["work"] == {"unet_calls": 12, "decodes": 7, "classified": 7, "encodes": 1.0, "flows": 1,
                            "optimisation_steps": 7}
    assert full["seconds"]["total"] == 24 + 21 + 3.5 + 1 + 4 + 1.75 and full["ratio"] == 206.5 / 55.25
    assert rows["VideoPure (early exit, unanimous)"]["work"]["unet_calls"] == 10
    mean = rows["VideoPure (early exit, mean of 3 votes)"]["work"]
    assert mean["unet_calls"] == 11 and mean["decodes"] == pytest.approx(16 / 3)  # 6 + mean(min(k, 6))
    with pytest.raises(KeyError, match="'flow'"):
        WorkPerClip.videopure(6).seconds({key: value for key, value in costs.items() if key != "flow"})
    with pytest.raises(ValueError, match="1 to 7 candidates, got 8"):
        WorkPerClip.videopure(6, 8)


@pytest.mark.parametrize("spec", [{"type": "diffpure_ddpm", "tstar": 5}, {"type": "ddim_inversion", "tstar": 2}])
def test_shared_clean_votes_equal_each_recognizers_own_row(tmp_path, spec):
    """Rule predict_clean purifies each clean clip once for every recognizer; each row's clean group,
    read from it, is what the row computes alone (rule predict), to the bit."""
    torch.manual_seed(0)
    model = tiny_diffusion()
    purifier = build_defense(spec, diffusion_model=model)
    recognizers = {"a": MeanColour(), "b": MeanColour()}
    data = eval_clips(5)
    with torch.no_grad():
        latents = model.encode(data.clips)
    arrays = shared_clean_predictions(recognizers, purifier, data, seed=3, draws=2, batch_size=2, latents=latents)
    for name, recognizer in recognizers.items():
        alone = predict_defended(DefendedClassifier(recognizer, purifier, gradient="none"), data.clips, 3, 2, 2,
                                 data.index, latents, early_exit=True)
        for key in ("logits", "votes", "evaluated"):
            np.testing.assert_array_equal(arrays[f"{name}/{key}"], getattr(alone, key))
    upstream = {**data.upstream, "checkpoint_a": "ca", "checkpoint_b": "cb"}
    params = {"defense_settings": purifier.settings(), "seed": 3, "draws": 2}
    write_h5(tmp_path / "shared.h5", arrays, params=params, upstream=upstream)
    predictions, identity = read_shared_clean(str(tmp_path / "shared.h5"), "b", "cb", purifier, data, 3, 2)
    np.testing.assert_array_equal(predictions.votes, arrays["b/votes"])
    np.testing.assert_array_equal(predictions.logits, arrays["b/logits"])
    assert identity == read_attrs(tmp_path / "shared.h5")[2]
    for wrong, key in ((dict(checkpoint="other"), "checkpoint_b"), (dict(seed=4), "seed"), (dict(draws=1), "draws")):
        arguments = {"checkpoint": "cb", "seed": 3, "draws": 2, **wrong}
        with pytest.raises(StaleCacheError, match=key):
            read_shared_clean(str(tmp_path / "shared.h5"), "b", arguments["checkpoint"], purifier, data,
                              arguments["seed"], arguments["draws"])
    with pytest.raises(ValueError, match="7 candidates"):
        shared_clean_predictions(recognizers, build_defense({"type": "videopure"}, diffusion_model=model), data, 3, 1, 2)


def test_a_row_copies_its_recognizers_share_of_the_shared_clean_votes(tmp_path):
    """Rule predict's row of a one-candidate diffusion defense takes its clean group from rule
    predict_clean's file (no latents needed) and records that file as the clean votes' upstream."""
    torch.manual_seed(0)
    purifier = build_defense({"type": "diffpure_ddpm", "tstar": 5}, diffusion_model=tiny_diffusion())
    recognizers, data = {"a": MeanColour(), "b": MeanColour()}, eval_clips(4)
    arrays = shared_clean_predictions(recognizers, purifier, data, seed=3, draws=1, batch_size=4)
    checkpoint = tmp_path / "b.pth"
    checkpoint.write_bytes(b"recognizer b")
    upstream = {**data.upstream, "checkpoint_b": file_digest(checkpoint)}
    write_h5(tmp_path / "shared.h5", arrays, params={"defense_settings": purifier.settings(), "seed": 3, "draws": 1},
             upstream=upstream)
    files = {"shared_clean": str(tmp_path / "shared.h5"), "checkpoint": str(checkpoint)}
    defended = DefendedClassifier(recognizers["b"], purifier, gradient="none")
    row = vote_row(defended, {"type": "diffpure_ddpm", "tstar": 5}, data, ["clean"], files, "b", "DiffPure_DDPM",
                   seed=3, draws=1, batch_size=4, early_exit=True)
    for key in ("logits", "votes", "evaluated"):
        np.testing.assert_array_equal(row.arrays[f"clean/{key}"], arrays[f"b/{key}"])
    assert row.upstream["clean"] == read_attrs(tmp_path / "shared.h5")[2]
    assert row.accuracy["clean"] == pytest.approx((arrays["b/votes"][:, 0] == data.labels.numpy()).mean())
