"""Rules predict and predict_setting: one row of Table I or an ablation table — a defended
recognizer's votes and per-candidate logits on the clean evaluation set and on every attack's
adversarial clips (a group per input) — or a defense's on the attacks at another setting than Table
I's (Tables XI and XII), on the setting's clips: videopure.evaluation.rows.vote_row."""

from videopure.cache import write_h5
from videopure.defenses import DefendedClassifier
from videopure.evaluation.loading import load_classifier, load_defense, load_eval_clips
from videopure.evaluation.rows import vote_row
from videopure.evaluation.settings import AttackSetting
from videopure.params import file_digest
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    wildcards, inputs = job.wildcards, job.input
    name, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
    data = load_eval_clips(job.config, name, inputs.frames, inputs.evalset)
    if "setting" in wildcards.keys():
        data = data.subset(AttackSetting.from_slug(wildcards.setting).clips, job.config["seed"])
    classifier = load_classifier(job.config, name, model, inputs.checkpoint, data.class_names, job.device)
    diffusion_model = inputs.diffusion_model if "diffusion_model" in inputs.keys() else None
    purifier = load_defense(job.config, job.params.defense, job.device, diffusion_model)
    evaluation = job.config["evaluation"]
    draws = evaluation["draws"] if purifier.stochastic else 1
    row = vote_row(
        DefendedClassifier(classifier, purifier, gradient="none"),
        job.params.defense,
        data,
        job.params.sources,
        dict(inputs.items()),
        model,
        defense,
        job.config["seed"],
        draws,
        evaluation["batch_size"],
        evaluation["early_exit"],
    )
    write_h5(
        job.output[0],
        row.arrays,
        params={
            "dataset": name,
            "model": model,
            "defense": defense,
            "defense_settings": purifier.settings(),
            "sources": list(job.params.sources),
            "draws": draws,
            "early_exit": evaluation["early_exit"],
            "accuracy": row.accuracy,
            "attacks": row.attacks,
        },
        upstream={**data.upstream, "checkpoint": file_digest(inputs.checkpoint), **row.upstream},
    )
