"""The ``frames`` stage: decode one clip per video into a uint8 array cached in HDF5.

Each video becomes one clip exactly as mmaction2 1.2.0's test pipeline makes it with
``num_clips=1``::

    SampleFrames(clip_len=T, frame_interval=k, num_clips=1, test_mode=True)
    DecordInit + DecordDecode            (videos)   | RawFrameDecode (frame folders)
    Resize(scale=(-1, short_side))       (keep aspect ratio, cv2 bilinear)
    CenterCrop(crop_size=crop)

so a classifier evaluated on these arrays sees what it would see under mmaction2's own test
loop (``tests/test_frames.py`` compares against mmaction2's transforms). Frames are RGB,
shaped (N, T, H, W, C). A video shorter than the clip's span has its frames repeated only with
``short_video: loop`` (mmaction2's ``out_of_bound_opt='loop'``); every such clip is named in the
log and counted in the frames file's ``looped_clips``, beside each video's frame count.

Pre-sampled clips (``source: presampled``) are frame folders that already are the clip: read
whole, in order, never looped, and left as they are when their frames are ``crop`` x ``crop``.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from videopure.cache import read_h5, write_h5
from videopure.data.readers import DEFAULT_FRAME_FILES, DataError, VideoList, VideoRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameSet:
    """The clips of one split, as read back from the frames cache."""

    frames: np.ndarray
    """uint8 (N, T, H, W, C), RGB."""
    labels: np.ndarray
    """int64 (N,), 0-based class indices."""
    video_ids: np.ndarray
    """str (N,), :attr:`VideoRecord.video_id` of each clip."""
    class_names: tuple[str, ...]
    identity: str
    """The cache file's identity (:mod:`videopure.cache`), recorded by downstream files."""


def clip_span(clip: dict[str, Any]) -> int:
    """How many consecutive video frames one clip covers: ``(num_frames - 1) * frame_interval + 1``."""
    return (clip["num_frames"] - 1) * clip["frame_interval"] + 1


def sample_indices(
    num_video_frames: int, clip: dict[str, Any], short_video: str, source: Path, *, name: str = "<name>"
) -> np.ndarray:
    """0-based frame indices of the one test clip: mmaction2's ``SampleFrames`` in test mode.

    With ``num_clips=1`` and ``clip_len > 1`` mmaction2 takes the clip from the middle of the
    video: ``offset = max(n - ((T - 1) * k + 1), 0) // 2`` and indices ``offset + k * [0..T-1]``,
    wrapped modulo ``n`` (``out_of_bound_opt='loop'``). Wrapping only happens when the video is
    shorter than the clip's span ``(T - 1) * k + 1``; ``short_video`` decides whether that is
    allowed.

    Args:
        num_video_frames: frames in the video (decord's ``len``, or the rawframe count).
        clip: the dataset's ``clip`` config (``num_frames`` >= 2, ``frame_interval``).
        short_video: ``"error"`` or ``"loop"``.
        source: the video, named in the error.
        name: the dataset's config name, for the error message.

    Raises:
        DataError: the video has no frames, or is too short and ``short_video`` is ``"error"``.
    """
    clip_len, interval = clip["num_frames"], clip["frame_interval"]
    if clip_len < 2:
        # mmaction2 treats clip_len == 1 (2D recognizers) with another formula; the schema forbids it.
        raise ValueError(f"clip.num_frames must be at least 2, got {clip_len}")
    span = clip_span(clip)
    if num_video_frames < 1:
        raise DataError(f"'{source}' has no frames; re-download it or remove it from the split list")
    if num_video_frames < span:
        if short_video == "error":
            raise DataError(
                f"'{source}' has {num_video_frames} frames but a clip of {clip_len} frames every "
                f"{interval} needs {span}; set datasets.{name}.short_video: loop to repeat frames"
            )
        if short_video != "loop":
            raise ValueError(f"short_video must be 'error' or 'loop', got {short_video!r}")
    offset = max(num_video_frames - span, 0) // 2
    return (offset + np.arange(clip_len, dtype=np.int64) * interval) % num_video_frames


