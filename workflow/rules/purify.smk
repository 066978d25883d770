# Stages 5 and 6: VideoPure's caches, per clip file (the clean evaluation set, each gray-box attack):
# the input's optical flow per flow model, and the denoising trajectory (every z*_t and eps_t) per
# t*, T and inversion kind. A sweep over alpha_s or lambda reuses both: its predict jobs run only
# the optimisation steps, decoding and classification.


rule invert:
    input:
        latents=PLAN.source_latents,
        diffusion_model=PLAN.dataset_diffusion_model,
    output:
        trajectory_file("{dataset}", "{trajectory}", "{source}"),
    log:
        "logs/invert/{dataset}/{trajectory}/{source}.log",
    benchmark:
        "results/benchmarks/invert/{dataset}/{trajectory}/{source}.tsv"
    wildcard_constraints:
        trajectory=one_of(PLAN.trajectories),
        source="clean|[A-Za-z0-9]+/graybox/[a-z_]+",
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("invert"),
        settings=lambda wildcards: PLAN.trajectories[wildcards.trajectory],
    script:
        "../scripts/invert.py"


rule flow:
    input:
        unpack(PLAN.flow_inputs),
    output:
        flow_file("{dataset}", "{flow}", "{source}"),
    log:
        "logs/flow/{dataset}/{flow}/{source}.log",
    benchmark:
        "results/benchmarks/flow/{dataset}/{flow}/{source}.tsv"
    wildcard_constraints:
        flow=one_of(PLAN.flows),
        source="clean|[A-Za-z0-9]+/graybox/[a-z_]+",
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("flow"),
        spec=lambda wildcards: PLAN.flows[wildcards.flow],
        source=lambda wildcards: wildcards.source,
    script:
        "../scripts/flow.py"


rule train_flow:
    input:
        train=frames_file("{dataset}", "train"),
        truth=ground_truth_flow_file("{dataset}", "train"),
    output:
        weights=trained_flow_weights("{dataset}"),
        metrics=trained_flow_metrics("{dataset}"),
    log:
        "logs/train_flow/{dataset}.log",
    benchmark:
        "results/benchmarks/train_flow/{dataset}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("train_flow"),
    script:
        "../scripts/train_flow.py"


rule flow_checks:
    input:
        unpack(PLAN.flow_checks_inputs),
    output:
        flow_checks_file("{dataset}"),
    log:
        "logs/flow_checks/{dataset}.log",
    benchmark:
        "results/benchmarks/flow_checks/{dataset}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("flow_checks"),
        flows=PLAN.checked_flows,
    script:
        "../scripts/flow_checks.py"
