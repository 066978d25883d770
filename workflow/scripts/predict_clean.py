"""Rule predict_clean: every recognizer's votes on the clean evaluation set behind one purification of
each clip by a one-candidate diffusion defense, which the defense's Table I rows read:
videopure.evaluation.rows.shared_clean_predictions."""

from videopure.cache import write_h5
from videopure.evaluation.latents import read_latents
from videopure.evaluation.loading import load_classifiers, load_defense, load_eval_clips
from videopure.evaluation.rows import shared_clean_predictions
from videopure.params import file_digest
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    wildcards, inputs, params = job.wildcards, job.input, job.params
    name, seed, evaluation = wildcards.dataset, job.config["seed"], job.config["evaluation"]
    data = load_eval_clips(job.config, name, inputs.frames, inputs.evalset)
    classifiers = load_classifiers(job.config, name, params.models, inputs, data.class_names, job.device)
    purifier = load_defense(job.config, params.defense, job.device, inputs.diffusion_model)
    latents, latents_identity = read_latents(inputs.latents_clean, purifier.model, data.upstream, data.video_ids)
    draws = evaluation["draws"] if purifier.stochastic else 1
    arrays = shared_clean_predictions(classifiers, purifier, data, seed, draws, evaluation["batch_size"], latents)
    write_h5(
        job.output[0],
        {"labels": data.labels.numpy(), "video_ids": data.video_ids, **arrays},
        params={
            "dataset": name,
            "defense": wildcards.defense,
            "defense_settings": purifier.settings(),
            "models": list(classifiers),
            "seed": seed,
            "draws": draws,
        },
        upstream={
            **data.upstream,
            "latents": latents_identity,
            **{f"checkpoint_{model}": file_digest(inputs[f"checkpoint_{model}"]) for model in classifiers},
        },
    )
