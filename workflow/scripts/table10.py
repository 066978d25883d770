"""Rule table10: results/table10.csv (+ Markdown) from the speed report of rule purification_speed."""

import json

import pandas as pd

from videopure.cache import write_text_atomic
from videopure.evaluation.speed import build_table10
from videopure.runtime import stage
from videopure.tables.table1 import to_markdown

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    report = json.loads(open(job.input[0]).read())
    table = pd.DataFrame(build_table10(report))
    caption = (
        f"Table X: seconds per clip (median of {len(next(iter(report['defenses'].values()))['seconds_per_clip'])}, "
        f"batch 1, decoding and classification included), {report['dataset']} {report['model']}, same UNet, one run; "
        f"DiffPure_DDPM / VideoPure {report['ratio']:.2f}x with the full vote, {report['ratio_early_exit']:.2f}x "
        f"with the early-exit vote (the same votes); {report['device']}, {report['threads']} threads: "
        f"{report['machine']}."
    )
    write_text_atomic(job.output.csv, table.to_csv(index=False))
    write_text_atomic(job.output.markdown, to_markdown(table, caption))
