"""Rule table1: results/table1.csv (+ Markdown, per-clip predictions, attack settings per cell)."""

import json

import pandas as pd

from videopure.cache import write_text_atomic
from videopure.runtime import stage
from videopure.tables.table1 import build_table1, collect_table1, table1_caption, to_markdown

with stage(snakemake) as ctx:  # noqa: F821
    collected = collect_table1(ctx.config)
    table = build_table1(collected.rows)
    caption = table1_caption(ctx.config["attack"])
    output = snakemake.output  # noqa: F821
    write_text_atomic(output.csv, table.to_csv(index=False))
    write_text_atomic(output.markdown, to_markdown(table, caption))
    write_text_atomic(output.clean, pd.DataFrame(collected.clean).to_csv(index=False))
    write_text_atomic(output.clips, pd.DataFrame(collected.clips).to_csv(index=False))
    write_text_atomic(output.settings, json.dumps({"caption": caption, "cells": collected.cells}, indent=1) + "\n")
