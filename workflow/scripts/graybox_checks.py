"""Rule graybox_checks: Standard Acc and Robust Acc* of reference defenses, without adaptive attacks.

The bars the diffusion defenses are held to, measured without Table I's adaptive attacks (which
a profile may leave out for their cost): on the evaluation set, each recognizer's accuracy on the
clean clips and on its gray-box PGD clips behind each defense of config
diagnostics.graybox_references (by default undefended, the classical JPEG (quality 75) and WN
(sigma 8/255) of Table I, DDIM inversion (t* = 6 of 50), DiffPure_DDPM (t* = 101) and VideoPure
(the paper's hyperparameters, t* = 6, OpenCV DIS flow), also without its optimisation step (Table
IV) and with the step's gradient taken through the UNet (``loss_through_unet``)). Every
clip is purified and scored as a Table I row scores it (``predict_defended``: one draw, seeded per
clip), so a profile whose Table I has the same defense gives the same numbers there. A clean clip's
candidates do not depend on the recognizer, so they are purified once and classified by all.
"""

import json
import logging

from videopure.cache import write_text_atomic
from videopure.defenses import build_defense
from videopure.evaluation.latents import load_diffusion_model
from videopure.evaluation.robust import defended_accuracies, load_classifier, load_eval_clips, read_attack_clips
from videopure.runtime import machine_description, stage

log = logging.getLogger("videopure.graybox_checks")

with stage(snakemake) as ctx:  # noqa: F821
    inputs, name = snakemake.input, snakemake.wildcards.dataset  # noqa: F821
    data = load_eval_clips(ctx.config, name, inputs.frames, inputs.evalset)
    batch_size, seed = ctx.config["evaluation"]["batch_size"], ctx.config["seed"]
    diffusion_model = load_diffusion_model(ctx.config, inputs.diffusion_model, ctx.device)
    purifiers = {
        defense: build_defense(spec, diffusion_model=diffusion_model).to(ctx.device)
        for defense, spec in ctx.config["diagnostics"]["graybox_references"].items()
    }
    classifiers = {
        recognizer: load_classifier(
            ctx.config, name, recognizer, inputs[f"checkpoint_{recognizer}"], data.class_names, ctx.device
        )
        for recognizer in snakemake.params.models  # noqa: F821
    }
    checks = {
        "clips": len(data.clips),
        "defenses": {defense: purifier.settings() for defense, purifier in purifiers.items()},
        "accuracy": {recognizer: {defense: {} for defense in purifiers} for recognizer in classifiers},
        "attacks": {},
    }
    adversarial = {}
    for recognizer in classifiers:
        attack = read_attack_clips(inputs[f"pgd_{recognizer}"], data, recognizer, "pgd")
        checks["attacks"][recognizer] = attack.params["attack"]
        adversarial[recognizer] = attack.clips
    for defense, purifier in purifiers.items():
        results = {"Standard Acc": defended_accuracies(classifiers, purifier, data.clips, data.labels, data.index, seed, batch_size)}
        results["Robust Acc* (PGD)"] = {
            recognizer: defended_accuracies(
                {recognizer: classifier}, purifier, adversarial[recognizer], data.labels, data.index, seed, batch_size
            )[recognizer]
            for recognizer, classifier in classifiers.items()
        }
        for column, per_recognizer in results.items():
            for recognizer, accuracy in per_recognizer.items():
                checks["accuracy"][recognizer][defense][column] = accuracy
                log.info("%s, %s, %s: %.3f", recognizer, defense, column, accuracy)
    checks["machine"] = machine_description()
    write_text_atomic(snakemake.output[0], json.dumps(checks, indent=1))  # noqa: F821
