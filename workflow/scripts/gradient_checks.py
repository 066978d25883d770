"""Rule gradient_checks: cosine similarity between BPDA's, the ε-frozen and the exact input gradients
through VideoPure on adversarial clips (gray-box PGD) of the evaluation set."""

import json

from videopure.cache import write_text_atomic
from videopure.evaluation.gradients import gradient_agreement
from videopure.evaluation.robust import load_classifier, load_defense, load_eval_clips, read_attack_clips
from videopure.runtime import machine_description, stage

with stage(snakemake) as ctx:  # noqa: F821
    wildcards, inputs, params = snakemake.wildcards, snakemake.input, snakemake.params  # noqa: F821
    data = load_eval_clips(ctx.config, wildcards.dataset, inputs.frames, inputs.evalset)
    clips = read_attack_clips(inputs.pgd, data, wildcards.model, "pgd").clips[: params.clips]
    labels = data.labels[: params.clips]
    classifier = load_classifier(
        ctx.config, wildcards.dataset, wildcards.model, inputs.checkpoint, data.class_names, ctx.device
    )
    purifier = load_defense(ctx.config, params.defense, ctx.device, inputs.diffusion_model)
    modes = ("bpda", "frozen", "exact")
    report = {
        "machine": machine_description(),
        "defense": params.defense_name,
        "defense_settings": purifier.settings(),
        "clips": len(clips),
        "inputs": "gray-box PGD clips",
        **gradient_agreement(classifier, purifier, clips, labels, modes, ctx.config["seed"]),
    }
    write_text_atomic(snakemake.output[0], json.dumps(report, indent=1) + "\n")  # noqa: F821
