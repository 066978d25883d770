"""Fig. 2 of the paper: an adversarial clip after DDIM inversion and after temporal DDIM inversion.

A row per gray-box PGD clip, its middle frame; columns: the adversarial frame ``x_adv``; ``x_di``,
DDIM inversion to t* then DDIM denoising (Table IV's first row); ``x_tdi``, temporal DDIM inversion
(the first frame's noise for every frame, paper Eq. 7) then DDIM denoising (Table IV's second row);
and ``|x_di - x_adv|``, ``|x_tdi - x_adv|``, amplified by one factor for both (stated in the
caption), so the two differences compare. The paper's reading: plain inversion restores the
adversarial clip, noise included; temporal inversion departs from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from videopure.plots.save import save_figure

#: The images of a row, by name: the adversarial clip and its two purifications.
IMAGES = {"x_adv": "adversarial (gray-box PGD)", "x_di": "DDIM inversion", "x_tdi": "temporal DDIM inversion"}
DATA_COLUMNS = ("Clip", "Video", "Label", "Image", "Prediction", "Mean |x - x_adv|", "Mean |x - x_clean|")


def fig2_data(
    clean: torch.Tensor,
    images: Mapping[str, torch.Tensor],
    predictions: Mapping[str, np.ndarray],
    labels: np.ndarray,
    video_ids: Sequence[str],
    class_names: Sequence[str],
) -> pd.DataFrame:
    """Per clip and image of :data:`IMAGES` (clips (N, T, C, H, W) in [0, 1]): the recognizer's
    prediction, and the mean absolute difference (whole clip, in [0, 1] units) from the adversarial
    clip and from the clean one."""
    records = []
    for name in IMAGES:
        from_adversarial = (images[name] - images["x_adv"]).abs().flatten(1).mean(1)
        from_clean = (images[name] - clean).abs().flatten(1).mean(1)
        for clip, video in enumerate(video_ids):
            records.append((
                clip, video, class_names[labels[clip]], name, class_names[predictions[name][clip]],
                float(from_adversarial[clip]), float(from_clean[clip]),
            ))  # fmt: skip
    return pd.DataFrame.from_records(records, columns=list(DATA_COLUMNS))


@dataclass(frozen=True)
class InversionGrid:
    """What Fig. 2 shows of each clip: the middle frame of every image of :data:`IMAGES` (N, H, W, C),
    and of each purified image its difference from ``x_adv`` (N, H, W; mean over channels) times
    ``scale``, one factor for both, so the largest difference shown is 1."""

    frames: dict[str, np.ndarray]
    differences: dict[str, np.ndarray]
    scale: float

    @classmethod
    def from_clips(cls, images: Mapping[str, torch.Tensor]) -> InversionGrid:
        """The grid of clips (N, T, C, H, W) in [0, 1] by name of :data:`IMAGES`."""
        middle = images["x_adv"].shape[1] // 2
        frames = {name: images[name][:, middle].permute(0, 2, 3, 1).numpy() for name in IMAGES}
        differences = {
            f"|{name} - x_adv|": np.abs(frames[name] - frames["x_adv"]).mean(axis=-1) for name in IMAGES if name != "x_adv"
        }
        largest = max(float(difference.max()) for difference in differences.values())
        scale = 1.0 / largest if largest > 0 else 1.0
        return cls(frames, {name: difference * scale for name, difference in differences.items()}, scale)


def plot_fig2(grid: InversionGrid, data: pd.DataFrame, png: str | Path, pdf: str | Path) -> None:
    """The grid: a row per clip (its class; under each image the recognizer's prediction), a column
    per image and difference; PNG and PDF written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {**grid.frames, **grid.differences}
    rows = len(grid.frames["x_adv"])
    figure, axes = plt.subplots(rows, len(panels), figsize=(1.45 * len(panels), 1.5 * rows + 0.3), squeeze=False)
    predicted = data.set_index(["Clip", "Image"])["Prediction"]
    labels = data[data["Image"] == "x_adv"].set_index("Clip")["Label"]
    for row in range(rows):
        for column, (name, images) in enumerate(panels.items()):
            axis = axes[row, column]
            axis.imshow(np.clip(images[row], 0, 1), cmap="gray", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            if name in IMAGES:
                axis.set_xlabel(f"pred. {predicted[(row, name)]}", fontsize=7)
            if row == 0:
                title = f"{name}\n{IMAGES[name]}" if name in IMAGES else f"{name}\n× {grid.scale:.3g}"
                axis.set_title(title, fontsize=7)
        axes[row, 0].set_ylabel(f"clip {row}\n{labels[row]}", fontsize=7)
    save_figure(figure, png, pdf)


def fig2_caption(dataset: str, model: str, attack: Mapping[str, object], tstar: int, scale: float, clips: int) -> str:
    """What Fig. 2 shows: the attack, t*, the clips and the differences' amplification."""
    return (
        f"Fig. 2: {clips} gray-box PGD clips of {dataset} ({model}; {attack['norm']} eps={float(attack['eps']):.4g}, "
        f"{attack['steps']} steps of {float(attack['alpha']):.4g}, {attack['eot_samples']} draw per gradient, the "
        f"exact gradient of the bare recognizer), middle frame: x_adv; x_di, DDIM inversion to t*={tstar} then "
        "DDIM denoising; x_tdi, temporal DDIM inversion (paper Eq. 7) then DDIM denoising (Table IV's first two "
        "rows, no optimisation, no voting); and |x_di - x_adv|, |x_tdi - x_adv| (mean over channels), both "
        f"multiplied by {scale:.3g} so the largest shown is white. Under each image, the recognizer's prediction; "
        "the data file gives each image's mean absolute difference from x_adv and from the clean clip, over the whole clip."
    )
