"""Rule purification_speed: seconds per clip of DiffPure_DDPM and VideoPure (full vote and early
exit) on the same UNet, one run (Table X), and of a new VideoPure sweep point from the caches against
one from scratch: videopure.evaluation.speed.speed_report."""

import json

from videopure.cache import write_text_atomic
from videopure.evaluation.loading import load_classifier, load_defense, load_eval_clips
from videopure.evaluation.speed import speed_report
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    wildcards, inputs, params = job.wildcards, job.input, job.params
    data = load_eval_clips(job.config, wildcards.dataset, inputs.frames, inputs.evalset)
    classifier = load_classifier(
        job.config, wildcards.dataset, wildcards.model, inputs.checkpoint, data.class_names, job.device
    )
    purifiers = {
        name: load_defense(job.config, spec, job.device, inputs.diffusion_model)
        for name, spec in params.defenses.items()
    }
    report = speed_report(
        classifier,
        purifiers,
        job.config["diagnostics"]["speed_sweep_point"],
        data.clips[: params.clips],
        job.config["seed"],
    )
    report.update(dataset=wildcards.dataset, model=wildcards.model)
    write_text_atomic(job.output[0], json.dumps(report, indent=1) + "\n")
