"""Rule table2: results/table2.csv (+ Markdown and the settings of every row) from rule autoattack's files."""

import json

from videopure.cache import write_text_atomic
from videopure.evaluation.autoattack import autoattack_setup
from videopure.runtime import stage
from videopure.tables.table1 import not_run_note, to_markdown
from videopure.tables.table2 import collect_table2, table2_caption

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    setup, inputs = autoattack_setup(job.config), job.input
    diffusion_adaptive = job.params.diffusion_adaptive
    table, cells = collect_table2(setup, {defense: inputs[defense] if defense in inputs.keys() else None for defense in setup.defenses})
    caption = table2_caption(setup, job.config["attack"], cells)
    output = job.output
    write_text_atomic(output.csv, table.to_csv(index=False))
    write_text_atomic(output.markdown, to_markdown(table, caption, not_run_note(table, ["Defense"], diffusion_adaptive)))
    settings = {"caption": caption, "diffusion_adaptive": diffusion_adaptive, "rows": cells}
    write_text_atomic(output.settings, json.dumps(settings, indent=1) + "\n")
