"""Compare two result trees of the workflow: is a change behaviour-preserving?

Every file of the first tree must be in the second with the same content: HDF5 caches dataset by
dataset (values, dtypes, shapes) and attribute by attribute; JSON files value by value; other text
(CSV, Markdown, captions) byte for byte. Measured times and the machine they were measured on are
left out: JSON keys naming seconds, the machine and ratios of seconds, and Table X (results/table10.*), whose cells are seconds. Figures
(PNG, PDF) are drawn from the CSV beside them, which is compared. Benchmarks are wall times.

    python benchmarks/compare_results.py OLD/results NEW/results

Prints one line per difference and a summary; exits 1 if anything differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

TIMING_KEYS = ("machine", "threads", "ratio", "ratio_early_exit", "sweep_point", "sweep_point_early_exit")
SKIPPED = ("benchmarks/", "table10.")
SKIPPED_SUFFIXES = (".png", ".pdf")


def _without_timings(value):
    if isinstance(value, dict):
        return {
            key: _without_timings(item) for key, item in value.items() if key not in TIMING_KEYS and "second" not in key
        }
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def _h5_contents(path: Path) -> dict:
    contents = {}
    with h5py.File(path, "r") as handle:
        contents["/attrs"] = {key: str(value) for key, value in handle.attrs.items()}
        handle.visititems(lambda name, item: contents.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return contents


def _same_array(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def differences(old: Path, new: Path, relative: str) -> list[str]:
    """How file ``relative`` differs between the trees (empty: the same)."""
    a, b = old / relative, new / relative
    if not b.exists():
        return [f"{relative}: missing from {new}"]
    if a.suffix == ".h5":
        x, y = _h5_contents(a), _h5_contents(b)
        if x.keys() != y.keys():
            return [f"{relative}: datasets {sorted(x.keys() ^ y.keys())} in one tree only"]
        found = [] if x["/attrs"] == y["/attrs"] else [f"{relative}: attributes differ"]
        return found + [f"{relative}: dataset {key} differs" for key in x if key != "/attrs" and not _same_array(x[key], y[key])]
    if a.suffix == ".json":
        same = _without_timings(json.loads(a.read_text())) == _without_timings(json.loads(b.read_text()))
        return [] if same else [f"{relative}: JSON values differ (timings left out)"]
    return [] if a.read_bytes() == b.read_bytes() else [f"{relative}: bytes differ"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    files = sorted(
        str(path.relative_to(args.old)) for path in args.old.rglob("*")
        if path.is_file() and not str(path.relative_to(args.old)).startswith(SKIPPED)
        and path.suffix not in SKIPPED_SUFFIXES
    )
    found = [line for relative in files for line in differences(args.old, args.new, relative)]
    print("\n".join(found + [f"{len(files)} files compared, {len(found)} differences"]))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
