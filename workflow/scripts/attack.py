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
from videopure.evaluation.attacking import attack_column
from videopure.evaluation.columns import COLUMNS_BY_SLUG
from videopure.evaluation.loading import load_classifier, load_defense, load_eval_clips
from videopure.evaluation.settings import AttackSetting
from videopure.params import file_digest
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    wildcards, inputs = job.wildcards, job.input
    name, model = wildcards.dataset, wildcards.model
    data = load_eval_clips(job.config, name, inputs.frames, inputs.evalset)
    setting = AttackSetting.from_slug(wildcards.setting) if "setting" in wildcards.keys() else None
    attacked_flow = job.params.attacked_flow if "attacked_flow" in job.params.keys() else None
    if setting is not None:
        data = data.subset(setting.clips, job.config["seed"])
    classifier = load_classifier(job.config, name, model, inputs.checkpoint, data.class_names, job.device)
    upstream = {**data.upstream, "checkpoint": file_digest(inputs.checkpoint)}
    params = {"dataset": name, "model": model}
    purifier = None
    if "defense" in wildcards.keys():
        diffusion_model = inputs.diffusion_model if "diffusion_model" in inputs.keys() else None
        purifier = load_defense(job.config, job.params.defense, job.device, diffusion_model)
        params.update(defense=wildcards.defense, defense_settings=purifier.settings())
        if diffusion_model is not None:
            upstream["diffusion_model"] = purifier.model.identity
    clips, labels = data.clips.to(job.device), data.labels.to(job.device)
    for slug, path in zip(job.params.columns, job.output):
        adversarial, trace, recorded = attack_column(
            classifier, purifier, COLUMNS_BY_SLUG[slug], job.config["attack"], job.config["seed"], clips, labels,
            setting, attacked_flow,
        )
        write_h5(
            path,
            {
                "clips": adversarial.numpy().astype(np.float32),
                "labels": data.labels.numpy(),
                "video_ids": data.video_ids,
                "index": data.index,
                "loss_trace": trace.astype(np.float32),
            },
            params={**params, **recorded},
            upstream=upstream,
            compression=None,
        )
