# Stage 1: videos -> frames. The mini/smoke profiles first generate their action videos.


rule generate_videos:
    output:
        videos=directory(generated_videos_dir("{dataset}")),
        class_index=generated_class_index("{dataset}"),
        split_lists=[
            generated_split_list("{dataset}", split) for split in GENERATED_SPLITS
        ],
        flow=[ground_truth_flow_file("{dataset}", split) for split in GENERATED_SPLITS],
    log:
        "logs/generate_videos/{dataset}.log",
    benchmark:
        "results/benchmarks/generate_videos/{dataset}.tsv"
    threads: 1
    params:
        config=PLAN.stage_config("generate_videos"),
        flow_step=PLAN.generated_flow_step,
    script:
        "../scripts/generate_videos.py"


rule frames:
    input:
        unpack(PLAN.annotation_inputs),
    output:
        frames_file("{dataset}", "{split}"),
    log:
        "logs/frames/{dataset}/{split}.log",
    benchmark:
        "results/benchmarks/frames/{dataset}/{split}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("frames"),
    script:
        "../scripts/frames.py"
