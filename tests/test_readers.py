"""Dataset readers on small fixtures in each real format (UCF-101, generated, Kinetics-400, rawframes)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from videopure.data.readers import DataError, VideoList, VideoRecord, read_split, select_subset

UCF_CLASSES = ("ApplyEyeMakeup", "HandstandPushups", "Biking")
# UCF-101's case quirk: classInd.txt and the lists say "HandstandPushups", the folder on disk and
# the file names say "HandStandPushups".
UCF_DISK_FOLDERS = ("ApplyEyeMakeup", "HandStandPushups", "Biking")


def write_video(path: Path, num_frames: int = 2, size: tuple[int, int] = (80, 64)) -> None:
    """A tiny real video (MJPEG in AVI for .avi, MPEG-4 part 2 in MP4 otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, 8, size)
    for index in range(num_frames):
        writer.write(np.full((size[1], size[0], 3), 20 * index, dtype=np.uint8))
    writer.release()


def write_crlf(path: Path, lines: list[str]) -> None:
    """Write a list file with CRLF line endings, as UCF-101's official lists have."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode())


def ucf_file(class_index: int, group: int) -> str:
    """List entry of UCF-101's naming scheme, spelled as the official lists spell it."""
    file_class = UCF_DISK_FOLDERS[class_index]
    return f"{UCF_CLASSES[class_index]}/v_{file_class}_g{group:02d}_c01.avi"


@pytest.fixture
def ucf(tmp_path: Path) -> dict:
    """UCF-101 tree: 3 classes x 4 videos, groups 1-2 test and 3-4 train, CRLF lists."""
    root, annotations = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    for index, folder in enumerate(UCF_DISK_FOLDERS):
        for group in range(1, 5):
            write_video(root / folder / f"v_{UCF_DISK_FOLDERS[index]}_g{group:02d}_c01.avi")
    write_crlf(annotations / "classInd.txt", [f"{i + 1} {name}" for i, name in enumerate(UCF_CLASSES)])
    write_crlf(annotations / "trainlist01.txt", [f"{ucf_file(c, g)} {c + 1}" for c in range(3) for g in (3, 4)])
    write_crlf(annotations / "testlist01.txt", [ucf_file(c, g) for c in range(3) for g in (1, 2)])
    return {
        "source": "ucf101",
        "video_root": str(root),
        "annotations": str(annotations),
        "class_names": None,
        "split": 1,
        "eval_split": "test",
        "subset": {"videos_per_class": None, "num_classes": None, "seed": 0},
    }


def test_ucf_lists_parse_with_crlf_and_case_quirk(ucf: dict) -> None:
    train = read_split(ucf, "train", name="ucf")
    test = read_split(ucf, "test", name="ucf")
    assert train.class_names == test.class_names == UCF_CLASSES
    assert [r.label for r in train.records] == [0, 0, 1, 1, 2, 2]
    assert [r.label for r in test.records] == [0, 0, 1, 1, 2, 2]
    assert test.records[2].video_id == "HandstandPushups/v_HandStandPushups_g01_c01.avi"
    # The listed folder spelling differs from the disk's; the record points at the real file.
    assert test.records[2].path.is_file()
    assert test.records[2].path.parent.name == "HandStandPushups"
    assert all(r.total_frames is None for r in test.records)


def test_ucf_both_line_forms_accepted_in_any_list(ucf: dict) -> None:
    annotations = Path(ucf["annotations"])
    write_crlf(annotations / "vallist01.txt", [ucf_file(0, 1), f"{ucf_file(2, 3)} 3"])
    val = read_split(ucf, "val")
    assert [(r.video_id, r.label) for r in val.records] == [(ucf_file(0, 1), 0), (ucf_file(2, 3), 2)]


def test_ucf_split_number_selects_list(ucf: dict) -> None:
    write_crlf(Path(ucf["annotations"]) / "testlist02.txt", [ucf_file(1, 4)])
    assert [r.label for r in read_split({**ucf, "split": 2}, "test").records] == [1]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"{ucf_file(0, 3)} 2", "disagrees with the class folder"),
        (f"{ucf_file(0, 3)} 4", "out of range"),
        ("Skiing/v_Skiing_g01_c01.avi", "'Skiing' is not in"),
        ("v_Biking_g01_c01.avi 3", "expected '<Class>/<video> \\[<label>\\]'"),
    ],
)
def test_ucf_bad_list_lines_name_file_and_line(ucf: dict, line: str, message: str) -> None:
    list_file = Path(ucf["annotations"]) / "trainlist01.txt"
    write_crlf(list_file, [f"{ucf_file(1, 3)} 2", line])
    with pytest.raises(DataError, match=message) as info:
        read_split(ucf, "train")
    assert f"{list_file}:2" in str(info.value)


def test_ucf_missing_listed_videos_are_counted(ucf: dict) -> None:
    for group in (1, 2):
        (Path(ucf["video_root"]) / "Biking" / f"v_Biking_g{group:02d}_c01.avi").unlink()
    with pytest.raises(DataError, match=r"2 video\(s\) listed in .*testlist01.txt.* missing") as info:
        read_split(ucf, "test")
    assert "Biking/v_Biking_g01_c01.avi" in str(info.value)


