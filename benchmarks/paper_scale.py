"""Time and peak memory of the paper-scale diffusion model at random weights (no download needed).

ModelScope's UNet (``UNet3DConditionModel()`` defaults, 1.411 B parameters) and Stable Diffusion's
VAE (83.7 M) from :func:`videopure.diffusion.paper_architecture`, behind
:class:`~videopure.diffusion.LatentVideoDiffusion`, measured on what the purifiers run:

* ``unet_forward``: one noise prediction, no gradient, on latents (B, T, c, h, w) = (1, 32, 4, 28, 28)
  — a 32 × 224 × 224 clip;
* ``unet_forward_backward``: one noise prediction and the backward pass to the latent (parameters
  frozen), at a T that fits the machine (default 8 frames, 28 × 28). A gradient-checkpointed
  diffusion step of an attack costs this plus one more forward (the recomputation);
* ``vae_decode``: decoding 32 latent frames of 28 × 28 to 224 × 224 pixels;
* what else a purification of Table X spends, on the profile's clip (``--profile``, default
  ``config/paper.yaml``: 32 × 224 × 224): ``vae_encode``, ``classify`` (the recognizer Table X uses,
  mmaction2 config at random weights), ``flow`` (VideoPure's flow model of all frame pairs, RAFT at
  random weights) and ``optimisation_step`` (one step of eqs. 14–16 on the clip's latents).

From these it prices Table X (``table10``: :func:`videopure.evaluation.speed.priced_table10`): the
operations DiffPure_DDPM and VideoPure spend on one clip, counted as the workflow's Table X counts
them, times the seconds of one operation of each kind measured in this run. ``--votes-from``: the
workflow's prediction files of VideoPure (e.g. ``results/predictions/mini/NL/Ours.h5``), whose
early-exit votes give the mean number of candidates a vote classified.

Time is wall-clock seconds per repeat (after ``--warmup`` untimed runs). Peak memory: on the CPU the
process's resident set size, sampled every 5 ms during the measurement (``peak_rss_gib``; the
model's weights included, ``rss_before_gib`` is the level before); on a GPU
``torch.cuda.max_memory_allocated`` (``peak_allocated_gib``).

Usage (see benchmarks/README.md)::

    python benchmarks/paper_scale.py --device cpu --threads 2
    python benchmarks/paper_scale.py --smoke          # seconds: a tiny architecture, tiny shapes
    python benchmarks/paper_scale.py --votes-from results/predictions/mini/*/Ours.h5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import psutil
import torch

from videopure.cache import read_attrs, read_h5, write_text_atomic
from videopure.config import load_config
from videopure.defenses import VideoPure
from videopure.defenses.registry import resolve_defense
from videopure.diffusion import MODELSCOPE_SCHEDULER_CONFIG, LatentVideoDiffusion, paper_architecture
from videopure.evaluation.speed import priced_table10
from videopure.flow import build_flow_model, latent_flow
from videopure.machine import machine_description
from videopure.models.classifier import VideoClassifier
from videopure.models.mmaction import build_recognizer, load_model_config
from videopure.plan import Plan

GIB = 2**30
REPO = Path(__file__).resolve().parents[1]


def shape_argument(text: str) -> tuple[int, int, int]:
    """``"T,h,w"`` latent frames and size -> (T, h, w)."""
    try:
        frames, height, width = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected T,h,w (latent frames, height, width), got {text!r}") from None
    return frames, height, width


def tiny_architecture():
    """A small model with the paper's block types, for ``--smoke`` (checks the script, not the machine)."""
    from diffusers import AutoencoderKL, UNet3DConditionModel

    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(32, 64),
        latent_channels=4,
        norm_num_groups=8,
        scaling_factor=0.18215,
    )
    unet = UNet3DConditionModel(
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        norm_num_groups=8,
        cross_attention_dim=1024,
        attention_head_dim=4,
    )
    return vae, unet


