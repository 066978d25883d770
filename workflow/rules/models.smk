# Recognizers: trained by the workflow when the config gives no checkpoint (mini, smoke), on the
# train split and, with train.vae_reconstructions > 0, its reconstructions through the VAE.


rule train_classifier:
    input:
        unpack(PLAN.train_classifier_inputs),
    output:
        checkpoint=trained_checkpoint("{dataset}", "{model}"),
        metrics=trained_classifier_metrics("{dataset}", "{model}"),
    log:
        "logs/train_classifier/{dataset}-{model}.log",
    benchmark:
        "results/benchmarks/train_classifier/{dataset}-{model}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("train_classifier"),
    script:
        "../scripts/train_classifier.py"


rule reconstruct_frames:
    input:
        frames=frames_file("{dataset}", "{split}"),
        vae=PLAN.dataset_vae,
    output:
        reconstructed_frames_file("{dataset}", "{split}"),
    log:
        "logs/reconstruct_frames/{dataset}/{split}.log",
    benchmark:
        "results/benchmarks/reconstruct_frames/{dataset}/{split}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("reconstruct_frames"),
    script:
        "../scripts/reconstruct_frames.py"