def test_ucf_missing_paths_say_what_to_download(ucf: dict, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"datasets\.ucf\.video_root.*UCF101\.rar"):
        read_split({**ucf, "video_root": str(tmp_path / "nowhere")}, "test", name="ucf")
    with pytest.raises(DataError, match=r"datasets\.ucf\.annotations.*UCF101TrainTestSplits"):
        read_split({**ucf, "annotations": str(tmp_path / "nowhere")}, "test", name="ucf")
    with pytest.raises(DataError, match=r"testlist03\.txt' does not exist"):
        read_split({**ucf, "split": 3}, "test", name="ucf")


def test_ucf_empty_video_directory_and_empty_list(ucf: dict, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"'.*empty' is empty"):
        read_split({**ucf, "video_root": str(tmp_path / "empty")}, "test")
    write_crlf(Path(ucf["annotations"]) / "testlist01.txt", [])
    with pytest.raises(DataError, match=r"testlist01\.txt' lists no videos"):
        read_split(ucf, "test")


def test_generated_source_reads_ucf_layout_under_generated_root(ucf: dict, tmp_path: Path) -> None:
    root = tmp_path / "data" / "mini"
    root.mkdir(parents=True)
    Path(ucf["video_root"]).rename(root / "videos")
    Path(ucf["annotations"]).rename(root / "annotations")
    generated = {**ucf, "source": "generated", "video_root": None, "annotations": None}
    assert [r.label for r in read_split(generated, "train", generated_root=root).records] == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="generated_root"):
        read_split(generated, "train")
    with pytest.raises(DataError, match="generate_videos"):
        read_split(generated, "train", generated_root=tmp_path / "data" / "other")


def test_subset_applies_to_eval_split_only(ucf: dict) -> None:
    subset = {**ucf, "subset": {"videos_per_class": 1, "num_classes": None, "seed": 3}}
    test = read_split(subset, "test")
    assert [r.label for r in test.records] == [0, 1, 2]
    assert read_split(subset, "test") == test
    assert len(read_split(subset, "train").records) == 6


def _synthetic_list(num_classes: int = 20, per_class: int = 5) -> VideoList:
    records = tuple(
        VideoRecord(path=Path(f"c{c}/v{v}.mp4"), label=c, video_id=f"c{c}/v{v}.mp4")
        for c in range(num_classes)
        for v in range(per_class)
    )
    return VideoList(records=records, class_names=tuple(f"c{c}" for c in range(num_classes)))


def test_subset_sizes_determinism_and_order() -> None:
    full = _synthetic_list()
    one_per_class = select_subset(full, num_classes=None, videos_per_class=1, seed=0)
    assert sorted(r.label for r in one_per_class.records) == list(range(20))
    picked = select_subset(full, num_classes=7, videos_per_class=2, seed=0)
    labels = [r.label for r in picked.records]
    assert len(picked.records) == 14 and len(set(labels)) == 7
    assert all(labels.count(label) == 2 for label in labels)
    assert picked == select_subset(full, num_classes=7, videos_per_class=2, seed=0)
    assert picked != select_subset(full, num_classes=7, videos_per_class=2, seed=1)
    # Records keep the list's order and their original labels.
    positions = [full.records.index(r) for r in picked.records]
    assert positions == sorted(positions)
    assert picked.class_names == full.class_names
    with pytest.raises(DataError, match=r"datasets\.k\.subset\.num_classes is 21"):
        select_subset(full, num_classes=21, videos_per_class=1, seed=0, name="k")
    with pytest.raises(DataError, match=r"subset\.videos_per_class is 6"):
        select_subset(full, num_classes=None, videos_per_class=6, seed=0)


# ---------------------------------------------------------------- Kinetics-400

K400_ROWS = [
    ("abseiling", "aaaaaaaaaaa", 14, 24, "val"),
    ("air drumming", "bbbbbbbbbbb", 0, 10, "val"),
    ("passing American football (in game)", "ccccccccccc", 105, 115, "val"),
    ("abseiling", "ddddddddddd", 3, 13, "train"),
]


@pytest.fixture
def kinetics(tmp_path: Path) -> dict:
    """Official CSV layout (CVDF's extra is_cc column); flat videos except one in a label folder."""
    root = tmp_path / "k400"
    csv_path = tmp_path / "val.csv"
    lines = ["label,youtube_id,time_start,time_end,split,is_cc"]
    for label, youtube_id, start, end, split in K400_ROWS:
        lines.append(f'"{label}",{youtube_id},{start},{end},{split},0')
        folder = root / label.replace(" ", "_") if youtube_id == "bbbbbbbbbbb" else root
        write_video(folder / f"{youtube_id}_{start:06d}_{end:06d}.mp4")
    csv_path.write_text("\n".join(lines) + "\n")
    return {
        "source": "kinetics400",
        "video_root": str(root),
        "annotations": str(csv_path),
        "class_names": None,
        "split": 1,
        "eval_split": "val",
        "subset": {},
    }


