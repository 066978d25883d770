"""The latent cache (stage 4): written once per clip file and model, refused when either changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import tiny_diffusion
from videopure.cache import StaleCacheError
from videopure.defenses import DDIMInversion, DefendedClassifier, DiffPureDDPM, seeded
from videopure.evaluation.latents import encode_clips, read_latents, write_latents
from videopure.evaluation.voting import predict_defended

CLIPS = torch.rand(3, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
VIDEO_IDS = np.array(["a", "b", "c"])
UPSTREAM = {"clips": "0123456789abcdef"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class MeanClassifier(torch.nn.Module):
    """Logits from per-channel means: enough to compare predictions made two ways."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(dim=(1, 3, 4)))


def test_cached_latents_round_trip_and_equal_online_encoding(tmp_path):
    model = tiny_diffusion()
    latents = encode_clips(model, CLIPS, batch_size=2)
    assert latents.shape == (3, 4, 4, 4, 4) and latents.dtype == np.float32
    identity = write_latents(tmp_path / "z.h5", latents, VIDEO_IDS, model, UPSTREAM)
    cached, cached_identity = read_latents(tmp_path / "z.h5", model, UPSTREAM, VIDEO_IDS)
    torch.testing.assert_close(cached, model.encode(CLIPS))
    assert cached_identity == identity


def test_latents_of_another_model_or_other_clips_are_refused(tmp_path):
    model = tiny_diffusion(seed=0)
    write_latents(tmp_path / "z.h5", encode_clips(model, CLIPS, 3), VIDEO_IDS, model, UPSTREAM)
    with pytest.raises(StaleCacheError, match="diffusion_model"):
        read_latents(tmp_path / "z.h5", tiny_diffusion(seed=1), UPSTREAM, VIDEO_IDS)
    with pytest.raises(StaleCacheError, match="clips"):
        read_latents(tmp_path / "z.h5", model, {"clips": "fedcba9876543210"}, VIDEO_IDS)
    with pytest.raises(ValueError, match="other clips"):
        read_latents(tmp_path / "z.h5", model, UPSTREAM, VIDEO_IDS[::-1])


@pytest.mark.parametrize("defense", [DDIMInversion, DiffPureDDPM])
def test_predictions_from_cached_latents_equal_predictions_from_clips(defense):
    """The predict stage may purify cached z0 instead of encoding again: same logits, same seeds."""
    model = tiny_diffusion()
    purifier = defense(model, tstar=2) if defense is DDIMInversion else defense(model, tstar=11)
    torch.manual_seed(0)
    defended = DefendedClassifier(MeanClassifier(), purifier, gradient="none")
    latents = torch.from_numpy(encode_clips(model, CLIPS, 3))
    ids = np.arange(3)
    from_clips = predict_defended(defended, CLIPS, 0, 2, 2, ids).logits
    from_latents = predict_defended(defended, CLIPS, 0, 2, 2, ids, latents=latents).logits
    np.testing.assert_allclose(from_latents, from_clips, rtol=1e-4, atol=1e-5)
    with seeded(0):
        assert not np.allclose(from_clips[:, 0], from_clips[:, 1]) or not purifier.stochastic


def test_every_videopure_cache_writer_gives_the_same_identity_for_the_same_inputs(tmp_path):
    """Criterion (deterministic identities), per cache writer: latents, trajectories and flows
    computed and written twice from the same clips and model have the same identity and bytes."""
    from videopure.defenses import VideoPure
    from videopure.evaluation.trajectories import (
        compute_flows,
        compute_trajectories,
        write_flows,
        write_trajectories,
    )
    from videopure.flow import build_flow_model

    spec = {"tstar": 2, "flow": {"type": "farneback"}}
    model, identities = tiny_diffusion(), []
    for attempt in ("a", "b"):
        latents = encode_clips(model, CLIPS, batch_size=2)
        written = [write_latents(tmp_path / f"z{attempt}.h5", latents, VIDEO_IDS, model, UPSTREAM)]
        trajectory = compute_trajectories(VideoPure(model, **spec), torch.from_numpy(latents), batch_size=2)
        settings = VideoPure.spec_trajectory({"type": "videopure", **spec})
        written.append(write_trajectories(tmp_path / f"t{attempt}.h5", trajectory, VIDEO_IDS, settings, UPSTREAM))
        flows = compute_flows(build_flow_model(spec["flow"]), CLIPS, latents.shape[-2:], batch_size=2)
        written.append(write_flows(tmp_path / f"f{attempt}.h5", flows, VIDEO_IDS, spec["flow"], UPSTREAM))
        identities.append(written)
    assert identities[0] == identities[1]
    for name in "ztf":
        assert (tmp_path / f"{name}a.h5").read_bytes() == (tmp_path / f"{name}b.h5").read_bytes()
