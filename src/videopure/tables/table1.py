"""Table I of the paper: defenses (rows) under attacks (columns), per dataset and recognizer.

Cells hold accuracy in percent on the evaluation set. "-" marks a cell the paper leaves
empty (adaptive attacks on an undefended model; DiffAttack on non-diffusion defenses);
"pending" marks a cell whose stage this version of the workflow does not build yet.
Average is the mean over the filled attack columns; the None column is excluded (the paper's
JPEG average 11.8 is the mean of its five attack cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

ATTACK_COLUMNS = ("PGD", "PGD+BPDA", "TT", "TT+BPDA", "EOT+BPDA", "PGD+DiffAttack")
COLUMNS = ("Dataset", "Model", "Defense", "None", *ATTACK_COLUMNS, "Average", "Clips")
NOT_APPLICABLE = "-"
PENDING = "pending"


@dataclass(frozen=True)
class Table1Row:
    """One row: measured accuracies (fractions) by column; absent attack columns are pending."""

    dataset: str
    model: str
    defense: str
    clips: int
    accuracy: dict[str, float]
    not_applicable: tuple[str, ...] = ()


def undefended_row(dataset: str, model: str, clips: int, clean_accuracy: float, measured: dict[str, float]) -> Table1Row:
    """The paper's "None" defense row: adaptive and DiffAttack columns do not apply, nor the Average."""
    adaptive = ("PGD+BPDA", "TT+BPDA", "EOT+BPDA", "PGD+DiffAttack")
    return Table1Row(dataset, model, "None", clips, {"None": clean_accuracy, **measured}, adaptive)


def _percent(value: float) -> float:
    return round(100.0 * value, 1)


def build_table1(rows: list[Table1Row]) -> pd.DataFrame:
    """Render rows in the paper's layout (percentages, one decimal)."""
    records = []
    for row in rows:
        if row.clips <= 0:
            raise ValueError(f"{row.dataset}/{row.model}/{row.defense}: empty evaluation set")
        record: dict[str, object] = {"Dataset": row.dataset, "Model": row.model, "Defense": row.defense}
        record["None"] = _percent(row.accuracy["None"])
        filled = []
        for column in ATTACK_COLUMNS:
            if column in row.not_applicable:
                record[column] = NOT_APPLICABLE
            elif column in row.accuracy:
                record[column] = _percent(row.accuracy[column])
                filled.append(row.accuracy[column])
            else:
                record[column] = PENDING
        undefended = row.defense == "None"
        if undefended:
            record["Average"] = NOT_APPLICABLE
        else:
            record["Average"] = _percent(sum(filled) / len(filled)) if filled else PENDING
        record["Clips"] = row.clips
        records.append(record)
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def to_markdown(table: pd.DataFrame, caption: str) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency) with a caption line."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [f"**{caption}**", "", header, rule]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
