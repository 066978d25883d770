"""Rules predict and predict_setting: one row of Table I or an ablation table — a defended
recognizer's votes and per-candidate logits on the clean evaluation set and on every attack's
adversarial clips (a group per input) — or a defense's on the attacks at another setting than Table
I's (Tables XI and XII), on the setting's clips. Diffusion defenses read the clips' cached latents
where there are some; VideoPure also its cached trajectory and flow. With evaluation.early_exit each
vote stops once decided: the logits of the candidates it did not need are NaN, and
``{source}/evaluated`` counts those it did."""

from videopure.cache import write_h5
from videopure.defenses import DefendedClassifier
from videopure.evaluation.latents import read_latents
from videopure.evaluation.robust import (
    load_classifier,
    load_defense,
    load_eval_clips,
    predict_defended,
    read_attack_clips,
    vote_accuracy,
)
from videopure.evaluation.settings import AttackSetting
from videopure.evaluation.trajectories import flow_spec, read_flows, read_trajectories, trajectory_settings
from videopure.params import file_digest
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    wildcards, inputs = snakemake.wildcards, snakemake.input  # noqa: F821
    name, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
    data = load_eval_clips(ctx.config, name, inputs.frames, inputs.evalset)
    if "setting" in wildcards.keys():
        data = data.subset(AttackSetting.from_slug(wildcards.setting).clips, ctx.config["seed"])
    classifier = load_classifier(ctx.config, name, model, inputs.checkpoint, data.class_names, ctx.device)
    diffusion_model = inputs.diffusion_model if "diffusion_model" in inputs.keys() else None
    spec = snakemake.params.defense  # noqa: F821
    purifier = load_defense(ctx.config, spec, ctx.device, diffusion_model)
    defended = DefendedClassifier(classifier, purifier, gradient="none")
    evaluation = ctx.config["evaluation"]
    draws = evaluation["draws"] if purifier.stochastic else 1
    arrays = {"labels": data.labels.numpy(), "video_ids": data.video_ids}
    upstream = {**data.upstream, "checkpoint": file_digest(inputs.checkpoint)}
    accuracy, attacks = {}, {}
    for source in snakemake.params.sources:  # noqa: F821
        clips, clips_upstream = data.clips, data.upstream
        if source != "clean":
            adversarial = read_attack_clips(inputs[source], data, model, source, (defense, purifier.settings()))
            clips, clips_upstream = adversarial.clips, {"clips": adversarial.identity}
            upstream[source] = adversarial.identity
            attacks[source] = {key: adversarial.params[key] for key in ("attack", "gradient")}
        latents, latents_identity, cached = None, None, {}
        if f"latents_{source}" in inputs.keys():  # z0 = E(x) from the latent cache (rules encode_*)
            latents, latents_identity = read_latents(
                inputs[f"latents_{source}"], purifier.model, clips_upstream, data.video_ids
            )
        if f"trajectory_{source}" in inputs.keys():  # VideoPure's UNet work (rule invert)
            trajectory_upstream = {"latents": latents_identity, "diffusion_model": purifier.model.identity}
            cached["trajectory"] = read_trajectories(
                inputs[f"trajectory_{source}"], trajectory_settings(spec), trajectory_upstream, data.video_ids
            )
        if f"flow_{source}" in inputs.keys():  # the input's flow (rule flow)
            cached["flow"] = read_flows(
                inputs[f"flow_{source}"], flow_spec(spec), tuple(latents.shape[-2:]), clips_upstream, data.video_ids
            )
        predictions = predict_defended(
            defended, clips, ctx.config["seed"], draws, evaluation["batch_size"], data.index, latents, cached,
            early_exit=evaluation["early_exit"],
        )
        arrays[f"{source}/logits"] = predictions.logits
        arrays[f"{source}/votes"] = predictions.votes
        arrays[f"{source}/evaluated"] = predictions.evaluated
        accuracy[source] = vote_accuracy(predictions.votes, arrays["labels"])
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
            "early_exit": evaluation["early_exit"],
            "accuracy": accuracy,
            "attacks": attacks,
        },
        upstream=upstream,
    )
