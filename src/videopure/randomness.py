"""Where the stochastic defenses' random numbers come from, and how an evaluation makes them reproducible.

Stochastic purifiers draw through :func:`normal` and :func:`uniform`. Outside :func:`seeded_clips`
these draw from torch's global RNG of the device, so one mechanism — :func:`seeded`, or an attack's
own seed — controls every defense. Inside ``seeded_clips(keys)``, row ``i`` of every draw comes
from a generator of its own, seeded from ``keys[i]``: each clip of a batch gets exactly the numbers
it gets when it runs alone under ``seeded(*keys[i])``. That is what lets an evaluation batch a
stochastic defense (:func:`videopure.evaluation.voting.predict_defended`): a clip's draws depend
neither on the batch size nor on which clips share its batch, and a rerun gives the same numbers.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Iterator, Sequence

import torch


class _ClipStreams:
    """One generator per clip and device, made on a clip's first draw on that device."""

    def __init__(self, seeds: list[int]) -> None:
        self.seeds = seeds
        self.generators: dict[torch.device, list[torch.Generator]] = {}

    def on(self, device: torch.device) -> list[torch.Generator]:
        if device not in self.generators:
            self.generators[device] = [torch.Generator(device).manual_seed(seed) for seed in self.seeds]
        return self.generators[device]


_CLIP_STREAMS: contextvars.ContextVar[_ClipStreams | None] = contextvars.ContextVar("clip_streams", default=None)


def derive_seed(*key: int) -> int:
    """One 64-bit seed from a key such as ``(config_seed, clip_index, draw)``.

    A single integer is returned unchanged, so ``seeded(s)`` behaves like ``torch.manual_seed(s)``.
    Longer keys are hashed (BLAKE2b), so neighbouring keys give unrelated streams — unlike sums or
    products of the parts, which collide (``(1, 2)`` vs ``(2, 1)``).
    """
    if not key or not all(isinstance(part, int) and not isinstance(part, bool) for part in key):
        raise ValueError(f"a seed key is one or more integers, got {key!r}")
    if len(key) == 1:
        return key[0]
    digest = hashlib.blake2b(",".join(map(str, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@contextlib.contextmanager
def seeded(*key: int) -> Iterator[None]:
    """Run a block with torch's RNGs seeded from ``key``; restore their previous states on exit.

    ``torch.random.fork_rng`` saves and restores the CPU and CUDA generators, so seeding one
    evaluation does not change the random stream of the code around it.

    Example::

        with seeded(config["seed"], clip_index, draw):
            candidates = purifier(x, gradient="none")
    """
    seed = derive_seed(*key)
    token = _CLIP_STREAMS.set(None)  # inside seeded_clips too, the block draws from this one stream
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            yield
    finally:
        _CLIP_STREAMS.reset(token)


@contextlib.contextmanager
def seeded_clips(keys: Sequence[Sequence[int]]) -> Iterator[None]:
    """Run a block on a batch of ``len(keys)`` clips whose draws (:func:`normal`, :func:`uniform`)
    are per clip: clip ``i`` draws what it draws alone under ``seeded(*keys[i])``, on any device.

    Example::

        with seeded_clips([(config["seed"], int(clip), draw) for clip in clip_ids]):
            candidates = purifier(x, gradient="none")  # x: those clips, in that order
    """
    if not keys:
        raise ValueError("seeded_clips needs one seed key per clip of the batch, got none")
    token = _CLIP_STREAMS.set(_ClipStreams([derive_seed(*key) for key in keys]))
    try:
        yield
    finally:
        _CLIP_STREAMS.reset(token)


def _per_clip(draw, shape: Sequence[int], device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
    streams = _CLIP_STREAMS.get()
    if streams is None:
        return draw(tuple(shape), device=device, dtype=dtype)
    if shape[0] != len(streams.seeds):
        raise ValueError(
            f"a draw of shape {tuple(shape)} inside seeded_clips for {len(streams.seeds)} clips: each clip's draws "
            "need a batch of exactly those clips, one row each (batch several draws of a clip under seeded instead)"
        )
    generators = streams.on(torch.device(device))
    rows = [draw((1, *shape[1:]), generator=generator, device=device, dtype=dtype) for generator in generators]
    return torch.cat(rows)


def normal(shape: Sequence[int], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard Gaussian noise of ``shape`` (batch first), in row-major order."""
    return _per_clip(torch.randn, shape, device, dtype)


def uniform(shape: Sequence[int], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Uniform noise on [0, 1) of ``shape`` (batch first)."""
    return _per_clip(torch.rand, shape, device, dtype)
