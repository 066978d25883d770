"""The frames stage: mmaction2-equivalent clip sampling, decoding, resize + crop, and the cache.

mmaction2's data transforms are imported directly: unlike ``mmaction.models`` they need neither
the DRN stubs nor the multimodal switch (docs/stack.md, "mmaction2 1.2.0"), so the tests stay fast.
"""

from __future__ import annotations

import re
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from mmaction.datasets.transforms.loading import (
    DecordDecode,
    DecordInit,
    RawFrameDecode,
    SampleFrames,
)
from mmaction.datasets.transforms.processing import CenterCrop, Resize

from videopure.cache import StaleCacheError, read_attrs, read_h5
from videopure.data.frames import extract_frames, load_clip, load_frames, resize_crop, sample_indices
from videopure.data.readers import FRAME_TEMPLATE, DataError, VideoList, VideoRecord

CLIP = {"num_frames": 4, "frame_interval": 2, "short_side": 32, "crop": 32}


def write_video(path: Path, frames: np.ndarray) -> None:
    """Write RGB uint8 (T, H, W, 3) frames as an MPEG-4 part 2 .mp4 (OpenCV 'mp4v')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 8, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def graded_frames(num_frames: int, height: int = 64, width: int = 80) -> np.ndarray:
    """Frame i is uniform grey 12 * i (i < 22): the decoded level tells which frame was sampled."""
    levels = (np.arange(num_frames) * 12).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)))


def frame_numbers(clip: np.ndarray) -> list[int]:
    """Invert graded_frames on a decoded clip (lossy codec: round the mean level)."""
    return [int(round(level / 12)) for level in clip.reshape(len(clip), -1).mean(axis=1)]


def random_video(path: Path, num_frames: int = 12, height: int = 64, width: int = 80, seed: int = 0) -> Path:
    write_video(path, np.random.default_rng(seed).integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8))
    return path


# ---------------------------------------------------------------- sampling


@pytest.mark.parametrize(("clip_len", "interval"), [(2, 1), (4, 1), (4, 3), (8, 2), (16, 1), (5, 4), (32, 2)])
def test_sample_indices_match_mmaction_sampleframes(clip_len: int, interval: int) -> None:
    clip = {"num_frames": clip_len, "frame_interval": interval}
    sampler = SampleFrames(clip_len=clip_len, frame_interval=interval, num_clips=1, test_mode=True)
    for total in range(1, 130):
        expected = sampler({"total_frames": total, "start_index": 0})["frame_inds"]
        ours = sample_indices(total, clip, "loop", Path("v.mp4"))
        assert ours.tolist() == expected.tolist(), (total, ours, expected)


def test_short_video_policy() -> None:
    clip = {"num_frames": 8, "frame_interval": 2}  # needs 15 frames
    assert sample_indices(15, clip, "error", Path("v.mp4")).tolist() == list(range(0, 15, 2))
    with pytest.raises(DataError) as info:
        sample_indices(14, clip, "error", Path("clips/short.mp4"), name="ucf")
    message = str(info.value)
    assert "clips/short.mp4" in message and "14 frames" in message and "needs 15" in message
    assert "set datasets.ucf.short_video: loop" in message
    assert sample_indices(5, clip, "loop", Path("v.mp4")).tolist() == [0, 2, 4, 1, 3, 0, 2, 4]
    with pytest.raises(DataError, match="has no frames"):
        sample_indices(0, clip, "loop", Path("v.mp4"))


# ---------------------------------------------------------------- resize + crop


@pytest.mark.parametrize(
    ("height", "width", "short_side", "crop"),
    [(64, 80, 32, 32), (61, 97, 40, 33), (240, 320, 56, 50), (90, 45, 64, 48)],
)
def test_resize_crop_matches_mmaction(height: int, width: int, short_side: int, crop: int) -> None:
    frames = np.random.default_rng(height).integers(0, 256, (3, height, width, 3), dtype=np.uint8)
    results = {"imgs": list(frames), "img_shape": (height, width), "modality": "RGB"}
    results = CenterCrop(crop_size=crop)(Resize(scale=(-1, short_side))(results))
    ours = resize_crop(frames, short_side, crop)
    assert ours.shape == (3, crop, crop, 3) and ours.flags.c_contiguous
    np.testing.assert_array_equal(ours, np.stack(results["imgs"]))


def test_resize_crop_keeps_the_centre_of_a_known_pattern() -> None:
    # 64x128 frame: red left quarter, green middle half, blue right quarter. Short side 32 ->
    # 32x64; the centre 32x32 crop is exactly the green half.
    frame = np.zeros((64, 128, 3), np.uint8)
    frame[:, :32, 0] = frame[:, 32:96, 1] = frame[:, 96:, 2] = 255
    out = resize_crop(frame[None], 32, 32)[0]
    assert out.shape == (32, 32, 3)
    assert (out[:, :, 1] == 255).all() and (out[:, :, [0, 2]] == 0).all()


# ---------------------------------------------------------------- decoding


def test_load_clip_video_matches_mmaction_pipeline(tmp_path: Path) -> None:
    path = random_video(tmp_path / "v.mp4", num_frames=20)
    clip = {"num_frames": 8, "frame_interval": 2, "short_side": 40, "crop": 36}
    results = {"filename": str(path), "start_index": 0, "modality": "RGB"}
    pipeline = [
        DecordInit(),
        SampleFrames(clip_len=8, frame_interval=2, num_clips=1, test_mode=True),
        DecordDecode(),
        Resize(scale=(-1, 40)),
        CenterCrop(crop_size=36),
    ]
    for transform in pipeline:
        results = transform(results)
    ours = load_clip(VideoRecord(path=path, label=0, video_id="v.mp4"), clip, "error")
    assert ours.dtype == np.uint8 and ours.shape == (8, 36, 36, 3)
    np.testing.assert_array_equal(ours, np.stack(results["imgs"]))


def test_frame_folders_of_other_works_are_read_as_they_are_named(tmp_path: Path) -> None:
    """32 PNG frames 0.png ... 31.png, already at the clip's size: read with frame_files {"{}.png",
    start 0} the clip is the folder's frames exactly, as mmaction2 reads them with that filename_tmpl
    and start_index; under mmaction2's default names the folder has no frame to read."""
    folder = tmp_path / "clip"
    folder.mkdir()
    frames = np.random.default_rng(2).integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{index}.png"), frame[..., ::-1])  # OpenCV writes BGR
    clip = {"num_frames": 32, "frame_interval": 1, "short_side": 16, "crop": 16}
    record = VideoRecord(path=folder, label=0, video_id="clip", total_frames=32)
    frame_files = {"template": "{}.png", "start_index": 0}
    ours = load_clip(record, clip, "error", frame_files=frame_files)
    np.testing.assert_array_equal(ours, frames)
    results = {"frame_dir": str(folder), "total_frames": 32, "start_index": 0, "filename_tmpl": "{}.png", "modality": "RGB"}
    for transform in (SampleFrames(clip_len=32, frame_interval=1, num_clips=1, test_mode=True), RawFrameDecode()):
        results = transform(results)
    np.testing.assert_array_equal(ours, np.stack(results["imgs"]))
    with pytest.raises(DataError, match=r"img_00001\.jpg' is missing or unreadable"):
        load_clip(record, clip, "error")
    out = tmp_path / "frames.h5"  # the frames stage reads them as its params name them
    extract_frames(VideoList((record,), ("a",)), clip, "error", out, {"frame_files": frame_files})
    np.testing.assert_array_equal(read_h5(out)["frames"][0], frames)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("missing", r"frame '.*/clip/2\.png' is missing or unreadable"),
        ("not_an_image", r"frame '.*/clip/2\.png' is missing or unreadable"),
        ("empty", r"frame '.*/clip/0\.png' is missing or unreadable"),
        ("mixed_sizes", r"frames of '.*/clip' differ in size"),
    ],
)
def test_a_bad_frame_folder_is_named_and_nothing_is_written(tmp_path: Path, fault: str, message: str) -> None:
    """A frame missing in the middle, a file matching the pattern that is no image, an empty folder,
    frames of mixed sizes: a DataError naming the file (or the folder), and no frames file."""
    folder = tmp_path / "clip"
    folder.mkdir()
    for index in range(4):
        size = 12 if fault == "mixed_sizes" and index == 3 else 8
        cv2.imwrite(str(folder / f"{index}.png"), np.full((size, size, 3), index * 60, np.uint8))
    if fault == "missing":
        (folder / "2.png").unlink()
    elif fault == "not_an_image":
        (folder / "2.png").write_text("not a PNG")
    elif fault == "empty":
        for path in folder.iterdir():
            path.unlink()
    record = VideoRecord(path=folder, label=0, video_id="clip", total_frames=4)
    clip = {"num_frames": 4, "frame_interval": 1, "short_side": 8, "crop": 8}
    out = tmp_path / "frames.h5"
    with pytest.raises(DataError, match=message):
        extract_frames(VideoList((record,), ("a",)), clip, "error", out, {"frame_files": {"template": "{}.png", "start_index": 0}})
    assert list(tmp_path.glob("frames*")) == []


