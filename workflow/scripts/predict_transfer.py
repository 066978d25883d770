"""Rule predict_transfer: Table III's cells of one transfer — every column's votes (the undefended
recognizer first, then each defense, purified from scratch) on the black-box TT+MI clips that rule
attack_setting crafted on another recognizer (the source), classified by this one (the target)."""

from videopure.cache import write_h5
from videopure.defenses import DefendedClassifier, build_defense
from videopure.evaluation.latents import load_diffusion_model
from videopure.evaluation.columns import BLACKBOX_COLUMN
from videopure.evaluation.loading import load_classifier, load_eval_clips, read_attack_clips
from videopure.evaluation.voting import predict_defended
from videopure.evaluation.settings import AttackSetting
from videopure.params import file_digest
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    wildcards, inputs = job.wildcards, job.input
    name, target, source = wildcards.dataset, wildcards.model, wildcards.source
    data = load_eval_clips(job.config, name, inputs.frames, inputs.evalset)
    data = data.subset(AttackSetting.from_slug(wildcards.setting).clips, job.config["seed"])
    classifier = load_classifier(job.config, name, target, inputs.checkpoint, data.class_names, job.device)
    adversarial = read_attack_clips(inputs.attack, data, source, BLACKBOX_COLUMN.slug)
    diffusion_model = None  # loaded once for every diffusion defense
    if "diffusion_model" in inputs.keys():
        diffusion_model = load_diffusion_model(job.config, inputs.diffusion_model, job.device)
    evaluation = job.config["evaluation"]
    arrays = {"labels": data.labels.numpy(), "video_ids": data.video_ids}
    defenses, draws = {}, {}
    for defense, spec in job.params.defenses.items():
        purifier = build_defense(spec, diffusion_model=diffusion_model).to(job.device)
        defended = DefendedClassifier(classifier, purifier, gradient="none")
        draws[defense] = evaluation["draws"] if purifier.stochastic else 1
        predictions = predict_defended(
            defended, adversarial.clips, job.config["seed"], draws[defense], evaluation["batch_size"], data.index,
            early_exit=evaluation["early_exit"],
        )  # fmt: skip
        arrays[f"{defense}/votes"] = predictions.votes
        defenses[defense] = purifier.settings()
    write_h5(
        job.output[0],
        arrays,
        params={
            "dataset": name, "model": target, "source": source, "defenses": defenses, "draws": draws,
            "attack": adversarial.params["attack"], "early_exit": evaluation["early_exit"],
        },  # fmt: skip
        upstream={**data.upstream, "checkpoint": file_digest(inputs.checkpoint), "attack": adversarial.identity},
    )
