"""Rule ablation_table: results/table{4,7,8,9}.csv (+ Markdown and the attack settings of every cell)."""

import json

from videopure.cache import write_text_atomic
from videopure.runtime import stage
from videopure.tables.ablations import ablation_caption, ablation_setup, build_ablation_table, variant_rows
from videopure.tables.table1 import not_run_note, to_markdown

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    table_name = job.wildcards.table
    diffusion_adaptive = job.params.diffusion_adaptive
    setup = ablation_setup(job.config)
    names = [name for name, _ in setup.rows(table_name)]
    accuracy, cells, clips = variant_rows(job.input, names, diffusion_adaptive)
    table = build_ablation_table(setup, table_name, accuracy, clips)
    caption = ablation_caption(setup, table_name, job.config["attack"])
    note = not_run_note(table, ["Defense"], diffusion_adaptive)
    output = job.output
    write_text_atomic(output.csv, table.to_csv(index=False))
    write_text_atomic(output.markdown, to_markdown(table, caption, note))
    settings = {"caption": caption, "diffusion_adaptive": diffusion_adaptive, "cells": cells}
    write_text_atomic(output.settings, json.dumps(settings, indent=1) + "\n")
