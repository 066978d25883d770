# Stage 4 and the diffusion model: a small video latent diffusion model trained by the workflow
# when a dataset names none (mini, smoke), its quality checks, and the latent cache z0 = E(x) of
# the clip files every diffusion defense purifies: the clean evaluation set and the gray-box
# attacks. An adaptive attack's clips belong to one defense (and one setting of it), so its
# predict job encodes them itself.


rule train_vae:
    input:
        train=frames_file("{dataset}", "train"),
    output:
        directory(trained_vae_dir("{dataset}")),
    log:
        "logs/train_vae/{dataset}.log",
    benchmark:
        "results/benchmarks/train_vae/{dataset}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("train_vae"),
    script:
        "../scripts/train_vae.py"


rule train_unet:
    input:
        train=frames_file("{dataset}", "train"),
        vae=trained_vae_dir("{dataset}"),
    output:
        directory(trained_diffusion_dir("{dataset}")),
    log:
        "logs/train_unet/{dataset}.log",
    benchmark:
        "results/benchmarks/train_unet/{dataset}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("train_unet"),
    script:
        "../scripts/train_unet.py"


# One of Table V's image diffusion models (config table5.models without a path).
rule train_image_model:
    input:
        unpack(PLAN.image_model_inputs),
    output:
        directory(trained_image_model_dir("{dataset}", "{image_model}")),
    log:
        "logs/train_image_model/{dataset}-{image_model}.log",
    benchmark:
        "results/benchmarks/train_image_model/{dataset}-{image_model}.tsv"
    wildcard_constraints:
        image_model=one_of(model.slug for model in PLAN.table5.image_models.values()),
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("train_image_model"),
        settings=lambda wildcards: PLAN.table5.by_slug(wildcards.image_model).training,
    script:
        "../scripts/train_image_model.py"


rule diffusion_checks:
    input:
        unpack(PLAN.diffusion_checks_inputs),
    output:
        diffusion_checks_file("{dataset}"),
    log:
        "logs/diffusion_checks/{dataset}.log",
    benchmark:
        "results/benchmarks/diffusion_checks/{dataset}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("diffusion_checks"),
        models=PLAN.recognizers,
    script:
        "../scripts/diffusion_checks.py"


rule graybox_checks:
    input:
        unpack(PLAN.graybox_checks_inputs),
    output:
        graybox_checks_file("{dataset}"),
    log:
        "logs/graybox_checks/{dataset}.log",
    benchmark:
        "results/benchmarks/graybox_checks/{dataset}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("graybox_checks"),
        models=PLAN.recognizers,
    script:
        "../scripts/graybox_checks.py"


rule encode_clean:
    input:
        frames=PLAN.eval_frames,
        evalset=evalset_file("{dataset}"),
        diffusion_model=PLAN.dataset_diffusion_model,
    output:
        clean_latents_file("{dataset}"),
    log:
        "logs/encode/{dataset}/clean.log",
    benchmark:
        "results/benchmarks/encode/{dataset}/clean.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("encode"),
        source="clean",
    script:
        "../scripts/encode.py"


rule encode_graybox:
    input:
        clips=graybox_file("{dataset}", "{model}", "{attack}"),
        frames=PLAN.eval_frames,
        evalset=evalset_file("{dataset}"),
        diffusion_model=PLAN.dataset_diffusion_model,
    output:
        graybox_latents_file("{dataset}", "{model}", "{attack}"),
    log:
        "logs/encode/{dataset}/{model}/{attack}.log",
    benchmark:
        "results/benchmarks/encode/{dataset}/{model}/{attack}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("encode"),
        source=lambda wildcards: graybox_source(wildcards.model, wildcards.attack),
    script:
        "../scripts/encode.py"