def early_exit_candidates(paths: Sequence[Path], tstar: int) -> list[int]:
    """The candidates each early-exit vote classified, over every source of the workflow's prediction
    files of a VideoPure voting over all t* + 1 candidates (``{source}/evaluated``, rules predict and
    predict_setting)."""
    counts: list[int] = []
    for path in paths:
        params = read_attrs(path)[0]
        settings = params.get("defense_settings", {})
        voting = settings.get("name") == "videopure" and settings.get("candidate") is None
        if not voting or settings.get("tstar") != tstar:
            raise SystemExit(
                f"{path}: not the predictions of a VideoPure voting over its t* + 1 candidates at t* = {tstar}, "
                f"the profile's (its defense: {settings.get('name')}, t* {settings.get('tstar')}); pass the "
                "Table X row's predictions, e.g. results/predictions/mini/NL/Ours.h5"
            )
        if not params.get("early_exit"):
            raise SystemExit(f"{path}: its votes were not early-exit votes (evaluation.early_exit was off)")
        record = read_h5(path, keys=[f"{source}/evaluated" for source in params["sources"]])
        counts += [int(n) for source in params["sources"] for n in np.ravel(record[f"{source}/evaluated"])]
    return counts


def check_priced_settings(settings: dict) -> None:
    """Stop unless VideoPure's settings do what WorkPerClip.videopure counts: the optimisation on with
    L_temp (so one flow per clip), every candidate voted, no UNet call inside the loss."""
    counted = {"optimize": True, "candidate": None, "loss_through_unet": False, "replace_trajectory": False}
    differing = {key: settings[key] for key, value in counted.items() if settings[key] != value}
    if differing or settings["lambda_temp"] <= 0:
        raise SystemExit(
            f"Table X's VideoPure row sets {differing or {'lambda_temp': settings['lambda_temp']}}: the priced work "
            f"counts the paper's VideoPure ({counted}, lambda_temp > 0), which WorkPerClip.videopure prices"
        )


def random_weights_flow(spec: dict, folder: Path) -> dict:
    """``spec`` with a RAFT's weights replaced by random ones of its size (saved under ``folder``):
    time does not depend on the weights, and the paper's need a download."""
    if spec["type"] != "raft":
        return spec
    from torchvision.models.optical_flow import raft_large, raft_small

    raft = (raft_large if spec.get("size", "large") == "large" else raft_small)(weights=None, progress=False)
    weights = folder / "raft_random.pth"
    torch.save(raft.state_dict(), weights)
    return {**spec, "weights": str(weights)}