def test_kinetics_csv_and_both_layouts(kinetics: dict) -> None:
    val = read_split(kinetics, "val")
    assert val.class_names == ("abseiling", "air drumming", "passing American football (in game)")
    assert [(r.video_id, r.label) for r in val.records] == [
        ("aaaaaaaaaaa_000014_000024.mp4", 0),
        ("bbbbbbbbbbb_000000_000010.mp4", 1),
        ("ccccccccccc_000105_000115.mp4", 2),
    ]
    assert val.records[1].path.parent.name == "air_drumming"
    assert [r.video_id for r in read_split(kinetics, "train").records] == ["ddddddddddd_000003_000013.mp4"]


def test_kinetics_class_names_file_sets_label_order(kinetics: dict, tmp_path: Path) -> None:
    names = ["zumba", "passing American football (in game)", "air drumming", "abseiling"]
    (tmp_path / "label_map_k400.txt").write_text("\n".join(names) + "\n")
    val = read_split({**kinetics, "class_names": str(tmp_path / "label_map_k400.txt")}, "val")
    assert val.class_names == tuple(names)
    assert [r.label for r in val.records] == [3, 2, 1]


def test_kinetics_subset_of_classes(kinetics: dict) -> None:
    subset = read_split({**kinetics, "subset": {"num_classes": 2, "videos_per_class": 1, "seed": 0}}, "val")
    assert len(subset.records) == 2 and len({r.label for r in subset.records}) == 2


def test_kinetics_errors_name_the_file(kinetics: dict, tmp_path: Path) -> None:
    csv_path = Path(kinetics["annotations"])
    (tmp_path / "names.txt").write_text("abseiling\nair drumming\n")
    with pytest.raises(DataError, match=r"val\.csv:4: class 'passing American football \(in game\)'"):
        read_split({**kinetics, "class_names": str(tmp_path / "names.txt")}, "val", name="k400")
    with pytest.raises(DataError, match=r"no rows of split 'test' \(it has \['train', 'val'\]\)"):
        read_split(kinetics, "test")
    (Path(kinetics["video_root"]) / "aaaaaaaaaaa_000014_000024.mp4").unlink()
    with pytest.raises(DataError, match=r"1 video\(s\) listed in .*val\.csv.*aaaaaaaaaaa_000014_000024\.mp4"):
        read_split(kinetics, "val")
    csv_path.write_text("youtube_id,time_start,time_end\n")
    with pytest.raises(DataError, match=r"val\.csv' lacks the column\(s\) \['label'\]"):
        read_split(kinetics, "val")
    with pytest.raises(DataError, match=r"datasets\.k400\.video_root.*cvdfoundation"):
        read_split({**kinetics, "video_root": str(tmp_path / "none")}, "val", name="k400")


# ---------------------------------------------------------------- rawframes


@pytest.fixture
def rawframes(tmp_path: Path) -> dict:
    """mmaction2 rawframes: two folders of img_00001.jpg ..., annotation and class-name files."""
    root = tmp_path / "rawframes"
    for folder, count in (("walk/clip_a", 3), ("run/clip_b", 5)):
        (root / folder).mkdir(parents=True)
        for index in range(1, count + 1):
            cv2.imwrite(str(root / folder / f"img_{index:05d}.jpg"), np.full((8, 8, 3), index, np.uint8))
    (tmp_path / "ann.txt").write_text("walk/clip_a 3 0\nrun/clip_b 5 1\n")
    (tmp_path / "classes.txt").write_text("walk\nrun\n")
    return {
        "source": "rawframes",
        "video_root": str(root),
        "annotations": str(tmp_path / "ann.txt"),
        "class_names": str(tmp_path / "classes.txt"),
        "split": 1,
        "eval_split": "test",
        "subset": {},
    }


def test_rawframes_records(rawframes: dict) -> None:
    video_list = read_split(rawframes, "test")
    assert video_list.class_names == ("walk", "run")
    assert [(r.video_id, r.label, r.total_frames) for r in video_list.records] == [
        ("walk/clip_a", 0, 3),
        ("run/clip_b", 1, 5),
    ]
    assert video_list.records[0].path.is_dir()


def test_rawframes_errors(rawframes: dict, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"datasets\.rf\.class_names is not set"):
        read_split({**rawframes, "class_names": None}, "test", name="rf")
    annotations = Path(rawframes["annotations"])
    annotations.write_text("walk/clip_a 3 0\nrun/clip_b 5 2\n")
    with pytest.raises(DataError, match=r"ann\.txt:2: label 2 is out of range 0\.\.1"):
        read_split(rawframes, "test")
    annotations.write_text("walk/clip_a 3 0\nswim/clip_c 4 1\n")
    with pytest.raises(DataError, match=r"1 video\(s\) listed in .*ann\.txt.*swim/clip_c"):
        read_split(rawframes, "test")
    annotations.write_text("walk/clip_a 0\n")
    with pytest.raises(DataError, match=r"ann\.txt:1: expected '<frame_dir> <total_frames> <label>'"):
        read_split(rawframes, "test")
    annotations.write_text("\n")
    with pytest.raises(DataError, match=r"ann\.txt' lists no frame folders"):
        read_split(rawframes, "test")
