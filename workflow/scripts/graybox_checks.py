"""Rule graybox_checks: Standard Acc and Robust Acc* of reference defenses, without adaptive attacks.

The bars the diffusion defenses are held to, measured without Table I's adaptive attacks (which
a profile may leave out for their cost): on the evaluation set, each recognizer's accuracy on the
clean clips and on its gray-box PGD clips, undefended, behind the classical JPEG (quality 75) and
WN (sigma 8/255) of Table I, and behind DDIM inversion (t* = 6 of 50), DiffPure_DDPM (t* = 101) and
VideoPure (the paper's hyperparameters, t* = 6, OpenCV DIS flow). Every
clip is purified and scored as a Table I row scores it (``predict_defended``: one draw, seeded per
clip), so a profile whose Table I has the same defense gives the same numbers there.
"""

import json
import logging

import torch

from videopure.cache import read_h5, write_text_atomic
from videopure.defenses import DefendedClassifier, build_defense
from videopure.evaluation.latents import load_diffusion_model
from videopure.evaluation.robust import load_classifier, load_eval_clips, predict_defended, votes
from videopure.runtime import machine_description, stage

log = logging.getLogger("videopure.graybox_checks")

REFERENCE_DEFENSES = {
    "None": {"type": "none"},
    "JPEG": {"type": "jpeg", "quality": 75},
    "WN": {"type": "white_noise", "sigma": 8 / 255},
    "DDIM_Inversion_t6": {"type": "ddim_inversion", "tstar": 6},
    "DiffPure_DDPM_t101": {"type": "diffpure_ddpm", "tstar": 101},
    "VideoPure_t6_dis": {"type": "videopure", "tstar": 6, "flow": {"type": "dis"}},
}

with stage(snakemake) as ctx:  # noqa: F821
    inputs, name = snakemake.input, snakemake.wildcards.dataset  # noqa: F821
    data = load_eval_clips(ctx.config, name, inputs.frames, inputs.evalset)
    batch_size, seed = ctx.config["evaluation"]["batch_size"], ctx.config["seed"]
    diffusion_model = load_diffusion_model(ctx.config, inputs.diffusion_model, ctx.device)
    purifiers = {
        defense: build_defense(spec, diffusion_model=diffusion_model).to(ctx.device)
        for defense, spec in REFERENCE_DEFENSES.items()
    }
    checks = {
        "clips": len(data.clips),
        "defenses": {defense: purifier.settings() for defense, purifier in purifiers.items()},
        "accuracy": {},
        "attacks": {},
    }
    for recognizer in snakemake.params.models:  # noqa: F821
        classifier = load_classifier(ctx.config, name, recognizer, inputs[f"checkpoint_{recognizer}"], None, ctx.device)
        adversarial = read_h5(inputs[f"pgd_{recognizer}"], expect_upstream=data.upstream, keys=["clips"])
        checks["attacks"][recognizer] = adversarial.params["attack"]
        sources = {"Standard Acc": data.clips, "Robust Acc* (PGD)": torch.from_numpy(adversarial["clips"])}
        checks["accuracy"][recognizer] = {}
        for defense, purifier in purifiers.items():
            defended = DefendedClassifier(classifier, purifier, gradient="none")
            checks["accuracy"][recognizer][defense] = {}
            for column, clips in sources.items():
                logits = predict_defended(defended, clips, seed, 1, batch_size, data.index)
                accuracy = float((votes(logits)[:, 0] == data.labels.numpy()).mean())
                checks["accuracy"][recognizer][defense][column] = accuracy
                log.info("%s, %s, %s: %.3f", recognizer, defense, column, accuracy)
    checks["machine"] = machine_description()
    write_text_atomic(snakemake.output[0], json.dumps(checks, indent=1))  # noqa: F821
