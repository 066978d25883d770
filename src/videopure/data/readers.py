"""Dataset readers: one split of one configured dataset -> a list of labelled video records.

Four sources share one output type, :class:`VideoList`:

* ``ucf101``: the official ``ucfTrainTestlist`` directory (``classInd.txt``,
  ``trainlist0N.txt``, ``testlist0N.txt``) and the ``UCF-101/<Class>/v_*.avi`` tree.
* ``generated``: the mini profile's videos, written by the workflow in exactly UCF-101's layout
  under ``data/<dataset>/{videos,annotations}``.
* ``kinetics400``: the official annotation CSV and videos named
  ``<youtube_id>_<time_start:06d>_<time_end:06d>.mp4``, flat or in one folder per label.
* ``rawframes``: mmaction2's rawframe annotation file (``<frame_dir> <total_frames> <label>``)
  and folders of ``img_00001.jpg`` ... frames.

Labels are 0-based indices into ``class_names`` (the classifier's outputs). The paper's test
subsets (one video per class on UCF-101; 100 classes x 1 video on Kinetics-400) are drawn here,
seeded, whenever the evaluation split is read. Every problem with the inputs raises
:class:`DataError` naming the file or config key and what to do about it.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Bad input data; the message names the file and what to do."""


@dataclass(frozen=True)
class VideoRecord:
    """One labelled video of a split."""

    path: Path
    """The video file, or the frame folder for ``rawframes``."""
    label: int
    """0-based class index."""
    video_id: str
    """Stable id: the path relative to ``video_root`` as the split list writes it (for
    Kinetics-400 the file name, which does not depend on the folder layout)."""
    total_frames: int | None = None
    """Number of frames, known up front for ``rawframes`` only."""


@dataclass(frozen=True)
class VideoList:
    """The records of one split and the dataset's class names (label order)."""

    records: tuple[VideoRecord, ...]
    class_names: tuple[str, ...]


#: The sources whose clips are folders of frame images, listed by a rawframe annotation file or one
#: folder per class: ``rawframes`` sampled as mmaction2 samples a video, ``presampled`` read whole.
FRAME_FOLDER_SOURCES = ("rawframes", "presampled")
FRAME_TEMPLATE = "img_{:05d}.jpg"
"""Frame file names of ``rawframes`` folders: mmaction2's default ``filename_tmpl``, numbered
from 1 (``RawframeDataset``'s default ``start_index``); config ``frame_files`` names others."""
DEFAULT_FRAME_FILES = {"template": FRAME_TEMPLATE, "start_index": 1}


def check_frame_files(frame_files: dict[str, Any]) -> None:
    """Raise ``ValueError`` unless ``frame_files``' template names a distinct file for each frame number."""
    template, start = frame_files["template"], frame_files["start_index"]
    try:
        names = {template.format(start), template.format(start + 1)}
    except (IndexError, KeyError, ValueError) as error:
        raise ValueError(
            f"template {template!r} does not format a frame number ({error}); e.g. 'img_{{:05d}}.jpg'"
        ) from None
    if len(names) < 2 or any("/" in name for name in names):
        raise ValueError(f"template {template!r} must give each frame number its own file name in the folder")

# How to obtain each source, quoted in the errors about missing inputs.
_HOW_TO_GET = {
    "ucf101": (
        "UCF-101: download UCF101.rar and UCF101TrainTestSplits-RecognitionTask.zip from the UCF "
        "CRCV site (https://www.crcv.ucf.edu/data/UCF101.php), unpack them and set "
        "datasets.{name}.video_root (the UCF-101 folder of class folders) and "
        "datasets.{name}.annotations (the ucfTrainTestlist folder)"
    ),
    "kinetics400": (
        "Kinetics-400: download the videos and the annotation CSVs (e.g. the CVDF mirror, "
        "https://github.com/cvdfoundation/kinetics-dataset) and set datasets.{name}.video_root "
        "(folder of <youtube_id>_<start:06d>_<end:06d>.mp4 files, flat or one folder per label) "
        "and datasets.{name}.annotations (the split's CSV)"
    ),
    "rawframes": (
        "rawframes: extract frames with mmaction2's tools/data/build_rawframes.py (img_00001.jpg, "
        "...) and set datasets.{name}.video_root (the folder of frame folders) and "
        "datasets.{name}.annotations (the '<frame_dir> <total_frames> <label>' file)"
    ),
    "presampled": (
        "presampled: one folder of frame images per clip, already sampled (e.g. 0.png ... 31.png, "
        "set datasets.{name}.frame_files), and set datasets.{name}.video_root (the folder of clip "
        "folders) and datasets.{name}.annotations (the '<frame_dir> <total_frames> <label>' file)"
    ),
    "generated": (
        "generated videos: run the workflow (snakemake), whose generate_videos rule writes "
        "data/{name}/videos and data/{name}/annotations"
    ),
}

