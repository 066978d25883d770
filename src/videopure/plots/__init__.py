"""Figures of the paper, drawn with seaborn from the workflow's measured numbers."""

from videopure.plots.sweeps import plot_sweep

__all__ = ["plot_sweep"]
