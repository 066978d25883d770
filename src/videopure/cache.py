"""HDF5 stage caches: atomic writes, parameters and upstream identities in ``attrs``.

Every stage writes exactly one HDF5 file per job output. A file carries

* ``attrs["params"]``: JSON of the parameters that produced it (what a reader checks),
* ``attrs["upstream"]``: JSON mapping of input role -> identity of the file it was made from,
* ``attrs["identity"]``: a digest of the two above and of the datasets' bytes, which downstream
  files record as their upstream identity.

Writes go to a temporary name in the same directory and are renamed into place, so an
interrupted job never leaves a truncated file under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np


class StaleCacheError(RuntimeError):
    """A cache file was made with other parameters or from other inputs than the reader expects."""


class CorruptCacheError(StaleCacheError):
    """A cache file cannot be read as HDF5 (truncated or damaged outside the workflow, whose writes
    are atomic)."""


def rebuild_advice(path: str | Path) -> str:
    """How to rebuild a refused cache file. Snakemake does not rerun a job whose output is newer
    than its inputs, whatever the output holds: the fix is to delete the file, not merely to rerun."""
    return f"delete it and run the same snakemake command again, which rebuilds it and what depends on it: rm '{path}'"


@contextlib.contextmanager
def open_h5(path: Path) -> Iterator[h5py.File]:
    """``h5py.File(path, "r")``, with any read failure inside the block reported as a
    :class:`CorruptCacheError` that names the file and how to rebuild it."""
    try:
        with h5py.File(path, "r") as handle:
            yield handle
    except OSError as exc:
        raise CorruptCacheError(
            f"cache file '{path}' cannot be read ({exc}): it was truncated or damaged after it was "
            f"written; {rebuild_advice(path)}"
        ) from None


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary name beside ``path``; rename it to ``path`` if the block succeeds.

    Every file the workflow writes goes through here, so an interrupted job leaves either the
    previous file or none under the final name — never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Like :func:`atomic_path` for a directory (a saved model): yield an empty temporary directory
    beside ``path`` and rename it to ``path`` if the block succeeds, replacing an older one.

    Readers see the previous directory or the complete new one, never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    old = path.with_name(f".{path.name}.old{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_h5(
    path: str | Path,
    arrays: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    upstream: Mapping[str, str] | None = None,
    compression: str | None = "gzip",
) -> str:
    """Write ``arrays`` to ``path`` atomically and return the file's identity.

    Args:
        path: final file name; parent directories are created.
        arrays: dataset name -> array. String arrays are stored as UTF-8.
        params: JSON-serialisable parameters of the stage (checked by readers).
        upstream: input role -> identity of the file it was computed from.
        compression: h5py compression for numeric datasets of more than 1 KiB.
    """
    digest = hashlib.sha256()
    digest.update(_canonical(params).encode())
    digest.update(_canonical(dict(upstream or {})).encode())
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            for name in sorted(arrays):
                array = np.asarray(arrays[name])
                digest.update(name.encode())
                if array.dtype.kind in "UO":
                    data = np.array([str(s) for s in array.reshape(-1)], dtype=object)
                    digest.update("\0".join(data).encode())
                    handle.create_dataset(
                        name, data=data.reshape(array.shape), dtype=h5py.string_dtype(), track_times=False
                    )
                    continue
                array = np.ascontiguousarray(array)
                digest.update(str(array.dtype).encode() + str(array.shape).encode())
                digest.update(array.tobytes())
                use_compression = compression if array.nbytes > 1024 else None
                # no creation times: the same arrays and params give the same bytes, build after build
                handle.create_dataset(name, data=array, compression=use_compression, track_times=False)
            identity = digest.hexdigest()[:16]
            handle.attrs["params"] = _canonical(params)
            handle.attrs["upstream"] = _canonical(dict(upstream or {}))
            handle.attrs["identity"] = identity
    return identity


class H5Record:
    """Arrays and metadata of one cache file, as returned by :func:`read_h5`."""

    def __init__(self, path: Path, arrays: dict[str, np.ndarray], params: dict, upstream: dict, identity: str):
        self.path = path
        self.arrays = arrays
        self.params = params
        self.upstream = upstream
        self.identity = identity

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.arrays[name]
        except KeyError:
            raise KeyError(f"{self.path}: no dataset '{name}' (has {sorted(self.arrays)})") from None


def read_attrs(path: str | Path) -> tuple[dict, dict, str]:
    """Return ``(params, upstream, identity)`` of a cache file without reading its datasets."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cache file '{path}' does not exist; rerun the workflow stage that makes it")
    with open_h5(path) as handle:
        try:
            return (
                json.loads(handle.attrs["params"]),
                json.loads(handle.attrs["upstream"]),
                str(handle.attrs["identity"]),
            )
        except KeyError as exc:
            raise StaleCacheError(f"{path}: missing attribute {exc}; not written by this workflow — delete it") from None


