"""The result-tree comparison (tests/compare_results.py) a refactoring is checked with: it finds every
kind of change but the timings of a rerun."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from videopure.cache import write_h5

from tests.compare_results import compare_trees, main


def build_tree(
    root, *, seconds: float = 1.5, votes=(1, 2, 3), accuracy: str = "90.0", trajectory_seconds=0.25, weights=b"\x80\x02w"
):
    """A small result tree of the workflow's kinds of files."""
    (root / "benchmarks").mkdir(parents=True)
    (root / "benchmarks" / "predict.tsv").write_text(f"s\n{seconds}\n")
    (root / "table1.csv").write_text(f"Model,Defense,None,PGD\nNL,JPEG,{accuracy},10.0\n")
    (root / "table10.csv").write_text(f"Defense Method,Time(s),UNet calls,Machine\nOurs,{seconds},12.0,host {seconds}\n")
    (root / "claims.csv").write_text(
        "Claim,Ours,Verdict\nC1,0.0 %,holds\n"
        f"C9,{seconds:.3g} s / {seconds / 4:.3g} s = 4.00x,holds\n"
    )
    (root / "table1.md").write_text(f"| Model | None |\n|---|---|\n| NL | {accuracy} |\n\nTimed in {seconds} seconds.\n")
    (root / "table10.md").write_text(f"| Defense | Time(s) | Machine |\n|---|---|---|\n| Ours | {seconds} | host, 2 logical cores |\n")
    (root / "speed.json").write_text(json.dumps({"defenses": {"Ours": {"median_seconds": seconds, "unet_calls": 12}}, "ratio": 2.0}))
    (root / "fig3.png").write_bytes(bytes([int(seconds * 10)]))
    (root / "checkpoint.pth").write_bytes(weights)  # not UTF-8: compared byte for byte
    write_h5(root / "predictions.h5", {"votes": np.array(votes), "logits": np.array([0.5, np.nan])}, {"defense": "Ours"},
             upstream={"trajectory": f"digest-{trajectory_seconds}"})  # fmt: skip
    write_h5(root / "trajectory.h5", {"z": np.zeros(3)}, {"seconds_per_clip": trajectory_seconds, "tstar": 6})


@pytest.fixture
def trees(tmp_path):
    build_tree(tmp_path / "before")
    return tmp_path / "before", tmp_path / "after"


def test_a_rerun_agrees_whatever_its_timings(trees, capsys):
    before, after = trees
    build_tree(after, seconds=2.75, trajectory_seconds=0.5)
    differences, skipped, compared = compare_trees(before, after)
    assert differences == []
    assert skipped == ["benchmarks/predict.tsv", "fig3.png"] and compared == 9
    assert main([str(before), str(after)]) == 0
    assert "the trees agree: 9 files compared" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"votes": (1, 2, 4)}, "predictions.h5: dataset 'votes': values differ"),
        ({"votes": (1, 2, 3, 4)}, "predictions.h5: dataset 'votes': int64(3,) != int64(4,)"),
        ({"accuracy": "80.0"}, "table1.csv: row 1, column 'None': '90.0' != '80.0'"),
        ({"accuracy": "80.0"}, "table1.md: line 3: '| NL | 90.0 |' != '| NL | 80.0 |'"),
        ({"weights": b"\x80\x02x"}, "checkpoint.pth: binary files differ (3 bytes, 3 bytes)"),
    ],
)
def test_every_change_of_a_result_is_found(trees, change, expected):
    before, after = trees
    build_tree(after, **change)
    differences, _, _ = compare_trees(before, after)
    assert expected in differences


def test_params_files_and_verdicts(trees, capsys):
    before, after = trees
    build_tree(after)
    write_h5(after / "trajectory.h5", {"z": np.zeros(3)}, {"seconds_per_clip": 0.25, "tstar": 7})
    (after / "claims.csv").write_text((before / "claims.csv").read_text().replace("4.00x,holds", "4.00x,fails"))
    (after / "speed.json").write_text(json.dumps({"defenses": {"Ours": {"median_seconds": 1, "unet_calls": 7}}}))
    (after / "extra.yaml").write_text("a: 1\n")
    (before / "fig3.png").unlink()  # not compared, so not a difference
    differences, _, _ = compare_trees(before, after)
    assert differences == [
        "claims.csv: row 2, column 'Verdict': 'holds' != 'fails'",
        "extra.yaml: only after",
        "speed.json: documents differ (timing and machine keys left out)",
        'trajectory.h5: params {"tstar": 6} != {"tstar": 7}',
    ]
    assert main([str(before), str(after)]) == 1
    assert "4 differences in 10 files compared" in capsys.readouterr().out
    shutil.rmtree(after)
    assert compare_trees(before, after.parent / "before", ignore=("*.csv",))[0] == []
    with pytest.raises(SystemExit):
        main([str(before), str(after)])
    assert "is not a directory" in capsys.readouterr().err