def resize_crop(frames: np.ndarray, short_side: int, crop: int) -> np.ndarray:
    """mmaction2's ``Resize(scale=(-1, short_side))`` then ``CenterCrop(crop_size=crop)``.

    Resize: mmcv's ``rescale_size`` with scale ``(inf, short_side)`` gives the factor
    ``short_side / min(h, w)`` and the size ``int(w * f + 0.5), int(h * f + 0.5)``; mmcv's
    ``imresize`` default is cv2 ``INTER_LINEAR`` ("bilinear"). Crop: ``left = (w' - crop) // 2``,
    ``top = (h' - crop) // 2``.

    Args:
        frames: uint8 (T, H, W, C).

    Returns:
        uint8 (T, crop, crop, C), contiguous.
    """
    if crop > short_side:
        raise ValueError(f"clip.crop ({crop}) must not exceed clip.short_side ({short_side})")
    height, width = frames.shape[1:3]
    factor = short_side / min(height, width)
    new_w, new_h = int(width * factor + 0.5), int(height * factor + 0.5)
    resized = np.stack([cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR) for frame in frames])
    left, top = (new_w - crop) // 2, (new_h - crop) // 2
    return np.ascontiguousarray(resized[:, top : top + crop, left : left + crop])


def load_clip(record: VideoRecord, clip: dict[str, Any], short_video: str, **options: Any) -> np.ndarray:
    """One record's test clip alone: :func:`read_clip`'s frames (``options``: its keyword arguments)."""
    return read_clip(record, clip, short_video, **options)[0]


def read_clip(
    record: VideoRecord,
    clip: dict[str, Any],
    short_video: str,
    *,
    name: str = "<name>",
    frame_files: dict[str, Any] = DEFAULT_FRAME_FILES,
    presampled: bool = False,
) -> tuple[np.ndarray, int]:
    """Decode, sample, resize and crop one record's test clip; also return how many frames its video
    (or folder) holds.

    Videos are read with decord (one decoding thread, as mmaction2's ``DecordInit`` default;
    ``get_batch`` as ``DecordDecode(mode='accurate')``); frame folders with OpenCV, BGR -> RGB,
    as ``RawFrameDecode`` (PIL for formats OpenCV does not read), the files named by
    ``frame_files`` (``template`` formats the frame's number, the first being ``start_index``:
    mmaction2's ``filename_tmpl`` and ``start_index``).
    ``presampled``: the folder is the clip, its ``num_frames`` frames read in order; a folder of
    another length is an error, and frames already ``crop`` x ``crop`` are neither resized nor cropped.

    Returns:
        uint8 (T, crop, crop, 3), RGB; the video's frame count.

    Raises:
        DataError: a missing, unreadable or too short video (the file is named).
    """
    if record.total_frames is None:
        frames, total = _decode_video(record.path, clip, short_video, name)
    elif presampled:
        frames, total = _read_presampled(record.path, record.total_frames, clip, frame_files, name), record.total_frames
        if frames.shape[1:3] == (clip["crop"], clip["crop"]):
            return frames, total
    else:
        total = record.total_frames
        frames = _read_frame_folder(record.path, total, clip, short_video, name, frame_files)
    return resize_crop(frames, clip["short_side"], clip["crop"]), total


