# Stage 2: clean classification and the evaluation set (clips every recognizer gets right).


rule classify_clean:
    input:
        frames=eval_frames,
        checkpoint=lambda wildcards: checkpoint_path(wildcards.dataset, wildcards.model),
    output:
        clean_split_predictions("{dataset}", "{model}"),
    log:
        "logs/classify_clean/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/classify_clean/{dataset}/{model}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("classify_clean"),
        classifier=lambda wildcards: DATASETS[wildcards.dataset]["classifiers"][
            wildcards.model
        ],
    script:
        "../scripts/classify_clean.py"


rule evaluation_set:
    input:
        unpack(clean_predictions),
    output:
        evalset_file("{dataset}"),
    log:
        "logs/evaluation_set/{dataset}.log",
    benchmark:
        "results/benchmarks/evaluation_set/{dataset}.tsv"
    threads: 1
    params:
        config=stage_config("evaluation_set"),
    script:
        "../scripts/evaluation_set.py"


rule predict:
    input:
        unpack(predict_inputs),
    output:
        predictions_file("{dataset}", "{model}", "{defense}"),
    log:
        "logs/predict/{dataset}/{model}/{defense}.log",
    benchmark:
        "results/benchmarks/predict/{dataset}/{model}/{defense}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("predict"),
        sources=row_sources,
        defense=lambda wildcards: ALL_DEFENSES[wildcards.defense],
    script:
        "../scripts/predict.py"


# Tables VI, XI and XII: a defense's votes on the attacks at another setting than Table I's (norm,
# radius, flow term), purified from scratch; at Table I's setting the tables read rule predict's row.
use rule predict as predict_setting with:
    input:
        unpack(setting_predict_inputs),
    output:
        setting_predictions_file("{dataset}", "{model}", "{defense}", "{setting}"),
    log:
        "logs/predict_setting/{dataset}/{model}/{setting}/{defense}.log",
    benchmark:
        "results/benchmarks/predict_setting/{dataset}/{model}/{setting}/{defense}.tsv"
    wildcard_constraints:
        defense="|".join(re.escape(name) for name in SETTING_DEFENSES),
        setting=SLUG_WILDCARD,
    params:
        sources=setting_sources,


# Table III: every column's votes on the black-box TT+MI clips crafted on recognizer {source}, in
# one job per transfer (each defense purifies the clips from scratch).
rule predict_transfer:
    input:
        unpack(transfer_inputs),
    output:
        transfer_predictions_file("{dataset}", "{model}", "{source}", "{setting}"),
    log:
        "logs/predict_transfer/{dataset}/{model}/{setting}/from_{source}.log",
    benchmark:
        "results/benchmarks/predict_transfer/{dataset}/{model}/{setting}/from_{source}.tsv"
    wildcard_constraints:
        source="[A-Za-z0-9]+",
        setting=SLUG_WILDCARD,
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("predict_transfer"),
        defenses=transfer_defenses,
    script:
        "../scripts/predict_transfer.py"


rule gradient_checks:
    input:
        unpack(gradient_checks_inputs),
    output:
        "results/diagnostics/{dataset}-{model}-gradients.json",
    log:
        "logs/gradient_checks/{dataset}-{model}.log",
    benchmark:
        "results/benchmarks/gradient_checks/{dataset}-{model}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("gradient_checks"),
        defense_name=lambda wildcards: ABLATIONS.defense,
        defense=lambda wildcards: DEFENSES[ABLATIONS.defense],
        clips=config["diagnostics"]["gradient_clips"],
    script:
        "../scripts/gradient_checks.py"
