"""HDF5 caches: atomic writes, attrs round trip, stale-cache refusal, identities."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from videopure.cache import (
    CorruptCacheError,
    StaleCacheError,
    dataset_shape,
    directory_digest,
    read_attrs,
    read_h5,
    write_h5,
    write_text_atomic,
)


def test_round_trip_with_params_and_upstream(tmp_path):
    path = tmp_path / "sub" / "x.h5"
    frames = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    ids = np.array(["a/v1.mp4", "b/v2.mp4"])
    identity = write_h5(path, {"frames": frames, "ids": ids}, {"t": 6, "clip": {"T": 16}}, {"frames": "abc"})
    record = read_h5(path, expect_params={"t": 6, "clip": {"T": 16}}, expect_upstream={"frames": "abc"})
    np.testing.assert_array_equal(record["frames"], frames)
    assert list(record["ids"]) == list(ids)
    assert record.identity == identity and read_attrs(path)[2] == identity
    assert dataset_shape(path, "frames") == (2, 3, 4)
    assert [p.name for p in path.parent.iterdir()] == ["x.h5"]  # no temporary left behind


def test_identity_depends_on_content_and_params(tmp_path):
    a = write_h5(tmp_path / "a.h5", {"x": np.zeros(3)}, {"p": 1})
    b = write_h5(tmp_path / "b.h5", {"x": np.zeros(3)}, {"p": 1})
    c = write_h5(tmp_path / "c.h5", {"x": np.ones(3)}, {"p": 1})
    d = write_h5(tmp_path / "d.h5", {"x": np.zeros(3)}, {"p": 2})
    assert a == b and len({a, c, d}) == 3


def test_identical_writes_give_identical_bytes_and_model_folders_ignore_their_training_record(tmp_path):
    """Same arrays and params, written a second apart: the same bytes (no creation times). A model
    folder's identity follows its files, but not the trainer's metrics.json (wall times)."""
    import time

    arrays, params = {"x": np.arange(600.0), "ids": np.array(["a", "b"])}, {"k": 1}
    write_h5(tmp_path / "a.h5", arrays, params)
    time.sleep(1.1)
    write_h5(tmp_path / "b.h5", arrays, params)
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w")
    (model / "metrics.json").write_text('{"seconds": 1.0}')
    before = directory_digest(model)
    (model / "metrics.json").write_text('{"seconds": 2.0}')
    assert directory_digest(model) == before
    (model / "weights.bin").write_bytes(b"v")
    assert directory_digest(model) != before


def test_stale_parameters_and_upstream_are_refused_with_the_file_named(tmp_path):
    path = tmp_path / "x.h5"
    write_h5(path, {"x": np.zeros(3)}, {"tstar": 6}, {"frames": "abc"})
    with pytest.raises(StaleCacheError, match=r"x\.h5.*'tstar' is 6, expected 8"):
        read_h5(path, expect_params={"tstar": 8})
    with pytest.raises(StaleCacheError, match="upstream 'frames'"):
        read_h5(path, expect_upstream={"frames": "def"})
    with pytest.raises(StaleCacheError, match="'alpha_s' was not recorded"):
        read_h5(path, expect_params={"alpha_s": -4})


def test_foreign_h5_and_missing_file_get_clear_errors(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as handle:
        handle["x"] = np.zeros(2)
    with pytest.raises(StaleCacheError, match="not written by this workflow"):
        read_h5(foreign)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        read_h5(tmp_path / "missing.h5")
    ours = tmp_path / "ours.h5"
    write_h5(ours, {"x": np.zeros(1)}, {})
    with pytest.raises(KeyError, match="no dataset 'y'"):
        read_h5(ours, keys=["y"])
    with pytest.raises(KeyError, match="no dataset 'y'"):
        dataset_shape(ours, "y")
    with pytest.raises(StaleCacheError, match="not written by this workflow"):
        dataset_shape(foreign, "x")


@pytest.mark.parametrize("kept", [0.5, 0.9])
def test_truncated_file_is_named_with_the_command_that_rebuilds_it(tmp_path, kept):
    """A cache cut short outside the workflow (a full disk, an interrupted copy): every reader names
    the file and says how to rebuild it, instead of h5py's bare OSError."""
    path = tmp_path / "frames.h5"
    write_h5(path, {"frames": np.random.default_rng(0).integers(0, 255, (64, 1024), dtype=np.uint8)}, {})
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * kept)])
    for read in (read_h5, read_attrs, lambda p: dataset_shape(p, "frames")):
        with pytest.raises(CorruptCacheError) as info:
            read(path)
        assert f"cache file '{path}' cannot be read" in str(info.value) and f"rm '{path}'" in str(info.value)


def test_interrupted_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "x.h5"
    write_h5(path, {"x": np.zeros(3)}, {"v": 1})

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", explode)
    with pytest.raises(KeyboardInterrupt):
        write_h5(path, {"x": np.ones(3)}, {"v": 2})
    monkeypatch.undo()
    assert read_h5(path).params == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.h5"]
    write_text_atomic(tmp_path / "t.csv", "a,b\n")
    assert (tmp_path / "t.csv").read_text() == "a,b\n"