class PeakRSS:
    """The process's peak resident set size while the context is open, sampled by a thread."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self.peak = 0

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        self.peak = self.process.memory_info().rss
        done = threading.Event()

        def sample() -> None:
            while not done.wait(self.interval):
                self.peak = max(self.peak, self.process.memory_info().rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield
        finally:
            done.set()
            sampler.join()
            self.peak = max(self.peak, self.process.memory_info().rss)


def measure(name: str, run: Callable[[], None], device: torch.device, repeats: int, warmup: int) -> dict:
    """Seconds per repeat and peak memory of ``run`` (a closure that does one unit of work)."""
    for _ in range(warmup):
        run()
    cuda = device.type == "cuda"
    rss = PeakRSS()
    before = rss.process.memory_info().rss
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    with rss.measure():
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            if cuda:
                torch.cuda.synchronize(device)
            seconds.append(time.perf_counter() - start)
    result = {"seconds": seconds, "median_seconds": statistics.median(seconds)}
    if cuda:
        result["peak_allocated_gib"] = torch.cuda.max_memory_allocated(device) / GIB
    else:
        result.update(rss_before_gib=before / GIB, peak_rss_gib=rss.peak / GIB)
    print(
        f"{name}: {result['median_seconds']:.2f} s, "
        + ", ".join(f"{k} {v:.2f}" for k, v in result.items() if k.endswith("gib")),
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="config whose clip, Table X defenses and recognizer are measured (default config/paper.yaml; "
        "--smoke: config/smoke.yaml)",
    )
    parser.add_argument(
        "--diffusion-model",
        type=Path,
        default=None,
        help="a trained bundle (e.g. results/models/mini-ldm with --profile config/config.yaml) in place of the "
        "paper's architecture at random weights",
    )
    parser.add_argument(
        "--unet-shape", type=shape_argument, default=None, help="latent T,h,w of the forward (default: the clip's)"
    )
    parser.add_argument(
        "--grad-shape", type=shape_argument, default=(8, 28, 28), help="latent T,h,w of forward+backward"
    )
    parser.add_argument(
        "--no-gradient",
        action="store_true",
        help="skip unet_forward_backward (Table X needs no gradient; it is the measurement that needs the most memory)",
    )
    parser.add_argument(
        "--decode-shape", type=shape_argument, default=None, help="latent T,h,w to decode (default: the clip's)"
    )
    parser.add_argument("--frame-batch", type=int, default=8, help="frames per VAE encoder and decoder call")
    parser.add_argument("--num-classes", type=int, default=101, help="the recognizer's outputs (UCF-101: 101)")
    parser.add_argument(
        "--votes-from",
        type=Path,
        nargs="*",
        default=[],
        help="VideoPure prediction files of a workflow run: their early-exit votes' candidate counts",
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=None, help="untimed runs first (default: 1 on GPU, 0 on CPU)")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny architecture and shapes: checks the script in seconds"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON file (default benchmarks/results/paper_scale-<device>-<host>.json; --smoke: benchmarks/out/)",
    )
    args = parser.parse_args(argv)

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.smoke:
        args.grad_shape = (2, 4, 4)
    warmup = args.warmup if args.warmup is not None else int(device.type == "cuda")
    # Real measurements go to results/ (kept); smoke runs to the git-ignored out/.
    folder = Path(__file__).resolve().parent / ("out" if args.smoke else "results")
    out = args.out or folder / f"paper_scale-{device.type}-{platform.node() or 'host'}.json"
    # What Table X compares, on which clip and recognizer: the profile's plan, as the workflow's rule
    # purification_speed reads it.
    profile = args.profile or REPO / "config" / ("smoke.yaml" if args.smoke else "paper.yaml")
    plan = Plan(load_config(profile))
    speed_defenses = plan.speed_defenses()
    ddpm_spec, videopure_spec = speed_defenses.values()
    ddpm_tstar = {**resolve_defense(ddpm_spec["type"]).defaults(), **ddpm_spec}["tstar"]
    settings = VideoPure.spec_settings(videopure_spec)
    check_priced_settings(settings)
    clip_spec = plan.datasets[plan.ablations.dataset]["clip"]
    recognizer_config = plan.datasets[plan.ablations.dataset]["classifiers"][plan.ablations.model]["config"]
    candidates = early_exit_candidates(args.votes_from, settings["tstar"])

    torch.manual_seed(0)
    start = time.perf_counter()
    if args.diffusion_model is not None:
        model = LatentVideoDiffusion.from_pretrained(args.diffusion_model, device=device, dtype=dtype)
    else:
        with torch.device(device):
            vae, unet = tiny_architecture() if args.smoke else paper_architecture()
            embedding = torch.randn(1, 77, unet.config.cross_attention_dim)  # the CLIP text embedding's shape
        model = LatentVideoDiffusion(vae, unet, MODELSCOPE_SCHEDULER_CONFIG, embedding)
        model = model.requires_grad_(False).eval().to(dtype)
    vae, unet = model.vae, model.unet
    build_seconds = time.perf_counter() - start
    print(f"built the model in {build_seconds:.1f} s", flush=True)
    channels, pixels = vae.config.latent_channels, model.vae_scale_factor
    clip_latents = (clip_spec["num_frames"], clip_spec["crop"] // pixels, clip_spec["crop"] // pixels)
    unet_shape, decode_shape = args.unet_shape or clip_latents, args.decode_shape or clip_latents

    def latents(shape: tuple[int, int, int], seed: int) -> torch.Tensor:
        generator = torch.Generator(device).manual_seed(seed)
        return torch.randn((1, shape[0], channels, *shape[1:]), generator=generator, device=device, dtype=dtype)

    z_forward, z_grad, z_decode = latents(unet_shape, 1), latents(args.grad_shape, 2), latents(decode_shape, 3)
    generator = torch.Generator(device).manual_seed(4)
    clip_shape = (1, clip_spec["num_frames"], 3, clip_spec["crop"], clip_spec["crop"])
    clip = torch.rand(clip_shape, generator=generator, device=device).to(dtype)
    with torch.device(device):
        recognizer = build_recognizer(load_model_config(recognizer_config), args.num_classes)
    classifier = VideoClassifier(recognizer, [str(index) for index in range(args.num_classes)]).to(device, dtype)
    weights_folder = tempfile.TemporaryDirectory()
    flow_spec = random_weights_flow(VideoPure.spec_flow(videopure_spec), Path(weights_folder.name))
    flow_model = build_flow_model(flow_spec).to(device)
    videopure = VideoPure(model, **{**settings, "flow": flow_model})
    with torch.no_grad():
        z_clip = model.encode(clip, frame_batch=args.frame_batch)
    clip_flow = latent_flow(flow_model, clip, z_clip.shape[-2:])
    tau, tau_prev = videopure.timesteps.taus[0], videopure.timesteps.previous[0]
    eps = latents(clip_latents, 5)

    def forward() -> None:
        with torch.no_grad():
            model.predict_noise(z_forward, 101)

    def forward_backward() -> None:
        z = z_grad.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model.predict_noise(z, 101).float().square().sum(), z)
        assert torch.isfinite(grad).all()

    def decode() -> None:
        with torch.no_grad():
            model.decode(z_decode, frame_batch=args.frame_batch)

    def encode() -> None:
        with torch.no_grad():
            model.encode(clip, frame_batch=args.frame_batch)

    def classify() -> None:
        with torch.no_grad():
            classifier(clip)

    def flow() -> None:
        latent_flow(flow_model, clip, z_clip.shape[-2:])

    def optimisation_step() -> None:
        def to_clean(z: torch.Tensor) -> torch.Tensor:  # ẑ0 of eq. 15 with ε fixed
            return model.schedule.predict_original(z, eps, tau)

        videopure.optimized(z_clip, to_clean, videopure.step_variance(tau, tau_prev), z_clip, clip_flow)

    results = {
        "unet_forward": {
            "latent_shape": list(z_forward.shape),
            **measure("unet_forward", forward, device, args.repeats, warmup),
        },
        "vae_decode": {
            "latent_shape": list(z_decode.shape),
            "pixel_shape": [1, decode_shape[0], 3, decode_shape[1] * pixels, decode_shape[2] * pixels],
            "frame_batch": args.frame_batch,
            **measure("vae_decode", decode, device, args.repeats, warmup),
        },
        "vae_encode": {
            "pixel_shape": list(clip.shape),
            "frame_batch": args.frame_batch,
            **measure("vae_encode", encode, device, args.repeats, warmup),
        },
        "classify": {
            "pixel_shape": list(clip.shape),
            "recognizer": f"{plan.ablations.model}: {recognizer_config}",
            **measure("classify", classify, device, args.repeats, warmup),
        },
        "flow": {
            "pixel_shape": list(clip.shape),
            "flow_model": {key: value for key, value in flow_spec.items() if key != "weights"},
            **measure("flow", flow, device, args.repeats, warmup),
        },
        "optimisation_step": {
            "latent_shape": list(z_clip.shape),
            **measure("optimisation_step", optimisation_step, device, args.repeats, warmup),
        },
    }
    if not args.no_gradient:
        results["unet_forward_backward"] = {
            "latent_shape": list(z_grad.shape),
            **measure("unet_forward_backward", forward_backward, device, args.repeats, warmup),
        }
    weights_folder.cleanup()
    costs = {name: measured["median_seconds"] for name, measured in results.items()}
    table10 = {
        "profile": str(profile.relative_to(REPO) if profile.is_relative_to(REPO) else profile),
        "dataset": plan.ablations.dataset,
        "model": plan.ablations.model,
        "clip_latent_shape": list(clip_latents),
        "priced_at_clip_shape": unet_shape == decode_shape == clip_latents,
        "defenses": speed_defenses,
        "votes_from": [str(path) for path in args.votes_from],
        "rows": priced_table10(costs, candidates, settings["tstar"], ddpm_tstar),
    }
    for name, row in table10["rows"].items():
        total = row["seconds"]["total"]
        print(f"Table X, priced: {name}: {total:.1f} s per clip, DiffPure_DDPM / this {row['ratio']:.2f}x")
    report = {
        "machine": machine_description(),
        "device": str(device),
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "smoke": args.smoke,
        "diffusion_model": str(args.diffusion_model) if args.diffusion_model else "random weights",
        "parameters": {
            "unet": sum(p.numel() for p in unet.parameters()),
            "vae": sum(p.numel() for p in vae.parameters()),
            "recognizer": sum(p.numel() for p in recognizer.parameters()),
        },
        "build_seconds": build_seconds,
        "repeats": args.repeats,
        "warmup": warmup,
        "layout": "latent shapes are (B, T, c, h, w); the UNet sees (B, c, T, h, w)",
        "results": results,
        "table10": table10,
        "process_peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB,  # Linux: KiB
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
    }
    write_text_atomic(out, json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
