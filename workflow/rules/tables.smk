# Stage 10: tables. Table I (paper): rows dataset x recognizer x defense, columns attacks. Table II:
# AutoAttack through a few defenses (config 'autoattack'). The ablation tables IV, VII, VIII, IX and
# the sweep figures 6 and 5b: VideoPure variants on one recognizer (config 'ablations', 'sweeps');
# Table X: seconds per clip. Figs. 2, 3, 4 and 5 (a): on the ablations' recognizer.


rule table1:
    input:
        unpack(PLAN.table1_inputs),
    output:
        csv=report(
            "results/table1.csv", caption="../report/table1.rst", category="Tables"
        ),
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
        config=PLAN.stage_config("table1"),
        diffusion_adaptive=PLAN.diffusion_adaptive_params("results/table1.csv"),
    script:
        "../scripts/table1.py"


rule ablation_table:
    input:
        unpack(PLAN.ablation_predictions),
    output:
        csv=report(
            "results/{table}.csv",
            caption="../report/ablation_table.rst",
            category="Tables",
        ),
        markdown="results/{table}.md",
        settings="results/{table}_settings.json",
    log:
        "logs/{table}.log",
    benchmark:
        "results/benchmarks/{table}.tsv"
    wildcard_constraints:
        table=one_of(ABLATION_TABLES),
    threads: 1
    params:
        config=PLAN.stage_config("ablation_table"),
        diffusion_adaptive=lambda wildcards: PLAN.diffusion_adaptive_params(
            f"results/{wildcards.table}.csv"
        ),
    script:
        "../scripts/ablation_table.py"


rule purification_speed:
    input:
        unpack(PLAN.speed_inputs),
    output:
        speed_report_file("{dataset}", "{model}"),
    log:
        "logs/purification_speed/{dataset}-{model}.log",
    benchmark:
        "results/benchmarks/purification_speed/{dataset}-{model}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("purification_speed"),
        defenses=lambda wildcards: PLAN.speed_defenses(),
        clips=config["diagnostics"]["speed_clips"],
    script:
        "../scripts/purification_speed.py"


rule table10:
    input:
        PLAN.speed_report,
    output:
        csv=report(
            "results/table10.csv", caption="../report/table10.rst", category="Tables"
        ),
        markdown="results/table10.md",
    log:
        "logs/table10.log",
    benchmark:
        "results/benchmarks/table10.tsv"
    threads: 1
    params:
        config=PLAN.stage_config("table10"),
    script:
        "../scripts/table10.py"


rule sweep_figure:
    input:
        unpack(PLAN.sweep_predictions),
    output:
        png=report(
            "results/{figure}.png", caption="../report/figure.rst", category="Figures"
        ),
        pdf="results/{figure}.pdf",
        csv="results/{figure}.csv",
        caption="results/{figure}.md",
    log:
        "logs/{figure}.log",
    benchmark:
        "results/benchmarks/{figure}.tsv"
    wildcard_constraints:
        figure=one_of(FIGURES),
    threads: 1
    params:
        config=PLAN.stage_config("sweep_figure"),
        diffusion_adaptive=lambda wildcards: PLAN.diffusion_adaptive_params(
            f"results/{wildcards.figure}.png"
        ),
    script:
        "../scripts/sweep_figure.py"


rule table2:
    input:
        unpack(PLAN.table2_inputs),
    output:
        csv=report(
            "results/table2.csv", caption="../report/table2.rst", category="Tables"
        ),
        markdown="results/table2.md",
        settings="results/table2_settings.json",
    log:
        "logs/table2.log",
    benchmark:
        "results/benchmarks/table2.tsv"
    threads: 1
    params:
        config=PLAN.stage_config("table2"),
        diffusion_adaptive=PLAN.diffusion_adaptive_params("results/table2.csv"),
    script:
        "../scripts/table2.py"


# Table V: image diffusion models behind the diffusion baselines, beside the video model.
rule table5:
    input:
        unpack(PLAN.table5_inputs),
    output:
        csv=report(
            "results/table5.csv", caption="../report/table5.rst", category="Tables"
        ),
        markdown="results/table5.md",
        settings="results/table5_settings.json",
    log:
        "logs/table5.log",
    benchmark:
        "results/benchmarks/table5.tsv"
    threads: 1
    params:
        config=PLAN.stage_config("table5"),
        diffusion_adaptive=PLAN.diffusion_adaptive_params("results/table5.csv"),
    script:
        "../scripts/table5.py"


# Table III: black-box TT+MI transferred between recognizers, through every column's defense.
rule table3:
    input:
        PLAN.table3_inputs,
    output:
        csv=report(
            "results/table3.csv", caption="../report/table3.rst", category="Tables"
        ),
        markdown="results/table3.md",
        settings="results/table3_settings.json",
    log:
        "logs/table3.log",
    benchmark:
        "results/benchmarks/table3.tsv"
    threads: 1
    params:
        config=PLAN.stage_config("table3"),
    script:
        "../scripts/table3.py"