def _decode_video(path: Path, clip: dict[str, Any], short_video: str, name: str) -> tuple[np.ndarray, int]:
    if not path.is_file():
        raise DataError(f"video '{path}' does not exist; re-download it or remove it from the split list")
    # Imported here: reading extracted frames (load_frames) must not need it, e.g. on a GPU machine
    # that gets the frames extracted elsewhere (benchmarks/gpu_table1.sh).
    import decord

    # decord raises DECORDError (a plain Exception) or RuntimeError on unreadable files.
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        num_frames = len(reader)
    except (decord.DECORDError, RuntimeError) as exc:
        raise _unreadable(path, exc) from exc
    indices = sample_indices(num_frames, clip, short_video, path, name=name)
    try:
        return reader.get_batch(indices.tolist()).asnumpy(), num_frames
    except (decord.DECORDError, RuntimeError) as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: Exception) -> DataError:
    reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return DataError(f"video '{path}' cannot be decoded ({reason}); re-download it or remove it from the split list")


def _read_frame_folder(
    folder: Path, total: int, clip: dict[str, Any], short_video: str, name: str, frame_files: dict[str, Any]
) -> np.ndarray:
    return _read_frames(folder, sample_indices(total, clip, short_video, folder, name=name), total, frame_files)


def _read_presampled(folder: Path, total: int, clip: dict[str, Any], frame_files: dict[str, Any], name: str) -> np.ndarray:
    if total != clip["num_frames"]:
        raise DataError(
            f"pre-sampled clip '{folder}' has {total} frames (its annotation line, or its files without an "
            f"annotation file) but datasets.{name}.clip.num_frames is {clip['num_frames']}; a pre-sampled clip is "
            "read whole and never looped: fix the folder, its annotation line or clip.num_frames"
        )
    return _read_frames(folder, np.arange(total), total, frame_files)


def _read_frames(folder: Path, indices: np.ndarray, total: int, frame_files: dict[str, Any]) -> np.ndarray:
    """The frames at ``indices`` (0-based) of a frame folder, RGB, each file read once."""
    decoded: dict[int, np.ndarray] = {}  # a looped clip repeats frames: read each file once
    for index in indices.tolist():
        if index in decoded:
            continue
        path = folder / frame_files["template"].format(index + frame_files["start_index"])
        image = _read_image(path)
        if image is None:
            raise DataError(
                f"frame '{path}' is missing or unreadable (the clip has {total} frames: its annotation line, or "
                "its files without an annotation file); re-extract the frames or fix the annotation file"
            )
        decoded[index] = image
    shapes = {image.shape for image in decoded.values()}
    if len(shapes) > 1:
        raise DataError(f"frames of '{folder}' differ in size ({sorted(shapes)}); re-extract them")
    return np.stack([decoded[index] for index in indices.tolist()])


