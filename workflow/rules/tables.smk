# Stage 10: tables. Table I (paper): rows dataset x recognizer x defense, columns attacks.


rule table1:
    input:
        evalsets=expand("results/evalset/{dataset}.h5", dataset=DATASETS),
        predictions=[
            f"results/predictions/{dataset}/clean/{model}.h5"
            for dataset in DATASETS
            for model in classifier_names(dataset)
        ],
    output:
        csv="results/table1.csv",
        markdown="results/table1.md",
        clean="results/clean_accuracy.csv",
    log:
        "logs/table1.log",
    benchmark:
        "results/benchmarks/table1.tsv"
    threads: 1
    script:
        "../scripts/table1.py"
