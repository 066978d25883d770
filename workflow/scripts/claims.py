"""Rule claims: results/claims.csv, claims.md and sanity.csv from the tables' and figures' CSVs and the
unbounded attacks' votes (videopure.tables.claims)."""

import json

import pandas as pd

from videopure.cache import write_text_atomic
from videopure.runtime import stage
from videopure.tables.claims import (
    SOURCES,
    ClaimsInputs,
    NotRun,
    claims_markdown,
    claims_summary,
    claims_table,
    evaluate_claims,
    sanity_checks,
)
from videopure.tables.ablations import ablation_setup
from videopure.tables.sanity import read_unbounded_cells, sanity_table, unbounded_setup

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs = job.input
    params = job.params
    tables = {name: pd.read_csv(getattr(inputs, name), dtype=str, keep_default_na=False) for name in SOURCES if name in inputs.keys()}
    cells = json.loads(open(inputs.table1_settings).read())["cells"]
    gradients = {(c["dataset"], c["model"], c["defense"], c["column"]): c["gradient"] for c in cells if "gradient" in c}
    not_run = NotRun(params.diffusion_adaptive["reason"], params.diffusion_adaptive["fill_command"])
    setup, ablations = unbounded_setup(job.config), ablation_setup(job.config)
    claims_inputs = ClaimsInputs(
        tables, gradients, not_run, ablations.defense if ablations else "", (setup.dataset, setup.model),
        read_unbounded_cells(params.unbounded, not_run.why("PGD+BPDA through it")), setup.setting.label,
    )  # fmt: skip
    checks = evaluate_claims(claims_inputs)
    sanity = sanity_checks(claims_inputs)
    caption = f"Claims report: which of the paper's claims hold on this build ({job.config['profile']} profile)"
    output = job.output
    write_text_atomic(output.csv, claims_table(checks).to_csv(index=False))
    write_text_atomic(output.sanity, sanity_table(sanity).to_csv(index=False))
    write_text_atomic(output.markdown, claims_markdown(claims_summary(checks), checks, sanity, caption))
