"""Clean classification and the evaluation set (paper Section IV-A).

The paper evaluates every defense on clips that all recognizers of a dataset classify
correctly ("We ensure that all the selected videos can be correctly classified by all video
recognition models"); :func:`evaluation_mask` is that rule.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def evaluation_mask(logits_by_model: Mapping[str, np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Boolean mask of the clips every model classifies correctly (top-1)."""
    if not logits_by_model:
        raise ValueError("evaluation_mask needs the logits of at least one model")
    mask = np.ones(len(labels), dtype=bool)
    for name, logits in logits_by_model.items():
        if logits.shape[0] != len(labels):
            raise ValueError(f"model {name}: {logits.shape[0]} logits rows for {len(labels)} labels")
        mask &= logits.argmax(axis=1) == labels
    return mask


def cap_evaluation_set(index: np.ndarray, labels: np.ndarray, max_clips: int | None, seed: int) -> np.ndarray:
    """At most ``max_clips`` of ``index``, class-balanced and seeded, in ascending order.

    Classes take turns (a seeded shuffle within each class), so the cap keeps every class
    represented as evenly as the evaluation set allows. ``None`` keeps everything.
    """
    if max_clips is None or len(index) <= max_clips:
        return np.sort(index)
    rng = np.random.default_rng(seed)
    queues = [list(rng.permutation(index[labels[index] == c])) for c in np.unique(labels[index])]
    chosen: list[int] = []
    while len(chosen) < max_clips:
        for queue in queues:
            if queue and len(chosen) < max_clips:
                chosen.append(int(queue.pop()))
    return np.sort(np.array(chosen, dtype=np.int64))
