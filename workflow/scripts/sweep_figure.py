"""Rule sweep_figure: results/fig6 (t*) and results/fig5b (α_s): PNG, PDF, the plotted numbers and a caption."""

import pandas as pd

from videopure.cache import read_h5, write_text_atomic
from videopure.plots import plot_sweep
from videopure.runtime import stage
from videopure.tables.ablations import ABLATION_SOURCES, ACCURACY_COLUMNS, FIGURES, ablation_setup, sweep_caption

with stage(snakemake) as ctx:  # noqa: F821
    figure = snakemake.wildcards.figure  # noqa: F821
    setup = ablation_setup(ctx.config)
    parameter = FIGURES[figure]
    records = []
    for value, name in setup.sweep(figure):
        record = read_h5(snakemake.input[name], keys=["labels", *(f"{source}/votes" for source in ABLATION_SOURCES)])  # noqa: F821
        labels = record["labels"]
        row = {parameter: value, "Defense": name, "Clips": len(labels)}
        for source in ABLATION_SOURCES:
            row[ACCURACY_COLUMNS[source]] = round(100.0 * float((record[f"{source}/votes"] == labels[:, None]).mean()), 1)
        records.append(row)
    points = pd.DataFrame.from_records(records).sort_values(parameter)
    caption = sweep_caption(setup, figure, ctx.config["attack"])
    output = snakemake.output  # noqa: F821
    plot_sweep(points, parameter, output.png, output.pdf, f"{setup.dataset} {setup.model}")
    write_text_atomic(output.csv, points.to_csv(index=False))
    write_text_atomic(output.caption, caption + "\n")