# How many missing files an error message lists before it says "...".
_SHOW_MISSING = 5


def read_split(
    dataset: dict[str, Any], split: str, generated_root: Path | None = None, *, name: str = "<name>"
) -> VideoList:
    """Read one split of a dataset.

    Args:
        dataset: one validated entry of the config's ``datasets`` (defaults filled in).
        split: split name. For ``ucf101``/``generated`` it selects ``<split>list0N.txt``; for
            ``kinetics400`` the CSV rows whose ``split`` column equals it (all rows if the CSV
            has no such column); ``rawframes`` and ``presampled`` have one annotation file and ignore it.
        generated_root: ``data/<dataset name>``, required for ``source: generated``.
        name: the dataset's name in the config, used to name config keys in error messages.

    Returns:
        The split's records, subsetted with ``dataset["subset"]`` when ``split`` is the
        dataset's ``eval_split`` (training splits are never subsetted).

    Raises:
        DataError: a missing or empty path, an empty or malformed list, an unknown class, a
            label out of range, listed videos missing on disk, or an impossible subset.
    """
    source = dataset["source"]
    if source == "generated":  # its paths are fixed by the workflow, not set in the config
        if generated_root is None:
            raise ValueError("read_split: source 'generated' needs generated_root (data/<dataset name>)")
        video_root, annotations = Path(generated_root) / "videos", Path(generated_root) / "annotations"
        root_key = annotations_key = "written by the workflow"
    else:
        video_root = Path(dataset["video_root"])
        annotations = Path(dataset["annotations"]) if dataset["annotations"] else None  # None: class folders
        root_key, annotations_key = f"datasets.{name}.video_root", f"datasets.{name}.annotations"
    how = _HOW_TO_GET[source].format(name=name)
    _require(video_root, root_key, how, directory=True)
    if annotations is not None:
        _require(annotations, annotations_key, how, directory=source in ("ucf101", "generated"))
    if not any(video_root.iterdir()):
        raise DataError(f"video directory '{video_root}' is empty; {how}")

    if source in ("ucf101", "generated"):
        video_list = _read_ucf(annotations, video_root, split, dataset["split"], name)
    elif source == "kinetics400":
        video_list = _read_kinetics(annotations, video_root, split, dataset["class_names"], name)
    elif annotations is None:
        frame_files = {**DEFAULT_FRAME_FILES, **dataset.get("frame_files", {})}
        video_list = _read_class_folders(video_root, dataset["class_names"], frame_files, name)
    else:
        video_list = _read_rawframes(annotations, video_root, dataset["class_names"], name)

    subset = dataset.get("subset") or {}
    if split == dataset["eval_split"] and (
        subset.get("num_classes") is not None or subset.get("videos_per_class") is not None
    ):
        video_list = select_subset(
            video_list,
            num_classes=subset.get("num_classes"),
            videos_per_class=subset.get("videos_per_class"),
            seed=subset.get("seed", 0),
            name=name,
        )
    log.info(
        "dataset %s, split %s: %d videos of %d classes from %s",
        name,
        split,
        len(video_list.records),
        len(video_list.class_names),
        annotations,
    )
    return video_list


