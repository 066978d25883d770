"""Rule purification_speed: seconds per clip of DiffPure_DDPM and VideoPure (full vote and early
exit) on the same UNet, one run (Table X), and of a new VideoPure sweep point from the caches against
one from scratch."""

import json

import torch

from videopure.cache import write_text_atomic
from videopure.defenses import DefendedClassifier, VideoPure
from videopure.evaluation.loading import load_classifier, load_defense, load_eval_clips
from videopure.evaluation.speed import time_defended, time_sweep_point
from videopure.runtime import stage
from videopure.machine import machine_description

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    wildcards, inputs, params = job.wildcards, job.input, job.params
    data = load_eval_clips(job.config, wildcards.dataset, inputs.frames, inputs.evalset)
    clips = data.clips[: params.clips]
    classifier = load_classifier(
        job.config, wildcards.dataset, wildcards.model, inputs.checkpoint, data.class_names, job.device
    )
    report = {
        "machine": machine_description(),
        "device": str(job.device),
        "threads": torch.get_num_threads(),
        "dataset": wildcards.dataset,
        "model": wildcards.model,
        "clip_shape": list(clips.shape[1:]),
        "defenses": {},
    }
    (baseline_name, baseline_spec), (videopure_name, videopure_spec) = params.defenses.items()
    baseline = DefendedClassifier(
        classifier, load_defense(job.config, baseline_spec, job.device, inputs.diffusion_model), gradient="none"
    )
    ours = DefendedClassifier(
        classifier, load_defense(job.config, videopure_spec, job.device, inputs.diffusion_model), gradient="none"
    )
    seed = job.config["seed"]
    # VideoPure with its full vote and with the early-exit vote, same UNet, same run.
    report["defenses"] = {
        baseline_name: time_defended(baseline, clips, seed),
        videopure_name: time_defended(ours, clips, seed),
        f"{videopure_name} (early exit)": time_defended(ours, clips, seed, early_exit=True),
    }
    seconds = [measured["median_seconds"] for measured in report["defenses"].values()]
    report["ratio"] = seconds[0] / seconds[1]
    report["ratio_early_exit"] = seconds[0] / seconds[2]
    # A new sweep point (config diagnostics.speed_sweep_point) from the cached latents, trajectory and
    # flow, against the VideoPure row from scratch: the cost model of the sweeps (docs/method.md,
    # "Caches and sweeps").
    new_spec = {**videopure_spec, **job.config["diagnostics"]["speed_sweep_point"]}
    new_point = VideoPure(ours.purifier.model, **{k: v for k, v in new_spec.items() if k != "type"})
    report["sweep_point"] = time_sweep_point(ours, new_point, clips)
    report["sweep_point_early_exit"] = time_sweep_point(ours, new_point, clips, early_exit=True)
    write_text_atomic(job.output[0], json.dumps(report, indent=1) + "\n")
