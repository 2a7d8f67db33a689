"""Benchmark annotations: a table of dataset specs and one reader per official file format.

Every benchmark is read from its official distribution's layout under ``<data_root>/<name>/``
(see ``SPECS`` for the files each one needs). :func:`load_annotations` turns those files into an
:class:`Annotations` (a list of :class:`VideoItem` plus class names / prompt templates and a protocol
note); :class:`fitclip.datasets.VideoDataset` decodes the 4 sampled frames of each item with
:mod:`fitclip.video`. :func:`sample_labeled_subset` draws the seeded labeled subset. Nothing here
decodes a video.

Protocols (FitCLIP, bryant1410/fitclip @ a55ec2b8, unless noted):

==========  =======================================================  ======================================
name        annotations (relative to ``<data_root>/<name>/``)        videos
==========  =======================================================  ======================================
ucf101      ``ucfTrainTestlist/classInd.txt`` + ``testlist01.txt``   ``UCF-101/<Class>/v_*.avi``
mit         ``moments_categories.txt`` + ``validationSet.csv``       ``validation/<category>/<file>.mp4``
msrvtt      ``MSRVTT_JSFUSION_test.csv`` (or the frozen-in-time      ``videos/all/<video_id>.mp4``
            ``annotation/MSR_VTT.json`` + ``structured-symlinks/
            val_list_jsfusion.txt`` with ``source="frozen"``)
youcook2    ``validation_youcook.csv`` (MIL-NCE)                     ``validation/<task>/<video_id>.<ext>``
didemo      ``val_data.json`` / ``test_data.json``                   ``videos/<stem of "video">.<ext>``
webvid      ``results_2M_train.csv`` / ``results_2M_val.csv``        ``videos/<page_dir>/<videoid>.mp4`` or
                                                                     ``videos/<videoid>.mp4``
folder      any folder of videos (+ optional captions CSV            the folder itself (``data_root``)
            ``path,caption[,start,end]``, or ``classes=subfolders``)
hmdb51,     the later peers' three-split lists (``PEER_FILES``;      ``videos/<file>`` (HMDB51 also per class
k600_zs     ``ucf101`` splits ``1``-``3`` read them too)             folder; UCF101 ``UCF-101/<Class>/``)
==========  =======================================================  ======================================

Malformed annotations raise :class:`AnnotationError` (a ``ValueError``) that names the file, the line
(and column where it applies) and the fix; CRLF line endings and a UTF-8 BOM are accepted.

The readers' types and machinery (line-numbered errors, CSV columns, the folder look-up, the path check) are
:mod:`fitclip.readers`; the peers' lists :mod:`fitclip.peer_lists`; your folders :mod:`fitclip.folder_datasets`. Here
are the FitCLIP protocol's six formats, each parser next to the spec row that names its files and their sources,
the table of every dataset (``SPECS``), the class-name sets and templates any classification dataset takes, and
:func:`load_annotations`; the names of the other modules a caller needs are re-exported here.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fitclip.files import atomic_write_text
from fitclip.folder_datasets import folder_class_name, folder_corpus, parse_folder
from fitclip.folders import VIDEO_EXTENSIONS
from fitclip.peer_lists import (PEER_FILES, PEER_SOURCE, PEER_SPLITS, PUBLISHED_LISTS, in_id_order, parse_peer_list,
                                read_class_csv)
from fitclip.prompts import UCF101_TEMPLATES, ucf101_class_name
from fitclip.readers import (AnnotationError, Annotations, DatasetSpec, Loader, VideoItem, check_unique, csv_number,
                             fmt_seconds, read_csv, read_json, text_lines)

__all__ = [
    "AnnotationError",
    "Annotations",
    "CLASS_NAME_OPTIONS",
    "expand_split",
    "DatasetSpec",
    "PEER_FILES",
    "PEER_SPLITS",
    "PUBLISHED_LISTS",
    "SPECS",
    "VIDEO_EXTENSIONS",
    "VideoItem",
    "folder_class_name",
    "folder_corpus",
    "load_annotations",
    "read_class_csv",
    "read_class_names",
    "read_templates",
    "sample_labeled_subset",
]

# ----------------------------------------------------------------------------------------------------
# Parsers
# ----------------------------------------------------------------------------------------------------


def _parse_ucf101(ld: Loader) -> Annotations:
    if ld.split in PEER_SPLITS:
        return parse_peer_list(ld)
    class_file = ld.file("ucfTrainTestlist/classInd.txt")
    split_file = ld.file(ld.spec.splits[ld.split][1])

    folder_to_index: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for line_no, line in text_lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1:
            raise AnnotationError(
                f"{class_file}: line {line_no}: {line!r} is not '<1-based id> <ClassFolder>' "
                "(e.g. '1 ApplyEyeMakeup'). Fix: use classInd.txt from UCF101TrainTestSplits-RecognitionTask.zip."
            )
        check_unique(class_file, seen_ids, parts[0], line_no, "class id")
        if parts[1] in folder_to_index:
            raise AnnotationError(f"{class_file}: line {line_no}: duplicate class folder {parts[1]!r}.")
        folder_to_index[parts[1]] = int(parts[0]) - 1
    ids = sorted(folder_to_index.values())
    if ids != list(range(len(ids))):
        raise AnnotationError(
            f"{class_file}: class ids must run 1..{len(ids)} without gaps; got {[i + 1 for i in ids][:5]}..."
        )
    folders = sorted(folder_to_index, key=folder_to_index.__getitem__)
    classnames = [ucf101_class_name(f) for f in folders]

    items: list[VideoItem] = []
    seen: dict[str, int] = {}
    video_root = ld.root / "UCF-101"
    for line_no, line in text_lines(split_file):
        parts = line.split()
        relative = parts[0]
        pieces = relative.split("/")
        if len(pieces) != 2 or len(parts) > 2:
            raise AnnotationError(
                f"{split_file}: line {line_no}: {line!r} is not '<ClassFolder>/v_<Class>_gXX_cYY.avi' "
                "(optionally followed by a 1-based label). Fix: use the official split file."
            )
        folder, filename = pieces
        if folder not in folder_to_index:
            raise AnnotationError(
                f"{split_file}: line {line_no}: unknown class {folder!r}: it is not in {class_file.name}. "
                "Fix: use the split file and classInd.txt of the same official release."
            )
        target = folder_to_index[folder]  # from the folder, not the label column nor the file name
        if len(parts) == 2 and (not parts[1].isdigit() or int(parts[1]) - 1 != target):
            raise AnnotationError(
                f"{split_file}: line {line_no}, column 2: label {parts[1]!r} does not match folder "
                f"{folder!r} (id {target + 1} in {class_file.name})."
            )
        stem = Path(filename).stem
        check_unique(split_file, seen, stem, line_no, "video")
        path = ld.inside(video_root / folder / filename, split_file, f"line {line_no}", "video", relative)
        items.append(VideoItem(key=stem, video_id=stem, path=ld.resolve(stem, path), target=target))
    notes = (
        f"UCF101 {split_file.name}: all {len(items)} listed videos (FitCLIP evaluates every line; the "
        "'1794 test videos' figure was not found in any split file). Target = parent folder's classInd "
        "id - 1 (so HandstandPushups/v_HandStandPushups_* is class 'Handstand Pushups'). Class name = "
        "folder split with regex [a-zA-Z][^A-Z]* joined by spaces; prompts = the 48 CLIP UCF101 "
        "templates; class embedding = mean of the L2-normalised template embeddings (not re-normalised)."
    )
    return ld.annotations(items, notes, classnames=classnames, templates=list(UCF101_TEMPLATES))


def _parse_mit(ld: Loader) -> Annotations:
    categories_file = ld.file("moments_categories.txt")
    split_csv, video_dir = ld.spec.splits[ld.split][1], {"val": "validation", "train": "training"}[ld.split]
    split_file = ld.file(split_csv)

    categories: dict[str, int] = {}
    seen_index: dict[str, int] = {}
    for line_no, line in text_lines(categories_file):
        name, sep, index = line.rpartition(",")
        if not sep or not name.strip() or not index.strip().isdigit():
            raise AnnotationError(
                f"{categories_file}: line {line_no}: {line!r} is not '<name>,<index>' (e.g. 'clapping,0'). "
                "Fix: use moments_categories.txt from the Moments in Time download."
            )
        name = name.strip()
        check_unique(categories_file, seen_index, index.strip(), line_no, "class index")
        if name in categories:
            raise AnnotationError(f"{categories_file}: line {line_no}: duplicate category {name!r}.")
        categories[name] = int(index)
    indices = sorted(categories.values())
    if indices != list(range(len(indices))):
        raise AnnotationError(f"{categories_file}: class indices must run 0..{len(indices) - 1} without gaps.")
    classnames = sorted(categories, key=categories.__getitem__)

    rows = read_csv(split_file, required=(), names=("path", "category", "agreement", "disagreement"),
                     min_fields=2)
    items: list[VideoItem] = []
    seen: dict[str, int] = {}
    for row in rows:
        relative, category = row["path"], row["category"]
        if category not in categories:
            raise AnnotationError(
                f"{split_file}: line {row.line}, column 2: unknown category {category!r}: it is not in "
                f"{categories_file.name}. Fix: use the categories file of the same MiT release "
                "(v1 has 339 classes, v2 305)."
            )
        check_unique(split_file, seen, relative, row.line, "video path")
        video_id = str(Path(relative).with_suffix("")) if Path(relative).suffix else relative
        path = ld.inside(ld.root / video_dir / relative, split_file, f"line {row.line}", "path", relative)
        items.append(VideoItem(key=relative, video_id=video_id, path=ld.resolve(relative, path),
                               target=categories[category]))
    notes = (
        f"Moments in Time {split_file.name}: items = its rows (FitCLIP instead evaluates every file found "
        f"under {video_dir}/ and looks its label up in this CSV; the two agree when the download is "
        "complete, and missing files are reported here rather than silently dropped). Target = the CSV "
        "category's index in moments_categories.txt; prompt = the raw category name ('+' kept), no templates."
    )
    return ld.annotations(items, notes, classnames=classnames, templates=None)


def _parse_msrvtt(ld: Loader) -> Annotations:
    source = ld.options.get("source", "jsfusion")
    video_dir = ld.root / "videos" / "all"
    items: list[VideoItem] = []
    if source == "jsfusion":
        path = ld.file("MSRVTT_JSFUSION_test.csv")
        rows = read_csv(path, required=("key", "video_id", "sentence"), optional=("vid_key",))
        seen: dict[str, int] = {}
        for row in rows:
            check_unique(path, seen, row["key"], row.line, "key")
            if not row["video_id"] or not row["sentence"]:
                raise AnnotationError(f"{path}: line {row.line}: empty video_id or sentence.")
            video = ld.inside(video_dir / f"{row['video_id']}.mp4", path, f"line {row.line}", "video_id",
                              row["video_id"])
            items.append(VideoItem(key=row["key"], video_id=row["video_id"], path=ld.resolve(row["key"], video),
                                   text=row["sentence"]))
        notes = (
            f"MSR-VTT 1k-A ({path.name}): {len(items)} text->video queries, query = the 'sentence' column "
            "(the CLIP4Clip / MIL-NCE / VideoCLIP protocol). FitCLIP's own code instead takes the first "
            "caption per video of frozen-in-time's MSR_VTT.json (source='frozen')."
        )
    else:
        json_path = ld.file("annotation/MSR_VTT.json")
        list_path = ld.file("structured-symlinks/val_list_jsfusion.txt")
        data = read_json(json_path)
        if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
            raise AnnotationError(
                f"{json_path}: expected a JSON object with an 'annotations' list (COCO style, "
                "frozen-in-time's MSR_VTT.json)."
            )
        first_caption: dict[str, str] = {}
        for i, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict) or "image_id" not in ann or "caption" not in ann:
                raise AnnotationError(
                    f"{json_path}: annotations[{i}] lacks 'image_id' or 'caption' (got {str(ann)[:80]!r})."
                )
            first_caption.setdefault(str(ann["image_id"]), str(ann["caption"]).strip())
        seen = {}
        for line_no, video_id in text_lines(list_path):
            check_unique(list_path, seen, video_id, line_no, "video id")
            if video_id not in first_caption:
                raise AnnotationError(
                    f"{list_path}: line {line_no}: video {video_id!r} has no caption in {json_path.name}."
                )
            video = ld.inside(video_dir / f"{video_id}.mp4", list_path, f"line {line_no}", "video id", video_id)
            items.append(VideoItem(key=video_id, video_id=video_id, path=ld.resolve(video_id, video),
                                   text=first_caption[video_id]))
        notes = (
            f"MSR-VTT 1k-A (frozen-in-time files): the {len(items)} videos of {list_path.name}, query = the "
            f"first caption of each video in {json_path.name} in JSON order (FitCLIP's "
            "caption_sampling_strategy='first'); not the JSFusion 'sentence'."
        )
    return ld.annotations(items, notes)


def _parse_youcook2(ld: Loader) -> Annotations:
    path = ld.file("validation_youcook.csv")
    rows = read_csv(path, required=("end", "start", "task", "text", "video_id"))
    items: list[VideoItem] = []
    occurrences: dict[str, int] = {}
    video_root = ld.root / "validation"
    for row in rows:
        start, end = csv_number(path, row, "start"), csv_number(path, row, "end")
        if start < 0 or end < start:
            raise AnnotationError(
                f"{path}: line {row.line}: clip window start={row['start']} end={row['end']} is invalid "
                "(need 0 <= start <= end, in seconds)."
            )
        video_id, task = row["video_id"], row["task"]  # task read as a string ("226", not 226.0)
        if not video_id or not task:
            raise AnnotationError(f"{path}: line {row.line}: empty video_id or task.")
        base = f"{video_id}_{fmt_seconds(start)}_{fmt_seconds(end)}"
        occurrences[base] = occurrences.get(base, 0) + 1
        key = base if occurrences[base] == 1 else f"{base}_{occurrences[base]}"
        task_dir = ld.inside(video_root / task, path, f"line {row.line}", "task", task)
        ld.inside(task_dir / video_id, path, f"line {row.line}", "video_id", video_id)
        items.append(VideoItem(key=key, video_id=video_id, path=ld.resolve_any_ext(key, task_dir, video_id),
                               text=row["text"], start=start, end=end))
    duplicated = sum(1 for n in occurrences.values() if n > 1)
    notes = (
        f"YouCook2 validation clips of MIL-NCE's {path.name} (the file FitCLIP loads): {len(items)} clips, "
        "query = 'text', clip = [start, end] seconds mapped to the nearest frames, 4 frames sampled inside "
        "it. Video = first file validation/<task>/<video_id>.* in sorted order (video extensions first). "
        "Key = '<video_id>_<start>_<end>', with '_<n>' appended for the n-th row that repeats a window"
        + (f" ({duplicated} window(s) carry several captions in this file)." if duplicated else ".")
        + " VideoCLIP's 3,305 figure depends on which videos its authors had; no list of it exists."
    )
    return ld.annotations(items, notes)


def _parse_didemo(ld: Loader) -> Annotations:
    path = ld.file(ld.spec.splits[ld.split][0])
    group_by = ld.options.get("group_by", "video")
    data = read_json(path)
    if not isinstance(data, list):
        raise AnnotationError(
            f"{path}: expected a JSON list of {{'video', 'description', ...}} records (LocalizingMoments "
            f"format), got a JSON {type(data).__name__}."
        )
    groups: dict[str, list[str]] = {}
    first_record: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for i, record in enumerate(data):
        if not isinstance(record, dict) or "video" not in record or "description" not in record:
            raise AnnotationError(
                f"{path}: record [{i}] lacks 'video' or 'description' (got {str(record)[:80]!r}). "
                "Fix: use LocalizingMoments' data/{val,test}_data.json."
            )
        if "annotation_id" in record:
            annotation_id = str(record["annotation_id"])
            if annotation_id in seen_ids:
                raise AnnotationError(
                    f"{path}: record [{i}]: duplicate annotation_id {annotation_id!r} (first at record "
                    f"[{seen_ids[annotation_id]}]). Fix: remove the duplicated record; several descriptions "
                    "of one video are expected, one record twice is not."
                )
            seen_ids[annotation_id] = i
        video = str(record["video"])
        stem = os.path.splitext(video)[0]
        group = video if group_by == "video" else stem
        groups.setdefault(group, []).append(str(record["description"]).strip())
        first_record.setdefault(group, i)
    items = []
    video_root = ld.root / "videos"
    for key, descriptions in groups.items():
        stem = os.path.splitext(key)[0]
        ld.inside(video_root / stem, path, f"record [{first_record[key]}]", "video", key)
        items.append(VideoItem(key=key, video_id=stem, path=ld.resolve_any_ext(key, video_root, stem),
                               text=" ".join(descriptions)))
    n_stems = len({item.video_id for item in items})
    notes = (
        f"DiDeMo {path.name}, paragraph retrieval: one query per "
        + ("'video' value" if group_by == "video" else "video stem")
        + f" = its descriptions joined by one space in JSON order ({len(items)} queries over {len(data)} "
        "descriptions), whole video. Video = videos/<stem of 'video'>.<any ext> (first match in sorted "
        "order, video extensions first)."
    )
    if group_by == "video" and n_stems < len(items):
        notes += (
            f" Note: {len(items) - n_stems} stem(s) appear under two 'video' names (e.g. '.avi' and '.mp4' "
            f"of the same Flickr video), so {len(items)} queries map to {n_stems} distinct files; "
            "FitCLIP's loader keyed videos by file path and so kept only one paragraph per such file. "
            "Pass group_by='stem' to merge them."
        )
    return ld.annotations(items, notes)


_WEBVID_PAGE_DIR = re.compile(r"^\d+_\d+$")


def _parse_webvid(ld: Loader) -> Annotations:
    custom = ld.options.get("csv")
    if custom is not None:
        path = Path(custom)
        if not path.is_absolute():
            path = ld.root / path
        if not path.is_file():
            raise AnnotationError(f"webvid: csv={custom!r} not found (looked at {path}).")
        ld.files.append(path)
    else:
        path = ld.file(ld.spec.splits[ld.split][0])
    layout = ld.options.get("layout", "auto")
    rows = read_csv(path, required=("videoid", "name"), optional=("page_dir",))
    video_root = os.fspath(ld.root / "videos")
    items: list[VideoItem] = []
    seen: dict[str, int] = {}
    counts = {"page_dir": 0, "flat": 0}
    has = ld.dirs.has
    dir_paths: dict[str, Path] = {}
    for row in rows:  # plain strings in the loop: this runs 2.5M times for the train CSV
        videoid, name, page_dir = row["videoid"], row["name"], row.get("page_dir") or ""
        if not videoid:
            raise AnnotationError(f"{path}: line {row.line}, column 'videoid': empty id.")
        check_unique(path, seen, videoid, row.line, "videoid")
        filename = f"{videoid}.mp4"
        nested_dir = os.path.join(video_root, page_dir) if page_dir else None
        if nested_dir is not None:  # checked before the directory is even listed
            ld.inside(nested_dir, path, f"line {row.line}", "page_dir", page_dir)
        if layout == "flat" or nested_dir is None:
            directory = video_root
        elif layout == "page_dir" or has(nested_dir, filename) or not has(video_root, filename):
            directory = nested_dir
        else:
            directory = video_root
        counts["flat" if directory is video_root else "page_dir"] += 1
        ld.inside(os.path.join(directory, filename), path, f"line {row.line}", "videoid", videoid)
        if not has(directory, filename):
            ld.missing.append(videoid)
        dir_path = dir_paths.get(directory)
        if dir_path is None:
            dir_path = dir_paths[directory] = Path(directory)
        items.append(VideoItem(key=videoid, video_id=videoid, path=dir_path / filename, text=name or None))
    n_empty = sum(item.text is None for item in items)
    notes = (
        f"WebVid-2.5M {path.name}: {len(items)} videos, caption = 'name', videoid kept as a string"
        + (f" ({n_empty} empty caption(s) have text=None). " if n_empty else ". ")
        + "Video path: videos/<page_dir>/<videoid>.mp4 when that file exists (or page_dir is given and "
        f"neither exists), else the flat videos/<videoid>.mp4 (layout={layout!r}; "
        f"{counts['page_dir']} nested, {counts['flat']} flat)."
    )
    return ld.annotations(items, notes)


# ----------------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------------

_UCF_ARCHIVE = "UCF101TrainTestSplits-RecognitionTask.zip (https://www.crcv.ucf.edu/data/UCF101.php), folder ucfTrainTestlist/"
_MIT_ARCHIVE = "the Moments in Time download (http://moments.csail.mit.edu/), which ships both files"
_DIDEMO_SOURCE = "LisaAnne/LocalizingMoments data/ (https://github.com/LisaAnne/LocalizingMoments)"
_WEBVID_SOURCE = "WebVid-2.5M metadata (m-bain/webvid; no longer distributed by its authors)"

SPECS: dict[str, DatasetSpec] = {
    "ucf101": DatasetSpec(
        name="ucf101", task="classification", default_split="test",
        splits={"test": ("ucfTrainTestlist/classInd.txt", "ucfTrainTestlist/testlist01.txt"),
                "train": ("ucfTrainTestlist/classInd.txt", "ucfTrainTestlist/trainlist01.txt"),
                **PEER_FILES["ucf101"]},
        video_layout="UCF-101/<ClassFolder>/v_<Class>_gXX_cYY.avi",
        parse=_parse_ucf101,
        sources={"ucfTrainTestlist/classInd.txt": _UCF_ARCHIVE, "ucfTrainTestlist/testlist01.txt": _UCF_ARCHIVE,
                 "ucfTrainTestlist/trainlist01.txt": _UCF_ARCHIVE,
                 **{f: PEER_SOURCE for files in PEER_FILES["ucf101"].values() for f in files},
                 "*": "UCF101.rar (https://www.crcv.ucf.edu/data/UCF101.php)"},
        description="split-1 test, all 3,783 videos; 101 classes; 48 CLIP UCF101 templates (splits 1-3: the "
                    "peers' lists)",
        split_groups={"all": PEER_SPLITS},
    ),
    "mit": DatasetSpec(
        name="mit", task="classification", default_split="val",
        splits={"val": ("moments_categories.txt", "validationSet.csv"),
                "train": ("moments_categories.txt", "trainingSet.csv")},
        video_layout="validation/<category>/<file>.mp4",
        parse=_parse_mit,
        sources={"*": _MIT_ARCHIVE},
        description="Moments in Time validation; raw category names as prompts, no templates (v1: 339 classes)",
    ),
    "msrvtt": DatasetSpec(
        name="msrvtt", task="retrieval", default_split="test",
        splits={"test": ("MSRVTT_JSFUSION_test.csv",)},
        video_layout="videos/all/<video_id>.mp4",
        parse=_parse_msrvtt,
        sources={
            "MSRVTT_JSFUSION_test.csv": "CLIP4Clip's msrvtt_data.zip (github.com/ArrowLuo/CLIP4Clip releases), "
                                        "same content as MIL-NCE_HowTo100M csv/msrvtt_test.csv",
            "annotation/MSR_VTT.json": "frozen-in-time's MSRVTT.zip (https://www.robots.ox.ac.uk/~maxbain/frozen-in-time/data/MSRVTT.zip)",
            "structured-symlinks/val_list_jsfusion.txt": "frozen-in-time's MSRVTT.zip (same archive)",
            "*": "frozen-in-time's MSRVTT.zip",
        },
        options={"source": ("jsfusion", "frozen")},
        description="1k-A: 1,000 text->video queries",
    ),
    "youcook2": DatasetSpec(
        name="youcook2", task="retrieval", default_split="val",
        splits={"val": ("validation_youcook.csv",)},
        video_layout="validation/<task>/<video_id>.<any ext>",
        parse=_parse_youcook2,
        sources={"validation_youcook.csv": "MIL-NCE_HowTo100M csv/validation_youcook.csv "
                                           "(github.com/antoine77340/MIL-NCE_HowTo100M)",
                 "*": "MIL-NCE's Youcook2_val.zip"},
        description="3,350 validation clips cut by start/end seconds",
    ),
    "didemo": DatasetSpec(
        name="didemo", task="retrieval", default_split="val",
        splits={"val": ("val_data.json",), "test": ("test_data.json",)},
        video_layout="videos/<stem of the 'video' field>.<any ext>",
        parse=_parse_didemo,
        sources={"*": _DIDEMO_SOURCE},
        options={"group_by": ("video", "stem")},
        description="paragraph retrieval; val = 1,094 queries (FitCLIP), test = 1,037",
    ),
    "webvid": DatasetSpec(
        name="webvid", task="retrieval", default_split="val",
        splits={"val": ("results_2M_val.csv",), "train": ("results_2M_train.csv",)},
        video_layout="videos/<page_dir>/<videoid>.mp4 or videos/<videoid>.mp4",
        parse=_parse_webvid,
        sources={"*": _WEBVID_SOURCE},
        options={"layout": ("auto", "page_dir", "flat"), "csv": None},
        description="caption = name; val retrieval over all val videos",
    ),
    "folder": DatasetSpec(
        name="folder", task="unlabeled", default_split="all",
        splits={"all": ()},
        video_layout="<data_root>/**/*.<video ext> (data_root is the folder itself)",
        parse=parse_folder,
        sources={"*": "your own folder"},
        options={"captions": None, "recursive": (True, False), "extensions": None, "classes": ("subfolders",)},
        description="any folder of videos: unlabeled, or a retrieval benchmark with captions=CSV (path,caption"
                    "[,start,end], or video_id,caption), or a classification benchmark with classes=subfolders",
    ),
    "hmdb51": DatasetSpec(
        name="hmdb51", task="classification", default_split="all",
        splits=dict(PEER_FILES["hmdb51"]),
        video_layout="videos/<file>.avi or videos/<class_name>/<file>.avi",
        parse=parse_peer_list,
        sources={"*": PEER_SOURCE + "; videos: hmdb51_org.rar (serre-lab.clps.brown.edu)"},
        description="the peers' three test splits, 1,530 videos and 51 classes each; mean ± std over splits",
        split_groups={"all": PEER_SPLITS},
    ),
    "k600_zs": DatasetSpec(
        name="k600_zs", task="classification", default_split="all",
        splits=dict(PEER_FILES["k600_zs"]),
        video_layout="videos/<path as listed, e.g. train/<id>_<start>_<end>.mp4>",
        parse=parse_peer_list,
        sources={"*": PEER_SOURCE + "; videos: Kinetics-600 (cvdfoundation/kinetics-dataset)"},
        description="the Kinetics-600 classes outside Kinetics-400, three splits of 160 classes (217 in all); "
                    "mean ± std over splits",
        split_groups={"all": PEER_SPLITS},
    ),
}


#: Options every classification dataset takes besides its own (issue 20 §3): a class-name set and a template file.
CLASS_NAME_OPTIONS: tuple[str, ...] = ("classnames", "templates")


def read_class_names(path: str | os.PathLike, n_classes: int | None = None) -> list[list[str]]:
    """A class-name set: the names of each class, in class order, several per class where given.

    Formats: a CSV with the header ``id,name`` (the peers' label files work as they are; repeat an id for more
    phrasings of that class, as CLIP's prompt ensembling averages them), or a text file with one line per class
    in class order, phrasings separated by ``|`` (``moving left | sliding to the left``).

    Raises:
        AnnotationError: a malformed file, an empty name, a class without a name, or (with `n_classes`) a number
            of classes other than the dataset's.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"class-name set {path} not found. Fix: pass an existing file (classnames=FILE).")
    if path.suffix.lower() == ".csv":
        by_id: dict[int, list[str]] = {}
        for row in read_csv(path, required=("id", "name")):
            if not row["id"].isdigit() or not row["name"]:
                raise AnnotationError(f"{path}: line {row.line}: expected '<class index>,<name>', got "
                                      f"{row['id']!r},{row['name']!r}.")
            by_id.setdefault(int(row["id"]), []).append(row["name"])
        names = in_id_order(path, by_id)
    else:
        names = []
        for line_no, line in text_lines(path):
            phrasings = [p.strip() for p in line.split("|")]
            if not all(phrasings):
                raise AnnotationError(f"{path}: line {line_no}: an empty name in {line!r}.")
            names.append(phrasings)
    if n_classes is not None and len(names) != n_classes:
        raise AnnotationError(f"{path} names {len(names)} classes; the dataset has {n_classes}. Fix: one line (or "
                              f"id) per class, in the dataset's class order.")
    return names


def read_templates(path: str | os.PathLike) -> list[str]:
    """Prompt templates, one per line, each with one ``{}`` for the class name.

    Raises:
        AnnotationError: a missing file or a line without exactly one ``{}``.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"template file {path} not found. Fix: pass an existing file (templates=FILE).")
    lines = text_lines(path)
    for line_no, line in lines:
        if line.count("{}") != 1:
            raise AnnotationError(f"{path}: line {line_no}: {line!r} needs exactly one '{{}}' where the class name "
                                  "goes (e.g. 'a video of a person {}.').")
    return [line for _, line in lines]


def _apply_class_names(a: Annotations, options: Mapping[str, Any]) -> None:
    if a.task != "classification":
        raise ValueError(f"{a.name}: {', '.join(options)} apply to classification datasets only; {a.name} is "
                         f"{a.task}")
    if "classnames" in options:
        phrasings = read_class_names(options["classnames"], len(a.classnames or []))
        a.class_phrasings, a.classnames = phrasings, [p[0] for p in phrasings]
        a.annotation_files.append(Path(options["classnames"]))
        a.notes += f" Class names from {options['classnames']} ({sum(map(len, phrasings))} phrasings, averaged)."
    if "templates" in options:
        a.templates = read_templates(options["templates"])
        a.annotation_files.append(Path(options["templates"]))
        a.notes += f" Templates from {options['templates']} ({len(a.templates)})."


def expand_split(name: str, split: str | None = None) -> list[str]:
    """The splits a `split` argument names: a group (``"all"`` = the peers' splits 1-3) or one split (None: the
    dataset's default, itself a group for hmdb51 and k600_zs). Unknown names raise as :func:`load_annotations`."""
    if name not in SPECS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(SPECS)}")
    spec = SPECS[name]
    split = spec.default_split if split is None else split
    if split in spec.split_groups:
        return list(spec.split_groups[split])
    if split not in spec.splits:
        groups = [f"{g} (= {', '.join(v)})" for g, v in spec.split_groups.items()]
        raise ValueError(f"unknown split {split!r} for {name}; valid splits: {', '.join([*spec.splits, *groups])}")
    return [split]


def load_annotations(name: str, data_root: str | os.PathLike, split: str | None = None,
                     **options: Any) -> Annotations:
    """Load a benchmark's annotations from its official layout under ``<data_root>/<name>/``.

    Args:
        name: a key of ``SPECS`` (ucf101, mit, msrvtt, youcook2, didemo, webvid, folder).
        data_root: the folder that holds ``<name>/``; for ``folder``, the folder of videos itself.
        split: a split of the spec (default: its ``default_split``).
        **options: dataset options (``SPECS[name].options``): msrvtt ``source="jsfusion"|"frozen"``;
            didemo ``group_by="video"|"stem"``; webvid ``layout="auto"|"page_dir"|"flat"``, ``csv=path``;
            folder ``captions=path``, ``recursive=bool``, ``extensions=[...]``; every classification dataset
            ``classnames=path`` (:func:`read_class_names`) and ``templates=path`` (:func:`read_templates`).

    Raises:
        ValueError: unknown name, split or option.
        AnnotationError: a missing or malformed annotation file.
    """
    if name not in SPECS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(SPECS)}")
    spec = SPECS[name]
    split = spec.default_split if split is None else split
    if split in spec.split_groups:
        raise ValueError(f"{name}: split {split!r} names the splits {', '.join(spec.split_groups[split])}; load "
                         f"them one at a time (fitclip evaluate --split {split} evaluates each and reports mean ± std)")
    if split not in spec.splits:
        raise ValueError(f"unknown split {split!r} for {name}; valid splits: {', '.join(spec.splits)}")
    classification = spec.task == "classification" or options.get("classes") == "subfolders"
    generic = CLASS_NAME_OPTIONS if classification else ()
    for option, value in options.items():
        if option in generic:
            continue
        if option not in spec.options:
            accepted = ", ".join([*spec.options, *generic]) or "none"
            raise ValueError(f"unknown option {option!r} for {name}; accepted options: {accepted}")
        allowed = spec.options[option]
        if allowed is not None and value not in allowed:
            raise ValueError(f"{name}: {option}={value!r} is not one of {', '.join(map(repr, allowed))}")
    data_root = Path(data_root).expanduser()
    root = data_root if name == "folder" else data_root / name
    annotations = spec.parse(Loader(spec, root, split, {k: v for k, v in options.items() if k not in generic}))
    if any(k in options for k in generic):
        _apply_class_names(annotations, {k: options[k] for k in generic if k in options})
    return annotations


