"""Rule autoattack: APGD-CE and APGD-DLR (Table II) through one defense on a subset of the evaluation
set, and the defense's votes on their clips; resumed from its partial file after an interruption."""

from pathlib import Path

from videopure.cache import write_h5
from videopure.defenses import DefendedClassifier
from videopure.evaluation.autoattack import apgd_settings, run_autoattack
from videopure.evaluation.robust import load_classifier, load_defense, load_eval_clips
from videopure.params import file_digest
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    wildcards, inputs, output = snakemake.wildcards, snakemake.input, Path(snakemake.output[0])  # noqa: F821
    partial = output.with_name(output.name + ".partial.h5")
    config = ctx.config
    data = load_eval_clips(config, wildcards.dataset, inputs.frames, inputs.evalset)
    classifier = load_classifier(config, wildcards.dataset, wildcards.model, inputs.checkpoint, data.class_names, ctx.device)
    diffusion_model = inputs.diffusion_model if "diffusion_model" in inputs.keys() else None
    purifier = load_defense(config, snakemake.params.defense, ctx.device, diffusion_model)  # noqa: F821
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
        target, DefendedClassifier(classifier, purifier, gradient="none"), part.clips.to(ctx.device),
        part.labels.to(ctx.device), part.index, settings, config["attack"]["batch_size"], draws,
        partial, {"params": params, "upstream": upstream},
    )  # fmt: skip
    subset_arrays = {"labels": part.labels.numpy(), "video_ids": part.video_ids, "index": part.index}
    write_h5(output, {**arrays, **subset_arrays}, params, upstream, compression=None)
    partial.unlink()
