"""Replay tests/mutations.txt: plant each one-line bug in a throwaway copy of src/ and run the test
that must catch it; print CAUGHT or MISSED per entry and exit 1 if any was missed.

The working tree is never touched. Usage, from the repository root::

    .venv/bin/python tests/replay_mutations.py            # every entry
    .venv/bin/python tests/replay_mutations.py ID [ID...]  # some entries
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def read_entries(path: Path) -> list[dict[str, str]]:
    """The entries of the mutation list: blank-line separated blocks of ``key: value`` lines."""
    entries, current = [], {}
    for line in [*path.read_text().splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                entries.append(current)
            current = {}
            continue
        key, value = line.split(": ", 1)
        current[key.strip()] = value
    return entries


def plant(src: Path, entry: dict[str, str]) -> None:
    """Replace the entry's original line (matched without indentation, exactly once) in ``src``."""
    target = src / Path(entry["file"]).relative_to("src")
    lines = target.read_text().splitlines(keepends=True)
    hits = [index for index, line in enumerate(lines) if line.strip() == entry["original"]]
    if len(hits) != 1:
        raise SystemExit(f"{entry['id']}: the original line occurs {len(hits)} times in {entry['file']}; update the list")
    line = lines[hits[0]]
    lines[hits[0]] = line[: len(line) - len(line.lstrip())] + entry["mutated"] + "\n"
    target.write_text("".join(lines))


def main(ids: list[str]) -> int:
    entries = [entry for entry in read_entries(REPO / "tests" / "mutations.txt") if not ids or entry["id"] in ids]
    missed = []
    for entry in entries:
        with tempfile.TemporaryDirectory() as scratch:
            src = Path(scratch) / "src"
            shutil.copytree(REPO / "src", src)
            (src.parent / "workflow").symlink_to(REPO / "workflow")  # the config schema, read beside src/
            plant(src, entry)
            env = {**os.environ, "PYTHONPATH": str(src)}
            command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", entry["test"]]
            result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        caught = result.returncode == 1  # 1: tests failed; anything else is an error of the run itself
        if result.returncode not in (0, 1):
            raise SystemExit(f"{entry['id']}: pytest exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        print(f"{'CAUGHT' if caught else 'MISSED'} {entry['id']} ({entry['test']})", flush=True)
        if not caught:
            missed.append(entry["id"])
    print(f"{len(entries) - len(missed)} of {len(entries)} planted bugs caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
