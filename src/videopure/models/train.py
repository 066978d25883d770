"""Training of the small mmaction2 recognizers of the mini and smoke profiles.

The recognizer is an mmaction2 model built from its config; the loop is plain PyTorch (AdamW,
one-cycle schedule, colour jitter, pixel noise, VAE reconstructions) around
:class:`~videopure.models.classifier.VideoClassifier`, so training sees exactly the
normalisation that evaluation and the attacks use. Runs are seeded and deterministic on a given
machine and thread count.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from videopure.cache import write_text_atomic
from videopure.machine import machine_description
from videopure.models.checkpoint import save_checkpoint
from videopure.models.classifier import VideoClassifier, predict_logits, uint8_clips_to_tensor
from videopure.models.mmaction import build_recognizer, load_model_config

log = logging.getLogger(__name__)


class Frames(Protocol):
    """What training reads from a split (``videopure.data.frames.FrameSet`` has these)."""

    frames: np.ndarray  # uint8 (N, T, H, W, C)
    labels: np.ndarray  # int (N,)
    class_names: Sequence[str]


def jitter_colors(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Random brightness, contrast and per-channel gain, the same for every frame of a clip.

    Each factor is drawn from U(1 - strength, 1 + strength) per clip (gains per clip and
    channel); contrast scales around the clip's mean intensity. Geometry is left alone: a
    horizontal flip would turn one motion class into another (left vs right translation).

    Args:
        x: (B, T, C, H, W) in [0, 1].
        strength: 0 returns ``x`` unchanged.
        generator: the source of randomness (CPU), for reproducible runs.
    """
    if strength == 0:
        return x
    batch, _, channels = x.shape[:3]

    def factors(*shape: int) -> torch.Tensor:
        u = torch.rand(shape, generator=generator).to(x.device, x.dtype)
        return 1 + strength * (2 * u - 1)

    brightness = factors(batch, 1, 1, 1, 1)
    contrast = factors(batch, 1, 1, 1, 1)
    gain = factors(batch, 1, channels, 1, 1)
    mean = x.mean(dim=(1, 2, 3, 4), keepdim=True)
    return (((x - mean) * contrast + mean) * brightness * gain).clamp(0, 1)


