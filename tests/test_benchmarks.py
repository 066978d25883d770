"""The benchmark scripts run (tiny shapes) and write the JSON their README describes."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import REPO


def test_paper_scale_benchmark_smoke(tmp_path):
    out = tmp_path / "paper_scale.json"
    script = REPO / "benchmarks" / "paper_scale.py"
    result = subprocess.run(
        [sys.executable, str(script), "--smoke", "--threads", "1", "--out", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["smoke"] is True and report["threads"] == 1 and "cores" in report["machine"]
    for key in ("unet_forward", "unet_forward_backward", "vae_decode"):
        measured = report["results"][key]
        assert measured["latent_shape"][0] == 1 and measured["latent_shape"][2] == 4, key
        assert all(seconds > 0 for seconds in measured["seconds"]), key
    assert report["results"]["vae_decode"]["pixel_shape"][:3] == [1, 2, 3]  # --smoke decodes 2 latent frames
    assert report["parameters"]["unet"] > 0 and report["parameters"]["vae"] > 0
