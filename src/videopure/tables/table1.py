"""Table I of the paper: defenses (rows) under attacks (columns), per dataset and recognizer.

Cells hold accuracy in percent on the evaluation set. "-" marks a cell the paper leaves
empty (adaptive attacks on an undefended model; DiffAttack on non-diffusion defenses); "not run"
marks an adaptive cell through a diffusion defense that this build did not schedule (config
``diffusion_adaptive``), and the Markdown table names the command that fills it; every other
cell is measured.
Average is the mean over the measured attack columns, which "Average over" names, so a row with
cells not run cannot be read as a full one; the None column is excluded (the paper's JPEG
average 11.8 is the mean of its five attack cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

ATTACK_COLUMNS = ("PGD", "PGD+BPDA", "TT", "TT+BPDA", "EOT+BPDA", "PGD+DiffAttack")
COLUMNS = ("Dataset", "Model", "Defense", "None", *ATTACK_COLUMNS, "Average", "Average over", "Clips")
NOT_APPLICABLE = "-"
NOT_RUN = "not run"


def cell_value(cell: object) -> float | None:
    """A cell of a table's CSV read as text: its number, None for :data:`NOT_APPLICABLE`, :data:`NOT_RUN`
    or an empty cell."""
    if isinstance(cell, str) and cell.strip() in (NOT_RUN, NOT_APPLICABLE, ""):
        return None
    return float(cell)


@dataclass(frozen=True)
class Table1Row:
    """One row: measured accuracies (fractions) by column, every column but those in
    ``not_applicable`` (the paper leaves them empty) and ``not_run`` (this build did not schedule them)."""

    dataset: str
    model: str
    defense: str
    clips: int
    accuracy: dict[str, float]
    not_applicable: tuple[str, ...] = ()
    not_run: tuple[str, ...] = ()


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
        filled = {}
        for column in ATTACK_COLUMNS:
            if column in row.not_applicable:
                record[column] = NOT_APPLICABLE
            elif column in row.not_run:
                record[column] = NOT_RUN
            elif column in row.accuracy:
                record[column] = _percent(row.accuracy[column])
                filled[column] = row.accuracy[column]
            else:
                raise ValueError(f"{row.dataset}/{row.model}/{row.defense}: no measurement for column {column}")
        marked_and_measured = set(row.not_run) & set(row.accuracy)
        if marked_and_measured:
            raise ValueError(f"{row.dataset}/{row.model}/{row.defense}: {sorted(marked_and_measured)} both measured and not run")
        if row.defense == "None":
            record["Average"] = record["Average over"] = NOT_APPLICABLE
        else:
            record["Average"] = _percent(sum(filled.values()) / len(filled))
            record["Average over"] = " ".join(filled)
        record["Clips"] = row.clips
        records.append(record)
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def to_markdown(table: pd.DataFrame, caption: str, note: str = "") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency) with a caption line and a note under it."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [f"**{caption}**", "", header, rule]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    if note:
        lines += ["", note.rstrip("\n")]
    return "\n".join(lines) + "\n"


def not_run_note(table: pd.DataFrame, keys: list[str], diffusion_adaptive: dict) -> str:
    """The note under a table with cells marked :data:`NOT_RUN`: which cells, why, and the command
    that fills them (``diffusion_adaptive``: the table rule's params, see ``common.smk``); "" when
    every cell was run. ``keys``: the columns that name a row."""
    cells = []
    for row in table.to_dict("records"):
        missing = [column for column, value in row.items() if value == NOT_RUN]
        if missing:
            cells.append(f"- {'/'.join(str(row[key]) for key in keys)}: {', '.join(missing)}")
    if not cells:
        return ""
    return "\n".join(
        [
            f"Cells marked \"{NOT_RUN}\" are adaptive attacks through a diffusion defense, which this build did not "
            f"schedule: {diffusion_adaptive['reason']}. They are GPU or cluster work (docs/usage.md). Not run:",
            *cells,
            "",
            "Fill them (every other cell is reused) with:",
            "",
            f"    {diffusion_adaptive['fill_command']}",
        ]
    )


@dataclass
class Table1Inputs:
    """Everything the table1 rule reads, gathered: rows, clean accuracies, per-clip votes, cell settings."""

    rows: list[Table1Row]
    clean: list[dict]
    clips: list[dict]
    cells: list[dict]


def table1_caption(attack: dict) -> str:
    return (
        f"Table I: accuracy (%) on the evaluation set; l-inf eps={attack['eps'] * 255:.0f}/255, "
        f"{attack['steps']} steps of {attack['step_size'] * 255:.0f}/255, EOT {attack['eot_samples']} draws "
        "(stochastic defenses); PGD and TT gray-box, +BPDA adaptive (exact gradient where the defense is "
        "differentiable, BPDA otherwise), PGD+DiffAttack adaptive on the full gradient through every UNet "
        "call of a diffusion defense, one draw per step (see table1_settings.json)."
    )


def collect_table1(config: dict, diffusion_adaptive: dict) -> Table1Inputs:
    """Read every prediction file of Table I (paths from :mod:`videopure.paths`).

    A row's measured columns are those its predictions file holds: the adaptive columns through a
    diffusion defense may be missing where ``diffusion_adaptive`` (the table1 rule's params: whether
    new ones are scheduled, and otherwise why not and the command that fills them) did not schedule
    them; any other missing column is an error.
    """
    from videopure.cache import read_attrs, read_h5
    from videopure.evaluation.columns import (
        FULL_GRADIENT_COLUMNS,
        GRAYBOX_COLUMNS,
        adaptive_columns,
        defense_specs,
        diffusion_adaptive_columns,
    )
    from videopure.evaluation.voting import vote_accuracy
    from videopure.paths import clean_split_predictions, predictions_file

    out = Table1Inputs([], [], [], [])
    for name, spec in config["datasets"].items():
        for model in spec["classifiers"]:
            split = read_h5(clean_split_predictions(name, model))
            correct = split["logits"].argmax(1) == split["labels"]
            size = 0
            for defense, defense_spec in defense_specs(config).items():
                path = predictions_file(name, model, defense)
                measured = set(read_attrs(path)[0]["sources"])
                every = adaptive_columns(defense_spec)
                adaptive = tuple(c for c in every if c.slug in measured)
                skipped = tuple(c for c in every if c.slug not in measured)
                unexpected = [c.name for c in skipped
                              if diffusion_adaptive["run"] or c not in diffusion_adaptive_columns(defense_spec)]
                if unexpected:
                    raise ValueError(f"{path} has no votes for column(s) {unexpected}, which this build measures; "
                                     "delete it and rerun Snakemake")
                columns = [("None", "clean"), *((c.name, c.slug) for c in (*GRAYBOX_COLUMNS, *adaptive))]
                record = read_h5(path, keys=["labels", "video_ids", *(f"{slug}/votes" for _, slug in columns)])
                labels, size = record["labels"], len(record["labels"])
                accuracy = {}
                for column, source in columns:
                    voted = record[f"{source}/votes"]
                    hits = voted == labels[:, None]
                    accuracy[column] = vote_accuracy(voted, labels)
                    key = {"dataset": name, "model": model, "defense": defense, "column": column}
                    out.clips += [
                        {**key, "video_id": vid, "label": int(label), "votes": " ".join(map(str, row)),
                         "accuracy": float(hit.mean())}
                        for vid, label, row, hit in zip(record["video_ids"], labels, voted, hits)
                    ]
                    cell = {**key, "accuracy": _percent(accuracy[column]), "clips": size,
                            "defense_settings": record.params["defense_settings"], "draws": record.params["draws"]}
                    if source != "clean":  # the attack's settings, as the row read them with its clips
                        cell.update(record.params["attacks"][source])
                    out.cells.append({**cell, "status": "measured"})
                for column in skipped:
                    out.cells.append(
                        {"dataset": name, "model": model, "defense": defense, "column": column.name,
                         "status": NOT_RUN, "reason": diffusion_adaptive["reason"],
                         "fill_command": diffusion_adaptive["fill_command"]}
                    )
                if defense == "None":
                    out.rows.append(undefended_row(name, model, size, accuracy.pop("None"), accuracy))
                else:
                    not_applicable = tuple(c.name for c in FULL_GRADIENT_COLUMNS if c not in every)
                    not_run = tuple(c.name for c in skipped)
                    out.rows.append(Table1Row(name, model, defense, size, accuracy, not_applicable, not_run))
            out.clean.append({"dataset": name, "model": model, "split": spec["eval_split"], "clips": len(correct),
                              "accuracy": _percent(float(correct.mean())), "evaluation_set": size})
    return out