def select_subset(
    video_list: VideoList,
    num_classes: int | None,
    videos_per_class: int | None,
    seed: int,
    *,
    name: str = "<name>",
) -> VideoList:
    """The paper's test subset: ``num_classes`` random classes x ``videos_per_class`` random videos.

    Deterministic for a given list and seed: one ``numpy.random.default_rng(seed)`` draws the
    classes (among those present in the list), then the videos of each chosen class in
    ascending class order. ``None`` keeps all classes / all videos of a class. The kept records
    stay in their original list order and keep their original labels.

    Raises:
        DataError: the list has fewer classes, or a chosen class fewer videos, than asked for.
    """
    labels = np.array([record.label for record in video_list.records])
    present = np.unique(labels)
    rng = np.random.default_rng(seed)
    if num_classes is not None:
        if num_classes > len(present):
            raise DataError(
                f"datasets.{name}.subset.num_classes is {num_classes} but the split has videos of only "
                f"{len(present)} classes; lower it"
            )
        present = np.sort(rng.choice(present, size=num_classes, replace=False))
    keep: list[int] = []
    for label in present:
        members = np.flatnonzero(labels == label)
        if videos_per_class is None:
            keep.extend(members.tolist())
            continue
        if videos_per_class > len(members):
            raise DataError(
                f"datasets.{name}.subset.videos_per_class is {videos_per_class} but class "
                f"'{video_list.class_names[label]}' has only {len(members)} videos in the split; lower it"
            )
        keep.extend(rng.choice(members, size=videos_per_class, replace=False).tolist())
    records = tuple(video_list.records[i] for i in sorted(keep))
    return VideoList(records=records, class_names=video_list.class_names)


