"""Compare two result trees of the workflow: the check that a change meant to keep every result
(a refactoring) kept them.

    .venv/bin/python tests/compare_results.py BEFORE/results AFTER/results [--ignore GLOB ...]

Build the same targets with the same config before and after the change, then compare. Every file
in either tree is accounted for:

* ``*.csv``: header and rows in order, cell by cell;
* ``*.h5``: dataset names, dtypes, shapes and values (exactly; NaN equals NaN) and the ``params``
  attribute; not the ``identity`` and ``upstream`` digests, which hash upstream params that hold
  timings (a trajectory cache records its seconds per clip), so they differ from build to build;
* ``*.json``: the parsed documents;
* ``*.png``, ``*.pdf``, ``*.zip`` and ``benchmarks/``: listed as not compared (renderings, archives
  and Snakemake's timings; a figure's data is its CSV);
* anything else: line by line (Markdown, YAML, text), or byte for byte where it is not UTF-8 text
  (checkpoints, safetensors weights).

Timings are the one thing a rerun changes: CSV columns and JSON or HDF5 parameter keys whose names
say they are timings or machine facts (:data:`TIMING_NAME`) are left out, and a CSV row or text line
that reports a timing (:data:`TIMING_TEXT`, e.g. the claims report's speed check, or a Markdown row
naming the machine it was timed on) is compared with its numbers masked. Exit status 0 when the trees agree, 1 otherwise; the report lists each difference.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

TIMING_NAME = re.compile(r"(?i)seconds|^time|machine|ratio|threads")
TIMING_TEXT = re.compile(r"(?i)seconds|\d s\b|\d(\.\d+)?x\b|logical cores")
NOT_COMPARED = ("*.png", "*.pdf", "*.zip", "benchmarks/*")
NUMBER = re.compile(r"\d+(\.\d+)?(e[-+]?\d+)?")


def masked(text: str) -> str:
    """``text`` with its numbers masked when it reports a timing, else unchanged."""
    return NUMBER.sub("#", text) if TIMING_TEXT.search(text) else text


def without_timings(value: Any) -> Any:
    """A JSON-like value with every key that names a timing or machine fact removed, at any depth."""
    if isinstance(value, dict):
        return {key: without_timings(item) for key, item in value.items() if not TIMING_NAME.search(str(key))}
    if isinstance(value, list):
        return [without_timings(item) for item in value]
    return value


def compare_csv(before: Path, after: Path) -> Iterator[str]:
    with before.open(newline="") as a, after.open(newline="") as b:
        rows_a, rows_b = list(csv.reader(a)), list(csv.reader(b))
    if not rows_a or not rows_b or rows_a[0] != rows_b[0]:
        yield f"header {rows_a[:1]} != {rows_b[:1]}"
        return
    kept = [i for i, name in enumerate(rows_a[0]) if not TIMING_NAME.search(name)]
    if len(rows_a) != len(rows_b):
        yield f"{len(rows_a) - 1} rows != {len(rows_b) - 1} rows"
    for number, (row_a, row_b) in enumerate(zip(rows_a[1:], rows_b[1:]), 1):
        timed = TIMING_TEXT.search(",".join(row_a + row_b))
        for i in kept:
            cell_a, cell_b = (row[i] if i < len(row) else "" for row in (row_a, row_b))
            if timed:
                cell_a, cell_b = NUMBER.sub("#", cell_a), NUMBER.sub("#", cell_b)
            if cell_a != cell_b:
                yield f"row {number}, column {rows_a[0][i]!r}: {cell_a!r} != {cell_b!r}"


def _datasets(handle: h5py.File) -> dict[str, h5py.Dataset]:
    found: dict[str, h5py.Dataset] = {}
    handle.visititems(lambda name, item: found.__setitem__(name, item) if isinstance(item, h5py.Dataset) else None)
    return found


def compare_h5(before: Path, after: Path) -> Iterator[str]:
    with h5py.File(before, "r") as a, h5py.File(after, "r") as b:
        params = [without_timings(json.loads(handle.attrs.get("params", "{}"))) for handle in (a, b)]
        if params[0] != params[1]:
            yield f"params {json.dumps(params[0], sort_keys=True)} != {json.dumps(params[1], sort_keys=True)}"
        sets_a, sets_b = _datasets(a), _datasets(b)
        for name in sorted(set(sets_a) ^ set(sets_b)):
            yield f"dataset {name!r} only in {'before' if name in sets_a else 'after'}"
        for name in sorted(set(sets_a) & set(sets_b)):
            x, y = sets_a[name][()], sets_b[name][()]
            if x.dtype != y.dtype or x.shape != y.shape:
                yield f"dataset {name!r}: {x.dtype}{x.shape} != {y.dtype}{y.shape}"
            elif not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
                yield f"dataset {name!r}: values differ"


def compare_json(before: Path, after: Path) -> Iterator[str]:
    documents = [without_timings(json.loads(path.read_text())) for path in (before, after)]
    if documents[0] != documents[1]:
        yield "documents differ (timing and machine keys left out)"


def compare_text(before: Path, after: Path) -> Iterator[str]:
    data_a, data_b = before.read_bytes(), after.read_bytes()
    try:
        lines_a, lines_b = data_a.decode().splitlines(), data_b.decode().splitlines()
    except UnicodeDecodeError:  # a binary file (a checkpoint, safetensors weights): byte for byte
        if data_a != data_b:
            yield f"binary files differ ({len(data_a)} bytes, {len(data_b)} bytes)"
        return
    if len(lines_a) != len(lines_b):
        yield f"{len(lines_a)} lines != {len(lines_b)} lines"
    for number, (line_a, line_b) in enumerate(zip(lines_a, lines_b), 1):
        if masked(line_a) != masked(line_b):
            yield f"line {number}: {line_a!r} != {line_b!r}"


COMPARERS = {".csv": compare_csv, ".h5": compare_h5, ".json": compare_json}


def compare_trees(before: Path, after: Path, ignore: tuple[str, ...] = ()) -> tuple[list[str], list[str], int]:
    """The differences between two result trees, the files not compared (relative paths) and the
    number compared."""
    files_a = {path.relative_to(before).as_posix() for path in before.rglob("*") if path.is_file()}
    files_b = {path.relative_to(after).as_posix() for path in after.rglob("*") if path.is_file()}
    differences, skipped = [], []
    for name in sorted(files_a | files_b):
        if any(fnmatch.fnmatch(name, pattern) for pattern in (*NOT_COMPARED, *ignore)):
            skipped.append(name)
        elif name not in files_b or name not in files_a:
            differences.append(f"{name}: only {'before' if name in files_a else 'after'}")
        else:
            compare = COMPARERS.get(Path(name).suffix, compare_text)
            differences.extend(f"{name}: {difference}" for difference in compare(before / name, after / name))
    return differences, skipped, len(files_a | files_b) - len(skipped)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--ignore", action="append", default=[], help="glob of relative paths to leave out")
    args = parser.parse_args(argv)
    for tree in (args.before, args.after):
        if not tree.is_dir():
            parser.error(f"{tree} is not a directory; give two result trees (e.g. two builds' results/)")
    differences, skipped, compared = compare_trees(args.before, args.after, tuple(args.ignore))
    print(f"not compared ({len(skipped)}): {', '.join(skipped) or 'none'}")
    for difference in differences:
        print(difference)
    print(f"{len(differences)} differences in {compared} files compared" if differences else f"the trees agree: {compared} files compared")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
