# Stage 10: tables. Table I (paper): rows dataset x recognizer x defense, columns attacks. Table II:
# AutoAttack through a few defenses (config 'autoattack'). The ablation tables IV, VII, VIII, IX and
# the sweep figures 6 and 5b: VideoPure variants on one recognizer (config 'ablations', 'sweeps');
# Table X: seconds per clip.


rule table1:
    input:
        evalsets=[evalset_file(dataset) for dataset in DATASETS],
        clean=[
            clean_split_predictions(dataset, model)
            for dataset in DATASETS
            for model in classifier_names(dataset)
        ],
        predictions=table1_predictions(),
    output:
        csv="results/table1.csv",
        markdown="results/table1.md",
        clean="results/clean_accuracy.csv",
        clips="results/table1_clips.csv",
        settings="results/table1_settings.json",
    log:
        "logs/table1.log",
    benchmark:
        "results/benchmarks/table1.tsv"
    threads: 1
    params:
        config=stage_config("table1"),
        diffusion_adaptive=diffusion_adaptive_params("results/table1.csv"),
    script:
        "../scripts/table1.py"


rule ablation_table:
    input:
        unpack(ablation_predictions),
    output:
        csv="results/{table}.csv",
        markdown="results/{table}.md",
        settings="results/{table}_settings.json",
    log:
        "logs/{table}.log",
    benchmark:
        "results/benchmarks/{table}.tsv"
    wildcard_constraints:
        table="|".join(ABLATION_TABLES),
    threads: 1
    params:
        config=stage_config("ablation_table"),
        diffusion_adaptive=lambda wildcards: diffusion_adaptive_params(
            f"results/{wildcards.table}.csv"
        ),
    script:
        "../scripts/ablation_table.py"


rule purification_speed:
    input:
        unpack(speed_inputs),
    output:
        "results/speed/{dataset}-{model}.json",
    log:
        "logs/purification_speed/{dataset}-{model}.log",
    benchmark:
        "results/benchmarks/purification_speed/{dataset}-{model}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("purification_speed"),
        defenses=lambda wildcards: speed_defenses(),
        clips=config["diagnostics"]["speed_clips"],
    script:
        "../scripts/purification_speed.py"


rule table10:
    input:
        lambda wildcards: speed_report(),
    output:
        csv="results/table10.csv",
        markdown="results/table10.md",
    log:
        "logs/table10.log",
    benchmark:
        "results/benchmarks/table10.tsv"
    threads: 1
    params:
        config=stage_config("table10"),
    script:
        "../scripts/table10.py"


rule sweep_figure:
    input:
        unpack(sweep_predictions),
    output:
        png="results/{figure}.png",
        pdf="results/{figure}.pdf",
        csv="results/{figure}.csv",
        caption="results/{figure}.md",
    log:
        "logs/{figure}.log",
    benchmark:
        "results/benchmarks/{figure}.tsv"
    wildcard_constraints:
        figure="|".join(FIGURES),
    threads: 1
    params:
        config=stage_config("sweep_figure"),
        diffusion_adaptive=lambda wildcards: diffusion_adaptive_params(
            f"results/{wildcards.figure}.png"
        ),
    script:
        "../scripts/sweep_figure.py"


rule table2:
    input:
        unpack(table2_inputs),
    output:
        csv="results/table2.csv",
        markdown="results/table2.md",
        settings="results/table2_settings.json",
    log:
        "logs/table2.log",
    benchmark:
        "results/benchmarks/table2.tsv"
    threads: 1
    params:
        config=stage_config("table2"),
        diffusion_adaptive=diffusion_adaptive_params("results/table2.csv"),
    script:
        "../scripts/table2.py"


rule fig3:
    input:
        unpack(fig3_inputs),
    output:
        png="results/fig3.png",
        pdf="results/fig3.pdf",
        csv="results/fig3.csv",
        caption="results/fig3.md",
    log:
        "logs/fig3.log",
    benchmark:
        "results/benchmarks/fig3.tsv"
    threads: 1
    params:
        config=stage_config("fig3"),
        diffusion_adaptive=diffusion_adaptive_params("results/fig3.png"),
    script:
        "../scripts/fig3.py"
