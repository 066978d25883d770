"""Rule gradient_checks: cosine similarity between BPDA's, the ε-frozen and the exact input gradients
through VideoPure on adversarial clips (gray-box PGD) of the evaluation set."""

import json

from videopure.cache import write_text_atomic
from videopure.evaluation.gradients import gradient_agreement
from videopure.evaluation.loading import load_classifier, load_defense, load_eval_clips, read_attack_clips
from videopure.runtime import stage
from videopure.machine import machine_description

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    wildcards, inputs, params = job.wildcards, job.input, job.params
    data = load_eval_clips(job.config, wildcards.dataset, inputs.frames, inputs.evalset)
    clips = read_attack_clips(inputs.pgd, data, wildcards.model, "pgd").clips[: params.clips]
    labels = data.labels[: params.clips]
    classifier = load_classifier(
        job.config, wildcards.dataset, wildcards.model, inputs.checkpoint, data.class_names, job.device
    )
    purifier = load_defense(job.config, params.defense, job.device, inputs.diffusion_model)
    modes = ("bpda", "frozen", "exact")
    report = {
        "machine": machine_description(),
        "defense": params.defense_name,
        "defense_settings": purifier.settings(),
        "clips": len(clips),
        "inputs": "gray-box PGD clips",
        **gradient_agreement(classifier, purifier, clips, labels, modes, job.config["seed"]),
    }
    write_text_atomic(job.output[0], json.dumps(report, indent=1) + "\n")
