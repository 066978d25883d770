"""Table II (paper: "Defense performance on AutoAttack"): robust accuracy of a few defenses under
APGD-CE and APGD-DLR, and their worst case per clip (:mod:`videopure.evaluation.autoattack`).

The paper's table has one column, Robust Acc, for Temporal Shuffle, DiffPure_DDPM and Ours; ours
adds each sub-attack's accuracy and the clip count. A row through a diffusion defense that the
build did not schedule (config ``diffusion_adaptive``) is marked "not run", with the command that
fills it under the table, as in Table I.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from videopure.cache import read_h5
from videopure.evaluation.autoattack import SUB_ATTACKS, robust_per_clip
from videopure.tables.table1 import NOT_RUN

#: Each accuracy column by the key of :func:`~videopure.evaluation.autoattack.robust_per_clip`.
ACCURACY_COLUMNS = {**SUB_ATTACKS, "worst": "Robust Acc"}
COLUMNS = ("Dataset", "Model", "Defense", *ACCURACY_COLUMNS.values(), "Clips")


def collect_table2(setup, paths: Mapping[str, str | Path | None]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Table II from each defense's AutoAttack file (rule autoattack), ``None`` for a row not run;
    and per row the settings of its cells (attack, gradient, defense) for the settings JSON."""
    votes = [f"{slug}/votes" for slug in SUB_ATTACKS]
    records, cells, clips = [], [], None
    for defense in setup.defenses:
        record: dict[str, Any] = {"Dataset": setup.dataset, "Model": setup.model, "Defense": defense}
        path = paths.get(defense)
        if path is None:
            record |= {column: NOT_RUN for column in ACCURACY_COLUMNS.values()}
            cells.append({"defense": defense, "status": NOT_RUN})
        else:
            result = read_h5(path, keys=["labels", *votes])
            robust = robust_per_clip({slug: result[f"{slug}/votes"] for slug in SUB_ATTACKS}, result["labels"])
            record |= {column: round(100.0 * float(robust[key].mean()), 1) for key, column in ACCURACY_COLUMNS.items()}
            if clips is not None and len(result["labels"]) != clips:
                raise ValueError(f"{path} holds {len(result['labels'])} clips, the other rows {clips}; rerun rule autoattack")
            clips = len(result["labels"])
            settings = {key: result.params[key] for key in ("attacks", "gradient", "draws", "defense_settings")}
            cells.append({"defense": defense, "status": "measured", **settings})
        records.append(record)
    for record in records:
        record["Clips"] = clips if clips is not None else setup.clips
    return pd.DataFrame.from_records(records, columns=list(COLUMNS)), cells


def table2_caption(setup, attack: Mapping[str, Any], cells: list[dict[str, Any]]) -> str:
    """What every number of Table II was measured under; ``cells``: :func:`collect_table2`'s."""
    gradients = ", ".join(f"{cell['defense']} {cell['gradient']}" for cell in cells if cell["status"] == "measured")
    through = "the exact gradient (beyond the paper)" if setup.gradient == "exact" else "each defense's default gradient"
    return (
        f"Table II: accuracy (%) under AutoAttack's APGD-CE and APGD-DLR ({attack['norm']}, eps={attack['eps']:.4g}, "
        f"{setup.steps} steps, {setup.eot_samples} EOT draws per gradient for stochastic defenses, one restart) through "
        f"the defense by {through} ({gradients or 'no row measured'}); Robust Acc counts a clip only "
        f"if both fail (worst case per clip); {setup.dataset} {setup.model}, a class-balanced seeded subset of at most "
        f"{setup.clips} clips of the evaluation set. Paper: Robust Acc alone, on 30 random UCF-101 clips."
    )
