# Stage 2: clean classification and the evaluation set (clips every recognizer gets right).


rule classify_clean:
    input:
        frames=eval_frames,
        checkpoint=lambda wildcards: checkpoint_path(wildcards.dataset, wildcards.model),
    output:
        "results/predictions/{dataset}/clean/{model}.h5",
    log:
        "logs/classify_clean/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/classify_clean/{dataset}/{model}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        classifier=lambda wildcards: DATASETS[wildcards.dataset]["classifiers"][
            wildcards.model
        ],
    script:
        "../scripts/classify_clean.py"


rule evaluation_set:
    input:
        unpack(clean_predictions),
    output:
        "results/evalset/{dataset}.h5",
    log:
        "logs/evaluation_set/{dataset}.log",
    benchmark:
        "results/benchmarks/evaluation_set/{dataset}.tsv"
    threads: 1
    script:
        "../scripts/evaluation_set.py"
