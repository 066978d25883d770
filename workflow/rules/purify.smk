# Stages 5 and 6: VideoPure's caches, per clip file (the clean evaluation set, each gray-box attack):
# the input's optical flow per flow model, and the denoising trajectory (every z*_t and eps_t) per
# t*, T and inversion kind. A sweep over alpha_s or lambda reuses both: its predict jobs run only
# the optimisation steps, decoding and classification.


rule invert:
    input:
        latents=source_latents,
        diffusion_model=lambda wildcards: diffusion_model_dir(wildcards.dataset),
    output:
        trajectory_file("{dataset}", "{trajectory}", "{source}"),
    log:
        "logs/invert/{dataset}/{trajectory}/{source}.log",
    benchmark:
        "results/benchmarks/invert/{dataset}/{trajectory}/{source}.tsv"
    wildcard_constraints:
        trajectory="|".join(re.escape(key) for key in TRAJECTORIES) or "^$",
        source="clean|[A-Za-z0-9]+/graybox/[a-z_]+",
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("invert"),
        settings=lambda wildcards: TRAJECTORIES[wildcards.trajectory],
    script:
        "../scripts/invert.py"


rule flow:
    input:
        unpack(flow_inputs),
    output:
        flow_file("{dataset}", "{flow}", "{source}"),
    log:
        "logs/flow/{dataset}/{flow}/{source}.log",
    benchmark:
        "results/benchmarks/flow/{dataset}/{flow}/{source}.tsv"
    wildcard_constraints:
        flow="|".join(re.escape(slug) for slug in FLOWS) or "^$",
        source="clean|[A-Za-z0-9]+/graybox/[a-z_]+",
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("flow"),
        spec=lambda wildcards: FLOWS[wildcards.flow],
        source=lambda wildcards: wildcards.source,
    script:
        "../scripts/flow.py"


rule train_flow:
    input:
        train=frames_file("{dataset}", "train"),
        truth=ground_truth_flow_file("{dataset}", "train"),
    output:
        weights=trained_flow_weights("{dataset}"),
        metrics="results/models/{dataset}-raft_small.json",
    log:
        "logs/train_flow/{dataset}.log",
    benchmark:
        "results/benchmarks/train_flow/{dataset}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("train_flow"),
    script:
        "../scripts/train_flow.py"


rule flow_checks:
    input:
        unpack(flow_checks_inputs),
    output:
        "results/models/{dataset}-flow-checks.json",
    log:
        "logs/flow_checks/{dataset}.log",
    benchmark:
        "results/benchmarks/flow_checks/{dataset}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("flow_checks"),
        flows=checked_flows,
    script:
        "../scripts/flow_checks.py"
