"""Rule budget_table: results/table11.csv or table12.csv (+ Markdown and every cell's settings) from
the defenses' votes at each attack setting (rule predict_setting, or Table I's rows at its setting)."""

import json

from videopure.cache import write_text_atomic
from videopure.evaluation.voting import read_source_votes
from videopure.evaluation.settings import AttackSetting
from videopure.runtime import stage
from videopure.tables.budgets import BudgetCell, budget_caption, budget_tables, build_budget_table, check_cell_attacks
from videopure.tables.table1 import not_run_note, to_markdown

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    table = job.wildcards.table
    setup = budget_tables(job.config)[table]
    diffusion_adaptive = job.params.diffusion_adaptive
    cells, draws, records = [], {}, []
    for defense, slug, path in job.params.cells:
        labels, votes, params = read_source_votes(path, ("pgd",) if defense == "None" else ("pgd", "pgd_bpda"))
        attacks = {source: params["attacks"][source] for source in votes}
        cell = BudgetCell(defense, AttackSetting.from_slug(slug), labels, votes, attacks)
        check_cell_attacks(setup, cell, path)
        cells.append(cell)
        draws[defense] = params["draws"]
        records.append({"defense": defense, "setting": slug, "file": path, "draws": params["draws"],
                        "defense_settings": params["defense_settings"], "attacks": cell.attacks})  # fmt: skip
    result = build_budget_table(setup, cells)
    caption = budget_caption(setup, cells, draws)
    keys = ["Defense", "eps"] if "eps" in result.columns else ["Defense"]
    output = job.output
    write_text_atomic(output.csv, result.to_csv(index=False))
    write_text_atomic(output.markdown, to_markdown(result, caption, not_run_note(result, keys, diffusion_adaptive)))
    settings = {"caption": caption, "diffusion_adaptive": diffusion_adaptive, "cells": records}
    write_text_atomic(output.settings, json.dumps(settings, indent=1) + "\n")
