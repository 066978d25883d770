"""Rule predict: one Table I row — a defended recognizer's per-candidate logits and votes on the
clean evaluation set and on every attack's adversarial clips (a group per input)."""

import torch

from videopure.cache import read_h5, write_h5
from videopure.defenses import DefendedClassifier, build_defense
from videopure.evaluation.robust import defense_specs, load_classifier, load_eval_clips, predict_defended, votes
from videopure.params import file_digest
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    wildcards, inputs = snakemake.wildcards, snakemake.input  # noqa: F821
    name, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
    data = load_eval_clips(ctx.config, name, inputs.frames, inputs.evalset)
    classifier = load_classifier(ctx.config, name, model, inputs.checkpoint, None, ctx.device)
    purifier = build_defense(defense_specs(ctx.config)[defense]).to(ctx.device)
    defended = DefendedClassifier(classifier, purifier, gradient="none")
    evaluation = ctx.config["evaluation"]
    draws = evaluation["draws"] if purifier.stochastic else 1
    arrays = {"labels": data.labels.numpy(), "video_ids": data.video_ids}
    upstream = {**data.upstream, "checkpoint": file_digest(inputs.checkpoint)}
    accuracy = {}
    for source in snakemake.params.sources:  # noqa: F821
        clips = data.clips
        if source != "clean":
            adversarial = read_h5(inputs[source], expect_upstream=data.upstream, keys=["clips"])
            clips = torch.from_numpy(adversarial["clips"])
            upstream[source] = adversarial.identity
        logits = predict_defended(defended, clips, ctx.config["seed"], draws, evaluation["batch_size"], data.index)
        arrays[f"{source}/logits"] = logits
        arrays[f"{source}/votes"] = votes(logits)
        accuracy[source] = float((arrays[f"{source}/votes"] == arrays["labels"][:, None]).mean())
    write_h5(
        snakemake.output[0],  # noqa: F821
        arrays,
        params={
            "dataset": name,
            "model": model,
            "defense": defense,
            "defense_settings": purifier.settings(),
            "sources": list(snakemake.params.sources),  # noqa: F821
            "draws": draws,
            "accuracy": accuracy,
        },
        upstream=upstream,
    )
