# Stage 2: clean classification and the evaluation set (clips every recognizer gets right).


rule classify_clean:
    input:
        frames=PLAN.eval_frames,
        checkpoint=PLAN.recognizer_checkpoint,
    output:
        clean_split_predictions("{dataset}", "{model}"),
    log:
        "logs/classify_clean/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/classify_clean/{dataset}/{model}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("classify_clean"),
        classifier=PLAN.classifier_spec,
    script:
        "../scripts/classify_clean.py"


rule evaluation_set:
    input:
        unpack(PLAN.clean_predictions),
    output:
        evalset_file("{dataset}"),
    log:
        "logs/evaluation_set/{dataset}.log",
    benchmark:
        "results/benchmarks/evaluation_set/{dataset}.tsv"
    threads: 1
    params:
        config=PLAN.stage_config("evaluation_set"),
    script:
        "../scripts/evaluation_set.py"


# The clean clips through a one-candidate diffusion defense (DiffPure_DDPM, DiffPure_DDIM, DDIM
# Inversion), purified once and classified by every recognizer; rule predict's rows read their share.
rule predict_clean:
    input:
        unpack(PLAN.shared_clean_inputs),
    output:
        shared_clean_predictions_file("{dataset}", "{defense}"),
    log:
        "logs/predict_clean/{dataset}/{defense}.log",
    benchmark:
        "results/benchmarks/predict_clean/{dataset}/{defense}.tsv"
    wildcard_constraints:
        defense=one_of(PLAN.shared_clean),
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("predict_clean"),
        models=PLAN.recognizers,
        defense=PLAN.defense_spec,
    script:
        "../scripts/predict_clean.py"


rule predict:
    input:
        unpack(PLAN.predict_inputs),
    output:
        predictions_file("{dataset}", "{model}", "{defense}"),
    log:
        "logs/predict/{dataset}/{model}/{defense}.log",
    benchmark:
        "results/benchmarks/predict/{dataset}/{model}/{defense}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("predict"),
        sources=PLAN.row_sources,
        defense=PLAN.defense_spec,
    script:
        "../scripts/predict.py"


# Tables VI, XI and XII: a defense's votes on the attacks at another setting than Table I's (norm,
# radius, flow term), purified from scratch; at Table I's setting the tables read rule predict's row.
use rule predict as predict_setting with:
    input:
        unpack(PLAN.setting_predict_inputs),
    output:
        setting_predictions_file("{dataset}", "{model}", "{defense}", "{setting}"),
    log:
        "logs/predict_setting/{dataset}/{model}/{setting}/{defense}.log",
    benchmark:
        "results/benchmarks/predict_setting/{dataset}/{model}/{setting}/{defense}.tsv"
    wildcard_constraints:
        defense=one_of(PLAN.setting_defenses),
        setting=SLUG_WILDCARD,
    params:
        sources=PLAN.setting_sources,


# Table III: every column's votes on the black-box TT+MI clips crafted on recognizer {source}, in
# one job per transfer (each defense purifies the clips from scratch).
rule predict_transfer:
    input:
        unpack(PLAN.transfer_inputs),
    output:
        transfer_predictions_file("{dataset}", "{model}", "{source}", "{setting}"),
    log:
        "logs/predict_transfer/{dataset}/{model}/{setting}/from_{source}.log",
    benchmark:
        "results/benchmarks/predict_transfer/{dataset}/{model}/{setting}/from_{source}.tsv"
    wildcard_constraints:
        source="[A-Za-z0-9]+",
        setting=SLUG_WILDCARD,
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("predict_transfer"),
        defenses=PLAN.transfer_defenses,
    script:
        "../scripts/predict_transfer.py"


rule gradient_checks:
    input:
        unpack(PLAN.gradient_checks_inputs),
    output:
        gradient_checks_file("{dataset}", "{model}"),
    log:
        "logs/gradient_checks/{dataset}-{model}.log",
    benchmark:
        "results/benchmarks/gradient_checks/{dataset}-{model}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("gradient_checks"),
        defense_name=lambda wildcards: PLAN.ablations.defense,
        defense=lambda wildcards: PLAN.defenses[PLAN.ablations.defense],
        clips=config["diagnostics"]["gradient_clips"],
    script:
        "../scripts/gradient_checks.py"
