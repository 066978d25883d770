"""Rule ablation_table: results/table{4,7,8,9}.csv (+ Markdown and the attack settings of every cell)."""

import json

from videopure.cache import read_attrs, read_h5, write_text_atomic
from videopure.paths import adaptive_file
from videopure.runtime import stage
from videopure.tables.ablations import ABLATION_SOURCES, ablation_caption, ablation_setup, build_ablation_table
from videopure.tables.table1 import to_markdown

with stage(snakemake) as ctx:  # noqa: F821
    table_name = snakemake.wildcards.table  # noqa: F821
    setup = ablation_setup(ctx.config)
    accuracy, cells, clips = {}, [], None
    for name, _ in setup.rows(table_name):
        record = read_h5(snakemake.input[name], keys=["labels", *(f"{source}/votes" for source in ABLATION_SOURCES)])  # noqa: F821
        labels = record["labels"]
        if clips is not None and len(labels) != clips:
            raise ValueError(f"{snakemake.input[name]} has {len(labels)} clips, other rows {clips}; rerun predict")  # noqa: F821
        clips = len(labels)
        accuracy[name] = {
            source: float((record[f"{source}/votes"] == labels[:, None]).mean()) for source in ABLATION_SOURCES
        }
        attack = read_attrs(adaptive_file(setup.dataset, setup.model, name, "pgd_bpda"))[0]
        cells.append(
            {"defense": name, "defense_settings": record.params["defense_settings"], "accuracy": accuracy[name],
             "pgd_bpda": {"attack": attack["attack"], "gradient": attack["gradient"]}, "clips": clips}
        )
    table = build_ablation_table(setup, table_name, accuracy, clips)
    caption = ablation_caption(setup, table_name, ctx.config["attack"])
    output = snakemake.output  # noqa: F821
    write_text_atomic(output.csv, table.to_csv(index=False))
    write_text_atomic(output.markdown, to_markdown(table, caption))
    write_text_atomic(output.settings, json.dumps({"caption": caption, "cells": cells}, indent=1) + "\n")
