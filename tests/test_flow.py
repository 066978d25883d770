"""Optical flow: warping, resizing, the classical estimators against the generator's ground truth, the RAFT loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videopure.data.synthetic import synthesize_clip
from videopure.flow import ClassicalFlow, RAFTFlow, backward_warp, build_flow_model, resize_flow

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_backward_warp_with_the_forward_flow_brings_the_next_frame_back():
    frames = torch.rand(1, 3, 10, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    following = torch.roll(frames, shifts=(1, 2), dims=(2, 3))  # content moves 2 right, 1 down
    flow = torch.zeros(1, 2, 10, 12, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = 2.0, 1.0
    warped = backward_warp(following, flow)
    torch.testing.assert_close(warped[..., :-1, :-2], frames[..., :-1, :-2], rtol=0, atol=1e-12)
    assert torch.equal(warped[..., -1, :], torch.zeros_like(warped[..., -1, :]))  # zero padding outside
    half = backward_warp(following, flow / 2)  # bilinear between pixels
    torch.testing.assert_close(half[..., 0, 0], (following[..., 0, 1] + following[..., 1, 1]) / 2)  # at (x=1, y=0.5)


def test_resize_flow_keeps_it_in_pixels_of_the_new_grid():
    flow = torch.zeros(2, 3, 2, 64, 32)
    flow[:, :, 0], flow[:, :, 1] = 4.0, -8.0
    small = resize_flow(flow, (16, 16))
    assert small.shape == (2, 3, 2, 16, 16)
    torch.testing.assert_close(small[:, :, 0], torch.full((2, 3, 16, 16), 2.0))  # 32 -> 16 wide
    torch.testing.assert_close(small[:, :, 1], torch.full((2, 3, 16, 16), -2.0))  # 64 -> 16 high
    with pytest.raises(ValueError, match="flow"):
        resize_flow(torch.zeros(2, 3, 8, 8), (4, 4))


def clip_tensor(video: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(video).permute(0, 3, 1, 2).float().div(255).unsqueeze(0)


def flow_errors(flow: torch.Tensor, truth: np.ndarray) -> tuple[float, float]:
    """Mean end-point error on the pixels that move, and the mean motion there (the error of zero flow)."""
    truth = torch.from_numpy(truth).permute(0, 3, 1, 2).unsqueeze(0)
    moving = truth.norm(dim=2) > 0
    return float((flow - truth).norm(dim=2)[moving].mean()), float(truth.norm(dim=2)[moving].mean())


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_classical_flow_follows_the_generators_ground_truth(method):
    video, truth = synthesize_clip("TranslateRight", split="test", index=0, frames=6, size=64)
    flow = ClassicalFlow(method)(clip_tensor(video))
    assert flow.shape == (1, 5, 2, 64, 64) and flow.dtype == torch.float32
    error, motion = flow_errors(flow, truth)
    assert motion > 1.0
    assert error < 0.3 * motion  # measured: 0.16 (Farnebäck) and 0.47 (DIS) px against 3.0 px of motion


def test_classical_flow_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="at least 12"):
        ClassicalFlow("dis")(torch.rand(1, 3, 3, 8, 8))
    with pytest.raises(ValueError, match="T >= 2"):
        ClassicalFlow()(torch.rand(1, 1, 3, 16, 16))
    with pytest.raises(ValueError, match="unknown classical flow"):
        ClassicalFlow("lucas_kanade")


def test_raft_loads_local_weights_and_is_differentiable(tmp_path):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    reference = raft_small(weights=None, progress=False).eval()
    path = tmp_path / "raft_small.pth"
    torch.save(reference.state_dict(), path)
    flow_model = build_flow_model({"type": "raft", "weights": str(path), "size": "small", "iterations": 2})
    assert isinstance(flow_model, RAFTFlow) and flow_model.differentiable
    x = torch.rand(1, 3, 3, 128, 128, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    flow = flow_model(x)
    assert flow.shape == (1, 2, 2, 128, 128)
    with torch.no_grad():
        expected = reference(x[0, :2].detach(), x[0, 1:].detach(), num_flow_updates=2)[-1]
    torch.testing.assert_close(flow[0].detach(), expected)  # the "unit" input range: frames as given
    small = flow_model(x[..., ::2, ::2].detach())  # below RAFT's 128 px: upsampled, the flow halved back
    with torch.no_grad():
        upsampled = torch.nn.functional.interpolate(x[0, :, :, ::2, ::2], scale_factor=2, mode="bilinear")
        expected = reference(upsampled[:2], upsampled[1:], num_flow_updates=2)[-1]
    torch.testing.assert_close(small[0], resize_flow(expected, (64, 64)))
    flow.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    signed = RAFTFlow(path, size="small", iterations=2, input_range="signed")
    assert not torch.allclose(signed(x.detach()), flow.detach())
    assert build_flow_model(flow_model.settings()).settings() == flow_model.settings()


def test_raft_errors_name_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="Raft_Large_Weights.C_T_V1"):
        build_flow_model({"type": "raft", "weights": str(tmp_path / "missing.pth")})
    wrong = tmp_path / "wrong.pth"
    torch.save({"layer.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ValueError, match="not a torchvision raft_large state dict"):
        RAFTFlow(wrong)
    with pytest.raises(ValueError, match="needs 'weights'"):
        build_flow_model({"type": "raft"})
    with pytest.raises(ValueError, match="unknown flow model"):
        build_flow_model({"type": "flownet"})


def test_sequence_loss_weights_each_refinement_by_gamma_and_moving_pixels_by_half():
    from videopure.flow.train import sequence_loss

    truth = torch.zeros(1, 2, 8, 8)
    first, last = torch.full_like(truth, 2.0), torch.full_like(truth, -0.5)
    assert sequence_loss([first, last], truth, gamma=0.5).item() == pytest.approx(0.5 * 2.0 + 0.5)
    assert sequence_loss([last], truth, gamma=0.5).item() == pytest.approx(0.5)
    # A quarter of the pixels move by (1, 0): zero flow errs by 0.5 per channel there. Moving and
    # still pixels weigh half each (a plain mean would give 0.125).
    truth[:, 0, :4, :4] = 1.0
    assert sequence_loss([torch.zeros_like(truth)], truth, gamma=0.8).item() == pytest.approx(0.25)


def translation_clips(count: int, frames: int = 3, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    videos, flows = zip(*(synthesize_clip("TranslateRight", index=i, frames=frames, size=size) for i in range(count)))
    return np.stack(videos), np.stack(flows)


def test_raft_small_training_lowers_the_loss_is_deterministic_and_loads_as_a_flow_model(tmp_path):
    from videopure.flow.train import RAFTTraining, train_raft_small

    frames, flow = translation_clips(2)
    settings = RAFTTraining(steps=12, batch_size=2, iterations=2, lr=1e-3)
    metrics = train_raft_small(frames, flow, settings, tmp_path / "a.pth", seed=0, progress=False)
    # Measured: the sequence loss falls from 0.92 to 0.40 in 12 steps.
    assert metrics["loss_history"][-1] < 0.8 * metrics["loss_history"][0]
    flow_model = build_flow_model(settings.spec(tmp_path / "a.pth"))
    assert isinstance(flow_model, RAFTFlow) and flow_model.size == "small" and flow_model.iterations == 2
    assert flow_model(clip_tensor(frames[0])).shape == (1, 2, 2, 32, 32)
    short = RAFTTraining(steps=2, batch_size=2, iterations=2)
    for name in ("b.pth", "c.pth"):
        train_raft_small(frames, flow, short, tmp_path / name, seed=0, progress=False)
    first, second = (torch.load(tmp_path / name, weights_only=True) for name in ("b.pth", "c.pth"))
    assert all(torch.equal(first[key], second[key]) for key in first)
    # The files too, under other names: the flow's digest in every cache that records it repeats.
    assert (tmp_path / "b.pth").read_bytes() == (tmp_path / "c.pth").read_bytes()


def test_raft_training_refuses_bad_settings_and_data(tmp_path):
    from videopure.flow.train import RAFTTraining, train_raft_small

    for kwargs, message in [
        ({"steps": 0}, "steps"), ({"gamma": 0.0}, "gamma"), ({"lr": -1.0}, "lr"), ({"input_range": "minus_one"}, "input_range"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            RAFTTraining(**kwargs)
    frames, flow = translation_clips(1)
    with pytest.raises(ValueError, match="does not fit the frames"):
        train_raft_small(frames, flow[:, 1:], RAFTTraining(steps=1), tmp_path / "x.pth", seed=0, progress=False)
    assert not (tmp_path / "x.pth").exists()


def test_end_point_errors_over_every_pixel_and_the_moving_ones():
    from videopure.flow import end_point_errors

    truth = torch.zeros(1, 2, 2, 2)
    truth[0, 0, 0, 0] = 3.0  # one pixel moves by (3, 0)
    estimate = torch.zeros_like(truth)
    estimate[0, 1, 1, 1] = 4.0  # a still pixel estimated at (0, 4)
    assert end_point_errors(estimate, truth) == pytest.approx((7 / 4, 3.0))
    all_still = end_point_errors(estimate, torch.zeros_like(truth))
    assert all_still[0] == pytest.approx(1.0) and np.isnan(all_still[1])