# ----------------------------------------------------------------------------------------------------
# Seeded labeled subset
# ----------------------------------------------------------------------------------------------------


def sample_labeled_subset(
    annotations_or_items: Annotations | Sequence[VideoItem],
    n: int = 4500,
    seed: int = 0,
    out_csv: str | os.PathLike | None = None,
) -> list[VideoItem]:
    """Draw a seeded, reproducible subset of ``n`` items (default: FitCLIP's 4,500 WebVid train ids).

    The draw is ``random.Random(seed).sample(range(len(items)), n)`` (stable across Python versions),
    returned in the original item order. With ``out_csv`` the chosen ids are written atomically
    (temporary file + ``os.replace``) in the WebVid columns the loader reads, ``videoid,name,page_dir``,
    so ``load_annotations("webvid", root, csv=out_csv)`` reloads exactly this subset.

    Raises:
        ValueError: ``n`` is larger than the number of items, or not positive.
    """
    items = list(annotations_or_items.items if isinstance(annotations_or_items, Annotations)
                 else annotations_or_items)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if n > len(items):
        raise ValueError(f"cannot sample {n} items: only {len(items)} are available")
    chosen = sorted(random.Random(seed).sample(range(len(items)), n))
    subset = [items[i] for i in chosen]
    if out_csv is not None:
        out = Path(out_csv)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["videoid", "name", "page_dir"])
        for item in subset:
            parent = item.path.parent.name
            page_dir = parent if _WEBVID_PAGE_DIR.match(parent) else ""
            writer.writerow([item.video_id, item.text if item.text is not None else "", page_dir])
        atomic_write_text(out, buf.getvalue())
    return subset
