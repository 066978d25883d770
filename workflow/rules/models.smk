# Recognizers: trained by the workflow when the config gives no checkpoint (mini, smoke), on the
# train split and, with train.vae_reconstructions > 0, its reconstructions through the VAE.


rule train_classifier:
    input:
        unpack(reconstructed_train_input),
        train=frames_file("{dataset}", "train"),
        val=frames_file("{dataset}", "val"),
        test=lambda wildcards: eval_frames(wildcards),
        model_config=lambda wildcards: recognizer_spec(
            config, wildcards.dataset, wildcards.model
        )[1]["config"],
    output:
        checkpoint=trained_checkpoint("{dataset}", "{model}"),
        metrics="results/models/{dataset}-{model}/metrics.json",
    log:
        "logs/train_classifier/{dataset}-{model}.log",
    benchmark:
        "results/benchmarks/train_classifier/{dataset}-{model}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("train_classifier"),
    script:
        "../scripts/train_classifier.py"


rule reconstruct_frames:
    input:
        frames=frames_file("{dataset}", "{split}"),
        vae=lambda wildcards: vae_dir(wildcards.dataset),
    output:
        reconstructed_frames_file("{dataset}", "{split}"),
    log:
        "logs/reconstruct_frames/{dataset}/{split}.log",
    benchmark:
        "results/benchmarks/reconstruct_frames/{dataset}/{split}.tsv"
    threads: THREADS
    resources:
        cpu_threads=THREADS,
    params:
        config=stage_config("reconstruct_frames"),
    script:
        "../scripts/reconstruct_frames.py"
