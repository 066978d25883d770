"""The flow-deviation term of the paper's Table VI: the recognizer and the optical-flow model attacked together.

VideoPure's temporal loss (paper, eq. 13) warps frames with the optical flow O of its *input*
video, so an attacker can aim at the flow as well as at the recognizer (paper, V-C 3): "we
conduct attacks on both video recognition and optical flow models"). The paper gives no loss;
ours adds to every attack step's per-clip objective

    λ_flow · mean_{i, p} sqrt(‖F(x')_i(p) − F(x)_i(p)‖² + δ),   δ = 10⁻⁶ px²,

the mean end-point error (in pixels of the frames, over every frame pair i and pixel p) between
the flow F of the attacked clip x' and of the clean clip x, smoothed by δ so its gradient is
defined where the two flows agree. F must be differentiable (torchvision's RAFT): a classical
estimator's flow is piecewise constant in the input and gives the attack no direction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from videopure.flow import FlowModel, build_flow_model

#: δ of the smoothed end-point error, in squared pixels.
SMOOTHING = 1e-6


class FlowDeviation:
    """λ_flow times the mean end-point error between the attacked and the clean clip's flow, per clip.

    Args:
        flow: a flow spec (:func:`videopure.flow.build_flow_model`) or the model; it must be
            differentiable.
        weight: λ_flow > 0, the term's weight beside the recognizer's cross-entropy.
    """

    def __init__(self, flow: Mapping[str, Any] | FlowModel, weight: float) -> None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
            raise ValueError(f"the flow term's weight must be a finite number > 0, got {weight!r}")
        model = build_flow_model(flow)
        if not model.differentiable:
            raise ValueError(
                f"flow {model.name!r} is not differentiable: the flow term needs gradients through the flow "
                "model; attack a RAFT ({'type': 'raft', 'weights': ...})"
            )
        self.flow_model, self.weight = model, float(weight)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The clean clips' flow (B, T − 1, 2, H, W), held fixed during the attack."""
        self.flow_model.to(x.device)
        with torch.no_grad():
            return self.flow_model(x)

    def __call__(self, adv: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """The term per clip (B,) for clips ``adv`` (B, T, C, H, W) whose clean flow is ``reference``."""
        squared = (self.flow_model(adv) - reference).square().sum(dim=2)
        return self.weight * (squared + SMOOTHING).sqrt().flatten(1).mean(dim=1)

    def settings(self) -> dict[str, Any]:
        """What the attack records: the weight, the flow model's spec and the loss."""
        return {
            "weight": self.weight,
            "flow": self.flow_model.settings(),
            "loss": f"weight * mean end-point error (smoothed by {SMOOTHING} px^2) of flow(x') against flow(x)",
        }
