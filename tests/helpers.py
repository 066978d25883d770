"""Paths and commands shared by the tests."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake_cmd(*args: str) -> list[str]:
    """Snakemake of this interpreter's venv, on this repository's Snakefile."""
    return [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), *args]
