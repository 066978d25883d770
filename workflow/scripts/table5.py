"""Rule table5: results/table5.csv (+ Markdown and the attack settings of every cell): the diffusion
baselines on image diffusion models beside the video model (videopure.tables.table5)."""

import json

from videopure.cache import read_attrs, write_text_atomic
from videopure.runtime import stage
from videopure.tables.ablations import ablation_setup, read_variant_accuracy
from videopure.tables.table1 import NOT_RUN, not_run_note, to_markdown
from videopure.tables.table5 import build_table5, describe_model, model_slug, table5_caption, table5_setup

with stage(snakemake) as ctx:  # noqa: F821
    inputs, diffusion_adaptive = snakemake.input, snakemake.params.diffusion_adaptive  # noqa: F821
    setup = table5_setup(ctx.config, ablation_setup(ctx.config).defense)
    accuracy, described, cells, clips = {}, {}, [], None
    for label, _, name in setup.rows():
        row = read_variant_accuracy(inputs[name])
        if clips is not None and row.clips != clips:
            raise ValueError(f"{inputs[name]} has {row.clips} clips, other rows {clips}; rerun predict")
        clips, accuracy[name] = row.clips, row.accuracy
        described[label] = describe_model(inputs[f"model_{model_slug(label)}"])
        cell = {"defense": name, "defense_settings": row.defense_settings, "accuracy": row.accuracy, "clips": clips}
        if "pgd_bpda" in row.accuracy:
            cell["pgd_bpda"] = {"status": "measured", **read_attrs(inputs[name])[0]["attacks"]["pgd_bpda"]}
        else:
            cell["pgd_bpda"] = {"status": NOT_RUN, "reason": diffusion_adaptive["reason"],
                                "fill_command": diffusion_adaptive["fill_command"]}  # fmt: skip
        cells.append(cell)
    table = build_table5(setup, accuracy, described, clips)
    caption = table5_caption(setup, ctx.config["attack"])
    note = not_run_note(table, ["Diffusion Model", "Defense"], diffusion_adaptive)
    output = snakemake.output  # noqa: F821
    write_text_atomic(output.csv, table.to_csv(index=False))
    write_text_atomic(output.markdown, to_markdown(table, caption, note))
    settings = {"caption": caption, "diffusion_adaptive": diffusion_adaptive, "cells": cells}
    write_text_atomic(output.settings, json.dumps(settings, indent=1) + "\n")
