"""Rules attack_graybox, attack_adaptive, attack_variant, attack_full_gradient and attack_setting:
adversarial clips of the evaluation set (float32), one output file per attack column.

Gray-box: the attack sees the bare recognizer (computed once, evaluated through every defense).
Adaptive: the attack differentiates through the defense in the column's gradient mode (the
defense's default, exact or BPDA, for the +BPDA columns; the full gradient for PGD+DiffAttack),
recorded with the clips. Rule attack_setting runs at another norm, radius or number of steps than
Table I's, on a class-balanced subset, or with a flow term in the loss (Tables VI, XI and XII, Figs. 4
and 5 (a)).
"""

import numpy as np

from videopure.cache import write_h5
from videopure.defenses import DefendedClassifier
from videopure.evaluation.robust import (
    COLUMNS_BY_SLUG,
    attack_settings,
    load_classifier,
    load_defense,
    load_eval_clips,
    run_attack,
)
from videopure.evaluation.settings import AttackSetting
from videopure.params import file_digest
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    wildcards, inputs = snakemake.wildcards, snakemake.input  # noqa: F821
    name, model = wildcards.dataset, wildcards.model
    data = load_eval_clips(ctx.config, name, inputs.frames, inputs.evalset)
    setting = AttackSetting.from_slug(wildcards.setting) if "setting" in wildcards.keys() else None
    attacked_flow = snakemake.params.attacked_flow if "attacked_flow" in snakemake.params.keys() else None  # noqa: F821
    if setting is not None:
        data = data.subset(setting.clips, ctx.config["seed"])
    classifier = load_classifier(ctx.config, name, model, inputs.checkpoint, data.class_names, ctx.device)
    upstream = {**data.upstream, "checkpoint": file_digest(inputs.checkpoint)}
    params = {"dataset": name, "model": model}
    purifier = None
    if "defense" in wildcards.keys():
        diffusion_model = inputs.diffusion_model if "diffusion_model" in inputs.keys() else None
        purifier = load_defense(ctx.config, snakemake.params.defense, ctx.device, diffusion_model)  # noqa: F821
        params.update(defense=wildcards.defense, defense_settings=purifier.settings())
        if diffusion_model is not None:
            upstream["diffusion_model"] = purifier.model.identity
    clips, labels = data.clips.to(ctx.device), data.labels.to(ctx.device)
    for slug, path in zip(snakemake.params.columns, snakemake.output):  # noqa: F821
        column = COLUMNS_BY_SLUG[slug]
        if purifier is None:
            target, gradient = classifier, "exact (bare recognizer)"
        else:
            target = DefendedClassifier(classifier, purifier, gradient=column.gradient)
            gradient = target.gradient
        settings = attack_settings(
            ctx.config["attack"], column, purifier, ctx.config["seed"], setting, tuple(clips.shape[1:]), attacked_flow
        )
        adversarial, trace = run_attack(target, column, settings, clips, labels, ctx.config["attack"]["batch_size"])
        write_h5(
            path,
            {
                "clips": adversarial.numpy().astype(np.float32),
                "labels": data.labels.numpy(),
                "video_ids": data.video_ids,
                "index": data.index,
                "loss_trace": trace.astype(np.float32),
            },
            params={**params, "gradient": gradient, "column": column.name, "attack": {"name": column.attack, **settings}},
            upstream=upstream,
            compression=None,
        )
