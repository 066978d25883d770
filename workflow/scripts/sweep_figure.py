"""Rule sweep_figure: results/fig6 (t*) and results/fig5b (α_s): PNG, PDF, the plotted numbers and a caption."""

import pandas as pd

from videopure.cache import write_text_atomic
from videopure.plots import plot_sweep
from videopure.runtime import stage
from videopure.tables.ablations import (
    ACCURACY_COLUMNS,
    FIGURES,
    ablation_setup,
    ablation_sources,
    read_variant_accuracy,
    sweep_caption,
)
from videopure.tables.table1 import NOT_RUN

with stage(snakemake) as ctx:  # noqa: F821
    figure = snakemake.wildcards.figure  # noqa: F821
    diffusion_adaptive = snakemake.params.diffusion_adaptive  # noqa: F821
    sources = ablation_sources(diffusion_adaptive["run"])
    setup = ablation_setup(ctx.config)
    parameter = FIGURES[figure]
    records = []
    for value, name in setup.sweep(figure):
        point = read_variant_accuracy(snakemake.input[name], sources)  # noqa: F821
        row = {parameter: value, "Defense": name, "Clips": point.clips}
        for source, column in ACCURACY_COLUMNS.items():
            row[column] = round(100.0 * point.accuracy[source], 1) if source in sources else NOT_RUN
        records.append(row)
    points = pd.DataFrame.from_records(records).sort_values(parameter)
    metrics = [ACCURACY_COLUMNS[source] for source in sources]
    caption = sweep_caption(setup, figure, ctx.config["attack"])
    not_run = [column for source, column in ACCURACY_COLUMNS.items() if source not in sources]
    if not_run:
        caption += (
            f" {', '.join(not_run)} not run ({diffusion_adaptive['reason']}), so not drawn; "
            f"fill with: {diffusion_adaptive['fill_command']}"
        )
    output = snakemake.output  # noqa: F821
    plot_sweep(points, parameter, output.png, output.pdf, f"{setup.dataset} {setup.model}", metrics)
    write_text_atomic(output.csv, points.to_csv(index=False))
    write_text_atomic(output.caption, caption + "\n")
