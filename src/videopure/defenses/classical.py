"""The non-diffusion rows of Table I: no defense, JPEG, white noise (WN) and Temporal Shuffle.

The paper (Sec. IV-A, "Defense Methods") names these baselines but gives none of their
parameters, and no public code fixes them. Each class documents the value we chose and why; every
value is a constructor argument, set from the config and recorded by
:meth:`~videopure.defenses.base.Purifier.settings`.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from videopure.defenses.base import Purifier
from videopure.defenses.registry import register_defense
from videopure.randomness import normal, uniform


@register_defense
class NoDefense(Purifier):
    """The identity: the undefended classifier, as a purifier with one candidate."""

    name = "none"
    stochastic = False
    exact_gradient = True

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)


@register_defense
class JPEG(Purifier):
    """Per-frame JPEG compression (the paper's [21], Das et al., 2018).

    Each frame is quantised to 8 bits, JPEG-encoded at ``quality`` with libjpeg's defaults (OpenCV:
    standard quantisation tables scaled by quality, 4:2:0 chroma subsampling, RGB converted to
    YCbCr), decoded and returned as ``uint8 / 255``. The defense is deterministic and not
    differentiable (quantisation), so adaptive attacks go through it with BPDA.

    Args:
        quality: JPEG quality in [1, 100]. Default 75: the quality of Guo et al. (ICLR 2018), the
            JPEG defense that Athalye et al. (2018) evaluate with BPDA, and libjpeg's default;
            SHIELD (Das et al., 2018) draws qualities from 20 to 80. Table I reports JPEG's clean
            accuracy within a point of the undefended model's, which rules out harsh settings.
    """

    name = "jpeg"
    stochastic = False
    exact_gradient = False

    def __init__(self, quality: int = 75) -> None:
        super().__init__()
        self.check_settings({"quality": quality})
        self.quality = quality

    @classmethod
    def check_settings(cls, settings: dict[str, Any]) -> None:
        quality = {**cls.defaults(), **settings}["quality"]
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality must be an integer in [1, 100], got {quality!r}")

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[2]
        if channels not in (1, 3):
            raise ValueError(f"JPEG compresses 1- or 3-channel frames, got C={channels} in shape {tuple(x.shape)}")
        # (B, T, H, W, C) uint8, rounded as an 8-bit video file would store it.
        frames = (x.detach() * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
        decoded = np.empty_like(frames)
        params = [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        for index in np.ndindex(frames.shape[:2]):
            frame = frames[index]
            if channels == 3:
                frame = frame[..., ::-1]  # OpenCV encodes BGR; our frames are RGB
            ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(frame), params)
            if not ok:
                raise RuntimeError(f"OpenCV failed to JPEG-encode a frame of shape {frame.shape}")
            if channels == 3:
                decoded[index] = cv2.imdecode(buffer, cv2.IMREAD_COLOR)[..., ::-1]
            else:
                decoded[index] = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)[..., None]
        out = torch.from_numpy(decoded).to(device=x.device, dtype=x.dtype) / 255
        return out.permute(0, 1, 4, 2, 3).unsqueeze(1)


@register_defense
class WhiteNoise(Purifier):
    """Additive Gaussian white noise (Table I's "WN"): ``clamp(x + sigma * n, 0, 1)``, ``n ~ N(0, I)``.

    A fresh draw per call; differentiable (the clamp passes the gradient where it does not clip), so
    adaptive attacks use its exact gradient, averaged over draws by EOT.

    Args:
        sigma: noise standard deviation in [0, 1] pixel units. Default 8/255, twice the gray-box
            attack's l-inf budget of 4/255: noise on the scale of the perturbation it should drown,
            yet small enough for an undefended classifier (not trained on noise) to keep its clean
            accuracy, as Table I's WN row shows (clean accuracy 98-100 %). Randomized-smoothing
            levels (0.12-0.5, Cohen et al., 2019) assume noise-trained classifiers.
    """

    name = "white_noise"
    stochastic = True
    exact_gradient = True
    draws_per_clip = True

    def __init__(self, sigma: float = 8 / 255) -> None:
        super().__init__()
        self.check_settings({"sigma": sigma})
        self.sigma = float(sigma)

    @classmethod
    def check_settings(cls, settings: dict[str, Any]) -> None:
        sigma = {**cls.defaults(), **settings}["sigma"]
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma <= 1:
            raise ValueError(f"white-noise sigma must be a number in (0, 1], got {sigma!r}")

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.sigma * normal(x.shape, x.device, x.dtype)).clamp(0, 1).unsqueeze(1)


@register_defense
class TemporalShuffle(Purifier):
    """Temporal Shuffle (the paper's [23], Hwang et al., 2024): a random frame order per clip per call.

    By default a uniformly random permutation of all T frames — the paper's reading of the method.
    With ``window`` set, frames are permuted only within consecutive, non-overlapping windows of
    ``window`` frames (frames 0..w-1, w..2w-1, ...; the last window may be shorter), so every frame
    stays in its window and the coarse temporal order (the direction of motion) survives. The local
    shuffle is our option, not the paper's: on the mini profile, where classes come in time-reversed
    pairs, a full permutation destroys the class itself.

    The permutation is a re-indexing, so its exact gradient is the inverse permutation, which
    autograd gives through the indexing: ``exact_gradient`` is True.

    Args:
        window: ``None`` for a full permutation, or a window length >= 2.
    """

    name = "temporal_shuffle"
    stochastic = True
    exact_gradient = True
    draws_per_clip = True

    def __init__(self, window: int | None = None) -> None:
        super().__init__()
        self.check_settings({"window": window})
        self.window = window

    @classmethod
    def check_settings(cls, settings: dict[str, Any]) -> None:
        window = {**cls.defaults(), **settings}["window"]
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 2):
            raise ValueError(f"temporal-shuffle window must be None (full permutation) or an integer >= 2, got {window!r}")

    def permutations(self, batch: int, frames: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Frame orders (batch, frames): row b lists the input frames of clip b's output frames.

        Sorting ``window_index + u`` with ``u ~ U[0, 1)`` orders frames by window first and
        uniformly at random within it: one vectorised draw for every clip, full or local shuffle.
        """
        keys = uniform((batch, frames), device)
        if self.window is not None:
            keys = keys + torch.div(torch.arange(frames, device=device), self.window, rounding_mode="floor")
        return keys.argsort(dim=1)

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        order = self.permutations(x.shape[0], x.shape[1], x.device)
        clips = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
        return x[clips, order].unsqueeze(1)