# Tables VI (the flow model attacked too), XI (l-inf radii) and XII (l2): the paper's rows under
# gray-box PGD and PGD+BPDA at each setting, and the undefended recognizer (w/o Defense).
rule budget_table:
    input:
        PLAN.budget_inputs,
    output:
        csv=report(
            "results/{table}.csv",
            caption="../report/budget_table.rst",
            category="Tables",
        ),
        markdown="results/{table}.md",
        settings="results/{table}_settings.json",
    log:
        "logs/{table}.log",
    benchmark:
        "results/benchmarks/{table}.tsv"
    wildcard_constraints:
        table=one_of(PLAN.budget_tables),
    threads: 1
    params:
        config=PLAN.stage_config("budget_table"),
        cells=lambda wildcards: PLAN.budget_cells(wildcards.table),
        diffusion_adaptive=lambda wildcards: PLAN.diffusion_adaptive_params(
            f"results/{wildcards.table}.csv"
        ),
    script:
        "../scripts/budget_table.py"


rule fig3:
    input:
        unpack(PLAN.fig3_inputs),
    output:
        png=report(
            "results/fig3.png", caption="../report/figure.rst", category="Figures"
        ),
        pdf="results/fig3.pdf",
        csv="results/fig3.csv",
        caption="results/fig3.md",
    log:
        "logs/fig3.log",
    benchmark:
        "results/benchmarks/fig3.tsv"
    threads: 1
    params:
        config=PLAN.stage_config("fig3"),
        diffusion_adaptive=PLAN.diffusion_adaptive_params("results/fig3.png"),
    script:
        "../scripts/fig3.py"


rule fig2:
    input:
        unpack(PLAN.fig2_inputs),
    output:
        png=report(
            "results/fig2.png", caption="../report/figure.rst", category="Figures"
        ),
        pdf="results/fig2.pdf",
        csv="results/fig2.csv",
        caption="results/fig2.md",
    log:
        "logs/fig2.log",
    benchmark:
        "results/benchmarks/fig2.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("fig2"),
        purifiers=PLAN.fig2_purifiers,
    script:
        "../scripts/fig2.py"


rule fig4:
    input:
        PLAN.fig4_inputs,
    output:
        png=report(
            "results/fig4.png", caption="../report/figure.rst", category="Figures"
        ),
        pdf="results/fig4.pdf",
        csv="results/fig4.csv",
        caption="results/fig4.md",
    log:
        "logs/fig4.log",
    benchmark:
        "results/benchmarks/fig4.tsv"
    threads: 1
    params:
        config=PLAN.stage_config("fig4"),
        lines=PLAN.fig4_lines,
        diffusion_adaptive=PLAN.diffusion_adaptive_params("results/fig4.png"),
    script:
        "../scripts/fig4.py"


rule fig5a:
    input:
        unpack(PLAN.fig5a_inputs),
    output:
        png=report(
            "results/fig5a.png", caption="../report/figure.rst", category="Figures"
        ),
        pdf="results/fig5a.pdf",
        csv="results/fig5a.csv",
        caption="results/fig5a.md",
    log:
        "logs/fig5a.log",
    benchmark:
        "results/benchmarks/fig5a.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("fig5a"),
        defense_name=lambda wildcards: PLAN.fig5a.defense,
        defense=lambda wildcards: PLAN.defenses[PLAN.fig5a.defense],
        diffusion_adaptive=PLAN.diffusion_adaptive_params("results/fig5a.png"),
    script:
        "../scripts/fig5a.py"


# What the report records beside the results: the config and the software they were made with.
rule provenance:
    output:
        config=report(
            "results/config.yaml",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
        software=report(
            "results/software.json",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        "logs/provenance.log",
    benchmark:
        "results/benchmarks/provenance.tsv"
    threads: 1
    params:
        config=PLAN.stage_config("provenance"),
    script:
        "../scripts/provenance.py"


# Which of the paper's claims hold here (C1-C12), and the gradient-masking sanity checks S1-S4,
# computed from the tables and figures above and S2's unbounded attacks (config 'sanity').
rule claims:
    input:
        unpack(PLAN.claims_inputs),
    output:
        csv=report(
            "results/claims.csv", caption="../report/claims.rst", category="Claims"
        ),
        markdown="results/claims.md",
        sanity=report(
            "results/sanity.csv", caption="../report/claims.rst", category="Claims"
        ),
    log:
        "logs/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    threads: 1
    params:
        config=PLAN.stage_config("claims"),
        unbounded=lambda wildcards: PLAN.sanity_cells(),
        diffusion_adaptive=PLAN.diffusion_adaptive_params("results/claims.csv"),
    script:
        "../scripts/claims.py"
