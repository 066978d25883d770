"""Verdicts that account for sampling noise, for the claims report (:mod:`videopure.tables.claims`).

An accuracy measured on n clips is a proportion with sampling noise: on 10 clips one clip moves it
by 10 points. Every verdict therefore reads a 95 % confidence interval, never the point estimate:

* one accuracy: the Wilson score interval (Wilson 1927), which stays inside [0, 1] and keeps its
  coverage at 0/n and n/n, where the normal approximation collapses to a point;
* the difference of two accuracies: Newcombe's hybrid score interval (Newcombe 1998, method 10),
  built from the two Wilson intervals. The two accuracies are treated as independent although both
  are measured on the same clips: a paired interval would be narrower, so this rule errs toward
  "inconclusive", never toward a verdict the clips do not support.

The rule: a claim **holds** when its whole interval lies on the claimed side of its threshold,
**fails** when its whole interval lies on the other side, and is **inconclusive** otherwise. One
clip can therefore move a verdict between holds (or fails) and inconclusive, never from holds to
fails. An accuracy averaged over several attack columns counts the clips once (n = clips): the
columns' clips are the same videos, so they are not independent draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

#: Two-sided 95 % normal quantile.
Z95 = 1.959963984540054


class Verdict(str, Enum):
    """A claim's verdict (its value is what the report prints)."""

    HOLDS = "holds"
    FAILS = "fails"
    INCONCLUSIVE = "inconclusive"
    NOT_MEASURED = "not measured here"

    @classmethod
    def combine(cls, verdicts: list[Verdict]) -> Verdict:
        """A claim's verdict from its checks': fails if one fails; else not measured if one is not
        measured; else holds if all hold; else inconclusive."""
        for verdict in (cls.FAILS, cls.NOT_MEASURED, cls.INCONCLUSIVE):
            if verdict in verdicts:
                return verdict
        return cls.HOLDS if verdicts else cls.NOT_MEASURED


@dataclass(frozen=True)
class Accuracy:
    """An accuracy (a fraction in [0, 1]) measured on ``clips`` clips."""

    value: float
    clips: int

    def __post_init__(self) -> None:
        if self.clips <= 0:
            raise ValueError(f"an accuracy needs at least one clip, got {self.clips}")
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"an accuracy is a fraction in [0, 1], got {self.value}")

    @classmethod
    def percent(cls, value: float, clips: int) -> Accuracy:
        """From a table cell in percent (one decimal): clamped to [0, 100] against rounding."""
        return cls(min(max(float(value), 0.0), 100.0) / 100.0, int(clips))

    def interval(self, z: float = Z95) -> tuple[float, float]:
        """The Wilson score interval."""
        n, p = self.clips, self.value
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return max(0.0, centre - half), min(1.0, centre + half)


def percent_text(value: float) -> str:
    """A fraction as the reports print it: percent, one decimal."""
    return f"{100 * value:.1f}"


def interval_text(interval: tuple[float, float]) -> str:
    """An interval of fractions as the reports print it: ``[low, high]`` in percent."""
    return f"[{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def difference_interval(a: Accuracy, b: Accuracy, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``a.value - b.value``."""
    (low_a, high_a), (low_b, high_b) = a.interval(z), b.interval(z)
    d = a.value - b.value
    return (
        d - math.sqrt((a.value - low_a) ** 2 + (high_b - b.value) ** 2),
        d + math.sqrt((high_a - a.value) ** 2 + (b.value - low_b) ** 2),
    )


def verdict_at_most(interval: tuple[float, float], bound: float) -> Verdict:
    """For "the quantity is ≤ ``bound``", with the quantity's interval."""
    low, high = interval
    if high <= bound:
        return Verdict.HOLDS
    if low > bound:
        return Verdict.FAILS
    return Verdict.INCONCLUSIVE


def verdict_above(interval: tuple[float, float], bound: float = 0.0) -> Verdict:
    """For "the quantity is > ``bound``" (a difference: > 0), with the quantity's interval."""
    low, high = interval
    if low > bound:
        return Verdict.HOLDS
    if high <= bound:
        return Verdict.FAILS
    return Verdict.INCONCLUSIVE


def verdict_at_least(interval: tuple[float, float], bound: float = 0.0) -> Verdict:
    """For "the quantity is ≥ ``bound``" (a difference: ≥ 0), with the quantity's interval."""
    low, high = interval
    if low >= bound:
        return Verdict.HOLDS
    if high < bound:
        return Verdict.FAILS
    return Verdict.INCONCLUSIVE
