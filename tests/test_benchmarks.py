"""The benchmark scripts run (tiny shapes) and write the JSON their README describes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import REPO, tiny_diffusion
from videopure.cache import write_h5

SCRIPT = REPO / "benchmarks" / "paper_scale.py"


def predictions_file(path, settings: dict, evaluated: dict[str, list[int]], early_exit: bool = True):
    """A predictions file as rules predict write it, reduced to what the benchmark reads."""
    arrays = {f"{source}/evaluated": np.array(counts)[:, None] for source, counts in evaluated.items()}
    write_h5(path, arrays, params={"defense_settings": settings, "sources": list(evaluated), "early_exit": early_exit})
    return path


def test_paper_scale_benchmark_smoke(tmp_path):
    out = tmp_path / "paper_scale.json"
    votes = predictions_file(tmp_path / "Ours.h5", {"name": "videopure", "tstar": 2, "candidate": None},
                             {"clean": [2, 2, 3], "pgd": [3]})
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--threads", "1", "--out", str(out), "--votes-from", str(votes)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["smoke"] is True and report["threads"] == 1 and "cores" in report["machine"]
    results = report["results"]
    for key in ("unet_forward", "unet_forward_backward", "vae_decode", "optimisation_step"):
        assert results[key]["latent_shape"][0] == 1 and results[key]["latent_shape"][2] == 4, key
    assert all(seconds > 0 for measured in results.values() for seconds in measured["seconds"])
    # The smoke profile's clip (8 x 32 x 32) is what Table X prices: its latents, decoded, classified.
    assert results["vae_decode"]["pixel_shape"] == results["classify"]["pixel_shape"] == [1, 8, 3, 32, 32]
    assert results["unet_forward"]["latent_shape"] == [1, *report["table10"]["clip_latent_shape"][:1], 4,
                                                       *report["table10"]["clip_latent_shape"][1:]]
    assert results["classify"]["recognizer"] == "NL: config/models/smoke_nl.py"
    assert results["flow"]["flow_model"]["type"] == "farneback"  # smoke's Ours names no flow
    assert all(report["parameters"][key] > 0 for key in ("unet", "vae", "recognizer"))
    # Table X priced from them: smoke's DiffPure_DDPM (t* = 21) and VideoPure (t* = 2, 3 candidates).
    table10 = report["table10"]
    assert table10["profile"] == "config/smoke.yaml" and table10["priced_at_clip_shape"]
    rows = table10["rows"]
    assert list(rows) == ["DiffPure_DDPM", "VideoPure", "VideoPure (early exit, unanimous)",
                          "VideoPure (early exit, mean of 4 votes)"]
    assert rows["VideoPure (early exit, mean of 4 votes)"]["work"]["decodes"] == 2.5
    assert (rows["DiffPure_DDPM"]["work"]["unet_calls"], rows["VideoPure"]["work"]["unet_calls"]) == (21, 4)
    ddpm = rows["DiffPure_DDPM"]["seconds"]["total"]
    assert ddpm == pytest.approx(21 * results["unet_forward"]["median_seconds"] + sum(
        results[key]["median_seconds"] for key in ("vae_decode", "classify", "vae_encode")))
    for row in rows.values():
        assert row["ratio"] == pytest.approx(ddpm / row["seconds"]["total"])


@pytest.mark.parametrize(
    ("settings", "early_exit", "message"),
    [
        ({"name": "diffpure_ddim", "tstar": 6}, True, "not the predictions of a VideoPure voting"),
        ({"name": "videopure", "tstar": 6, "candidate": 0}, True, "not the predictions of a VideoPure voting"),
        ({"name": "videopure", "tstar": 2, "candidate": None}, True, "at t* = 6, the profile's"),
        ({"name": "videopure", "tstar": 6, "candidate": None}, False, "not early-exit votes"),
    ],
)
def test_votes_from_refuses_other_predictions_before_measuring(tmp_path, settings, early_exit, message):
    votes = predictions_file(tmp_path / "votes.h5", settings, {"clean": [4, 7]}, early_exit)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--profile", str(REPO / "config" / "config.yaml"), "--smoke", "--votes-from",
         str(votes), "--out", str(tmp_path / "never.json")],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and message in result.stderr
    assert str(votes) in result.stderr and "built the model" not in result.stdout
    assert not (tmp_path / "never.json").exists()


def test_a_trained_bundle_prices_its_own_profile(tmp_path):
    """--diffusion-model: Table X priced on a saved bundle (e.g. mini's trained one) in place of the
    paper's architecture, on the profile's clip (smoke's 8 x 32 x 32: 16 x 16 latents for this VAE)."""
    bundle = tmp_path / "ldm"
    tiny_diffusion().save_pretrained(bundle)
    out = tmp_path / "priced.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--profile", str(REPO / "config" / "smoke.yaml"), "--diffusion-model",
         str(bundle), "--no-gradient", "--threads", "1", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["diffusion_model"] == str(bundle) and "unet_forward_backward" not in report["results"]
    assert report["table10"]["clip_latent_shape"] == [8, 16, 16]
    assert report["results"]["vae_decode"]["latent_shape"] == [1, 8, 4, 16, 16]
    assert report["parameters"]["unet"] == sum(p.numel() for p in tiny_diffusion().unet.parameters())
