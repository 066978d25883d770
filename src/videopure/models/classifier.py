"""A differentiable video classifier in the package's pixel convention, around an mmaction2 recognizer.

The package passes videos as float tensors (B, T, C, H, W) in [0, 1]. mmaction2 recognizers take
(N, clips, C, T, H, W) in 0-255 units, normalised by their ``ActionDataPreprocessor``. The
preprocessor wants a list of per-sample items, so attacks and purifiers cannot call it on a
batch; :class:`VideoClassifier` applies the same arithmetic as tensor operations instead (the
equality is tested), which keeps every step differentiable with respect to the input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm


class VideoClassifier(nn.Module):
    """Logits of an mmaction2 recognizer for clips (B, T, C, H, W) in [0, 1].

    Args:
        recognizer: an mmaction2 recognizer with an ``ActionDataPreprocessor`` in ``NCTHW``
            format (as built by :func:`videopure.models.mmaction.build_recognizer`).
        class_names: one name per output, in output order.

    The module is put in eval mode on construction: BatchNorm then uses its running statistics,
    so a clip's logits do not depend on the other clips of its batch.
    """

    def __init__(self, recognizer: nn.Module, class_names: Sequence[str]) -> None:
        super().__init__()
        preprocessor = recognizer.data_preprocessor
        if getattr(preprocessor, "format_shape", None) != "NCTHW":
            raise ValueError(
                "VideoClassifier needs a recognizer whose data_preprocessor has format_shape='NCTHW', "
                f"got {getattr(preprocessor, 'format_shape', None)!r}"
            )
        head = recognizer.cls_head
        if head.num_classes != len(class_names):
            raise ValueError(
                f"the recognizer's head has {head.num_classes} outputs but {len(class_names)} class names were given"
            )
        self.recognizer = recognizer
        self.class_names = list(class_names)
        self.in_channels = int(getattr(recognizer.backbone, "in_channels", 3))
        self.eval()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def cfg(self):
        """The mmengine config the recognizer was built from."""
        return self.recognizer.cfg

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"expected a tensor (B, T, C, H, W), got {type(x).__name__}")
        if x.ndim != 5 or x.shape[2] != self.in_channels or min(x.shape) == 0:
            raise ValueError(
                f"expected a video batch of shape (B, T, C={self.in_channels}, H, W) with no empty "
                f"dimension, got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(f"expected floating-point pixels in [0, 1], got dtype {x.dtype}")
        low, high = torch.aminmax(x.detach())
        if low < 0 or high > 1 or torch.isnan(high) or torch.isnan(low):
            raise ValueError(
                f"expected pixel values in [0, 1] for input of shape {tuple(x.shape)}, "
                f"got min {low.item():.4g} and max {high.item():.4g}"
            )

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) in [0, 1] -> (B, 1 clip, C, T, H, W), as ``ActionDataPreprocessor`` outputs."""
        preprocessor = self.recognizer.data_preprocessor
        x = x.permute(0, 2, 1, 3, 4) * 255.0  # mmaction2's mean/std are in 0-255 units
        if preprocessor.to_rgb:
            x = x.flip(1)
        if preprocessor._enable_normalize:
            x = (x - preprocessor.mean) / preprocessor.std
        return x.unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) of clips ``x`` (B, T, C, H, W), float in [0, 1]."""
        self._check_input(x)
        return self.recognizer(self.normalize(x), mode="tensor", stage="head")


def uint8_clips_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(N,T,H,W,C) uint8 -> (N,T,C,H,W) float32 in [0,1], the pixel convention of the package."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 1, 4, 2, 3).float().div_(255.0)


@torch.no_grad()
def predict_logits(
    classifier: nn.Module, frames: np.ndarray, batch_size: int = 16, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Logits (N, classes) of a [0,1]-input video classifier on uint8 clips (N,T,H,W,C)."""
    classifier.eval()
    outputs = []
    for start in tqdm(range(0, len(frames), batch_size), desc="classify", unit="batch"):
        batch = uint8_clips_to_tensor(frames[start : start + batch_size]).to(device)
        outputs.append(classifier(batch).float().cpu())
    return torch.cat(outputs).numpy()
