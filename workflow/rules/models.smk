# Recognizers: trained by the workflow when the config gives no checkpoint (mini, smoke).


rule train_classifier:
    input:
        train=frames_file("{dataset}", "train"),
        val=frames_file("{dataset}", "val"),
        test=lambda wildcards: eval_frames(wildcards),
        model_config=lambda wildcards: DATASETS[wildcards.dataset]["classifiers"][
            wildcards.model
        ]["config"],
    output:
        checkpoint="results/models/{dataset}-{model}/checkpoint.pth",
        metrics="results/models/{dataset}-{model}/metrics.json",
    log:
        "logs/train_classifier/{dataset}-{model}.log",
    benchmark:
        "results/benchmarks/train_classifier/{dataset}-{model}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        train=config["train"],
        seed=config["seed"],
    script:
        "../scripts/train_classifier.py"
