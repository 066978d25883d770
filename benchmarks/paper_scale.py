"""Time and peak memory of the paper-scale diffusion model at random weights (no download needed).

ModelScope's UNet (``UNet3DConditionModel()`` defaults, 1.411 B parameters) and Stable Diffusion's
VAE (83.7 M) from :func:`videopure.diffusion.paper_architecture`, behind
:class:`~videopure.diffusion.LatentVideoDiffusion`, measured on what the purifiers run:

* ``unet_forward``: one noise prediction, no gradient, on latents (B, T, c, h, w) = (1, 32, 4, 28, 28)
  — a 32 × 224 × 224 clip;
* ``unet_forward_backward``: one noise prediction and the backward pass to the latent (parameters
  frozen), at a T that fits the machine (default 8 frames, 28 × 28). A gradient-checkpointed
  diffusion step of an attack costs this plus one more forward (the recomputation);
* ``vae_decode``: decoding 32 latent frames of 28 × 28 to 224 × 224 pixels.

Time is wall-clock seconds per repeat (after ``--warmup`` untimed runs). Peak memory: on the CPU the
process's resident set size, sampled every 5 ms during the measurement (``peak_rss_gib``; the
model's weights included, ``rss_before_gib`` is the level before); on a GPU
``torch.cuda.max_memory_allocated`` (``peak_allocated_gib``).

Usage (see benchmarks/README.md)::

    python benchmarks/paper_scale.py --device cpu --threads 2
    python benchmarks/paper_scale.py --smoke          # seconds: a tiny architecture, tiny shapes
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import torch

from videopure.cache import write_text_atomic
from videopure.diffusion import MODELSCOPE_SCHEDULER_CONFIG, LatentVideoDiffusion, paper_architecture
from videopure.machine import machine_description

GIB = 2**30


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
    parser.add_argument("--unet-shape", type=shape_argument, default=(32, 28, 28), help="latent T,h,w of the forward")
    parser.add_argument(
        "--grad-shape", type=shape_argument, default=(8, 28, 28), help="latent T,h,w of forward+backward"
    )
    parser.add_argument("--decode-shape", type=shape_argument, default=(32, 28, 28), help="latent T,h,w to decode")
    parser.add_argument("--frame-batch", type=int, default=8, help="frames per VAE decoder call")
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
        args.unet_shape = args.grad_shape = args.decode_shape = (2, 4, 4)
    warmup = args.warmup if args.warmup is not None else int(device.type == "cuda")
    # Real measurements go to results/ (kept); smoke runs to the git-ignored out/.
    folder = Path(__file__).resolve().parent / ("out" if args.smoke else "results")
    out = args.out or folder / f"paper_scale-{device.type}-{platform.node() or 'host'}.json"

    torch.manual_seed(0)
    start = time.perf_counter()
    with torch.device(device):
        vae, unet = tiny_architecture() if args.smoke else paper_architecture()
        embedding = torch.randn(1, 77, unet.config.cross_attention_dim)  # the CLIP text embedding's shape
    model = LatentVideoDiffusion(vae, unet, MODELSCOPE_SCHEDULER_CONFIG, embedding)
    model = model.requires_grad_(False).eval().to(dtype)
    build_seconds = time.perf_counter() - start
    print(f"built the model in {build_seconds:.1f} s", flush=True)
    channels = vae.config.latent_channels

    def latents(shape: tuple[int, int, int], seed: int) -> torch.Tensor:
        generator = torch.Generator(device).manual_seed(seed)
        return torch.randn((1, shape[0], channels, *shape[1:]), generator=generator, device=device, dtype=dtype)

    z_forward, z_grad, z_decode = (
        latents(args.unet_shape, 1),
        latents(args.grad_shape, 2),
        latents(args.decode_shape, 3),
    )

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

    pixels = model.vae_scale_factor
    results = {
        "unet_forward": {
            "latent_shape": list(z_forward.shape),
            **measure("unet_forward", forward, device, args.repeats, warmup),
        },
        "unet_forward_backward": {
            "latent_shape": list(z_grad.shape),
            **measure("unet_forward_backward", forward_backward, device, args.repeats, warmup),
        },
        "vae_decode": {
            "latent_shape": list(z_decode.shape),
            "pixel_shape": [1, args.decode_shape[0], 3, args.decode_shape[1] * pixels, args.decode_shape[2] * pixels],
            "frame_batch": args.frame_batch,
            **measure("vae_decode", decode, device, args.repeats, warmup),
        },
    }
    report = {
        "machine": machine_description(),
        "device": str(device),
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "smoke": args.smoke,
        "parameters": {
            "unet": sum(p.numel() for p in unet.parameters()),
            "vae": sum(p.numel() for p in vae.parameters()),
        },
        "build_seconds": build_seconds,
        "repeats": args.repeats,
        "warmup": warmup,
        "layout": "latent shapes are (B, T, c, h, w); the UNet sees (B, c, T, h, w)",
        "results": results,
        "process_peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB,  # Linux: KiB
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
    }
    write_text_atomic(out, json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
