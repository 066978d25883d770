"""Writing a finished figure: every figure of the workflow is a PNG and a PDF, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from videopure.cache import atomic_path


def save_figure(figure: Any, png: str | Path, pdf: str | Path) -> None:
    """Lay out the matplotlib ``figure``, write it as PNG (150 dpi) and PDF atomically, and close it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    for path, kind in ((png, "png"), (pdf, "pdf")):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=kind, dpi=150)
    plt.close(figure)
