"""Rule sweep_figure: results/fig6 (t*) and results/fig5b (α_s): PNG, PDF, the plotted numbers and a caption."""

import pandas as pd

from videopure.cache import write_text_atomic
from videopure.plots import plot_sweep
from videopure.runtime import stage
from videopure.tables.ablations import ACCURACY_COLUMNS, FIGURES, ablation_setup, read_variant_accuracy, sweep_caption

with stage(snakemake) as ctx:  # noqa: F821
    figure = snakemake.wildcards.figure  # noqa: F821
    setup = ablation_setup(ctx.config)
    parameter = FIGURES[figure]
    records = []
    for value, name in setup.sweep(figure):
        point = read_variant_accuracy(snakemake.input[name])  # noqa: F821
        row = {parameter: value, "Defense": name, "Clips": point.clips}
        row.update({ACCURACY_COLUMNS[source]: round(100.0 * fraction, 1) for source, fraction in point.accuracy.items()})
        records.append(row)
    points = pd.DataFrame.from_records(records).sort_values(parameter)
    caption = sweep_caption(setup, figure, ctx.config["attack"])
    output = snakemake.output  # noqa: F821
    plot_sweep(points, parameter, output.png, output.pdf, f"{setup.dataset} {setup.model}")
    write_text_atomic(output.csv, points.to_csv(index=False))
    write_text_atomic(output.caption, caption + "\n")
