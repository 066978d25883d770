"""Recognizers: mmaction2 import and configs, the differentiable wrapper, checkpoints, training."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from videopure.models.checkpoint import UnsafeCheckpointError, load_recognizer, read_checkpoint, save_checkpoint
from videopure.models.classifier import VideoClassifier
from videopure.models.mmaction import (
    build_recognizer,
    import_mmaction,
    load_model_config,
    zoo_weights_url,
)
from videopure.models.train import (
    ClassifierTraining,
    add_pixel_noise,
    jitter_colors,
    mix_reconstructions,
    train_classifier,
)

REPO = Path(__file__).resolve().parents[1]
SMOKE_NL = REPO / "config/models/smoke_nl.py"
SMOKE_SLOWFAST = REPO / "config/models/smoke_slowfast.py"
PAPER_NL = "mmaction::recognition/i3d/i3d_imagenet-pretrained-r50-nl-dot-product_8xb8-32x2x1-100e_kinetics400-rgb.py"
CLASSES = [f"Class{i}" for i in range(10)]  # the smoke configs declare 10 classes


def make_classifier(config: Path, seed: int = 0, num_classes: int = 10) -> VideoClassifier:
    torch.manual_seed(seed)
    names = CLASSES if num_classes == 10 else [f"Class{i}" for i in range(num_classes)]
    return VideoClassifier(build_recognizer(load_model_config(config), num_classes), names)


def clips(batch: int = 3, frames: int = 8, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=[SMOKE_NL, SMOKE_SLOWFAST], ids=["NL", "SlowFast"])
def classifier(request) -> VideoClassifier:
    return make_classifier(request.param)


# --- mmaction.py -------------------------------------------------------------------------------


def test_import_is_idempotent_and_apis_import():
    import_mmaction()
    import_mmaction()
    from mmaction.apis import init_recognizer  # noqa: F401  (fails without the DRN stub)


def test_config_from_uri_and_random_init_without_download():
    cfg = load_model_config(PAPER_NL)
    assert cfg.model.backbone.pretrained == "torchvision://resnet50"
    model = build_recognizer(cfg, 7)
    assert model.cfg.model.backbone.pretrained is None and model.cfg.model.cls_head.num_classes == 7
    assert model.cls_head.fc_cls.out_features == 7
    assert zoo_weights_url(PAPER_NL).endswith(".pth")
    with pytest.raises(FileNotFoundError, match="no_such_config"):
        load_model_config("mmaction::recognition/i3d/no_such_config.py")


def test_non_local_blocks_start_as_identity():
    from mmcv.cnn.bricks.non_local import _NonLocalNd

    model = build_recognizer(load_model_config(SMOKE_NL), 10)
    blocks = [m for m in model.modules() if isinstance(m, _NonLocalNd)]
    assert len(blocks) == 2
    for block in blocks:
        assert torch.all(block.conv_out.norm.weight == 0)
        assert block.g[0].conv.weight.std() < 0.05
        assert block.theta.conv.weight.std() < 0.05




# --- classifier.py -----------------------------------------------------------------------------


def test_logits_equal_mmaction_preprocessor_path(classifier):
    x = clips()
    recognizer = classifier.recognizer
    items = [(clip.permute(1, 0, 2, 3) * 255).unsqueeze(0) for clip in x]  # (1 clip, C, T, H, W)
    with torch.no_grad():
        inputs = recognizer.data_preprocessor({"inputs": items, "data_samples": None})["inputs"]
        expected = recognizer(inputs, mode="tensor", stage="head")
        got = classifier(x)
    assert got.shape == (3, 10)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_batch_size_invariance_and_batch_of_one(classifier):
    assert not classifier.training
    x = clips(batch=4)
    with torch.no_grad():
        together = classifier(x)
        alone = torch.cat([classifier(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-6)


def test_input_gradient_matches_finite_differences(classifier):
    model = copy.deepcopy(classifier).double()
    x = (0.1 + 0.8 * clips(batch=2)).double().requires_grad_(True)
    direction = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    logit = lambda v: model(v)[:, 3].sum()  # noqa: E731
    (grad,) = torch.autograd.grad(logit(x), x)
    # The network is piecewise linear (ReLU, max-pool): a step of 1e-4 already crosses kinks
    # (errors of a few %); 1e-6 in float64 stays on one linear piece.
    h = 1e-6
    with torch.no_grad():
        numeric = (logit(x + h * direction) - logit(x - h * direction)) / (2 * h)
    analytic = (grad * direction).sum()
    assert abs(numeric - analytic) <= 1e-6 * abs(analytic), (numeric.item(), analytic.item())
    # Every pixel influences the logit (zero-init residuals or dead paths would make this sparse).
    assert (grad != 0).double().mean() > 0.9


@pytest.mark.parametrize(
    "bad, pattern",
    [
        (torch.rand(8, 3, 32, 32), r"\(8, 3, 32, 32\)"),
        (torch.rand(1, 8, 4, 32, 32), r"C=3.*\(1, 8, 4, 32, 32\)"),
        (torch.rand(1, 8, 3, 32, 32) * 255, r"\[0, 1\].*max"),
        (torch.rand(1, 8, 3, 32, 32) - 0.5, r"\[0, 1\].*min"),
        (torch.full((1, 8, 3, 32, 32), float("nan")), r"\[0, 1\]"),
        (torch.zeros(1, 8, 3, 32, 32, dtype=torch.uint8), "floating-point"),
    ],
)
def test_input_validation(classifier, bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        classifier(bad)


# --- checkpoint.py -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[VideoClassifier, Path]:
    model = make_classifier(SMOKE_NL, seed=3)
    with torch.no_grad():  # move BatchNorm statistics off their defaults so the load is visible
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pth"
    save_checkpoint(model, path, CLASSES, meta={"epoch": 2, "seed": np.int64(0)})
    return model, path


def test_checkpoint_round_trip(saved):
    model, path = saved
    checkpoint = read_checkpoint(path)
    assert set(checkpoint) == {"meta", "state_dict"}
    meta = checkpoint["meta"]
    assert meta["dataset_meta"] == {"classes": CLASSES} and meta["epoch"] == 2 and meta["seed"] == 0
    assert "cls_head" in meta["cfg"] and meta["mmengine_version"] and meta["mmaction_version"]
    loaded = load_recognizer(SMOKE_NL, path, [c.upper() for c in CLASSES])  # case-insensitive
    assert loaded.class_names == [c.upper() for c in CLASSES] and not loaded.training
    x = clips()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert load_recognizer(SMOKE_NL, path, None).class_names == CLASSES
    assert not list(path.parent.glob(".*tmp*"))


@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")  # mmaction2's own config loading
def test_the_same_weights_give_the_same_checkpoint_bytes(saved, tmp_path):
    """Saved twice, under other names and a second apart, a recognizer's checkpoint is byte-identical:
    identities derived from it (every downstream cache's upstream) repeat across identical builds."""
    model, path = saved
    time.sleep(1.1)  # a save time to the second would differ
    again = tmp_path / "elsewhere" / "other-name.pth"
    save_checkpoint(model, again, CLASSES, meta={"epoch": 2, "seed": np.int64(0)})
    assert again.read_bytes() == path.read_bytes()


def test_mmaction_init_recognizer_loads_our_checkpoint(saved):
    from mmaction.apis import init_recognizer

    model, path = saved
    recognizer = init_recognizer(str(SMOKE_NL), str(path), device="cpu")
    x = clips()
    with torch.no_grad():
        expected = model(x)
        got = recognizer(model.normalize(x), mode="tensor", stage="head")
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_missing_checkpoint_says_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_recognizer(PAPER_NL, tmp_path / "nl.pth", CLASSES, config_key="datasets.k400.classifiers.NL.checkpoint")
    message = str(info.value)
    assert str(tmp_path / "nl.pth") in message and "datasets.k400.classifiers.NL.checkpoint" in message
    assert "download.openmmlab.com" in message and "model zoo" in message


def test_class_count_and_order_mismatch(saved, tmp_path):
    model, path = saved
    with pytest.raises(ValueError, match="10 outputs.*9 classes"):
        load_recognizer(SMOKE_NL, path, CLASSES[:9])
    swapped = [CLASSES[1], CLASSES[0], *CLASSES[2:]]
    with pytest.raises(ValueError, match="class order.*checkpoint 'Class0' vs dataset 'Class1'"):
        load_recognizer(SMOKE_NL, path, swapped)
    # Without recorded classes only the count can be checked.
    bare = tmp_path / "bare.pth"
    torch.save({"state_dict": model.recognizer.state_dict()}, bare)
    assert load_recognizer(SMOKE_NL, bare, swapped).class_names == swapped


def test_every_rule_loads_recognizers_with_the_dataset_class_names(saved):
    """The rules' loader (``load_classifier``) requires the dataset's class names: a checkpoint of
    another class order is refused naming the checkpoint and its config key; no names is an error."""
    from videopure.evaluation.loading import load_classifier

    _, path = saved
    config = {"datasets": {"d": {"classifiers": {"NL": {"config": str(SMOKE_NL)}}}}}
    assert load_classifier(config, "d", "NL", str(path), CLASSES, "cpu").class_names == CLASSES
    swapped = [CLASSES[1], CLASSES[0], *CLASSES[2:]]
    with pytest.raises(ValueError, match=re.escape(f"checkpoint '{path}'") + ".*class order"):
        load_classifier(config, "d", "NL", str(path), swapped, "cpu")
    with pytest.raises(TypeError, match="class names"):
        load_classifier(config, "d", "NL", str(path), None, "cpu")


def test_mmengine_prefix_and_stored_normalisation(saved, tmp_path):
    model, path = saved
    state = {f"module.{k}": v for k, v in model.recognizer.state_dict().items()}
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1, 1)
    good, bad = tmp_path / "good.pth", tmp_path / "bad.pth"
    torch.save({"state_dict": state | {"data_preprocessor.mean": mean}}, good)
    torch.save({"state_dict": state | {"data_preprocessor.mean": mean * 0}}, bad)
    x = clips()
    with torch.no_grad():
        torch.testing.assert_close(load_recognizer(SMOKE_NL, good, CLASSES)(x), model(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="data_preprocessor.mean"):
        load_recognizer(SMOKE_NL, bad, CLASSES)


class Payload:
    """Not a weight: a weights-only load must refuse to build it."""


@pytest.mark.parametrize("payload", [Payload(), os.getcwd], ids=["object", "function"])
def test_pickled_code_is_refused(saved, tmp_path, payload):
    model, _ = saved
    path = tmp_path / "evil.pth"
    torch.save({"meta": {"x": payload}, "state_dict": model.recognizer.state_dict()}, path)
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        load_recognizer(SMOKE_NL, path, CLASSES)


@pytest.mark.parametrize("kept", [0.1, 0.9])
def test_a_truncated_checkpoint_is_named_with_the_command_that_rebuilds_it(saved, tmp_path, kept):
    """torch's own errors for a cut archive (OSError early, RuntimeError late) name no file."""
    from videopure.cache import CorruptCacheError

    _, path = saved
    data = Path(path).read_bytes()
    cut = tmp_path / "checkpoint.pth"
    cut.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(CorruptCacheError, match=rf"checkpoint '{cut}' cannot be read.*rm '{cut}'"):
        load_recognizer(SMOKE_NL, cut, CLASSES)


def test_numpy_scalars_in_meta_are_allowed_also_as_numpy1_wrote_them(saved, tmp_path):
    model, _ = saved
    buffer = io.BytesIO()
    checkpoint = {"meta": {"best": np.float64(0.5), "iter": np.int64(3)}, "state_dict": model.recognizer.state_dict()}
    torch.save(checkpoint, buffer, _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
    old = data.replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar")
    assert old != data
    for name, blob in (("new.pth", data), ("old.pth", old)):
        (tmp_path / name).write_bytes(blob)
        assert read_checkpoint(tmp_path / name)["meta"]["best"] == 0.5
        load_recognizer(SMOKE_NL, tmp_path / name, CLASSES)


# --- train.py ----------------------------------------------------------------------------------


@dataclass
class Split:
    frames: np.ndarray
    labels: np.ndarray
    class_names: list[str]


def moving_bars(per_class: int, seed: int) -> Split:
    """A bar moving left, moving right, or standing still: 3 classes, 8 frames of 32x32."""
    rng = np.random.default_rng(seed)
    names = ["Left", "Right", "Still"]
    frames = np.zeros((3 * per_class, 8, 32, 32, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(3), per_class)
    for i, label in enumerate(labels):
        start, colour = rng.integers(0, 32), rng.integers(80, 256, size=3)
        for t in range(8):
            x = (start + (-3, 3, 0)[label] * t) % 32
            frames[i, t, :, x : x + 4] = colour
    return Split(frames, labels, names)


def test_jitter_is_one_transform_per_clip():
    x = 0.2 + 0.6 * clips(batch=2)
    x[:, 1] = x[:, 0]  # two identical frames stay identical
    out = jitter_colors(x, 0.2, torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1 and not torch.equal(out, x)
    torch.testing.assert_close(out[:, 1], out[:, 0])
    assert jitter_colors(x, 0.0, torch.Generator()) is x


def test_pixel_noise_draws_one_std_per_clip_up_to_the_maximum():
    x = torch.full((64, 4, 3, 16, 16), 0.5)
    out = add_pixel_noise(x, 0.06, torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1
    per_clip = (out - x).flatten(1).std(dim=1)
    assert per_clip.max() < 0.06 * 1.05 and per_clip.min() < 0.01  # U(0, max) per clip, not one std for all
    assert per_clip.std() > 0.01
    torch.testing.assert_close(out, add_pixel_noise(x, 0.06, torch.Generator().manual_seed(0)), rtol=0, atol=0)
    assert add_pixel_noise(x, 0.0, torch.Generator()) is x


def test_reconstructions_replace_whole_clips_with_the_given_probability():
    frames = np.zeros((1000, 2, 4, 4, 3), dtype=np.uint8)
    reconstructed = np.full_like(frames, 255)
    index = np.random.default_rng(0).permutation(1000)[:400]
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    np.testing.assert_array_equal(mix_reconstructions(frames, None, index, 0.0, generator), frames[index])
    assert torch.equal(generator.get_state(), state)  # no draws: runs without reconstructions stay as they were
    batch = mix_reconstructions(frames, reconstructed, index, 0.3, generator)
    per_clip = batch.reshape(len(index), -1)
    assert set(np.unique(per_clip.min(1) == per_clip.max(1))) == {True}  # each clip is one or the other
    assert 0.25 < (per_clip[:, 0] == 255).mean() < 0.35
    assert frames.max() == 0 and reconstructed.min() == 255  # the splits themselves are left alone
    np.testing.assert_array_equal(
        batch, mix_reconstructions(frames, reconstructed, index, 0.3, torch.Generator().manual_seed(0))
    )
    assert (mix_reconstructions(frames, reconstructed, index, 1.0, generator) == 255).all()


def short_schedule(**fields) -> ClassifierTraining:
    """One epoch of the smoke recognizers without augmentation, ``fields`` replaced."""
    return ClassifierTraining(
        **{
            "epochs": 1, "stop_at_val_acc": None, "batch_size": 8, "lr": 3e-3, "weight_decay": 1e-4,
            "color_jitter": 0.0, "pixel_noise": 0.0, "vae_reconstructions": 0.0, "seed": 0,
        } | fields
    )  # fmt: skip


def test_reconstruction_mixing_needs_the_matching_reconstructed_split(tmp_path):
    train, val = moving_bars(4, seed=0), moving_bars(2, seed=1)
    training = short_schedule(vae_reconstructions=0.5)
    with pytest.raises(ValueError, match="no reconstructed train split"):
        train_classifier(SMOKE_SLOWFAST, train, val, tmp_path / "a", training, threads=1)
    with pytest.raises(ValueError, match="does not match the train split"):
        train_classifier(SMOKE_SLOWFAST, train, val, tmp_path / "b", training, frames_reconstructed=val, threads=1)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_training_writes_outputs_and_is_deterministic(tmp_path):
    train, val = moving_bars(8, seed=0), moving_bars(2, seed=1)
    brighter = np.clip(train.frames.astype(int) + 20, 0, 255).astype(np.uint8)
    reconstructed = Split(brighter, train.labels, train.class_names)
    training = short_schedule(epochs=2, color_jitter=0.2, pixel_noise=0.05, vae_reconstructions=0.5, seed=5)
    kwargs = dict(threads=2, frames_reconstructed=reconstructed)
    first = train_classifier(SMOKE_SLOWFAST, train, val, tmp_path / "a", training, frames_test=val, **kwargs)
    second = train_classifier(SMOKE_SLOWFAST, train, val, tmp_path / "b", training, **kwargs)
    assert [h["loss"] for h in first["history"]] == [h["loss"] for h in second["history"]]
    on_disk = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert on_disk["history"] == first["history"] and len(on_disk["history"]) == 2
    assert {"val_acc", "test_acc", "param_count", "train_seconds", "threads", "machine"} <= set(on_disk)
    assert on_disk["vae_reconstructions"] == 0.5
    without = train_classifier(SMOKE_SLOWFAST, train, val, tmp_path / "d", replace(training, vae_reconstructions=0.0), **kwargs)
    assert without["history"][0]["loss"] != first["history"][0]["loss"]  # the reconstructions were trained on
    x = torch.from_numpy(val.frames).permute(0, 1, 4, 2, 3).float() / 255
    a = load_recognizer(SMOKE_SLOWFAST, tmp_path / "a" / "checkpoint.pth", train.class_names)
    b = load_recognizer(SMOKE_SLOWFAST, tmp_path / "b" / "checkpoint.pth", train.class_names)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="val split has classes"):
        train_classifier(SMOKE_NL, train, Split(val.frames, val.labels, ["A", "B", "C"]), tmp_path / "c", training, **kwargs)


def test_training_stops_at_the_first_epoch_reaching_stop_at_val_acc_on_the_full_schedule(tmp_path):
    train, val = moving_bars(16, seed=0), moving_bars(4, seed=1)
    training = short_schedule(epochs=4, batch_size=4)
    full = train_classifier(SMOKE_SLOWFAST, train, val, tmp_path / "full", training, threads=1)
    val_accs = [h["val_acc"] for h in full["history"]]
    target = max(val_accs[:-1])
    stop = next(epoch for epoch, acc in enumerate(val_accs, start=1) if acc >= target)
    assert target > 0 and full["epochs_trained"] == 4

    stopped = train_classifier(
        SMOKE_SLOWFAST, train, val, tmp_path / "stopped", replace(training, stop_at_val_acc=target), threads=1
    )
    assert stopped["epochs_trained"] == len(stopped["history"]) == stop < 4
    # the epochs it trained are the full run's: the one-cycle schedule still spans all 4 epochs
    assert [(h["loss"], h["val_acc"]) for h in stopped["history"]] == [
        (h["loss"], h["val_acc"]) for h in full["history"][:stop]
    ]
    assert read_checkpoint(tmp_path / "stopped" / "checkpoint.pth")["meta"]["epoch"] == stop
    shorter = train_classifier(SMOKE_SLOWFAST, train, val, tmp_path / "shorter", replace(training, epochs=stop), threads=1)
    assert shorter["history"][0]["loss"] != full["history"][0]["loss"]  # 4 steps an epoch: its warm-up differs
