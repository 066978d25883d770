"""Rule table1: results/table1.csv (+ Markdown, per-clip predictions, attack settings per cell)."""

import json

import pandas as pd

from videopure.cache import write_text_atomic
from videopure.runtime import stage
from videopure.tables.table1 import build_table1, collect_table1, not_run_note, table1_caption, to_markdown

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    diffusion_adaptive = job.params.diffusion_adaptive
    collected = collect_table1(job.config, diffusion_adaptive)
    table = build_table1(collected.rows)
    caption = table1_caption(job.config["attack"])
    note = not_run_note(table, ["Dataset", "Model", "Defense"], diffusion_adaptive)
    output = job.output
    write_text_atomic(output.csv, table.to_csv(index=False))
    write_text_atomic(output.markdown, to_markdown(table, caption, note))
    write_text_atomic(output.clean, pd.DataFrame(collected.clean).to_csv(index=False))
    write_text_atomic(output.clips, pd.DataFrame(collected.clips).to_csv(index=False))
    settings = {"caption": caption, "diffusion_adaptive": diffusion_adaptive, "cells": collected.cells}
    write_text_atomic(output.settings, json.dumps(settings, indent=1) + "\n")
