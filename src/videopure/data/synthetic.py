"""The mini profile's procedurally generated action videos, in UCF-101's layout.

Every clip shows one to three textured shapes on a static background; the *class is the motion*
that all shapes of the clip share (translation, rotation about each shape's centre, zoom,
oscillation, orbit, or none). Nothing else depends on the class, so a single frame carries no
information about it:

* **Scenes are shared by all classes.** Clip ``j`` of a split has the same background, shapes,
  textures, colours, sizes, base positions and orientations in every class; only the motion
  differs. The appearance is therefore independent of the label within the generated sample, not
  just in distribution, and a classifier has to look at motion.
* **Positions live on a torus.** Shapes wrap around the frame borders, so a base position drawn
  uniformly stays uniform after any motion: the distribution of a shape's position is the same in
  every frame of every class (keeping shapes inside the frame would make, e.g., TranslateLeft's
  first frames show shapes on the right).
* **Orientations** are uniform on the circle, which rotation leaves uniform.
* **Sizes.** A zoom by rate ``r`` per frame multiplies each shape's size by ``exp(r (t - c))``,
  ``c`` the mid-clip frame. Every other class applies the factor of one random frame ``t``,
  constant over the clip, so the size of a randomly picked frame has the same distribution in all
  classes. (A classifier that knows which frame index it sees could still tell ZoomIn's small first
  frames from ZoomOut's large ones; every other frame statistic is index-free.)

Textures are smooth (colour gradients, sinusoidal stripes and checks with periods of at least
about 8 px at 64 x 64) and shape edges are anti-aliased, so a VAE with 4x downsampling can
reconstruct the frames, while textured shapes keep rotation and zoom visible to flow estimators.
Motion magnitudes are given at 64 x 64 and scale with ``size``.

Frames are rendered analytically: each pixel is mapped to its shape's own coordinates, where shape
(signed distance) and texture are evaluated. The same mapping gives the exact ground-truth forward
flow of every shape pixel.

Example:
    ```py
    >>> from videopure.data.synthetic import MOTION_CLASSES, generate_dataset
    >>> generate_dataset("data/mini", num_classes=10, per_class={"train": 100, "val": 10, "test": 10})
    >>> MOTION_CLASSES[:2]
    ('TranslateLeft', 'TranslateRight')
    ```
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import decord
import numpy as np
from tqdm.auto import tqdm

from videopure.cache import atomic_path, read_h5, write_h5, write_text_atomic
from videopure.data.frames import sample_indices

MOTION_CLASSES: tuple[str, ...] = (
    "TranslateLeft",
    "TranslateRight",
    "TranslateUp",
    "TranslateDown",
    "RotateCW",
    "RotateCCW",
    "ZoomIn",
    "ZoomOut",
    "OscillateHorizontal",
    "OscillateVertical",
    "Still",
    "OrbitCW",
    "OrbitCCW",
    "TranslateUpLeft",
    "TranslateDownRight",
)
"""Class names, UCF-101 style. The first ten form the default 10-class task; time reversal maps
TranslateLeft <-> TranslateRight, TranslateUp <-> TranslateDown, RotateCW <-> RotateCCW,
ZoomIn <-> ZoomOut, OrbitCW <-> OrbitCCW, TranslateUpLeft <-> TranslateDownRight onto each other
and the oscillations and Still onto themselves. Clockwise is as seen on screen (y points down)."""

SPLITS: tuple[str, ...] = ("train", "val", "test")
"""The splits :func:`generate_dataset` writes, in group-numbering order."""

MIN_SIZE = 32
"""Smallest frame side accepted: at 32 the smallest shapes are about 5 px across and the slowest
translations move 0.75 px per frame; below it motion becomes hard to see."""

# UCF-101 has 4-7 clips per group; numbering clips c01..c07 within groups mimics its names.
_CLIPS_PER_GROUP = 7
# x264 constant rate factor with 4:4:4 chroma: decoded frames are within ~45 dB of the rendered
# ones (4:2:0 chroma loses ~15 dB on these saturated colour edges at 64 x 64). Macroblock-tree
# rate control is off because with it the same frames encode to different bytes from call to
# call (measured: 34 variants in 100 encodes of one clip, with one x264 thread); without it the
# bytes are a function of the frames.
_X264_OPTIONS = {"crf": "12", "x264-params": "mbtree=0"}
_PIX_FMT = "yuv444p"

# Appearance, in pixels at size 64 (scaled by size / 64) unless stated otherwise.
_RADIUS_FRACTION = (0.11, 0.20)  # base shape radius / size, log-uniform
_OBJECT_PERIOD = (12.0, 24.0)  # stripe/check period on shapes at the base size
_BACKGROUND_PERIOD = (16.0, 40.0)
_MIN_CONTRAST = 0.3  # RGB distance between shape and background means, and within a texture
# Motion, per frame, at size 64.
_SPEED = (1.5, 3.0)  # translation, px
_ROTATION_DEG = (5.0, 10.0)
_ZOOM_RATE = (0.03, 0.05)  # log size change
# Total log zoom over a clip, for long clips: caps radii at 0.2 * e^0.4 < 0.3 of the frame side
# (the torus wrap needs < 0.5).
_MAX_LOG_ZOOM = 0.8
_OSCILLATION_AMPLITUDE = (3.0, 5.0)  # px
_OSCILLATION_PERIOD = (6.0, 10.0)  # frames
_ORBIT_RADIUS = (4.0, 7.0)  # px
_ORBIT_PERIOD = (10.0, 16.0)  # frames

_SHAPES = ("disc", "ellipse", "square", "triangle", "star", "hexagon", "cross")
_OBJECT_TEXTURES = ("gradient", "stripes", "checks", "radial")
_BACKGROUNDS = ("uniform", "gradient", "radial", "stripes", "checks")


def _polygon(radii: list[float], start_deg: float) -> np.ndarray:
    angles = np.deg2rad(start_deg) + 2 * np.pi * np.arange(len(radii)) / len(radii)
    return (np.stack([np.cos(angles), np.sin(angles)], axis=1) * np.asarray(radii)[:, None]).astype(np.float32)


# Polygons in shape coordinates: every shape fits in the unit disc, so a shape of radius s pixels
# spans at most 2s pixels (the torus wrap needs 2s < size). float32 like the pixel coordinates,
# which float64 vertices would promote.
_POLYGONS: dict[str, np.ndarray] = {
    "square": _polygon([0.8] * 4, 45.0),
    "triangle": _polygon([1.0] * 3, -90.0),
    "star": _polygon([1.0, 0.45] * 5, -90.0),
    "hexagon": _polygon([1.0] * 6, 0.0),
    "cross": np.array(
        [[0.3, -0.9], [0.3, -0.3], [0.9, -0.3], [0.9, 0.3], [0.3, 0.3], [0.3, 0.9],
         [-0.3, 0.9], [-0.3, 0.3], [-0.9, 0.3], [-0.9, -0.3], [-0.3, -0.3], [-0.3, -0.9]],
        dtype=np.float32,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class _Shape:
    """One shape of a scene, in its own coordinates (unit radius), plus its base pose."""

    kind: str
    aspect: float  # minor/major axis of ellipses
    texture: str
    colours: np.ndarray  # (2, 3) in [0, 1]: the texture blends between them
    direction: float  # texture direction in shape coordinates, radians
    frequency: float  # stripe/check cycles per shape-radius unit
    phase: float
    focus: np.ndarray  # (2,) centre of the radial texture, off the shape centre
    centre: np.ndarray  # (2,) base position (x, y) in pixels
    angle: float  # base orientation, radians
    radius: float  # base radius in pixels


@dataclass(frozen=True)
class _Scene:
    """Everything of a clip but its motion: background and shapes (drawn back to front)."""

    background: np.ndarray  # (H, W, 3) float32 in [0, 1]
    shapes: tuple[_Shape, ...]


@dataclass(frozen=True)
class _Motion:
    """The motion every shape of a clip follows, per frame."""

    offset: np.ndarray  # (T, 2) displacement of each shape centre from its base position, px
    rotation: np.ndarray  # (T,) radians added to each shape's orientation (positive: clockwise)
    log_scale: np.ndarray  # (T,) log of each shape's size relative to its base radius


def _distinct_colour(rng: np.random.Generator, other: np.ndarray) -> np.ndarray:
    """A random colour at least ``_MIN_CONTRAST`` away from ``other`` (rejection sampling)."""
    while True:
        colour = rng.uniform(0.05, 0.95, size=3)
        if np.linalg.norm(colour - other) >= _MIN_CONTRAST:
            return colour


def _pattern(kind: str, u: np.ndarray, v: np.ndarray, frequency: float, phase: float) -> np.ndarray:
    """A smooth texture value in [0, 1] at coordinates ``(u, v)`` (rotated to the texture frame)."""
    if kind == "stripes":
        return 0.5 + 0.5 * np.sin(2 * np.pi * frequency * u + phase)
    if kind == "checks":
        return 0.5 + 0.5 * np.sin(2 * np.pi * frequency * u + phase) * np.sin(2 * np.pi * frequency * v)
    raise ValueError(f"unknown pattern '{kind}'")


def _sample_scene(rng: np.random.Generator, size: int) -> _Scene:
    """Draw a background and one to three shapes; the draw never depends on the class."""
    unit = size / 64
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    kind = _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))]
    low = rng.uniform(0.05, 0.95, size=3)
    high = _distinct_colour(rng, low) if kind != "uniform" else low
    direction = rng.uniform(0, 2 * np.pi)
    u = x * np.cos(direction) + y * np.sin(direction)
    v = -x * np.sin(direction) + y * np.cos(direction)
    if kind == "uniform":
        value = np.zeros_like(x)
    elif kind == "gradient":
        value = (u - u.min()) / (u.max() - u.min())  # 0 to 1 across the frame
    elif kind == "radial":
        focus = rng.uniform(0, size, size=2)
        value = np.clip(np.hypot(x - focus[0], y - focus[1]) / size, 0, 1)
    else:
        period = rng.uniform(*_BACKGROUND_PERIOD) * unit
        value = _pattern(kind, u, v, 1 / period, rng.uniform(0, 2 * np.pi))
    background = low + (high - low) * value[..., None]
    mean_background = background.reshape(-1, 3).mean(0)

    shapes = []
    for _ in range(rng.integers(1, 4)):
        radius = size * math.exp(rng.uniform(*np.log(_RADIUS_FRACTION)))
        first = _distinct_colour(rng, mean_background)
        second = _distinct_colour(rng, first)
        # Keep the shape's mean colour away from the background so that it stays visible.
        while np.linalg.norm((first + second) / 2 - mean_background) < _MIN_CONTRAST:
            second = _distinct_colour(rng, first)
        shapes.append(
            _Shape(
                kind=_SHAPES[rng.integers(len(_SHAPES))],
                aspect=rng.uniform(0.45, 0.75),
                texture=_OBJECT_TEXTURES[rng.integers(len(_OBJECT_TEXTURES))],
                colours=np.stack([first, second]),
                direction=rng.uniform(0, 2 * np.pi),
                # Texture is attached to the shape: its period in pixels scales with the shape.
                frequency=radius / (rng.uniform(*_OBJECT_PERIOD) * unit),
                phase=rng.uniform(0, 2 * np.pi),
                focus=rng.uniform(-0.7, 0.7, size=2),
                centre=rng.uniform(0, size, size=2),
                angle=rng.uniform(0, 2 * np.pi),
                radius=radius,
            )
        )
    return _Scene(background=background.astype(np.float32), shapes=tuple(shapes))


def _sample_motion(name: str, rng: np.random.Generator, frames: int, size: int) -> _Motion:
    """Draw the motion of class ``name`` (see the module docstring for why sizes are drawn so)."""
    unit = size / 64
    t = np.arange(frames, dtype=np.float64)
    centred = t - (frames - 1) / 2
    offset = np.zeros((frames, 2))
    rotation = np.zeros(frames)
    rate = rng.uniform(*_ZOOM_RATE)
    if frames > 1:
        rate = min(rate, _MAX_LOG_ZOOM / (frames - 1))
    if name == "ZoomIn":
        log_scale = rate * centred
    elif name == "ZoomOut":
        log_scale = -rate * centred
    else:
        log_scale = np.full(frames, rate * centred[rng.integers(frames)])

    directions = {
        "TranslateLeft": (-1.0, 0.0),
        "TranslateRight": (1.0, 0.0),
        "TranslateUp": (0.0, -1.0),
        "TranslateDown": (0.0, 1.0),
        "TranslateUpLeft": (-math.sqrt(0.5), -math.sqrt(0.5)),
        "TranslateDownRight": (math.sqrt(0.5), math.sqrt(0.5)),
    }
    if name in directions:
        offset = rng.uniform(*_SPEED) * unit * t[:, None] * np.asarray(directions[name])
    elif name in ("RotateCW", "RotateCCW"):
        sign = 1.0 if name == "RotateCW" else -1.0
        rotation = sign * np.deg2rad(rng.uniform(*_ROTATION_DEG)) * t
    elif name in ("OscillateHorizontal", "OscillateVertical"):
        amplitude = rng.uniform(*_OSCILLATION_AMPLITUDE) * unit
        wave = amplitude * np.sin(2 * np.pi * t / rng.uniform(*_OSCILLATION_PERIOD) + rng.uniform(0, 2 * np.pi))
        offset[:, 0 if name == "OscillateHorizontal" else 1] = wave
    elif name in ("OrbitCW", "OrbitCCW"):
        sign = 1.0 if name == "OrbitCW" else -1.0
        radius = rng.uniform(*_ORBIT_RADIUS) * unit
        phase = rng.uniform(0, 2 * np.pi) + sign * 2 * np.pi * t / rng.uniform(*_ORBIT_PERIOD)
        offset = radius * np.stack([np.cos(phase), np.sin(phase)], axis=1)
    elif name not in ("Still", "ZoomIn", "ZoomOut"):
        raise ValueError(f"unknown motion class '{name}'; expected one of {MOTION_CLASSES}")
    return _Motion(offset=offset, rotation=rotation, log_scale=log_scale)


def _polygon_distance(px: np.ndarray, py: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Signed distance to a closed polygon (negative inside), vectorised over points.

    Distance to the nearest edge, with the sign from the even-odd crossing rule (Quilez's
    formulation), so it also holds for the concave star and cross.
    """
    distance = np.full(px.shape, np.inf, dtype=px.dtype)
    inside = np.zeros(px.shape, dtype=bool)
    for (ax, ay), (bx, by) in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        ex, ey = bx - ax, by - ay
        wx, wy = px - ax, py - ay
        along = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        np.minimum(distance, (wx - ex * along) ** 2 + (wy - ey * along) ** 2, out=distance)
        crosses = (py >= ay) != (py >= by)
        left = ex * wy > ey * wx
        inside ^= crosses & (left == (by > ay))
    return np.where(inside, -1.0, 1.0).astype(px.dtype) * np.sqrt(distance)


