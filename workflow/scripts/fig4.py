"""Rule fig4: results/fig4.{png,pdf,csv,md}: each defense's adaptive-attack loss against the attack's
steps under PGD+BPDA and PGD+DiffAttack, from the attack files' loss traces (Table I's, or rule
attack_setting's at the figure's own steps and clips)."""

from videopure.cache import read_h5, write_text_atomic
from videopure.plots.defenses import fig4_caption, fig4_data, fig4_setup, plot_fig4
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    output = job.output
    diffusion_adaptive = job.params.diffusion_adaptive
    setup = fig4_setup(job.config)
    traces, attacks = {}, {}
    for path in job.input:
        record = read_h5(path, keys=["loss_trace"])
        line = (record.params["column"], record.params["defense"])
        if record.params["attack"]["steps"] != setup.steps:
            raise ValueError(f"{path} ran {record.params['attack']['steps']} steps, Fig. 4 {setup.steps}; rerun its rule")
        traces[line], attacks[line] = record["loss_trace"], record.params
    lines = job.params.lines
    missing = [f"{defense} under {attack}" for defense, attack in lines if (attack, defense) not in traces]
    not_drawn = (
        f"Not drawn: {', '.join(missing)}, not run ({diffusion_adaptive['reason']}); "
        f"fill with: {diffusion_adaptive['fill_command']}" if missing else ""
    )
    if not traces:
        raise ValueError(f"Fig. 4 has no loss to draw; {not_drawn}")
    data = fig4_data(traces)
    plot_fig4(data, output.png, output.pdf, f"{setup.dataset} {setup.model}")
    write_text_atomic(output.csv, data.to_csv(index=False))
    write_text_atomic(output.caption, fig4_caption(setup, attacks, int(data["Clips"].max()), not_drawn) + "\n")