def test_load_clip_rawframes_matches_mmaction_pipeline(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    folder.mkdir()
    frames = np.random.default_rng(1).integers(0, 256, (3, 48, 60, 3), dtype=np.uint8)
    for index, frame in enumerate(frames, 1):
        cv2.imwrite(str(folder / FRAME_TEMPLATE.format(index)), frame)
    clip = {"num_frames": 4, "frame_interval": 2, "short_side": 32, "crop": 32}  # 3 < 7: loops
    results = {
        "frame_dir": str(folder),
        "total_frames": 3,
        "start_index": 1,
        "filename_tmpl": FRAME_TEMPLATE,
        "modality": "RGB",
    }
    pipeline = [
        SampleFrames(clip_len=4, frame_interval=2, num_clips=1, test_mode=True),
        RawFrameDecode(),
        Resize(scale=(-1, 32)),
        CenterCrop(crop_size=32),
    ]
    for transform in pipeline:
        results = transform(results)
    record = VideoRecord(path=folder, label=0, video_id="clip", total_frames=3)
    np.testing.assert_array_equal(load_clip(record, clip, "loop"), np.stack(results["imgs"]))
    with pytest.raises(DataError, match="short_video: loop"):
        load_clip(record, clip, "error")
    (folder / FRAME_TEMPLATE.format(2)).unlink()
    with pytest.raises(DataError, match=r"img_00002\.jpg' is missing or unreadable"):
        load_clip(record, clip, "loop")


def test_load_clip_samples_the_right_frames(tmp_path: Path) -> None:
    path = tmp_path / "graded.mp4"
    write_video(path, graded_frames(12))
    record = VideoRecord(path=path, label=0, video_id="graded.mp4")
    # 12 frames, span 7: offset (12 - 7) // 2 = 2 -> frames 2, 4, 6, 8.
    assert frame_numbers(load_clip(record, CLIP, "error")) == [2, 4, 6, 8]
    short = tmp_path / "short.mp4"
    write_video(short, graded_frames(3))
    short_record = VideoRecord(path=short, label=0, video_id="short.mp4")
    # Too short for the span of 7: indices wrap (and repeat) as out_of_bound_opt='loop'.
    assert frame_numbers(load_clip(short_record, CLIP, "loop")) == [0, 2, 1, 0]
    with pytest.raises(DataError, match=r"short\.mp4' has 3 frames"):
        load_clip(short_record, CLIP, "error")


def write_faststart_mp4(path: Path, num_frames: int = 12) -> Path:
    """An MPEG-4 .mp4 with its index (moov) before the data, as PyAV writes with +faststart."""
    container = av.open(str(path), "w", options={"movflags": "faststart"})
    stream = container.add_stream("mpeg4", rate=8)
    stream.width, stream.height, stream.pix_fmt = 80, 64, "yuv420p"
    rng = np.random.default_rng(0)
    for _ in range(num_frames):
        image = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    return path


@pytest.mark.parametrize("kind", ["truncated", "truncated_faststart", "text", "missing"])
def test_unreadable_videos_raise_data_error(tmp_path: Path, kind: str) -> None:
    # A truncated OpenCV mp4 loses its trailing index (decord: RuntimeError); a truncated
    # faststart mp4 keeps it and fails while reading packets (decord: DECORDError).
    path = tmp_path / f"{kind}.mp4"
    if kind.startswith("truncated"):
        good = tmp_path / "good.mp4"
        data = (random_video(good) if kind == "truncated" else write_faststart_mp4(good)).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("this is not a video\n")
    with pytest.raises(DataError, match=rf"'{re.escape(str(path))}'.*re-download it or remove it from the split list"):
        load_clip(VideoRecord(path=path, label=0, video_id=path.name), CLIP, "error")


# ---------------------------------------------------------------- the stage


@pytest.fixture
def video_list(tmp_path: Path) -> VideoList:
    records = tuple(
        VideoRecord(
            path=random_video(tmp_path / "videos" / f"v{i}.mp4", num_frames=8 + i, seed=i),
            label=i % 2,
            video_id=f"v{i}.mp4",
        )
        for i in range(4)
    )
    return VideoList(records=records, class_names=("walk", "run"))


PARAMS = {"dataset": "mini", "clip": CLIP, "short_video": "error"}


def test_extract_and_load_frames_round_trip(video_list: VideoList, tmp_path: Path) -> None:
    out = tmp_path / "frames" / "test.h5"
    extract_frames(video_list, CLIP, "error", out, PARAMS)
    frames = load_frames(out, PARAMS)
    assert frames.frames.dtype == np.uint8 and frames.frames.shape == (4, 4, 32, 32, 3)
    assert frames.labels.dtype == np.int64 and frames.labels.tolist() == [0, 1, 0, 1]
    assert frames.video_ids.tolist() == ["v0.mp4", "v1.mp4", "v2.mp4", "v3.mp4"]
    assert frames.class_names == ("walk", "run")
    np.testing.assert_array_equal(frames.frames[2], load_clip(video_list.records[2], CLIP, "error"))
    params, _, identity = read_attrs(out)
    assert params["num_clips"] == 4 and identity == frames.identity
    with pytest.raises(StaleCacheError, match="short_video"):
        load_frames(out, {**PARAMS, "short_video": "loop"})
    with pytest.raises(StaleCacheError, match="upstream 'frames'"):  # e.g. reconstructions of another split
        load_frames(out, PARAMS, expect_upstream={"frames": "0123456789abcdef"})


def test_extract_frames_is_deterministic(video_list: VideoList, tmp_path: Path) -> None:
    first, second = tmp_path / "a.h5", tmp_path / "b.h5"
    extract_frames(video_list, CLIP, "error", first, PARAMS)
    extract_frames(video_list, CLIP, "error", second, PARAMS, threads=2)
    one, two = load_frames(first), load_frames(second)
    np.testing.assert_array_equal(one.frames, two.frames)
    assert one.identity == two.identity


def test_extract_frames_writes_nothing_when_a_video_is_bad(video_list: VideoList, tmp_path: Path) -> None:
    bad = tmp_path / "videos" / "bad.mp4"
    bad.write_text("garbage")
    broken = VideoList(
        records=video_list.records + (VideoRecord(path=bad, label=0, video_id="bad.mp4"),),
        class_names=video_list.class_names,
    )
    out = tmp_path / "frames" / "test.h5"
    with pytest.raises(DataError, match="bad.mp4"):
        extract_frames(broken, CLIP, "error", out, PARAMS, threads=2)
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_video_identity_follows_content_not_name_or_time(tmp_path: Path) -> None:
    """Size plus the first and last MiB: a copy or a touched file keeps it; a byte changed at either
    end, or a truncation, changes it. (A change confined to the middle of a file over 2 MiB keeps it:
    the documented price of not reading whole videos.)"""
    import os
    import shutil

    from videopure.data.frames import IDENTITY_BYTES, video_identity

    data = bytearray(np.random.default_rng(0).integers(0, 256, 3 * IDENTITY_BYTES, dtype=np.uint8).tobytes())
    path = tmp_path / "a.mp4"
    path.write_bytes(data)
    identity = video_identity(path)
    shutil.copy(path, tmp_path / "b.mp4")
    os.utime(path, (1, 1))
    assert video_identity(tmp_path / "b.mp4") == video_identity(path) == identity
    for offset, kept in ((0, False), (len(data) - 1, False), (IDENTITY_BYTES + 5, True), (None, False)):
        changed = bytearray(data)
        if offset is None:
            changed = changed[:-1]  # truncated
        else:
            changed[offset] ^= 0xFF
        path.write_bytes(changed)
        assert (video_identity(path) == identity) == kept, offset
    folder = tmp_path / "frames_of_one_video"
    folder.mkdir()
    for index in range(3):
        (folder / f"img_{index + 1:05d}.jpg").write_bytes(bytes([index]) * 10)
    before = video_identity(folder)
    (folder / "img_00003.jpg").write_bytes(b"\x09" * 10)
    assert video_identity(folder) != before


def test_the_frames_file_records_every_videos_identity(video_list: VideoList, tmp_path: Path) -> None:
    from videopure.data.frames import video_identity

    out = tmp_path / "test.h5"
    extract_frames(video_list, CLIP, "error", out, PARAMS)
    stored = read_h5(out)["video_identities"].astype(str).tolist()
    assert stored == [video_identity(record.path) for record in video_list.records]
    assert len(set(stored)) == len(stored)


PAPER_CLIP = {"num_frames": 32, "frame_interval": 2, "short_side": 256, "crop": 224}


def write_frame_folders(root: Path, clips: dict[str, np.ndarray], template: str = "{}.png", start: int = 0) -> Path:
    """Frame folders under ``root/frames`` (one per clip, files named by ``template``), a rawframe
    annotation file (every clip label 0) and a class-name file; returns the annotation file."""
    lines = []
    for name, frames in clips.items():
        folder = root / "frames" / name
        folder.mkdir(parents=True)
        for index, frame in enumerate(frames):
            cv2.imwrite(str(folder / template.format(index + start)), frame[..., ::-1])  # OpenCV writes BGR
        lines.append(f"{name} {len(frames)} 0")
    (root / "classes.txt").write_text("only\n")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root / "list.txt"


def frame_folder_dataset(root: Path, source: str, short_video: str, clip: dict, **frame_files) -> dict:
    """A validated frame-folder dataset entry of the config for :func:`write_frame_folders`' files."""
    from tests.helpers import REPO
    from videopure.config import load_config, validate_config

    dataset = {
        "source": source, "video_root": str(root / "frames"), "annotations": str(root / "list.txt"),
        "class_names": str(root / "classes.txt"), "eval_split": "test", "clip": clip, "short_video": short_video,
        "classifiers": {"NL": {"config": "config/models/mini_nl.py"}}, **({"frame_files": frame_files} if frame_files else {}),
    }  # fmt: skip
    mini = load_config(REPO / "config" / "config.yaml")
    return validate_config({**mini, "datasets": {"other": dataset}})["datasets"]["other"]


def test_the_presampled_preset_reads_a_folder_of_224_frames_as_the_clip_bit_for_bit(tmp_path: Path) -> None:
    """Another work's clip: 32 PNG frames 0.png ... 31.png at 224 x 224. The presampled source with the
    paper's clip size (short side 256, crop 224) reads it unchanged: no stride, no zoom, no loop (the
    rawframes source, sampling it as a video, shows 16 of its frames twice each, zoomed by 8/7)."""
    from videopure.data.readers import read_split
    from videopure.params import frames_params

    frames = np.random.default_rng(5).integers(0, 256, (32, 224, 224, 3), dtype=np.uint8)
    write_frame_folders(tmp_path, {"clip_a": frames})
    clip = {**PAPER_CLIP, "frame_interval": 1}
    dataset = frame_folder_dataset(tmp_path, "presampled", "error", clip, template="{}.png", start_index=0)
    config = {"datasets": {"other": dataset}, "generator": {}}
    out = tmp_path / "frames.h5"
    videos = read_split(dataset, "test", name="other")
    extract_frames(videos, dataset["clip"], dataset["short_video"], out, frames_params(config, "other", "test"))
    stored = load_frames(out)
    np.testing.assert_array_equal(stored.frames[0], frames)
    assert read_h5(out).params["looped_clips"] == 0
    as_video = {**dataset, "source": "rawframes", "clip": PAPER_CLIP, "short_video": "loop"}
    sampled = load_clip(videos.records[0], PAPER_CLIP, "loop", frame_files=as_video["frame_files"])
    assert np.abs(sampled.astype(int) - frames.astype(int)).mean() > 5  # what the preset avoids


def test_a_presampled_clip_of_another_length_is_an_error_naming_the_folder_and_counts(tmp_path: Path) -> None:
    frames = np.zeros((31, 8, 8, 3), dtype=np.uint8)
    write_frame_folders(tmp_path, {"short_clip": frames})
    clip = {"num_frames": 32, "frame_interval": 1, "short_side": 8, "crop": 8}
    dataset = frame_folder_dataset(tmp_path, "presampled", "error", clip, template="{}.png", start_index=0)
    from videopure.data.readers import read_split

    out = tmp_path / "frames.h5"
    with pytest.raises(DataError, match=r"'.*short_clip' has 31 frames .* datasets\.other\.clip\.num_frames is 32"):
        extract_frames(read_split(dataset, "test", name="other"), clip, "error", out, {"source": "presampled"}, name="other")
    assert not out.exists()


@pytest.mark.parametrize(
    ("change", "key"),
    [({"clip": {"frame_interval": 2}}, "clip.frame_interval"), ({"short_video": "loop"}, "short_video")],
)
def test_the_presampled_preset_refuses_a_stride_or_looping_before_any_job(tmp_path: Path, change, key) -> None:
    from videopure.config import ConfigError

    write_frame_folders(tmp_path, {"clip_a": np.zeros((4, 8, 8, 3), dtype=np.uint8)})
    clip = {"num_frames": 4, "frame_interval": 1, "short_side": 8, "crop": 8, **change.get("clip", {})}
    with pytest.raises(ConfigError, match=rf"'datasets\.other\.{key}'"):
        frame_folder_dataset(tmp_path, "presampled", change.get("short_video", "error"), clip)


def test_a_short_video_is_an_error_under_the_paper_clip_and_a_recorded_loop_when_asked(tmp_path: Path) -> None:
    """The paper's clip (32 frames every 2: a span of 63) from a 40-frame folder: an error naming the
    folder and both counts; with short_video: loop the clip repeats frames, and the frames file counts
    the clips that do and keeps each video's frame count."""
    from videopure.data.readers import read_split

    write_frame_folders(tmp_path, {"long": graded_frames(70, 24, 32), "short": graded_frames(40, 24, 32)},
                        template="img_{:05d}.jpg", start=1)  # fmt: skip
    out = tmp_path / "frames.h5"
    dataset = frame_folder_dataset(tmp_path, "rawframes", "error", PAPER_CLIP)
    videos = read_split(dataset, "test", name="other")
    with pytest.raises(DataError, match=r"'.*short' has 40 frames but a clip of 32 frames every 2 needs 63"):
        extract_frames(videos, PAPER_CLIP, "error", out, {"source": "rawframes"})
    assert not out.exists()
    extract_frames(videos, PAPER_CLIP, "loop", out, {"source": "rawframes"})
    stored = read_h5(out)
    assert stored.params["looped_clips"] == 1 and dict(zip(stored["video_ids"], stored["video_frames"])) == {"long": 70, "short": 40}


def write_class_folders(root: Path, layout: dict[str, dict[str, int]]) -> Path:
    """``root/clips/<class>/<clip>/0.png ...`` with ``layout[class][clip]`` frames of 8 x 8; returns the root."""
    for class_name, clips in layout.items():
        for clip, count in clips.items():
            folder = root / "clips" / class_name / clip
            folder.mkdir(parents=True)
            for index in range(count):
                cv2.imwrite(str(folder / f"{index}.png"), np.full((8, 8, 3), 10 * index, dtype=np.uint8))
    return root / "clips"


def class_folder_dataset(clips: Path, class_names: Path | None = None) -> dict:
    from tests.helpers import REPO
    from videopure.config import load_config, validate_config

    dataset = {
        "source": "presampled", "video_root": str(clips), "class_names": str(class_names) if class_names else None,
        "eval_split": "test", "clip": {"num_frames": 4, "frame_interval": 1, "short_side": 8, "crop": 8},
        "frame_files": {"template": "{}.png", "start_index": 0}, "classifiers": {"NL": {"config": "config/models/mini_nl.py"}},
    }  # fmt: skip
    mini = load_config(REPO / "config" / "config.yaml")
    return validate_config({**mini, "datasets": {"other": dataset}})["datasets"]["other"]


def test_a_class_per_folder_layout_labels_clips_by_their_parent_folder(tmp_path: Path) -> None:
    """No annotation file: <video_root>/<class>/<clip>/, labels in sorted folder order, or in the
    class-name file's order where there is one; each clip's frame count is its files'."""
    from videopure.data.readers import read_split

    clips = write_class_folders(tmp_path, {"walk": {"b": 4, "a": 4}, "jump": {"c": 4}})
    videos = read_split(class_folder_dataset(clips), "test", name="other")
    assert videos.class_names == ("jump", "walk")
    assert [(r.video_id, r.label, r.total_frames) for r in videos.records] == [("jump/c", 0, 4), ("walk/a", 1, 4), ("walk/b", 1, 4)]
    (tmp_path / "classes.txt").write_text("walk\njump\nrun\n")
    videos = read_split(class_folder_dataset(clips, tmp_path / "classes.txt"), "test", name="other")
    assert videos.class_names == ("walk", "jump", "run") and [r.label for r in videos.records] == [0, 0, 1]
    out = tmp_path / "frames.h5"
    extract_frames(videos, {"num_frames": 4, "frame_interval": 1, "short_side": 8, "crop": 8}, "error", out,
                   {"source": "presampled", "frame_files": {"template": "{}.png", "start_index": 0}})  # fmt: skip
    stored = load_frames(out)
    assert stored.frames[:, :, 0, 0, 0].tolist() == [[0, 10, 20, 30]] * 3 and stored.labels.tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("missing_frame", r"'.*walk/a' holds 3 files but not frame '1\.png'"),
        ("stray_file", r"'.*walk/a' holds 5 files but not frame '4\.png'"),
        ("empty_clip", r"frame folder '.*walk/a' is empty"),
        ("unknown_class", r"class folders \['swim'\] .* are not in datasets\.other\.class_names"),
    ],
)
def test_a_bad_class_folder_is_named(tmp_path: Path, fault: str, message: str) -> None:
    from videopure.data.readers import read_split

    clips = write_class_folders(tmp_path, {"walk": {"a": 4}, "jump": {"c": 4}})
    (tmp_path / "classes.txt").write_text("walk\njump\n")
    if fault == "missing_frame":
        (clips / "walk" / "a" / "1.png").unlink()
    elif fault == "stray_file":
        (clips / "walk" / "a" / "notes.txt").write_text("not a frame")
    elif fault == "empty_clip":
        for frame in (clips / "walk" / "a").iterdir():
            frame.unlink()
    else:
        write_class_folders(tmp_path / "more", {"swim": {"d": 4}})
        (tmp_path / "more" / "clips" / "swim").rename(clips / "swim")
    with pytest.raises(DataError, match=message):
        read_split(class_folder_dataset(clips, tmp_path / "classes.txt"), "test", name="other")


def test_frames_in_a_format_opencv_does_not_read_are_read_by_pil(tmp_path: Path) -> None:
    """TGA frames (OpenCV returns None for them): read by PIL, equal to the frames written."""
    from PIL import Image

    folder = tmp_path / "clip"
    folder.mkdir()
    frames = np.random.default_rng(7).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index}.tga")
    assert cv2.imread(str(folder / "0.tga")) is None
    clip = {"num_frames": 4, "frame_interval": 1, "short_side": 8, "crop": 8}
    record = VideoRecord(path=folder, label=0, video_id="clip", total_frames=4)
    frame_files = {"template": "{}.tga", "start_index": 0}
    np.testing.assert_array_equal(load_clip(record, clip, "error", frame_files=frame_files, presampled=True), frames)
