"""Rule fig3: results/fig3.{png,pdf,csv,md}: each defense's accuracies (Table I) and its PGD+BPDA loss
against the attack's iterations (the attack files' loss traces), on the ablations' recognizer."""

import pandas as pd

from videopure.cache import read_h5, write_text_atomic
from videopure.params import resolve_recognizer
from videopure.plots.defenses import fig3_caption, fig3_data, plot_fig3
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, output = job.input, job.output
    diffusion_adaptive = job.params.diffusion_adaptive
    dataset, model = resolve_recognizer(job.config, "ablations")
    table = pd.read_csv(inputs.table1, dtype=str, keep_default_na=False)
    traces, gradients, attack = {}, {}, None
    for defense in [key for key in inputs.keys() if key != "table1"]:
        record = read_h5(inputs[defense], keys=["loss_trace"])
        traces[defense], gradients[defense], attack = record["loss_trace"], record.params["gradient"], record.params["attack"]
    rows = table[(table["Dataset"] == dataset) & (table["Model"] == model) & (table["Defense"] != "None")]["Defense"]
    missing = [defense for defense in rows if defense not in traces]
    not_drawn = (
        f"Not drawn: {', '.join(missing)} under PGD+BPDA, not run ({diffusion_adaptive['reason']}); "
        f"fill with: {diffusion_adaptive['fill_command']}" if missing else ""
    )
    if not traces:
        raise ValueError(f"Fig. 3 (b) has no PGD+BPDA loss to draw; {not_drawn}")
    data = fig3_data(table, dataset, model, traces)
    clips = next(iter(traces.values())).shape[1]
    plot_fig3(data, output.png, output.pdf, f"{dataset} {model}")
    write_text_atomic(output.csv, data.to_csv(index=False))
    write_text_atomic(output.caption, fig3_caption(dataset, model, attack, clips, gradients, not_drawn) + "\n")
