"""Rule sweep_figure: results/fig6 (t*) and results/fig5b (α_s): PNG, PDF, the plotted numbers and a caption."""

import pandas as pd

from videopure.cache import write_text_atomic
from videopure.plots import plot_sweep
from videopure.plots.sweeps import METRICS
from videopure.runtime import stage
from videopure.tables.ablations import FIGURES, ablation_setup, accuracy_cells, read_variant_accuracy, sweep_caption
from videopure.tables.table1 import NOT_RUN

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    figure = job.wildcards.figure
    diffusion_adaptive = job.params.diffusion_adaptive
    setup = ablation_setup(job.config)
    parameter = FIGURES[figure]
    records = []
    for value, name in setup.sweep(figure):
        point = read_variant_accuracy(job.input[name])
        records.append({parameter: value, "Defense": name, "Clips": point.clips, **accuracy_cells(point.accuracy)})
    points = pd.DataFrame.from_records(records).sort_values(parameter)
    # A metric is drawn only where every point has it, so no line mixes measured and missing points.
    metrics = [column for column in METRICS if (points[column] != NOT_RUN).all()]
    not_drawn = [column for column in METRICS if column not in metrics]
    caption = sweep_caption(setup, figure, job.config["attack"])
    if not_drawn:
        caption += (
            f" Not drawn: {', '.join(not_drawn)}, not run at every point ({diffusion_adaptive['reason']}); "
            f"fill with: {diffusion_adaptive['fill_command']}"
        )
    output = job.output
    plot_sweep(points, parameter, output.png, output.pdf, f"{setup.dataset} {setup.model}", metrics)
    write_text_atomic(output.csv, points.to_csv(index=False))
    write_text_atomic(output.caption, caption + "\n")