def add_pixel_noise(x: torch.Tensor, max_std: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian pixel noise with a standard deviation drawn per clip from U(0, ``max_std``).

    Generated videos are free of the sensor noise and compression artefacts of real ones, and a
    recognizer trained on them alone reads pixel-level detail that real-video recognizers
    ignore: on mini, noise of std 12/255 took SlowFast from 99 % to 67 %, where the paper's
    recognizers lose nothing to white noise of 8/255 (Table I). Training with noise up to 16/255
    lifted DiffPure_DDPM's clean accuracy on mini from 60 % to 76 %, but cost 10 points on the mini
    VAE's reconstructions (97 % to 87 %), so the mini profile leaves it off
    (docs/results/2026-12-01-mini-diffusion-model.md).

    Args:
        x: (B, T, C, H, W) in [0, 1].
        max_std: 0 returns ``x`` unchanged.
        generator: the source of randomness (CPU), for reproducible runs.
    """
    if max_std == 0:
        return x
    std = max_std * torch.rand((len(x), 1, 1, 1, 1), generator=generator)
    noise = torch.randn(x.shape, generator=generator) * std
    return (x + noise.to(x.device, x.dtype)).clamp(0, 1)


def mix_reconstructions(
    frames: np.ndarray,
    reconstructed: np.ndarray | None,
    index: np.ndarray,
    probability: float,
    generator: torch.Generator,
) -> np.ndarray:
    """Clips ``index`` of ``frames``, each replaced by its VAE reconstruction with ``probability``.

    Every diffusion defense hands the recognizer a decoded video, at best D(E(x)). Recognizers of
    real videos take the blur of a natural-image VAE in their stride; one trained on mini's
    generated clips alone need not, and the reconstructions teach it that D(E(x)) shows the same
    action as x.

    Args:
        frames: uint8 (N, T, H, W, C), the clips as they are.
        reconstructed: the same clips through the VAE (:func:`videopure.diffusion.train.reconstruct_frames`),
            or ``None`` when ``probability`` is 0.
        index: the batch's clip indices.
        probability: 0 returns ``frames[index]``.
        generator: the source of randomness (CPU), for reproducible runs.
    """
    batch = frames[index]
    if probability == 0:
        return batch
    chosen = (torch.rand(len(index), generator=generator) < probability).numpy()
    batch[chosen] = reconstructed[index[chosen]]
    return batch


def _check_split(name: str, split: Frames, class_names: Sequence[str]) -> None:
    frames, labels = split.frames, np.asarray(split.labels)
    if frames.dtype != np.uint8 or frames.ndim != 5:
        raise ValueError(f"{name} frames must be uint8 (N, T, H, W, C), got {frames.dtype} {frames.shape}")
    if labels.shape != (len(frames),):
        raise ValueError(f"{name}: {labels.shape} labels for {len(frames)} clips")
    if len(frames) == 0:
        raise ValueError(f"{name} split is empty")
    if labels.min() < 0 or labels.max() >= len(class_names):
        raise ValueError(f"{name} labels must lie in [0, {len(class_names)}), got [{labels.min()}, {labels.max()}]")
    if [str(c) for c in split.class_names] != [str(c) for c in class_names]:
        raise ValueError(f"{name} split has classes {list(split.class_names)}, expected {list(class_names)}")


def _reconstructions(train: Frames, reconstructed: Frames | None, probability: float) -> np.ndarray | None:
    if probability == 0:
        return None
    if reconstructed is None:
        raise ValueError(
            f"vae_reconstructions is {probability} but no reconstructed train split was given "
            "(frames_reconstructed; the workflow's rule reconstruct_frames writes it)"
        )
    if reconstructed.frames.shape != train.frames.shape or not np.array_equal(reconstructed.labels, train.labels):
        raise ValueError(
            f"the reconstructed train split ({reconstructed.frames.shape}) does not match the train split "
            f"({train.frames.shape}) clip for clip; rebuild it from this train split"
        )
    return reconstructed.frames


def accuracy(classifier: VideoClassifier, split: Frames, batch_size: int, device: torch.device | str) -> float:
    """Top-1 accuracy of ``classifier`` on a split (eval mode)."""
    logits = predict_logits(classifier, split.frames, batch_size=batch_size, device=device)
    return float((logits.argmax(axis=1) == np.asarray(split.labels)).mean())


@dataclass(frozen=True)
class ClassifierTraining:
    """The training schedule of a recognizer trained from random weights (config ``train`` and
    ``seed``, whose schema holds the defaults).

    AdamW with decoupled ``weight_decay`` under a one-cycle schedule peaking at ``lr``; ``epochs``
    of ``batch_size`` clips (the last batch of an epoch may be smaller). With ``stop_at_val_acc``
    set, training stops after the first epoch whose validation accuracy reaches it; the schedule
    still spans ``epochs``, so the weights are those of that epoch of the full run. Augmentation:
    ``color_jitter`` is the strength of :func:`jitter_colors`, ``pixel_noise`` the largest noise std
    of :func:`add_pixel_noise` and ``vae_reconstructions`` the probability of
    :func:`mix_reconstructions` (0 disables each). ``seed`` seeds the initial weights, the batch
    order and the augmentation.
    """

    epochs: int
    stop_at_val_acc: float | None
    batch_size: int
    lr: float
    weight_decay: float
    color_jitter: float
    pixel_noise: float
    vae_reconstructions: float
    seed: int


def train_classifier(
    model_config: str | Path,
    frames_train: Frames,
    frames_val: Frames,
    out_dir: str | Path,
    training: ClassifierTraining,
    *,
    threads: int,
    class_names: Sequence[str] | None = None,
    frames_test: Frames | None = None,
    frames_reconstructed: Frames | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Train the recognizer of ``model_config`` from random weights; write checkpoint and metrics.

    Args:
        model_config: mmaction2 config (path or ``'mmaction::...'``).
        frames_train, frames_val: splits with ``.frames`` uint8 (N, T, H, W, C), ``.labels``
            and ``.class_names``; validation accuracy is measured after every epoch.
        out_dir: receives ``checkpoint.pth`` (mmaction2 format) and ``metrics.json``.
        training: the schedule, the augmentation and the seed.
        threads: torch CPU threads during training (restored afterwards).
        class_names: the label names, default ``frames_train.class_names``.
        frames_test: if given, its accuracy is measured once at the end.
        frames_reconstructed: ``frames_train`` through the VAE, clip for clip; required when
            ``training.vae_reconstructions`` > 0.
        device: where to train.

    Returns:
        The metrics written to ``metrics.json``: final ``val_acc`` (and ``test_acc``),
        ``epochs_trained``, per-epoch ``history`` (loss, train_acc, val_acc, seconds),
        ``param_count``, ``train_seconds``, ``threads``, ``machine`` and the hyperparameters.
    """
    epochs, batch_size, lr, seed = training.epochs, training.batch_size, training.lr, training.seed
    class_names = [str(c) for c in (class_names if class_names is not None else frames_train.class_names)]
    splits = {"train": frames_train, "val": frames_val} | ({"test": frames_test} if frames_test is not None else {})
    for name, split in splits.items():
        _check_split(name, split, class_names)
    reconstructed = _reconstructions(frames_train, frames_reconstructed, training.vae_reconstructions)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        torch.manual_seed(seed)
        classifier = VideoClassifier(build_recognizer(load_model_config(model_config), len(class_names)), class_names)
        classifier.to(device)
        param_count = sum(p.numel() for p in classifier.parameters())
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(classifier.parameters(), lr=lr, weight_decay=training.weight_decay)
        num_train = len(frames_train.frames)
        steps_per_epoch = math.ceil(num_train / batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
        labels = torch.as_tensor(np.asarray(frames_train.labels), dtype=torch.long)
        log.info(
            "training %s (%d parameters) on %d clips %s, %d classes; validating on %d clips; %s, %d threads, %s",
            model_config, param_count, num_train, tuple(frames_train.frames.shape[1:]), len(class_names),
            len(frames_val.frames), training, threads, device,
        )  # fmt: skip
        history = []
        for epoch in range(1, epochs + 1):
            epoch_start = time.perf_counter()
            classifier.train()
            order = torch.randperm(num_train, generator=generator)
            loss_sum, correct = 0.0, 0
            batches = tqdm(order.split(batch_size), desc=f"epoch {epoch}/{epochs}", unit="batch")
            for index in batches:
                clips = mix_reconstructions(
                    frames_train.frames, reconstructed, index.numpy(), training.vae_reconstructions, generator
                )
                x = uint8_clips_to_tensor(clips)
                x = jitter_colors(x, training.color_jitter, generator)
                x = add_pixel_noise(x, training.pixel_noise, generator).to(device)
                y = labels[index].to(device)
                logits = classifier(x)
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += loss.item() * len(index)
                correct += int((logits.argmax(1) == y).sum())
                batches.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            val_acc = accuracy(classifier, frames_val, batch_size, device)
            record = {
                "epoch": epoch,
                "loss": loss_sum / num_train,
                "train_acc": correct / num_train,
                "val_acc": val_acc,
                "seconds": time.perf_counter() - epoch_start,
            }
            history.append(record)
            log.info(
                "epoch %d/%d: loss %.4f, train acc %.3f, val acc %.3f, %.1f s",
                epoch, epochs, record["loss"], record["train_acc"], val_acc, record["seconds"],
            )  # fmt: skip
            if training.stop_at_val_acc is not None and val_acc >= training.stop_at_val_acc:
                log.info("val acc %.3f reached stop_at_val_acc %s: stopping", val_acc, training.stop_at_val_acc)
                break
        metrics: dict[str, Any] = {
            "model_config": str(model_config),
            "class_names": class_names,
            "val_acc": history[-1]["val_acc"],
            "epochs_trained": len(history),
        }
        if frames_test is not None:
            metrics["test_acc"] = accuracy(classifier, frames_test, batch_size, device)
            log.info("test acc %.3f on %d clips", metrics["test_acc"], len(frames_test.frames))
        metrics |= {
            "history": history,
            "param_count": param_count,
            "train_seconds": time.perf_counter() - start,
            "threads": threads,
            "device": str(device),
            "machine": machine_description(),
            **asdict(training),
            "num_train": num_train,
        }
        save_checkpoint(
            classifier,
            out_dir / "checkpoint.pth",
            class_names,
            meta={"epoch": len(history), "seed": seed, "val_acc": metrics["val_acc"], "test_acc": metrics.get("test_acc")},
        )
        write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        log.info("wrote %s and %s", out_dir / "checkpoint.pth", out_dir / "metrics.json")
        return metrics
    finally:
        torch.set_num_threads(previous_threads)
