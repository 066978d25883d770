# Stage 10: tables. Table I (paper): rows dataset x recognizer x defense, columns attacks.


rule table1:
    input:
        evalsets=[evalset_file(dataset) for dataset in DATASETS],
        clean=[
            clean_split_predictions(dataset, model)
            for dataset in DATASETS
            for model in classifier_names(dataset)
        ],
        predictions=table1_predictions(),
        diffusion_checks=trained_diffusion_checks(),
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
    script:
        "../scripts/table1.py"