def _read_image(path: Path) -> np.ndarray | None:
    """An image file as RGB uint8 (H, W, 3): by OpenCV, as mmaction2's ``RawFrameDecode``, or by PIL
    for the formats OpenCV does not read (TGA, PCX, ICO, ...); None if neither reads it."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is not None:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            return np.asarray(opened.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError):
        return None


IDENTITY_BYTES = 1 << 20


def video_identity(path: Path) -> str:
    """A video's content identity: its size and the SHA-256 of its first and last MiB (a rawframes
    folder: its file names and sizes, and the identities of its first and last frame files). A
    video replaced, truncated or re-encoded changes it; reading 2 MiB costs a small fraction of
    decoding the video (docs/results/2026-12-06-video-identity.md)."""
    import hashlib

    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(entry for entry in path.iterdir() if entry.is_file())
        for entry in files:
            digest.update(f"{entry.name}\0{entry.stat().st_size}\0".encode())
        for entry in files[:1] + files[-1:]:
            digest.update(video_identity(entry).encode())
        return digest.hexdigest()[:16]
    size = path.stat().st_size
    digest.update(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(IDENTITY_BYTES))
        if size > IDENTITY_BYTES:
            handle.seek(max(IDENTITY_BYTES, size - IDENTITY_BYTES))
            digest.update(handle.read())
    return digest.hexdigest()[:16]


def extract_frames(
    video_list: VideoList,
    clip: dict[str, Any],
    short_video: str,
    out_path: Path,
    params: dict[str, Any],
    threads: int = 1,
    *,
    name: str = "<name>",
) -> None:
    """Decode one clip per record and write them to one HDF5 file, atomically.

    The file holds ``frames`` uint8 (N, T, crop, crop, 3), ``labels`` int64, ``video_ids``,
    ``class_names`` and ``video_identities`` (:func:`video_identity` of each video, so the file's
    identity changes with any video's content) and ``video_frames`` (each video's frame count); its
    ``params`` are the caller's plus ``num_clips`` = N (one clip per video) and ``looped_clips``, how
    many clips repeat frames because their video is shorter than the clip's span (``short_video:
    loop``). Frame folders are read as ``params["frame_files"]`` names their files (mmaction2's
    default where absent). Every video is decoded before anything is written, so a bad
    video leaves no file.

    Args:
        threads: videos decoded concurrently (each with one decoder thread); the result does not
            depend on it.
        name: the dataset's config name, for error messages.

    Raises:
        DataError: the first bad video, in list order.
        ValueError: an empty list, or ``params["num_clips"]`` that disagrees with the list.
    """
    records = video_list.records
    frame_files = params.get("frame_files", DEFAULT_FRAME_FILES)
    presampled = params.get("source") == "presampled"
    if not records:
        raise ValueError("extract_frames: the video list is empty")
    if params.get("num_clips", len(records)) != len(records):
        raise ValueError(f"params['num_clips'] is {params['num_clips']} but the list has {len(records)} videos")
    log.info("frames: decoding %d videos (%d threads) for %s", len(records), threads, out_path)

    frames = np.empty((len(records), clip["num_frames"], clip["crop"], clip["crop"], 3), dtype=np.uint8)
    identities, totals = [], []
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        # map() yields in list order, so the array and the first error reported are deterministic.
        clips = pool.map(
            lambda record: (
                read_clip(record, clip, short_video, name=name, frame_files=frame_files, presampled=presampled),
                video_identity(record.path),
            ),
            records,
        )
        for index, ((array, total), identity) in enumerate(
            tqdm(clips, total=len(records), desc=f"frames {out_path.name}", unit="video")
        ):
            frames[index] = array
            identities.append(identity)
            totals.append(total)
    finally:
        pool.shutdown(cancel_futures=True)
    span = clip_span(clip)
    looped = {record.video_id: total for record, total in zip(records, totals) if total < span}
    if looped:
        log.warning(
            "frames: %d of %d clips repeat frames (short_video: loop): their videos are shorter than the %d "
            "frames a clip spans (the file's video_frames): %s",
            len(looped), len(records), span, ", ".join(f"{video} ({total})" for video, total in looped.items()),
        )  # fmt: skip

    identity = write_h5(
        out_path,
        {
            "frames": frames,
            "labels": np.array([record.label for record in records], dtype=np.int64),
            "video_ids": np.array([record.video_id for record in records], dtype=str),
            "class_names": np.array(video_list.class_names, dtype=str),
            "video_identities": np.array(identities, dtype=str),
            "video_frames": np.array(totals, dtype=np.int64),
        },
        {**params, "num_clips": len(records), "looped_clips": len(looped)},
    )
    log.info("frames: wrote %s (%d clips of %s, identity %s)", out_path, len(frames), frames.shape[1:], identity)


def load_frames(
    path: Path, expect_params: dict[str, Any] | None = None, expect_upstream: dict[str, str] | None = None
) -> FrameSet:
    """Read a frames file written by :func:`extract_frames` (or a split's reconstructions).

    Raises:
        videopure.cache.StaleCacheError: a parameter in ``expect_params`` or an upstream identity in
            ``expect_upstream`` differs from the file's.
    """
    record = read_h5(path, expect_params, expect_upstream)
    return FrameSet(
        frames=record["frames"],
        labels=record["labels"].astype(np.int64),
        video_ids=np.asarray(record["video_ids"], dtype=str),
        class_names=tuple(str(name) for name in record["class_names"]),
        identity=record.identity,
    )
