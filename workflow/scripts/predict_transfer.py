"""Rule predict_transfer: Table III's cells of one transfer — every column's votes (the undefended
recognizer first, then each defense, purified from scratch) on the black-box TT+MI clips that rule
attack_setting crafted on another recognizer (the source), classified by this one (the target)."""

from videopure.cache import write_h5
from videopure.defenses import DefendedClassifier, build_defense
from videopure.evaluation.latents import load_diffusion_model
from videopure.evaluation.robust import (
    BLACKBOX_COLUMN,
    load_classifier,
    load_eval_clips,
    predict_defended,
    read_attack_clips,
)
from videopure.evaluation.settings import AttackSetting
from videopure.params import file_digest
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    wildcards, inputs = snakemake.wildcards, snakemake.input  # noqa: F821
    name, target, source = wildcards.dataset, wildcards.model, wildcards.source
    data = load_eval_clips(ctx.config, name, inputs.frames, inputs.evalset)
    data = data.subset(AttackSetting.from_slug(wildcards.setting).clips, ctx.config["seed"])
    classifier = load_classifier(ctx.config, name, target, inputs.checkpoint, data.class_names, ctx.device)
    adversarial = read_attack_clips(inputs.attack, data, source, BLACKBOX_COLUMN.slug)
    diffusion_model = None  # loaded once for every diffusion defense
    if "diffusion_model" in inputs.keys():
        diffusion_model = load_diffusion_model(ctx.config, inputs.diffusion_model, ctx.device)
    evaluation = ctx.config["evaluation"]
    arrays = {"labels": data.labels.numpy(), "video_ids": data.video_ids}
    defenses, draws = {}, {}
    for defense, spec in snakemake.params.defenses.items():  # noqa: F821
        purifier = build_defense(spec, diffusion_model=diffusion_model).to(ctx.device)
        defended = DefendedClassifier(classifier, purifier, gradient="none")
        draws[defense] = evaluation["draws"] if purifier.stochastic else 1
        predictions = predict_defended(
            defended, adversarial.clips, ctx.config["seed"], draws[defense], evaluation["batch_size"], data.index,
            early_exit=evaluation["early_exit"],
        )  # fmt: skip
        arrays[f"{defense}/votes"] = predictions.votes
        defenses[defense] = purifier.settings()
    write_h5(
        snakemake.output[0],  # noqa: F821
        arrays,
        params={
            "dataset": name, "model": target, "source": source, "defenses": defenses, "draws": draws,
            "attack": adversarial.params["attack"], "early_exit": evaluation["early_exit"],
        },  # fmt: skip
        upstream={**data.upstream, "checkpoint": file_digest(inputs.checkpoint), "attack": adversarial.identity},
    )