def _require(path: Path, key: str, how: str, directory: bool) -> None:
    ok = path.is_dir() if directory else path.is_file()
    if not ok:
        kind = "directory" if directory else "file"
        raise DataError(f"{kind} '{path}' ({key}) does not exist; {how}")


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines of a text file with their 1-based line numbers (CRLF and LF alike)."""
    with open(path, encoding="utf-8") as handle:  # universal newlines: the UCF lists use CRLF
        return [(number, line.strip()) for number, line in enumerate(handle, 1) if line.strip()]


class _ClassIndex:
    """Class name -> 0-based index; exact match first, then case-insensitive.

    The case-insensitive fallback absorbs UCF-101's known case quirks between classInd.txt,
    the folder names and the list files (e.g. ``HandstandPushups`` vs ``HandStandPushups``).
    """

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self._exact = {n: i for i, n in enumerate(names)}
        self._folded = {n.casefold(): i for i, n in enumerate(names)}

    def get(self, name: str) -> int | None:
        index = self._exact.get(name)
        return index if index is not None else self._folded.get(name.casefold())


def _read_class_names(file: str | None, key: str, how: str) -> tuple[str, ...]:
    """A class-name file: one name per line, in label order (mmaction2's label_map_*.txt)."""
    if file is None:
        raise DataError(f"{key} is not set; {how}")
    path = Path(file)
    _require(path, key, how, directory=False)
    with open(path, encoding="utf-8") as handle:
        names = [line.strip() for line in handle.read().splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise DataError(f"class-name file '{path}' ({key}) is empty; write one class name per line")
    if not all(names):
        blank = names.index("") + 1
        raise DataError(f"{path}:{blank}: blank line inside the class-name file; labels would shift — remove it")
    return tuple(names)


def _resolve(
    video_root: Path, relative: str, folded: dict[str, Path] | None
) -> tuple[Path | None, dict[str, Path] | None]:
    """Find ``video_root/relative``, falling back to a case-insensitive match of the path.

    The case-insensitive index of ``<class>/<file>`` paths is built on the first miss only and
    returned for reuse (UCF-101's lists spell some folder and file names with another case).
    """
    path = video_root / relative
    if path.exists():
        return path, folded
    if folded is None:
        folded = {}
        for folder in sorted(video_root.iterdir()):
            if folder.is_dir():
                for entry in sorted(folder.iterdir()):
                    folded.setdefault(f"{folder.name}/{entry.name}".casefold(), entry)
    return folded.get(relative.casefold()), folded


def _missing_error(missing: list[str], listed_in: Path, video_root: Path, advice: str) -> DataError:
    shown = ", ".join(missing[:_SHOW_MISSING]) + (", ..." if len(missing) > _SHOW_MISSING else "")
    return DataError(
        f"{len(missing)} video(s) listed in '{listed_in}' are missing under '{video_root}': {shown}; {advice}"
    )


def _read_ucf(annotations: Path, video_root: Path, split: str, number: int, name: str) -> VideoList:
    """UCF-101's list format (also the generator's): classInd.txt + <split>list0N.txt.

    List lines are ``<Class>/<file> <label>`` (train lists, 1-based label) or ``<Class>/<file>``
    (test lists, label from the class folder via classInd.txt); both forms are accepted in any
    list, and a given label must agree with the folder's class.
    """
    class_file = annotations / "classInd.txt"
    if not class_file.is_file():
        raise DataError(f"'{class_file}' does not exist; the annotations folder must be UCF-101's ucfTrainTestlist")
    names: list[str] = []
    for line_no, line in _lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(names) + 1:
            raise DataError(
                f"{class_file}:{line_no}: expected '<index> <ClassName>' with indices 1, 2, 3, ... in order; "
                f"got {line!r}"
            )
        names.append(parts[1])
    if not names:
        raise DataError(f"'{class_file}' lists no classes")
    classes = _ClassIndex(tuple(names))

    list_file = annotations / f"{split}list{number:02d}.txt"
    if not list_file.is_file():
        raise DataError(
            f"split list '{list_file}' does not exist; check the split name '{split}' and the split "
            f"number {number} (datasets.{name}.split)"
        )
    records: list[VideoRecord] = []
    missing: list[str] = []
    folded: dict[str, Path] | None = None
    for line_no, line in _lines(list_file):
        parts = line.split()
        if len(parts) not in (1, 2) or "/" not in parts[0]:
            raise DataError(f"{list_file}:{line_no}: expected '<Class>/<video> [<label>]'; got {line!r}")
        relative = parts[0]
        folder = relative.split("/", 1)[0]
        label = classes.get(folder)
        if label is None:
            raise DataError(
                f"{list_file}:{line_no}: class folder '{folder}' is not in '{class_file}'; fix the list "
                "or classInd.txt"
            )
        if len(parts) == 2:
            if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(names):
                raise DataError(
                    f"{list_file}:{line_no}: label {parts[1]!r} is out of range 1..{len(names)} of '{class_file}'"
                )
            if int(parts[1]) - 1 != label:
                raise DataError(
                    f"{list_file}:{line_no}: label {parts[1]} ('{names[int(parts[1]) - 1]}') disagrees with "
                    f"the class folder '{folder}' ('{names[label]}' = {label + 1} in classInd.txt)"
                )
        path, folded = _resolve(video_root, relative, folded)
        if path is None:
            missing.append(relative)
            continue
        records.append(VideoRecord(path=path, label=label, video_id=relative))
    if missing:
        raise _missing_error(
            missing,
            list_file,
            video_root,
            "check that the video folder holds the class folders, complete the download, "
            "or remove them from the list",
        )
    if not records:
        raise DataError(f"split list '{list_file}' lists no videos")
    return VideoList(records=tuple(records), class_names=classes.names)


def _read_kinetics(annotations: Path, video_root: Path, split: str, class_names: str | None, name: str) -> VideoList:
    """Kinetics-400's CSV (``label,youtube_id,time_start,time_end,split[,is_cc]``).

    Class names come from the ``class_names`` file (mmaction2's label_map_k400.txt order) when
    given, else the sorted unique CSV labels. Videos are looked up by file name directly under
    ``video_root`` or one level down (downloaders that write one folder per label).
    """
    with open(annotations, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        needed = {"label", "youtube_id", "time_start", "time_end"}
        if not needed <= columns:
            raise DataError(
                f"'{annotations}' lacks the column(s) {sorted(needed - columns)}; expected Kinetics-400's "
                "CSV header 'label,youtube_id,time_start,time_end,split'"
            )
        rows = [(reader.line_num, row) for row in reader]
    if "split" in columns:
        present = sorted({row["split"] for _, row in rows})
        rows = [(line_no, row) for line_no, row in rows if row["split"] == split]
        if not rows and present:
            raise DataError(
                f"'{annotations}' has no rows of split '{split}' (it has {present}); point "
                f"datasets.{name}.annotations at that split's CSV or set datasets.{name}.eval_split"
            )
    if not rows:
        raise DataError(f"annotation CSV '{annotations}' lists no videos")

    if class_names is not None:
        names = _read_class_names(class_names, f"datasets.{name}.class_names", "point it at a class-name file")
    else:
        names = tuple(sorted({row["label"] for _, row in rows}))
    classes = _ClassIndex(names)

    on_disk: dict[str, Path] = {}
    for entry in sorted(os.scandir(video_root), key=lambda e: e.name):
        if entry.is_dir():
            for inner in sorted(os.scandir(entry.path), key=lambda e: e.name):
                on_disk.setdefault(inner.name, Path(inner.path))
        else:
            on_disk.setdefault(entry.name, Path(entry.path))

    records: list[VideoRecord] = []
    missing: list[str] = []
    for line_no, row in rows:
        label = classes.get(row["label"])
        if label is None:
            raise DataError(
                f"{annotations}:{line_no}: class '{row['label']}' is not in the class names "
                f"({class_names or 'the CSV labels'}); fix datasets.{name}.class_names"
            )
        try:
            start, end = int(float(row["time_start"])), int(float(row["time_end"]))
        except ValueError:
            raise DataError(f"{annotations}:{line_no}: time_start/time_end must be numbers; got {row}") from None
        file_name = f"{row['youtube_id']}_{start:06d}_{end:06d}.mp4"
        path = on_disk.get(file_name)
        if path is None:
            missing.append(file_name)
            continue
        records.append(VideoRecord(path=path, label=label, video_id=file_name))
    if missing:
        raise _missing_error(
            missing,
            annotations,
            video_root,
            "complete the download or remove their rows from the CSV (videos taken down from YouTube are common)",
        )
    return VideoList(records=tuple(records), class_names=names)


def _read_class_folders(video_root: Path, class_names: str | None, frame_files: dict[str, Any], name: str) -> VideoList:
    """Frame folders laid out ``<video_root>/<class>/<clip>/``: labels in the order of the class-name
    file, or of the sorted class folder names without one; a clip's frame count is its number of files
    (hidden ones aside), which must be the first ones ``frame_files`` names."""
    classes = sorted(entry.name for entry in video_root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if class_names is None:
        names = tuple(classes)
    else:
        names = _read_class_names(class_names, f"datasets.{name}.class_names", "one class name per line, label order")
        unknown = [folder for folder in classes if folder not in names]
        if unknown:
            raise DataError(
                f"class folders {unknown[:_SHOW_MISSING]} of '{video_root}' are not in datasets.{name}.class_names "
                f"('{class_names}'); add them there or move them out"
            )
    template, start = frame_files["template"], frame_files["start_index"]
    records: list[VideoRecord] = []
    for label, class_name in enumerate(names):
        class_folder = video_root / class_name
        if not class_folder.is_dir():
            continue
        for clip in sorted(entry for entry in class_folder.iterdir() if entry.is_dir() and not entry.name.startswith(".")):
            files = {entry.name for entry in clip.iterdir() if entry.is_file() and not entry.name.startswith(".")}
            if not files:
                raise DataError(f"frame folder '{clip}' is empty; remove it or extract its frames")
            wanted = [template.format(start + index) for index in range(len(files))]
            missing = [file for file in wanted if file not in files]
            if missing:
                raise DataError(
                    f"frame folder '{clip}' holds {len(files)} files but not frame '{missing[0]}' "
                    f"(datasets.{name}.frame_files: '{template}' from {start}): a frame is missing or a file "
                    "that is not a frame is there; fix the folder or frame_files"
                )
            records.append(VideoRecord(path=clip, label=label, video_id=f"{class_name}/{clip.name}", total_frames=len(files)))
    if not records:
        raise DataError(f"'{video_root}' holds no <class>/<clip>/ frame folders; see docs/usage.md")
    return VideoList(records=tuple(records), class_names=names)


def _read_rawframes(annotations: Path, video_root: Path, class_names: str | None, name: str) -> VideoList:
    """mmaction2's rawframe annotation file: ``<frame_dir> <total_frames> <label>`` (0-based label)."""
    names = _read_class_names(
        class_names,
        f"datasets.{name}.class_names",
        "a frame-folder dataset with an annotation file needs a class-name file (one name per line, label order)",
    )
    records: list[VideoRecord] = []
    missing: list[str] = []
    for line_no, line in _lines(annotations):
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].lstrip("-").isdigit():
            raise DataError(f"{annotations}:{line_no}: expected '<frame_dir> <total_frames> <label>'; got {line!r}")
        total, label = int(parts[1]), int(parts[2])
        if total < 1:
            raise DataError(
                f"{annotations}:{line_no}: '{parts[0]}' has {total} frames; re-extract it or remove the line"
            )
        if not 0 <= label < len(names):
            raise DataError(
                f"{annotations}:{line_no}: label {label} is out of range 0..{len(names) - 1} of "
                f"datasets.{name}.class_names ({len(names)} names)"
            )
        folder = video_root / parts[0]
        if not folder.is_dir():
            missing.append(parts[0])
            continue
        records.append(VideoRecord(path=folder, label=label, video_id=parts[0], total_frames=total))
    if missing:
        raise _missing_error(missing, annotations, video_root, "extract their frames or remove their lines")
    if not records:
        raise DataError(f"annotation file '{annotations}' lists no frame folders")
    return VideoList(records=tuple(records), class_names=names)
