"""Optical flow for VideoPure's temporal loss (paper, eq. 13): the models, resizing to latent size, warping.

Every flow model maps videos (B, T, C, H, W) in [0, 1] to the forward flow between consecutive
frames, (B, T − 1, 2, H, W) in pixels: ``flow[:, i, :, y, x] = (dx, dy)`` says where the content at
pixel (x, y) of frame i is in frame i + 1 (the convention of the mini generator's ground truth,
:func:`videopure.data.synthetic.synthesize_clip`). VideoPure computes it on its **input** video
and resizes it to latent size (:func:`resize_flow`); :func:`backward_warp` brings frame i + 1 into
frame i's coordinates with it.

Models, built from a spec with :func:`build_flow_model`:

* ``{"type": "farneback"}`` and ``{"type": "dis"}``: OpenCV's classical estimators, no weights, not
  differentiable (an attack treats their flow as a constant of the input);
* ``{"type": "raft", "weights": path, "size": "large" | "small"}``: torchvision's RAFT with local
  weights, differentiable. The paper uses ``raft-things`` with 10 iterations, which torchvision
  ships as ``Raft_Large_Weights.C_T_V1``; on a generated dataset the workflow trains a
  ``raft_small`` on the generator's ground-truth flow (:mod:`videopure.flow.train`, rule
  ``train_flow``), the differentiable flow model of the mini profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

RAFT_INPUT_RANGES = ("unit", "signed")
MIN_RAFT_SIZE = 128


class FlowModel(nn.Module):
    """Base class: ``forward(x)`` gives the forward flow (B, T − 1, 2, H, W) of videos x (B, T, C, H, W).

    Attributes:
        name: the spec's ``type``.
        differentiable: True if autograd reaches ``x`` through the flow.
    """

    name: ClassVar[str]
    differentiable: ClassVar[bool]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] < 2 or x.shape[2] != 3:
            raise ValueError(
                f"{type(self).__name__} needs RGB videos (B, T >= 2, 3, H, W) in [0, 1], got shape {tuple(x.shape)}"
            )
        pairs = self._pair_flow(x[:, :-1].flatten(0, 1), x[:, 1:].flatten(0, 1))
        return pairs.unflatten(0, (x.shape[0], x.shape[1] - 1))

    def _pair_flow(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Flow (N, 2, H, W) from frames ``first`` to frames ``second`` (N, 3, H, W) in [0, 1]."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """The spec that rebuilds this model (what VideoPure records)."""
        raise NotImplementedError


class ClassicalFlow(FlowModel):
    """OpenCV's Farnebäck or DIS flow on 8-bit grey frames; no weights, not differentiable.

    Frames are rounded to 8-bit RGB first, so the flow is a piecewise constant function of the
    input that changes only where a pixel value crosses a rounding boundary (never at and near
    pixel values k/255, the values decoded frames have).

    Args:
        method: ``"farneback"`` (any frame size) or ``"dis"`` (DIS, medium preset; frames of at
            least 12 pixels on one side).
    """

    differentiable = False
    METHODS = ("farneback", "dis")

    def __init__(self, method: str = "farneback") -> None:
        super().__init__()
        if method not in self.METHODS:
            raise ValueError(f"unknown classical flow method {method!r}; expected one of {self.METHODS}")
        self.method = method

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.method

    def _pair_flow(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        import cv2

        if self.method == "dis" and max(first.shape[-2:]) < 12:
            raise ValueError(
                f"DIS flow needs frames of at least 12 pixels on one side, got {tuple(first.shape[-2:])}; "
                "use {'type': 'farneback'}"
            )

        def grey(frames: torch.Tensor) -> list[np.ndarray]:
            # 8-bit RGB frames, as a video stores them, then OpenCV's own grey conversion.
            rgb = np.rint(frames.detach().cpu().double().clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
            return [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in rgb]

        estimator = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) if self.method == "dis" else None
        flows = []
        for a, b in zip(grey(first), grey(second)):
            if estimator is not None:
                flows.append(estimator.calc(a, b, None))
            else:
                flows.append(cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0))
        flow = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2)
        return flow.to(device=first.device, dtype=first.dtype)

    def settings(self) -> dict[str, Any]:
        return {"type": self.method}


class RAFTFlow(FlowModel):
    """torchvision's RAFT (Teed & Deng, 2020) with weights from a local file; differentiable.

    Args:
        weights: a torchvision RAFT state dict (``torch.save(model.state_dict())``). For the paper:
            ``raft_large_C_T_V1-22a6c225.pth`` (``Raft_Large_Weights.C_T_V1``, raft-things).
        size: ``"large"`` (``raft_large``) or ``"small"`` (``raft_small``).
        iterations: refinement iterations (the authors' 10).
        input_range: ``"unit"`` feeds [0, 1] frames, as the authors' code does (its ``2x − 1`` is
            commented out); ``"signed"`` feeds the [−1, 1] frames RAFT was trained on.
    """

    name = "raft"
    differentiable = True
    SIZES = ("large", "small")

    def __init__(self, weights: str | Path, size: str = "large", iterations: int = 10, input_range: str = "unit") -> None:
        super().__init__()
        from torchvision.models.optical_flow import raft_large, raft_small

        if size not in self.SIZES:
            raise ValueError(f"unknown RAFT size {size!r}; expected one of {self.SIZES}")
        if input_range not in RAFT_INPUT_RANGES:
            raise ValueError(f"unknown RAFT input_range {input_range!r}; expected one of {RAFT_INPUT_RANGES}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"RAFT iterations must be a positive integer, got {iterations!r}")
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"RAFT weights {str(path)!r} not found. For the paper profile download torchvision's "
                "Raft_Large_Weights.C_T_V1 (raft_large_C_T_V1-22a6c225.pth, the authors' raft-things) and put it "
                "there; a generated dataset's raft_small, results/models/<dataset>-raft_small.pth, is trained by "
                "the workflow's rule train_flow."
            )
        self.weights, self.size, self.iterations, self.input_range = str(path), size, iterations, input_range
        self.raft = (raft_large if size == "large" else raft_small)(weights=None, progress=False)
        try:
            self.raft.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (RuntimeError, KeyError, ValueError) as error:
            raise ValueError(f"{str(path)!r} is not a torchvision raft_{size} state dict: {error}") from error
        self.raft.requires_grad_(False).eval()

    def _pair_flow(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return raft_predictions(self.raft, first, second, self.iterations, self.input_range)[-1]

    def settings(self) -> dict[str, Any]:
        return {
            "type": "raft",
            "weights": self.weights,
            "size": self.size,
            "iterations": self.iterations,
            "input_range": self.input_range,
        }


def raft_predictions(raft: nn.Module, first: torch.Tensor, second: torch.Tensor, iterations: int, input_range: str) -> list[torch.Tensor]:
    """Every refinement's flow (N, 2, H, W), in pixels of the frames, from frames ``first`` to
    ``second`` (N, 3, H, W) in [0, 1] — what :class:`RAFTFlow` runs (its last) and what training
    supervises (all of them, :func:`videopure.flow.train.sequence_loss`)."""
    height, width = first.shape[-2:]
    if height % 8 or width % 8:
        raise ValueError(f"RAFT needs frame sizes divisible by 8, got {height}x{width}")
    # RAFT's correlation pyramid needs frames of at least 128 pixels: smaller ones (the mini
    # profile's 64 x 64) are upsampled by an integer factor and the flow brought back.
    factor = -(-MIN_RAFT_SIZE // min(height, width))
    if factor > 1:
        first, second = (
            F.interpolate(frames, scale_factor=factor, mode="bilinear", align_corners=False) for frames in (first, second)
        )
    if input_range == "signed":
        first, second = 2 * first - 1, 2 * second - 1
    parameter = next(raft.parameters())
    flows = raft(first.to(parameter.dtype), second.to(parameter.dtype), num_flow_updates=iterations)
    return [(resize_flow(flow, (height, width)) if factor > 1 else flow).to(first.dtype) for flow in flows]


def end_point_errors(estimate: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    """Mean end-point error of flow (..., 2, H, W) against ground truth: over every pixel, and over
    the pixels that move (nan where none does)."""
    error = (estimate - truth).norm(dim=-3)
    moving = truth.norm(dim=-3) > 0
    return float(error.mean()), float(error[moving].mean()) if moving.any() else float("nan")


def check_flow_spec(spec: Mapping[str, Any]) -> None:
    """Refuse a flow spec with an unknown type or parameters, without building the model."""
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ValueError(f"a flow spec is a mapping with a 'type' key, got {spec!r}")
    kind = spec["type"]
    arguments = set(spec) - {"type"}
    if kind in ClassicalFlow.METHODS:
        if arguments:
            raise ValueError(f"flow {kind!r} takes no parameters, got {sorted(arguments)}")
    elif kind == "raft":
        if "weights" not in arguments:
            raise ValueError("flow 'raft' needs 'weights': the path of a torchvision RAFT state dict")
        unknown = sorted(arguments - {"weights", "size", "iterations", "input_range"})
        if unknown:
            raise ValueError(f"flow 'raft' has no parameter(s) {unknown}")
    else:
        raise ValueError(f"unknown flow model {kind!r}; expected one of {[*ClassicalFlow.METHODS, 'raft']}")


def flow_model_class(spec: Mapping[str, Any]) -> type[FlowModel]:
    """The class a flow spec builds (checked, not built: no weights are read)."""
    check_flow_spec(spec)
    return RAFTFlow if spec["type"] == "raft" else ClassicalFlow


def build_flow_model(spec: Mapping[str, Any] | FlowModel) -> FlowModel:
    """A flow model from a spec ``{"type": "farneback" | "dis" | "raft", **arguments}`` (or the model itself)."""
    if isinstance(spec, FlowModel):
        return spec
    arguments = {key: value for key, value in spec.items() if key != "type"}
    if flow_model_class(spec) is RAFTFlow:
        return RAFTFlow(**arguments)
    return ClassicalFlow(spec["type"])


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Flow (..., 2, H, W) in pixels resized bilinearly to ``size`` = (h, w), with (dx, dy) scaled by
    (w / W, h / H) so that it stays in pixels of the new grid."""
    if flow.ndim < 3 or flow.shape[-3] != 2:
        raise ValueError(f"expected flow (..., 2, H, W), got shape {tuple(flow.shape)}")
    height, width = flow.shape[-2:]
    h, w = size
    resized = F.interpolate(flow.flatten(0, -4), size=(h, w), mode="bilinear", align_corners=False)
    scale = torch.tensor([w / width, h / height], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return (resized * scale).unflatten(0, flow.shape[:-3])


def backward_warp(frames: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``frames`` (N, c, h, w) sampled at ``p + flow(p)`` for every pixel p (bilinear, zero padding,
    ``align_corners=True``): with the flow from frame i to i + 1, frame i + 1 warped into frame i."""
    if frames.ndim != 4 or flow.ndim != 4 or flow.shape[1] != 2 or frames.shape[-2:] != flow.shape[-2:] or len(frames) != len(flow):
        raise ValueError(
            f"backward_warp needs frames (N, c, h, w) and flow (N, 2, h, w) of one size, got {tuple(frames.shape)} "
            f"and {tuple(flow.shape)}"
        )
    height, width = frames.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=flow.dtype, device=flow.device),
        torch.arange(width, dtype=flow.dtype, device=flow.device),
        indexing="ij",
    )
    x = xs + flow[:, 0]
    y = ys + flow[:, 1]
    # align_corners=True: -1 and 1 are the centres of the corner pixels.
    grid = torch.stack((2 * x / max(width - 1, 1) - 1, 2 * y / max(height - 1, 1) - 1), dim=-1)
    return F.grid_sample(frames, grid.to(frames.dtype), mode="bilinear", padding_mode="zeros", align_corners=True)


def latent_flow(flow_model: FlowModel, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The forward flow of videos x (B, T, C, H, W) resized to the latent grid ``size`` = (h, w), in
    latent pixels (B, T − 1, 2, h, w); a classical model's flow is computed without a graph."""
    if flow_model.differentiable:
        flow = flow_model(x)
    else:
        with torch.no_grad():
            flow = flow_model(x)
    return resize_flow(flow, size)
