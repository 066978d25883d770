"""Wall time of training a profile's diffusion model (VAE, then UNet) against its time budget.

The mini profile trains its own video latent diffusion model, and the whole of it should train in
at most 20 minutes on a 2-core CPU. This script runs the trainers the workflow's rules
``train_vae`` and ``train_unet`` run (:func:`videopure.diffusion.train.train_vae`,
:func:`~videopure.diffusion.train.train_unet`), with a config's ``diffusion.vae`` /
``diffusion.unet`` settings and seed, on the train split the workflow extracted, into a scratch
directory, and records:

* ``vae_seconds``, ``unet_seconds``: each trainer's wall time, model building, the latent-std
  estimate and (UNet) the encoding of the train split included;
* ``total_seconds`` against ``budget_seconds`` (``within_budget``);
* each trainer's metrics (final losses, VAE training PSNR, parameter counts), the threads, the
  machine and the command.

Usage (see benchmarks/README.md), after ``snakemake --cores 4 results/frames/mini/train.h5``::

    python benchmarks/mini_training.py --threads 2
    # -> benchmarks/results/mini_training-cpu-<host>.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from videopure.cache import write_text_atomic
from videopure.config import load_config
from videopure.data.frames import load_frames
from videopure.diffusion.train import UNetTraining, VAETraining, train_unet, train_vae
from videopure.params import frames_params
from videopure.paths import frames_file
from videopure.machine import machine_description, resolve_device


def trained_dataset(config: dict) -> str:
    """The first dataset whose diffusion model the workflow trains (``diffusion_model: null``)."""
    for name, spec in config["datasets"].items():
        if spec["diffusion_model"] is None:
            return name
    raise SystemExit("no dataset in this config trains its diffusion model (every one names a diffusion_model)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configfile", nargs="+", default=["config/config.yaml"], help="config files, later ones override"
    )
    parser.add_argument("--dataset", default=None, help="default: the first dataset that trains its own model")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the config's)")
    parser.add_argument("--budget-minutes", type=float, default=20.0)
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON file (default benchmarks/results/mini_training-<device>-<host>.json)"
    )
    args = parser.parse_args(argv)

    config = load_config(*args.configfile)
    dataset = args.dataset or trained_dataset(config)
    if dataset not in config["datasets"]:
        raise SystemExit(f"--dataset {dataset!r} is not in the config's datasets {sorted(config['datasets'])}")
    frames_path = Path(frames_file(dataset, "train"))
    if not frames_path.is_file():
        raise SystemExit(
            f"{frames_path} does not exist: extract the train split first "
            f"(snakemake --cores 4 {frames_path} --configfile {' '.join(args.configfile)})"
        )
    threads = args.threads or config["threads"]
    torch.set_num_threads(threads)
    device = resolve_device(config["device"])
    out = args.out or Path(__file__).resolve().parent / "results" / (
        f"mini_training-{device.type}-{platform.node() or 'host'}.json"
    )
    frames = load_frames(frames_path, frames_params(config, dataset, "train")).frames
    vae_settings = VAETraining(**config["diffusion"]["vae"])
    unet_settings = UNetTraining(**config["diffusion"]["unet"])

    with tempfile.TemporaryDirectory(prefix="mini_training-") as scratch:
        start = time.perf_counter()
        vae_metrics = train_vae(frames, vae_settings, Path(scratch) / "vae", seed=config["seed"], device=device)
        vae_seconds = time.perf_counter() - start
        start = time.perf_counter()
        unet_metrics = train_unet(
            frames, Path(scratch) / "vae", unet_settings, Path(scratch) / "ldm", seed=config["seed"], device=device
        )
        unet_seconds = time.perf_counter() - start

    total = vae_seconds + unet_seconds
    budget = 60.0 * args.budget_minutes
    drop = ("loss_history", "settings")
    report = {
        "dataset": dataset,
        "configfiles": args.configfile,
        "train_frames": list(frames.shape),
        "vae_seconds": vae_seconds,
        "unet_seconds": unet_seconds,
        "total_seconds": total,
        "budget_seconds": budget,
        "within_budget": total <= budget,
        "vae": {key: value for key, value in vae_metrics.items() if key not in drop},
        "unet": {key: value for key, value in unet_metrics.items() if key not in drop},
        "settings": {"vae": config["diffusion"]["vae"], "unet": config["diffusion"]["unet"], "seed": config["seed"]},
        "device": str(device),
        "threads": threads,
        "machine": machine_description(),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(report, indent=1) + "\n")
    verdict = "within" if report["within_budget"] else "OVER"
    print(
        f"VAE {vae_seconds:.0f} s + UNet {unet_seconds:.0f} s = {total:.0f} s on {threads} threads: "
        f"{verdict} the {args.budget_minutes:g}-minute budget; wrote {out}"
    )


if __name__ == "__main__":
    main()