def _shape_distance(shape: _Shape, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Signed distance in shape units (radius 1) at shape coordinates ``(qx, qy)``."""
    if shape.kind == "disc":
        return np.hypot(qx, qy) - 1.0
    if shape.kind == "ellipse":
        # Distance scaled by the minor axis: exact on the minor axis, a slight underestimate
        # elsewhere, which only softens the anti-aliasing ramp a little there.
        return (np.hypot(qx, qy / shape.aspect) - 1.0) * shape.aspect
    return _polygon_distance(qx, qy, _POLYGONS[shape.kind])


def _shape_texture(shape: _Shape, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Texture value in [0, 1] at shape coordinates; never rotation-symmetric about the centre."""
    cos, sin = math.cos(shape.direction), math.sin(shape.direction)
    u = qx * cos + qy * sin
    v = -qx * sin + qy * cos
    if shape.texture == "gradient":
        return np.clip(0.5 + 0.5 * u, 0.0, 1.0)
    if shape.texture == "radial":
        return np.clip(np.hypot(qx - shape.focus[0], qy - shape.focus[1]) / 1.7, 0.0, 1.0)
    return _pattern(shape.texture, u, v, shape.frequency, shape.phase)


def _render(scene: _Scene, motion: _Motion, size: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Render a clip and its forward flow over ``step`` frames.

    Returns:
        ``video`` uint8 (T, H, W, 3) and ``flow`` float32 (T-step, H, W, 2): ``flow[i, y, x]`` is
        where the content at pixel ``(x, y)`` of frame ``i`` is in frame ``i+step``, minus ``(x, y)``
        (unwrapped: a shape crossing the right border has a positive x flow). Pixels whose
        top-most shape covers less than half of them are background, with zero flow.
    """
    frames = motion.offset.shape[0]
    coords = np.arange(size, dtype=np.float32)
    video = np.broadcast_to(scene.background, (frames, size, size, 3)).copy()
    flow = np.zeros((max(frames - step, 0), size, size, 2), dtype=np.float32)
    scale = np.exp(motion.log_scale).astype(np.float32)
    for shape in scene.shapes:
        centre = shape.centre + motion.offset  # (T, 2), unwrapped
        angle = (shape.angle + motion.rotation).astype(np.float32)
        radius = (shape.radius * scale)[:, None, None]
        # Pixel position relative to the shape centre on the torus (nearest periodic image).
        dx = coords[None, None, :] - centre[:, 0, None, None].astype(np.float32)
        dy = coords[None, :, None] - centre[:, 1, None, None].astype(np.float32)
        dx = (dx + size / 2) % size - size / 2
        dy = (dy + size / 2) % size - size / 2
        dx, dy = np.broadcast_arrays(dx, dy)
        cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
        qx = (cos * dx + sin * dy) / radius
        qy = (-sin * dx + cos * dy) / radius
        # One-pixel linear ramp across the edge: the area coverage of a straight edge.
        alpha = np.clip(0.5 - _shape_distance(shape, qx, qy) * radius, 0.0, 1.0)
        value = _shape_texture(shape, qx, qy)[..., None]
        colour = shape.colours[0].astype(np.float32) + (shape.colours[1] - shape.colours[0]).astype(np.float32) * value
        video += alpha[..., None] * (colour - video)
        if frames > step:
            # Content at relative position d in frame i sits at ratio * R(turn) d in frame i+step.
            ratio = (scale[step:] / scale[:-step])[:, None, None]
            turn = angle[step:] - angle[:-step]
            rc, rs = np.cos(turn)[:, None, None], np.sin(turn)[:, None, None]
            shift = (centre[step:] - centre[:-step]).astype(np.float32)
            fx = shift[:, 0, None, None] + ratio * (rc * dx[:-step] - rs * dy[:-step]) - dx[:-step]
            fy = shift[:, 1, None, None] + ratio * (rs * dx[:-step] + rc * dy[:-step]) - dy[:-step]
            owner = alpha[:-step] >= 0.5
            flow[..., 0] = np.where(owner, fx, flow[..., 0])
            flow[..., 1] = np.where(owner, fy, flow[..., 1])
    return np.rint(np.clip(video, 0.0, 1.0) * 255).astype(np.uint8), flow


def _seeds(seed: int, split: str, index: int, class_name: str) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """Independent seed sequences for the scene (shared by all classes) and the motion of a clip.

    Both depend only on the seed, the split, the clip's index and the class's position in
    :data:`MOTION_CLASSES`: changing ``num_classes`` or ``per_class`` keeps every other clip.
    """
    split_id = SPLITS.index(split)
    scene = np.random.SeedSequence([seed, split_id, index, 0])
    motion = np.random.SeedSequence([seed, split_id, index, 1, MOTION_CLASSES.index(class_name)])
    return scene, motion


def synthesize_clip(
    class_name: str,
    *,
    split: str = "train",
    index: int = 0,
    frames: int = 16,
    size: int = 64,
    seed: int = 0,
    flow_step: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one clip exactly as :func:`generate_dataset` does before encoding it.

    Args:
        class_name: one of :data:`MOTION_CLASSES`.
        split: one of :data:`SPLITS`; with ``index`` it selects the scene (shared by all classes).
        index: 0-based position of the clip within its class in the split list.
        frames, size, seed, flow_step: as in :func:`generate_dataset`.

    Returns:
        ``video`` uint8 (frames, size, size, 3) RGB and ``flow`` float32 (frames-flow_step, size,
        size, 2), the ground-truth forward flow (dx, dy) in pixels over ``flow_step`` frames (see
        :func:`generate_dataset`).
    """
    if class_name not in MOTION_CLASSES:
        raise ValueError(f"class_name: unknown class '{class_name}'; expected one of {MOTION_CLASSES}")
    if split not in SPLITS:
        raise ValueError(f"split: '{split}' is not one of {SPLITS}")
    scene_seed, motion_seed = _seeds(seed, split, index, class_name)
    scene = _sample_scene(np.random.default_rng(scene_seed), size)
    motion = _sample_motion(class_name, np.random.default_rng(motion_seed), frames, size)
    return _render(scene, motion, size, flow_step)


def _write_mp4(path: Path, video: np.ndarray, fps: int) -> None:
    """Encode ``video`` (T, H, W, 3) uint8 RGB as H.264 4:4:4 mp4, atomically.

    One encoder thread and no macroblock tree (see ``_X264_OPTIONS``): x264's output is then a
    function of the frames alone. One thread also leaves the other cores to parallel jobs.
    """
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = video.shape[2], video.shape[1]
        stream.pix_fmt = _PIX_FMT
        stream.thread_count = 1
        stream.options = dict(_X264_OPTIONS)
        for frame in video:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def _write_text(path: Path, lines: list[str]) -> None:
    write_text_atomic(path, "".join(f"{line}\n" for line in lines))


def _check_positive_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _validate(
    num_classes: int, per_class: Mapping[str, int], frames: int, size: int, fps: int, seed: int, flow_step: int
) -> None:
    _check_positive_int("num_classes", num_classes)
    if num_classes > len(MOTION_CLASSES):
        raise ValueError(f"num_classes must be at most {len(MOTION_CLASSES)} (len(MOTION_CLASSES)), got {num_classes}")
    if not isinstance(per_class, Mapping) or set(per_class) != set(SPLITS):
        raise ValueError(f"per_class must map exactly the splits {SPLITS} to clip counts, got {per_class!r}")
    for split in SPLITS:
        _check_positive_int(f"per_class['{split}']", per_class[split])
    _check_positive_int("frames", frames, minimum=2)
    _check_positive_int("size", size, minimum=MIN_SIZE)
    _check_positive_int("fps", fps)
    _check_positive_int("seed", seed, minimum=0)
    _check_positive_int("flow_step", flow_step)
    if flow_step >= frames:
        raise ValueError(f"flow_step must be below frames={frames}, got {flow_step}")
    _check_decord_reads(size)


def _check_decord_reads(size: int) -> None:
    """Refuse frame sizes that decord, the reader of the whole workflow, cannot read back.

    decord 0.6.0 returns 4 or 6 "channels" for some frame widths (16, 24, 48 and 72 among
    16..400; dmlc/decord#336) whatever the pixel format. A one-frame probe finds them for the
    installed decord instead of a hard-coded list.
    """
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe.mp4"
        _write_mp4(probe, np.zeros((1, size, size, 3), dtype=np.uint8), fps=1)
        shape = decord.VideoReader(str(probe))[0].shape
    if tuple(shape) != (size, size, 3):
        raise ValueError(
            f"size {size}: decord {decord.__version__} reads {size}x{size} videos back as {tuple(shape)} "
            "(a decord bug for a few frame widths, dmlc/decord#336); choose another size"
        )


def clip_name(class_name: str, group: int, clip: int) -> str:
    """The video id ``ClassName/v_ClassName_gGG_cCC.mp4`` (UCF-101's naming)."""
    return f"{class_name}/v_{class_name}_g{group:02d}_c{clip:02d}.mp4"


def generate_dataset(
    out_dir: str | Path,
    *,
    num_classes: int = 10,
    per_class: Mapping[str, int] = {"train": 100, "val": 10, "test": 10},  # noqa: B006 (read only)
    frames: int = 16,
    size: int = 64,
    fps: int = 8,
    seed: int = 0,
    flow_step: int = 1,
) -> None:
    """Write the generated action-video dataset under ``out_dir`` in UCF-101's layout.

    Files written (each atomically: temporary name in the same folder, then renamed):

    * ``videos/{Class}/v_{Class}_g{GG}_c{CC}.mp4``: H.264 (x264, CRF 12, yuv444p, no macroblock
      tree) at ``fps``; decord reads back exactly ``frames`` RGB frames of ``size`` x ``size``.
      Groups are numbered per class like UCF-101's, seven clips per group, train groups first,
      then val, then test, so no group spans two splits.
    * ``annotations/classInd.txt``: ``"<1-based label> <Class>"`` per line.
    * ``annotations/trainlist01.txt``: ``"<video id> <1-based label>"`` per line;
      ``annotations/vallist01.txt`` and ``annotations/testlist01.txt``: ``"<video id>"`` per line,
      where the video id is ``"{Class}/v_{Class}_g{GG}_c{CC}.mp4"``.
    * ``flow/{split}.h5`` (:func:`videopure.cache.write_h5`): ``flow`` float16
      (N, frames-flow_step, size, size, 2), the ground-truth forward flow ``(dx, dy)`` in pixels
      over ``flow_step`` frames (the content at pixel (x, y) of frame i is at (x+dx, y+dy) in
      frame i+flow_step; background 0; shapes wrap around the borders, the flow does not);
      ``video_id`` (N,) in split-list order; ``label`` int64 (N,), 0-based. ``params``: the
      arguments of this call and the split. :func:`clip_flow` picks a sampled clip's flow from it.

    The same arguments give identical frames and flow, and byte-identical mp4 files, with the
    same numpy and PyAV/FFmpeg builds on the same CPU. Clip ``j`` of a split shows the same scene
    in every class (only the motion differs).

    Args:
        out_dir: dataset root; created if missing. Existing files of the same names are replaced.
        num_classes: use the first ``num_classes`` entries of :data:`MOTION_CLASSES`.
        per_class: clips per class for each of ``"train"``, ``"val"`` and ``"test"``.
        frames: frames per clip (>= 2).
        size: frame height and width in pixels (>= :data:`MIN_SIZE`, and one that decord reads
            back: not 48 or 72 with decord 0.6.0); motion and shape sizes are defined at 64 and
            scale with it.
        fps: frame rate stored in the mp4 files.
        seed: base seed (>= 0).
        flow_step: the frames between the two ends of each ground-truth flow: the
            ``frame_interval`` of the clips that are read from the videos.

    Raises:
        ValueError: an argument is out of range, or decord cannot read videos of this size; the
            message names the argument. Nothing is written then.
    """
    _validate(num_classes, per_class, frames, size, fps, seed, flow_step)
    out_dir = Path(out_dir)
    classes = MOTION_CLASSES[:num_classes]
    params = {
        "num_classes": num_classes,
        "per_class": {split: int(per_class[split]) for split in SPLITS},
        "frames": frames,
        "size": size,
        "fps": fps,
        "seed": seed,
        "flow_step": flow_step,
    }
    (out_dir / "annotations").mkdir(parents=True, exist_ok=True)
    for name in classes:
        (out_dir / "videos" / name).mkdir(parents=True, exist_ok=True)

    lists: dict[str, list[str]] = {}
    first_group = 1
    progress = tqdm(total=num_classes * sum(params["per_class"].values()), desc="generate videos", unit="clip")
    with progress:
        for split in SPLITS:
            count = params["per_class"][split]
            flows = np.zeros((count * num_classes, frames - flow_step, size, size, 2), dtype=np.float16)
            video_ids, labels = [], []
            for label, name in enumerate(classes):
                for index in range(count):
                    group, clip = divmod(index, _CLIPS_PER_GROUP)
                    video_id = clip_name(name, first_group + group, clip + 1)
                    video, flow = synthesize_clip(
                        name, split=split, index=index, frames=frames, size=size, seed=seed, flow_step=flow_step
                    )
                    _write_mp4(out_dir / "videos" / video_id, video, fps)
                    flows[len(video_ids)] = flow
                    video_ids.append(video_id)
                    labels.append(label)
                    progress.update()
            first_group += -(-count // _CLIPS_PER_GROUP)
            write_h5(
                out_dir / "flow" / f"{split}.h5",
                {"flow": flows, "video_id": np.asarray(video_ids), "label": np.asarray(labels, dtype=np.int64)},
                {**params, "split": split},
            )
            if split == "train":
                lists[split] = [f"{video_id} {label + 1}" for video_id, label in zip(video_ids, labels, strict=True)]
            else:
                lists[split] = video_ids

    # The lists last: their presence means every video they name has been written.
    _write_text(out_dir / "annotations" / "classInd.txt", [f"{i + 1} {name}" for i, name in enumerate(classes)])
    for split in SPLITS:
        _write_text(out_dir / "annotations" / f"{split}list01.txt", lists[split])


def clip_flow(flow: np.ndarray, flow_step: int, clip: Mapping[str, Any], source: str) -> np.ndarray:
    """The ground-truth flow between consecutive frames of the clips the workflow reads.

    Args:
        flow: a generated split's ``flow`` (N, frames-flow_step, H, W, 2) (:func:`generate_dataset`).
        flow_step: the ``flow_step`` it was generated with (its ``params``).
        clip: the dataset's ``clip`` config; its frames are sampled by
            :func:`videopure.data.frames.sample_indices` from videos of ``frames`` frames.
        source: the flow file, for the error message.

    Returns:
        (N, num_frames-1, H, W, 2): for each pair of consecutive clip frames, the flow between them.

    Raises:
        ValueError: the clip's frames are not ``flow_step`` apart (another ``frame_interval``, or a
            clip longer than the videos, read by looping), so the file holds no flow between them.
    """
    indices = sample_indices(flow.shape[1] + flow_step, dict(clip), "loop", Path(source))
    if np.any(np.diff(indices) != flow_step):  # another frame_interval, or a looped clip
        raise ValueError(
            f"{source} holds flow over {flow_step} frame(s), but the clips read frames {indices.tolist()} of "
            f"videos of {flow.shape[1] + flow_step} frames; regenerate the videos (rule generate_videos) "
            "with the dataset's clip.frame_interval, and a clip that fits in the video"
        )
    return flow[:, indices[:-1]]


def read_clip_flow(path: str, clip: Mapping[str, Any], video_ids: np.ndarray, frames_path: str) -> np.ndarray:
    """The ground-truth flow file ``path`` (:func:`generate_dataset`) between consecutive frames of
    the clips of ``frames_path`` (:func:`clip_flow`), refused unless it holds their videos
    (``video_ids``) in the same order."""
    truth = read_h5(path)
    if not np.array_equal(np.asarray(truth["video_id"], dtype=str), video_ids):
        raise ValueError(f"{path} and {frames_path} hold other clips; rerun the workflow from generate_videos")
    return clip_flow(truth["flow"], truth.params["flow_step"], clip, path)
