"""Rule ablation_table: results/table{4,7,8,9}.csv (+ Markdown and the attack settings of every cell)."""

import json

from videopure.cache import read_attrs, write_text_atomic
from videopure.paths import adaptive_file
from videopure.runtime import stage
from videopure.tables.ablations import ablation_caption, ablation_setup, build_ablation_table, read_variant_accuracy
from videopure.tables.table1 import NOT_RUN, not_run_note, to_markdown

with stage(snakemake) as ctx:  # noqa: F821
    table_name = snakemake.wildcards.table  # noqa: F821
    diffusion_adaptive = snakemake.params.diffusion_adaptive  # noqa: F821
    setup = ablation_setup(ctx.config)
    accuracy, cells, clips = {}, [], None
    for name, _ in setup.rows(table_name):
        row = read_variant_accuracy(snakemake.input[name])  # noqa: F821
        if clips is not None and row.clips != clips:
            raise ValueError(f"{snakemake.input[name]} has {row.clips} clips, other rows {clips}; rerun predict")  # noqa: F821
        clips, accuracy[name] = row.clips, row.accuracy
        cell = {"defense": name, "defense_settings": row.defense_settings, "accuracy": row.accuracy, "clips": clips}
        if "pgd_bpda" in row.accuracy:
            attack = read_attrs(adaptive_file(setup.dataset, setup.model, name, "pgd_bpda"))[0]
            cell["pgd_bpda"] = {"status": "measured", "attack": attack["attack"], "gradient": attack["gradient"]}
        else:
            cell["pgd_bpda"] = {"status": NOT_RUN, "reason": diffusion_adaptive["reason"],
                                "fill_command": diffusion_adaptive["fill_command"]}
        cells.append(cell)
    table = build_ablation_table(setup, table_name, accuracy, clips)
    caption = ablation_caption(setup, table_name, ctx.config["attack"])
    note = not_run_note(table, ["Defense"], diffusion_adaptive)
    output = snakemake.output  # noqa: F821
    write_text_atomic(output.csv, table.to_csv(index=False))
    write_text_atomic(output.markdown, to_markdown(table, caption, note))
    settings = {"caption": caption, "diffusion_adaptive": diffusion_adaptive, "cells": cells}
    write_text_atomic(output.settings, json.dumps(settings, indent=1) + "\n")
