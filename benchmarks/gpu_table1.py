"""Table I's adaptive cells through the diffusion defenses on a class-balanced subset, without Snakemake.

These are the cells a CPU cannot afford (config ``diffusion_adaptive``): PGD+BPDA, TT+BPDA, EOT+BPDA
and PGD+DiffAttack of every diffusion row and Ours. This script computes them through the package
API as rules ``attack_adaptive``, ``attack_full_gradient`` and ``predict`` do (same attack settings,
seeds and votes, one attack column at a time), on the frames, evaluation set, recognizers and
diffusion model a CPU run of the workflow made, and records accuracy and wall time per cell. It
is what ``benchmarks/gpu_table1.sh`` runs on a lent GPU machine, which has no Snakemake.

* The subset: ``--clips-per-class`` clips of each class of each dataset's evaluation set, chosen
  as ``evaluation.max_clips`` chooses (seeded, classes in turn). Attack batches (and with them the
  per-batch seeds of random starts and draws) then differ from the rules', so the cells are
  estimates of Table I's on fewer clips; with the whole evaluation set they are Table I's cells.
  The JSON names the clips and holds each clip's votes.
* ``--budget-seconds``: no new cell starts after it; the cells left are listed under ``skipped``.

Usage, after ``snakemake --cores 4 results/table1.csv`` (or on smoke, as the test suite does)::

    python benchmarks/gpu_table1.py --clips-per-class 1 --out benchmarks/out/gpu_table1.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from videopure.cache import write_text_atomic
from videopure.config import load_config
from videopure.defenses import DefendedClassifier
from videopure.evaluation.clean import cap_evaluation_set
from videopure.evaluation.attacking import attack_settings, run_attack
from videopure.evaluation.columns import defense_specs, diffusion_adaptive_columns
from videopure.evaluation.loading import load_classifier, load_defense, load_eval_clips
from videopure.evaluation.voting import predict_defended
from videopure.paths import classifier_checkpoint, diffusion_model_path, evalset_file, frames_file
from videopure.machine import machine_description, resolve_device, seed_everything


def diffusion_rows(config: dict) -> dict[str, dict]:
    """Table I's rows with adaptive columns a CPU run leaves out, in the table's order."""
    return {name: spec for name, spec in defense_specs(config).items() if diffusion_adaptive_columns(spec)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"], help="later files override")
    parser.add_argument("--clips-per-class", type=int, default=1)
    parser.add_argument("--defenses", nargs="+", default=None, help="a subset of the diffusion rows (default: all)")
    parser.add_argument("--budget-seconds", type=float, default=270.0, help="no cell starts after this")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the config's)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/gpu_table1.json"))
    args = parser.parse_args(argv)
    if args.clips_per_class < 1:
        parser.error("--clips-per-class must be at least 1")

    config = load_config(*args.configfile)
    rows = diffusion_rows(config)
    unknown = sorted(set(args.defenses or []) - set(rows))
    if unknown:
        parser.error(f"--defenses {unknown}: not diffusion rows of the config; choose from {list(rows)}")
    rows = {name: spec for name, spec in rows.items() if args.defenses is None or name in args.defenses}
    torch.set_num_threads(args.threads or config["threads"])
    seed_everything(config["seed"])
    device = resolve_device(config["device"])
    attack, evaluation = config["attack"], config["evaluation"]

    start = time.perf_counter()
    cells, skipped, subsets = [], [], {}
    for dataset, spec in config["datasets"].items():
        frames, evalset = frames_file(dataset, spec["eval_split"]), evalset_file(dataset)
        for path in (frames, evalset):
            if not Path(path).is_file():
                sys.exit(f"{path} does not exist: build it first (snakemake --cores 4 {path} --configfile ...)")
        data = load_eval_clips(config, dataset, frames, evalset)
        labels = data.labels.numpy()
        per_class = args.clips_per_class * len(np.unique(labels))
        subset = cap_evaluation_set(np.arange(len(labels)), labels, per_class, config["seed"])
        clips, subset_labels = data.clips[subset].to(device), data.labels[subset].to(device)
        clip_ids = data.index[subset]
        subsets[dataset] = [str(video) for video in data.video_ids[subset]]
        for model in spec["classifiers"]:
            checkpoint = classifier_checkpoint(config, dataset, model)
            classifier = load_classifier(config, dataset, model, checkpoint, data.class_names, device)
            for defense, defense_spec in rows.items():
                purifier = load_defense(config, defense_spec, device, diffusion_model_path(config, dataset))
                draws = evaluation["draws"] if purifier.stochastic else 1
                for column in diffusion_adaptive_columns(defense_spec):
                    key = {"dataset": dataset, "model": model, "defense": defense, "column": column.name}
                    if time.perf_counter() - start > args.budget_seconds:
                        skipped.append(key)
                        continue
                    settings = attack_settings(attack, column, purifier, config["seed"])
                    target = DefendedClassifier(classifier, purifier, gradient=column.gradient)
                    began = time.perf_counter()
                    adversarial, trace = run_attack(target, column, settings, clips, subset_labels, attack["batch_size"])
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    attacked = time.perf_counter()
                    evaluated = DefendedClassifier(classifier, purifier, gradient="none")
                    voted = predict_defended(
                        evaluated, adversarial, config["seed"], draws, evaluation["batch_size"], clip_ids,
                        early_exit=evaluation["early_exit"],
                    ).votes
                    accuracy = float((voted == subset_labels.cpu().numpy()[:, None]).mean())
                    cells.append(
                        {**key, "accuracy": round(100 * accuracy, 1), "clips": len(subset), "draws": draws,
                         "gradient": target.gradient, "attack": {"name": column.attack, **settings},
                         "attack_seconds": round(attacked - began, 2),
                         "evaluate_seconds": round(time.perf_counter() - attacked, 2),
                         "final_mean_loss": float(trace[-1].mean()), "votes": voted.tolist()}
                    )
                    print(f"{dataset} {model} {defense} {column.name}: {cells[-1]['accuracy']} % of {len(subset)} "
                          f"clips, {cells[-1]['attack_seconds']} s", flush=True)
    report = {
        "machine": machine_description(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "configfiles": args.configfile,
        "clips_per_class": args.clips_per_class,
        "video_ids": subsets,
        "budget_seconds": args.budget_seconds,
        "total_seconds": round(time.perf_counter() - start, 2),
        "cells": cells,
        "skipped": skipped,
        "command": shlex.join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
    }
    write_text_atomic(args.out, json.dumps(report, indent=1) + "\n")
    print(f"{len(cells)} cells in {report['total_seconds']} s, {len(skipped)} skipped -> {args.out}")


if __name__ == "__main__":
    main()
