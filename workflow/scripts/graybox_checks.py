"""Rule graybox_checks: Standard Acc and Robust Acc* of reference defenses, without adaptive attacks.

The bars the diffusion defenses are held to, measured without Table I's adaptive attacks (which a
profile may leave out for their cost): on the evaluation set, each recognizer's accuracy on the clean
clips and on its gray-box PGD clips behind each defense of config diagnostics.graybox_references (by
default undefended, Table I's JPEG and WN, DDIM inversion (t* = 6 of 50), DiffPure_DDPM (t* = 101)
and VideoPure with the paper's hyperparameters, also without its optimisation step (Table IV) and
with the step's gradient taken through the UNet): videopure.evaluation.checks.graybox_checks.
"""

import json

from videopure.cache import write_text_atomic
from videopure.evaluation.checks import graybox_checks
from videopure.evaluation.latents import load_diffusion_model
from videopure.evaluation.loading import load_classifiers, load_eval_clips, read_attack_clips
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, name = job.input, job.wildcards.dataset
    data = load_eval_clips(job.config, name, inputs.frames, inputs.evalset)
    classifiers = load_classifiers(job.config, name, job.params.models, inputs, data.class_names, job.device)
    attacks = {model: read_attack_clips(inputs[f"pgd_{model}"], data, model, "pgd") for model in classifiers}
    checks = graybox_checks(
        load_diffusion_model(job.config, inputs.diffusion_model, job.device),
        job.config["diagnostics"]["graybox_references"],
        classifiers,
        data,
        {model: attack.clips for model, attack in attacks.items()},
        {model: attack.params["attack"] for model, attack in attacks.items()},
        job.config["seed"],
        job.config["evaluation"]["batch_size"],
        job.device,
    )
    write_text_atomic(job.output[0], json.dumps(checks, indent=1))