def dataset_shape(path: str | Path, name: str) -> tuple[int, ...]:
    """The shape of dataset ``name`` in a cache file, without reading it."""
    path = Path(path)
    read_attrs(path)  # the same missing-file and foreign-file errors as every reader
    with open_h5(path) as handle:
        if name not in handle:
            raise KeyError(f"{path}: no dataset '{name}' (has {sorted(handle.keys())})")
        return tuple(handle[name].shape)


def read_h5(
    path: str | Path,
    expect_params: Mapping[str, Any] | None = None,
    expect_upstream: Mapping[str, str] | None = None,
    keys: list[str] | None = None,
) -> H5Record:
    """Read a cache file, refusing it if its parameters or upstream identities differ.

    Args:
        expect_params: every key given must equal the stored parameter (after JSON round trip).
        expect_upstream: every role given must carry this identity.
        keys: datasets to load (default all).

    Raises:
        StaleCacheError: naming the file, the key, the stored and the expected value.
    """
    path = Path(path)
    params, upstream, identity = read_attrs(path)
    _check(path, "parameter", params, expect_params)
    _check(path, "upstream", upstream, expect_upstream)
    with open_h5(path) as handle:
        names = keys if keys is not None else list(handle.keys())
        arrays = {}
        for name in names:
            if name not in handle:
                raise KeyError(f"{path}: no dataset '{name}' (has {sorted(handle.keys())})")
            data = handle[name]
            if h5py.check_string_dtype(data.dtype) is not None:
                arrays[name] = data.asstr()[()]
            else:
                arrays[name] = data[()]
    return H5Record(path, arrays, params, upstream, identity)


def _check(path: Path, kind: str, stored: dict, expected: Mapping[str, Any] | None) -> None:
    fix = rebuild_advice(path)
    for key, value in (expected or {}).items():
        want = json.loads(_canonical(value))
        if key not in stored:
            raise StaleCacheError(f"{path}: {kind} '{key}' was not recorded; {fix}")
        if stored[key] != want:
            raise StaleCacheError(f"{path}: stale cache — {kind} '{key}' is {stored[key]!r}, expected {want!r}; {fix}")


def directory_digest(*directories: Path) -> str:
    """SHA-256 over the relative names and bytes of every file under ``directories``: the identity
    of model folders that downstream caches record. A trainer's ``metrics.json`` is left out: it
    records wall times and the machine, not the model, and would give identical models new identities."""
    digest = hashlib.sha256()
    for directory in map(Path, directories):
        for file in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "metrics.json"):
            digest.update(f"{directory.name}/{file.relative_to(directory)}\0".encode())
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 24), b""):
                    digest.update(block)
    return digest.hexdigest()


def save_torch_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save(obj)`` to ``path`` atomically, with bytes that depend on ``obj`` alone.

    Saved to a file name, torch names the archive inside after the file — here the temporary name,
    which holds the process id — so identical weights would get a different digest in every build.
    Through a file handle the archive's name is fixed.
    """
    import torch

    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        torch.save(obj, handle)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file (CSV, Markdown, JSON) under a temporary name, then rename it into place."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
