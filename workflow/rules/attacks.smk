# Stages 3 and 9: adversarial clips of the evaluation set, one file per attack column. Gray-box
# attacks see the bare recognizer (once per recognizer, reused by every defense); adaptive
# attacks go through the defense, so their path carries it (one job per defense and column).


rule attack_graybox:
    input:
        unpack(recognizer_inputs),
    output:
        [graybox_file("{dataset}", "{model}", column) for column in GRAYBOX_SLUGS],
    log:
        "logs/attack_graybox/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/attack_graybox/{dataset}/{model}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        columns=GRAYBOX_SLUGS,
        attack=config["attack"],
        seed=config["seed"],
    script:
        "../scripts/attack.py"


rule attack_adaptive:
    input:
        unpack(adaptive_inputs),
    output:
        adaptive_file("{dataset}", "{model}", "{defense}", "{column}"),
    log:
        "logs/attack_adaptive/{dataset}/{model}/{defense}/{column}.log",
    benchmark:
        "results/benchmarks/attack_adaptive/{dataset}/{model}/{defense}/{column}.tsv"
    wildcard_constraints:
        column="|".join(ADAPTIVE_SLUGS),
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        columns=lambda wildcards: [wildcards.column],
        attack=config["attack"],
        seed=config["seed"],
        defense=lambda wildcards: ALL_DEFENSES[wildcards.defense],
    script:
        "../scripts/attack.py"
