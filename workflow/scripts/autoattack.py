"""Rule autoattack: APGD-CE and APGD-DLR (Table II) through one defense on a subset of the evaluation
set, and the defense's votes on their clips; resumed from its partial file after an interruption."""

from pathlib import Path

from videopure.cache import write_h5
from videopure.defenses import DefendedClassifier
from videopure.evaluation.autoattack import apgd_settings, run_autoattack
from videopure.evaluation.loading import load_classifier, load_defense, load_eval_clips
from videopure.params import file_digest
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    wildcards, inputs, output = job.wildcards, job.input, Path(job.output[0])
    partial = output.with_name(output.name + ".partial.h5")
    config = job.config
    data = load_eval_clips(config, wildcards.dataset, inputs.frames, inputs.evalset)
    classifier = load_classifier(config, wildcards.dataset, wildcards.model, inputs.checkpoint, data.class_names, job.device)
    diffusion_model = inputs.diffusion_model if "diffusion_model" in inputs.keys() else None
    purifier = load_defense(config, job.params.defense, job.device, diffusion_model)
    target = DefendedClassifier(classifier, purifier, gradient=config["autoattack"]["gradient"])
    part = data.subset(config["autoattack"]["clips"], config["seed"])
    settings = apgd_settings(config["autoattack"], config["attack"], purifier.stochastic, config["seed"])
    draws = config["evaluation"]["draws"] if purifier.stochastic else 1
    upstream = {**data.upstream, "checkpoint": file_digest(inputs.checkpoint)}
    if diffusion_model is not None:
        upstream["diffusion_model"] = purifier.model.identity
    params = {"dataset": wildcards.dataset, "model": wildcards.model, "defense": wildcards.defense,
              "defense_settings": purifier.settings(), "attacks": settings, "gradient": target.gradient, "draws": draws}
    arrays = run_autoattack(
        target, DefendedClassifier(classifier, purifier, gradient="none"), part.clips.to(job.device),
        part.labels.to(job.device), part.index, settings, config["attack"]["batch_size"], draws,
        partial, {"params": params, "upstream": upstream},
    )  # fmt: skip
    subset_arrays = {"labels": part.labels.numpy(), "video_ids": part.video_ids, "index": part.index}
    write_h5(output, {**arrays, **subset_arrays}, params, upstream, compression=None)
    partial.unlink()
