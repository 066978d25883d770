# Stage 1: videos -> frames. The mini/smoke profiles first generate their action videos.


rule generate_videos:
    output:
        videos=directory("data/{dataset}/videos"),
        class_index="data/{dataset}/annotations/classInd.txt",
        split_lists=expand(
            "data/{{dataset}}/annotations/{split}list01.txt", split=GENERATED_SPLITS
        ),
        flow=[ground_truth_flow_file("{dataset}", split) for split in GENERATED_SPLITS],
    log:
        "logs/generate_videos/{dataset}.log",
    benchmark:
        "results/benchmarks/generate_videos/{dataset}.tsv"
    threads: 1
    params:
        config=stage_config("generate_videos"),
        flow_step=generated_flow_step,
    script:
        "../scripts/generate_videos.py"


rule frames:
    input:
        unpack(annotation_inputs),
    output:
        frames_file("{dataset}", "{split}"),
    log:
        "logs/frames/{dataset}/{split}.log",
    benchmark:
        "results/benchmarks/frames/{dataset}/{split}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("frames"),
    script:
        "../scripts/frames.py"
