"""Rule table5: results/table5.csv (+ Markdown and the attack settings of every cell): the diffusion
baselines on image diffusion models beside the video model (videopure.tables.table5)."""

import json

from videopure.cache import write_text_atomic
from videopure.runtime import stage
from videopure.tables.ablations import ablation_setup, variant_rows
from videopure.tables.table1 import not_run_note, to_markdown
from videopure.tables.table5 import build_table5, describe_model, model_slug, table5_caption, table5_setup

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, diffusion_adaptive = job.input, job.params.diffusion_adaptive
    setup = table5_setup(job.config, ablation_setup(job.config).defense)
    rows = setup.rows()
    accuracy, cells, clips = variant_rows(inputs, [name for _, _, name in rows], diffusion_adaptive)
    described = {label: describe_model(inputs[f"model_{model_slug(label)}"]) for label, _, _ in rows}
    table = build_table5(setup, accuracy, described, clips)
    caption = table5_caption(setup, job.config["attack"])
    note = not_run_note(table, ["Diffusion Model", "Defense"], diffusion_adaptive)
    output = job.output
    write_text_atomic(output.csv, table.to_csv(index=False))
    write_text_atomic(output.markdown, to_markdown(table, caption, note))
    settings = {"caption": caption, "diffusion_adaptive": diffusion_adaptive, "cells": cells}
    write_text_atomic(output.settings, json.dumps(settings, indent=1) + "\n")
