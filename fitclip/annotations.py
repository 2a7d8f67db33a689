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

One file for the eight formats (about 1,340 lines, over the house's 700: issue 21 moves the generic reader
machinery out, and the peers' lists and your folders' benchmarks may follow): each parser is short and sits next to the spec row that
names its files and their sources, and all of them share the readers that give those errors their line
numbers and the checks that keep every path inside the dataset's folder; split up, the protocol table
above would be spread over several files.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fitclip.checkpoint import atomic_write_text
from fitclip.folders import VIDEO_EXTENSIONS, FolderListing, escape_name, list_folder
from fitclip.prompts import UCF101_TEMPLATES, format_prompts, ucf101_class_name

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

class AnnotationError(ValueError):
    """An annotation file is missing or malformed. The message names the file, where, and the fix."""


# ----------------------------------------------------------------------------------------------------
# Data model
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoItem:
    """One evaluation item.

    Attributes:
        key: unique id of the item within its :class:`Annotations`.
        video_id: id of the video file (several items may share it, e.g. YouCook2 clips).
        path: resolved expected video path (it may not exist; see ``Annotations.missing``).
        text: caption / retrieval query, or ``None`` (classification, unlabeled corpora).
        target: class index (classification), or ``None``.
        start: clip start in seconds, or ``None`` (whole video).
        end: clip end in seconds, or ``None`` (whole video).
    """

    key: str
    video_id: str
    path: Path
    text: str | None = None
    target: int | None = None
    start: float | None = None
    end: float | None = None


@dataclass
class Annotations:
    """The items of one benchmark split, and how to prompt it.

    Attributes:
        name: dataset name (a key of ``SPECS``).
        split: split name.
        task: ``"classification"`` or ``"retrieval"``.
        items: the evaluation items, in the annotation file's order.
        classnames: class names indexed by ``VideoItem.target`` (classification), else ``None``.
        templates: prompt templates with a ``{}`` placeholder; ``None`` means the raw class name is
            the prompt (see :meth:`class_prompts`).
        annotation_files: the files read, so a caller can hash them into a protocol record.
        notes: human-readable protocol note (choices, deviations, what was not found).
        missing: keys of the items whose video file did not exist when the annotations were loaded.
        class_phrasings: several names per class from a class-name set (the ``classnames`` option), all of them
            prompted and averaged (CLIP's prompt ensembling); ``None``: one name per class, ``classnames``.
    """

    name: str
    split: str
    task: str
    items: list[VideoItem]
    classnames: list[str] | None = None
    templates: list[str] | None = None
    annotation_files: list[Path] = field(default_factory=list)
    notes: str = ""
    missing: list[str] = field(default_factory=list)
    class_phrasings: list[list[str]] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, index: int) -> VideoItem:
        return self.items[index]

    @property
    def keys(self) -> list[str]:
        return [item.key for item in self.items]

    def class_prompts(self) -> list[list[str]]:
        """For classification: one list of prompts per class (each template filled with each of the class's names:
        its phrasings from a class-name set, else its one name)."""
        if self.classnames is None:
            raise ValueError(f"{self.name}/{self.split} is a {self.task} dataset: it has no classes")
        phrasings = self.class_phrasings or [[name] for name in self.classnames]
        return [[p for name in names for p in format_prompts(self.templates, name)] for names in phrasings]


@dataclass(frozen=True)
class DatasetSpec:
    """One row of the dataset table.

    Attributes:
        name: dataset name.
        task: ``"classification"`` or ``"retrieval"``.
        default_split: split used when ``split=None``.
        splits: for each split, its annotation files relative to ``<data_root>/<name>/`` (for the
            default options; an option such as msrvtt ``source="frozen"`` reads other files).
        video_layout: where the videos are, relative to ``<data_root>/<name>/``.
        parse: ``parse(loader) -> Annotations``.
        sources: where each annotation file comes from (named in missing-file errors).
        options: the keyword options ``load_annotations`` accepts for it, with their allowed values
            (``None``: free-form).
        description: protocol summary.
        split_groups: names for several splits evaluated together (``"all"``: the peers' splits 1-3, reported
            as mean ± std over splits by ``fitclip evaluate``); :func:`load_annotations` reads one split at a time.
    """

    name: str
    task: str
    default_split: str
    splits: Mapping[str, tuple[str, ...]]
    video_layout: str
    parse: Callable[[_Loader], Annotations]
    sources: Mapping[str, str]
    options: Mapping[str, tuple[Any, ...] | None] = field(default_factory=dict)
    description: str = ""
    split_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------
# File reading helpers (clear errors, BOM and CRLF tolerant)
# ----------------------------------------------------------------------------------------------------


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise AnnotationError(
            f"{path}: line {line}: not valid UTF-8 (byte {e.start}). "
            "Fix: re-save the file as UTF-8 (the official files are ASCII/UTF-8)."
        ) from None
    if not text.strip():
        raise AnnotationError(
            f"{path} is empty. Fix: re-extract it from the official archive (a download was probably cut)."
        )
    return text


def _text_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, stripped line) for every non-blank line; CRLF/CR/BOM tolerant."""
    text = _decode(path)
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _read_json(path: Path) -> Any:
    text = _decode(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(
            f"{path}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg}). "
            "Fix: re-extract the file from the official archive; it is probably truncated or edited."
        ) from None


@dataclass
class _CsvRow:
    line: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values[column]

    def get(self, column: str, default: str | None = None) -> str | None:
        return self.values.get(column, default)


def _read_csv(
    path: Path,
    required: Sequence[str],
    optional: Sequence[str] = (),
    names: Sequence[str] | None = None,
    min_fields: int | None = None,
) -> list[_CsvRow]:
    """Read a CSV with the stdlib parser (RFC 4180 quoting, doubled quotes, CRLF, BOM).

    With ``names`` the file has no header row and its columns are ``names`` (at least ``min_fields``
    of them per row). Otherwise the first row is the header and must contain every ``required``
    column; other columns are ignored. Values are kept as strings (ids keep leading zeros).
    """
    text = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[_CsvRow] = []
    try:
        if names is None:
            header = next(reader, None)
            while header is not None and not any(h.strip() for h in header):
                header = next(reader, None)
            if header is None:
                raise AnnotationError(f"{path} is empty (no header row).")
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise AnnotationError(
                    f"{path}: line {reader.line_num}: missing column(s) {', '.join(map(repr, missing))}; "
                    f"the header has {header}. Expected a header with at least "
                    f"{', '.join(required)}. Fix: use the official file, or rename the columns."
                )
            wanted = {c: header.index(c) for c in [*required, *optional] if c in header}
            n_fields = len(header)
            for row in reader:
                if not row or not any(v.strip() for v in row):
                    continue
                if len(row) != n_fields:
                    raise AnnotationError(
                        f"{path}: line {reader.line_num}: {len(row)} fields, but the header has {n_fields}. "
                        "Fix: a value that contains a comma must be quoted (\"...\"), and a quote inside "
                        "it doubled (\"\")."
                    )
                rows.append(_CsvRow(reader.line_num, {c: row[i].strip() for c, i in wanted.items()}))
        else:
            need = len(names) if min_fields is None else min_fields
            for row in reader:
                if not row or not any(v.strip() for v in row):
                    continue
                if len(row) < need:
                    raise AnnotationError(
                        f"{path}: line {reader.line_num}: {len(row)} field(s), expected {need} "
                        f"({', '.join(names[:need])}; no header row). Fix: use the official file."
                    )
                rows.append(_CsvRow(reader.line_num, {c: v.strip() for c, v in zip(names, row)}))
    except csv.Error as e:
        raise AnnotationError(f"{path}: line {reader.line_num}: malformed CSV ({e}).") from None
    if not rows:
        raise AnnotationError(f"{path} has a header but no rows. Fix: re-extract it from the official archive.")
    return rows


def _number(path: Path, row: _CsvRow, column: str) -> float:
    value = row[column]
    try:
        return float(value)
    except ValueError:
        raise AnnotationError(
            f"{path}: line {row.line}, column {column!r}: {value!r} is not a number of seconds."
        ) from None


def _fmt_seconds(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _check_unique(path: Path, seen: dict[str, int], key: str, line: int, what: str) -> None:
    if key in seen:
        raise AnnotationError(
            f"{path}: line {line}: duplicate {what} {key!r} (first seen at line {seen[key]}). "
            "Fix: remove the duplicated row; the official file has each id once."
        )
    seen[key] = line


class _DirCache:
    """Sorted directory listings, read once each (cheap existence checks and "<any ext>" look-ups)."""

    def __init__(self) -> None:
        self._listing: dict[str, tuple[list[str], frozenset[str]]] = {}

    def _get(self, directory: str | Path) -> tuple[list[str], frozenset[str]]:
        key = os.fspath(directory)
        listing = self._listing.get(key)
        if listing is None:
            try:
                names = sorted(e.name for e in os.scandir(key) if not e.name.startswith("."))
            except OSError:
                names = []
            listing = self._listing[key] = (names, frozenset(names))
        return listing

    def has(self, directory: str | Path, name: str) -> bool:
        return name in self._get(directory)[1]

    def exists(self, path: Path) -> bool:
        return self.has(path.parent, path.name)

    def find_stem(self, directory: Path, stem: str) -> Path | None:
        """First file named ``<stem>.<ext>`` in sorted order, preferring video extensions."""
        prefix = stem + "."
        names, _ = self._get(directory)
        candidates = [n for n in names if n.startswith(prefix) and len(n) > len(prefix)]
        if not candidates:
            return None

        def rank(name: str) -> tuple[int, str]:
            is_video = os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS
            exact = os.path.splitext(name)[0] == stem
            return (0 if is_video and exact else 1 if is_video else 2, name)

        return directory / min(candidates, key=rank)


_P = TypeVar("_P", Path, str)


class _Loader:
    """What a parse function gets: the spec, the dataset folder, the split and the options."""

    def __init__(self, spec: DatasetSpec, root: Path, split: str, options: dict[str, Any]) -> None:
        self.spec = spec
        self.root = root
        self.split = split
        self.options = options
        self.files: list[Path] = []
        self.dirs = _DirCache()
        self.missing: list[str] = []
        self._prefix = os.path.join(os.fspath(root), "")  # "<root>/": the fast path of `inside`

    def inside(self, path: _P, source: Path, where: str, column: str, value: str) -> _P:
        """``path`` (built from an annotation id), unchanged, if it stays inside the dataset folder; else an
        AnnotationError naming the file, the line and the id.

        The test is on the path as written (``..`` resolved lexically): an id with ``..`` or an absolute
        id never leads out of the root, while a symlink the user placed inside the root is followed (the
        user's choice). Paths under ``<root>/`` without ``..`` skip the normalisation (WebVid has 2.5M rows).
        """
        text = os.fspath(path)
        if text.startswith(self._prefix) and text.find("..", len(self._prefix)) < 0:
            return path
        root, resolved = os.path.abspath(self.root), os.path.abspath(text)
        if resolved == root or resolved.startswith(os.path.join(root, "")):
            return path
        raise AnnotationError(
            f"{source}: {where}: {column} {value!r} points outside the dataset folder {self.root} (to {resolved}). "
            f"Fix: ids must name files inside <data_root>/{self.spec.name}/; correct or remove this row."
        )

    def file(self, relative: str) -> Path:
        path = self.root / relative
        if not path.is_file():
            source = self.spec.sources.get(relative, self.spec.sources.get("*", "the official distribution"))
            raise AnnotationError(
                f"{self.spec.name}: annotation file not found: {path}\n"
                f"  expected at <data_root>/{self.spec.name}/{relative}"
                + (f" (data_root={self.root.parent})" if self.spec.name != "folder" else "")
                + f"\n  it comes from: {source}\n"
                f"  fix: extract that archive so the file is at the path above, or pass the right data_root."
            )
        self.files.append(path)
        return path

    def resolve_any_ext(self, key: str, directory: Path, stem: str, default_ext: str = ".mp4") -> Path:
        found = self.dirs.find_stem(directory, stem)
        if found is None:
            self.missing.append(key)
            return directory / f"{stem}{default_ext}"
        return found

    def resolve(self, key: str, path: Path) -> Path:
        if not self.dirs.exists(path):
            self.missing.append(key)
        return path

    def annotations(self, items: list[VideoItem], notes: str, **kwargs: Any) -> Annotations:
        if self.missing:
            notes += (
                f" {len(self.missing)} of {len(items)} video file(s) were not found under {self.root} when "
                "the annotations were loaded (listed in `missing`; run the doctor)."
            )
        return Annotations(
            name=self.spec.name, split=self.split, task=self.spec.task, items=items,
            annotation_files=list(self.files), notes=notes.strip(), missing=list(self.missing), **kwargs,
        )


# ----------------------------------------------------------------------------------------------------
# Parsers
# ----------------------------------------------------------------------------------------------------


def _parse_ucf101(ld: _Loader) -> Annotations:
    if ld.split in PEER_SPLITS:
        return _parse_peer_list(ld)
    class_file = ld.file("ucfTrainTestlist/classInd.txt")
    split_file = ld.file(ld.spec.splits[ld.split][1])

    folder_to_index: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for line_no, line in _text_lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1:
            raise AnnotationError(
                f"{class_file}: line {line_no}: {line!r} is not '<1-based id> <ClassFolder>' "
                "(e.g. '1 ApplyEyeMakeup'). Fix: use classInd.txt from UCF101TrainTestSplits-RecognitionTask.zip."
            )
        _check_unique(class_file, seen_ids, parts[0], line_no, "class id")
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
    for line_no, line in _text_lines(split_file):
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
        _check_unique(split_file, seen, stem, line_no, "video")
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


def _parse_mit(ld: _Loader) -> Annotations:
    categories_file = ld.file("moments_categories.txt")
    split_csv, video_dir = ld.spec.splits[ld.split][1], {"val": "validation", "train": "training"}[ld.split]
    split_file = ld.file(split_csv)

    categories: dict[str, int] = {}
    seen_index: dict[str, int] = {}
    for line_no, line in _text_lines(categories_file):
        name, sep, index = line.rpartition(",")
        if not sep or not name.strip() or not index.strip().isdigit():
            raise AnnotationError(
                f"{categories_file}: line {line_no}: {line!r} is not '<name>,<index>' (e.g. 'clapping,0'). "
                "Fix: use moments_categories.txt from the Moments in Time download."
            )
        name = name.strip()
        _check_unique(categories_file, seen_index, index.strip(), line_no, "class index")
        if name in categories:
            raise AnnotationError(f"{categories_file}: line {line_no}: duplicate category {name!r}.")
        categories[name] = int(index)
    indices = sorted(categories.values())
    if indices != list(range(len(indices))):
        raise AnnotationError(f"{categories_file}: class indices must run 0..{len(indices) - 1} without gaps.")
    classnames = sorted(categories, key=categories.__getitem__)

    rows = _read_csv(split_file, required=(), names=("path", "category", "agreement", "disagreement"),
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
        _check_unique(split_file, seen, relative, row.line, "video path")
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


def _parse_msrvtt(ld: _Loader) -> Annotations:
    source = ld.options.get("source", "jsfusion")
    video_dir = ld.root / "videos" / "all"
    items: list[VideoItem] = []
    if source == "jsfusion":
        path = ld.file("MSRVTT_JSFUSION_test.csv")
        rows = _read_csv(path, required=("key", "video_id", "sentence"), optional=("vid_key",))
        seen: dict[str, int] = {}
        for row in rows:
            _check_unique(path, seen, row["key"], row.line, "key")
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
        data = _read_json(json_path)
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
        for line_no, video_id in _text_lines(list_path):
            _check_unique(list_path, seen, video_id, line_no, "video id")
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


def _parse_youcook2(ld: _Loader) -> Annotations:
    path = ld.file("validation_youcook.csv")
    rows = _read_csv(path, required=("end", "start", "task", "text", "video_id"))
    items: list[VideoItem] = []
    occurrences: dict[str, int] = {}
    video_root = ld.root / "validation"
    for row in rows:
        start, end = _number(path, row, "start"), _number(path, row, "end")
        if start < 0 or end < start:
            raise AnnotationError(
                f"{path}: line {row.line}: clip window start={row['start']} end={row['end']} is invalid "
                "(need 0 <= start <= end, in seconds)."
            )
        video_id, task = row["video_id"], row["task"]  # task read as a string ("226", not 226.0)
        if not video_id or not task:
            raise AnnotationError(f"{path}: line {row.line}: empty video_id or task.")
        base = f"{video_id}_{_fmt_seconds(start)}_{_fmt_seconds(end)}"
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


def _parse_didemo(ld: _Loader) -> Annotations:
    path = ld.file(ld.spec.splits[ld.split][0])
    group_by = ld.options.get("group_by", "video")
    data = _read_json(path)
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


def _parse_webvid(ld: _Loader) -> Annotations:
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
    rows = _read_csv(path, required=("videoid", "name"), optional=("page_dir",))
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
        _check_unique(path, seen, videoid, row.line, "videoid")
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
# The three-split zero-shot lists of later peers (X-CLIP, ViFi-CLIP, Open-VCLIP, FROSTER, ...)
# ----------------------------------------------------------------------------------------------------

#: The three test splits of the peers' protocol (``split="1"``, ``"2"``, ``"3"``; ``"all"`` in the CLI = the three).
PEER_SPLITS: tuple[str, ...] = ("1", "2", "3")
#: Each dataset's list and label files per split, relative to ``<data_root>/<name>/``: the peers' files
#: (muzairkhattak/ViFi-CLIP ``datasets_splits/`` and ``labels/``) under the flat names
#: ``<folder>_<file>`` of ``shared/benchmarks/zero_shot_splits/``.
PEER_FILES: dict[str, dict[str, tuple[str, str]]] = {
    "ucf101": {k: (f"ucf_splits_val{k}.txt", "labels_ucf_101_labels.csv") for k in PEER_SPLITS},
    "hmdb51": {k: (f"hmdb_splits_val{k}.txt", "labels_hmdb_51_labels.csv") for k in PEER_SPLITS},
    "k600_zs": {k: (f"k600_splits_ZS_split{k}_K600_eval.txt", f"labels_ZS_split{k}_K600.csv") for k in PEER_SPLITS},
}
#: What the published lists hold (benchmarks README §8, counted from the files): classes per label file and
#: videos per split list.
#: ``fitclip doctor`` checks a list set against it when its label file has the published number of classes
#: (the toy world's smaller lists are not the published ones and are not held to these counts).
PUBLISHED_LISTS: dict[str, dict[str, Any]] = {
    "ucf101": {"classes": 101, "lines": {"1": 3783, "2": 3734, "3": 3696}},
    "hmdb51": {"classes": 51, "lines": {"1": 1530, "2": 1530, "3": 1530}},
    # 14,084 / 13,978 / 14,136 videos: the K600 lists end without a newline, so `wc -l` (and README §8's
    # table) counts one fewer.
    "k600_zs": {"classes": 160, "lines": {"1": 14084, "2": 13978, "3": 14136}, "names_over_splits": 217},
}
_PEER_SOURCE = ("the peers' split lists (github.com/muzairkhattak/ViFi-CLIP datasets_splits/ and labels/; flat "
                "copies in fitclip's shared/benchmarks/zero_shot_splits/)")


def read_class_csv(path: str | os.PathLike) -> list[str]:
    """The class names of a peers' label file (``id,name``; ids 0..n-1 in any order, no gaps, names unique).

    Raises:
        AnnotationError: a missing column, a non-integer or repeated id, a gap, an empty or repeated name.
    """
    path = Path(path)
    names: dict[int, str] = {}
    seen_ids: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for row in _read_csv(path, required=("id", "name")):
        if not row["id"].isdigit():
            raise AnnotationError(f"{path}: line {row.line}: id {row['id']!r} is not a class index (0, 1, ...).")
        _check_unique(path, seen_ids, row["id"], row.line, "id")
        if not row["name"]:
            raise AnnotationError(f"{path}: line {row.line}: class {row['id']} has an empty name.")
        _check_unique(path, seen_names, row["name"], row.line, "class name")
        names[int(row["id"])] = row["name"]
    return _in_id_order(path, names)


def _in_id_order(path: Path, by_id: dict[int, Any]) -> list[Any]:
    """The values of `by_id` in class-id order, or an AnnotationError when the ids do not run 0..n-1."""
    if sorted(by_id) != list(range(len(by_id))):
        gaps = sorted(set(range(max(by_id) + 1)) - set(by_id))[:5]
        raise AnnotationError(f"{path}: class ids must run 0..{len(by_id) - 1} without gaps; missing {gaps}.")
    return [by_id[i] for i in range(len(by_id))]


def _peer_video(ld: _Loader, relative: str, classname: str) -> Path:
    """Where a list line's video is: UCF101 ``UCF-101/<ClassFolder>/<file>`` (the folder is the label file's
    CamelCase name, so ``v_HandStandPushups_*`` lands in ``HandstandPushups/`` as in the official archive);
    HMDB51 ``videos/<file>`` or, as the official archive unpacks, ``videos/<class_name>/<file>``; K600
    ``videos/<path as listed>`` (``train/<id>_<start>_<end>.mp4``)."""
    name = ld.spec.name
    if name == "ucf101":
        return ld.root / "UCF-101" / classname / relative
    if name == "hmdb51":
        flat = ld.root / "videos" / relative
        nested = ld.root / "videos" / classname.replace(" ", "_") / relative
        return flat if ld.dirs.exists(flat) else nested  # a missing video is expected where the archive puts it
    return ld.root / "videos" / relative


def _parse_peer_list(ld: _Loader) -> Annotations:
    list_file, label_file = (ld.file(f) for f in PEER_FILES[ld.spec.name][ld.split])
    names = read_class_csv(label_file)
    items: list[VideoItem] = []
    seen: dict[str, int] = {}
    for line_no, line in _text_lines(list_file):
        parts = line.rsplit(None, 1)
        if len(parts) != 2 or not parts[1].isdigit():
            raise AnnotationError(
                f"{list_file}: line {line_no}: {line!r} is not '<video path> <class index>' "
                "(e.g. 'v_ApplyEyeMakeup_g01_c01.avi 0'). Fix: use the peers' list file unchanged."
            )
        relative, target = parts[0], int(parts[1])
        if target >= len(names):
            raise AnnotationError(
                f"{list_file}: line {line_no}: class index {target} is outside 0..{len(names) - 1} "
                f"({label_file.name} has {len(names)} classes). Fix: pair the list with its own label file."
            )
        _check_unique(list_file, seen, relative, line_no, "video")
        path = ld.inside(_peer_video(ld, relative, names[target]), list_file, f"line {line_no}", "video", relative)
        items.append(VideoItem(key=relative, video_id=Path(relative).stem, path=ld.resolve(relative, path),
                               target=target))
    classnames = [ucf101_class_name(n) if ld.spec.name == "ucf101" and " " not in n else n for n in names]
    notes = (
        f"{ld.spec.name} zero-shot split {ld.split} of the peers' protocol (X-CLIP, ViFi-CLIP, Open-VCLIP, "
        f"FROSTER, ...): {list_file.name}, all {len(items)} listed videos, {len(names)} classes from "
        f"{label_file.name} (index = the list's second column). Report mean ± std over splits 1-3. "
        + ("Class names: the label file's CamelCase split as FitCLIP splits UCF101's folders. "
           if ld.spec.name == "ucf101" else "Class names: the label file's, unchanged. ")
        + "Prompts: the 48 CLIP UCF101 action templates, class embedding = their mean."
    )
    return ld.annotations(items, notes, classnames=classnames, templates=list(UCF101_TEMPLATES))


# ----------------------------------------------------------------------------------------------------
# The folder corpus (its listing rules: fitclip.folders)
# ----------------------------------------------------------------------------------------------------


def _parse_folder(ld: _Loader) -> Annotations:
    listing = list_folder(ld.root, ld.options.get("recursive", True), ld.options.get("extensions"))
    if ld.options.get("classes") == "subfolders":
        if ld.options.get("captions") is not None:
            raise ValueError("folder: classes=subfolders (classification) and captions= (retrieval) are two "
                             "benchmarks; pass one of them")
        return _folder_classes(ld, listing)
    captions = ld.options.get("captions")
    if captions is not None and "path" in _csv_header(_captions_path(ld.root, captions)):
        return _folder_clips(ld, listing, _captions_path(ld.root, captions))
    return _folder_annotations(ld, listing)


def _captions_path(root: Path, option: str | os.PathLike) -> Path:
    path = Path(option)
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise AnnotationError(f"folder: captions file {path} not found. Fix: pass captions=<CSV file> (relative to the "
                              "folder or absolute).")
    return path


def _csv_header(path: Path) -> list[str]:
    return [h.strip() for h in next(csv.reader(io.StringIO(_decode(path), newline="")), [])]


def folder_class_name(folder: str) -> str:
    """A class folder's prompt name: ``_`` and ``-`` become spaces (``playing_guitar`` -> ``playing guitar``)."""
    return " ".join(folder.replace("_", " ").replace("-", " ").split())


def _folder_classes(ld: _Loader, listing: FolderListing) -> Annotations:
    """``classes=subfolders``: ``<root>/<class folder>/<video>`` (any depth below the class folder); the classes are
    the sub-folders holding a video, sorted by name; a video directly in the root has no class and is an error."""
    loose = [k for k in listing.keys if "/" not in k]
    if loose:
        raise AnnotationError(f"folder {escape_name(ld.root)}: classes=subfolders, but {len(loose)} video(s) lie directly "
                              f"in the folder, in no class folder (e.g. {loose[:3]}). Fix: move each into "
                              "<folder>/<class name>/, or drop classes=subfolders.")
    if not listing.videos:
        raise AnnotationError(f"folder: no video files ({', '.join(listing.extensions)}) under {escape_name(ld.root)}.")
    folders = sorted({k.split("/", 1)[0] for k in listing.keys})
    index = {f: i for i, f in enumerate(folders)}
    items = [VideoItem(key=k, video_id=k.rsplit(".", 1)[0], path=p, target=index[k.split("/", 1)[0]])
             for k, p in zip(listing.keys, listing.videos)]
    notes = (f"Folder classification benchmark {ld.root}: {len(items)} videos in {len(folders)} class folders "
             "(sorted by name; class name = folder name with _ and - as spaces); the raw class name is the prompt "
             "(pass templates=FILE or classnames=FILE to change it).")
    annotations = ld.annotations(items, notes, classnames=[folder_class_name(f) for f in folders], templates=None)
    annotations.task = "classification"
    return annotations


def _folder_clips(ld: _Loader, listing: FolderListing, captions_path: Path) -> Annotations:
    """``captions=FILE`` with the columns ``path,caption`` (optional ``start,end`` seconds): one retrieval item per
    row, its video at ``<root>/<path>``. Every problem of the file is named at once (an empty caption, a duplicate
    path and window, a bad time), before any video is opened; missing videos are the doctor's to list."""
    ld.files.append(captions_path)
    header = _csv_header(captions_path)
    if "caption" not in header:
        raise AnnotationError(f"{captions_path}: line 1: a captions file with a 'path' column needs a 'caption' "
                              f"column too; the header has {header}.")
    timed = "start" in header or "end" in header
    problems: list[str] = []
    items: list[VideoItem] = []
    seen: dict[tuple, int] = {}
    for row in _read_csv(captions_path, required=("path", "caption"), optional=("start", "end")):
        relative, caption = row["path"], row["caption"]
        if not relative:
            problems.append(f"line {row.line}: an empty path")
            continue
        if not caption:
            problems.append(f"line {row.line}: {relative}: an empty caption")
        start = end = None
        if timed:
            try:
                start = float(row.get("start") or 0.0)
                end = float(row["end"]) if row.get("end") else None
            except ValueError:
                problems.append(f"line {row.line}: {relative}: start/end {row.get('start')!r}, {row.get('end')!r} "
                                "are not seconds")
                continue
            if start < 0 or (end is not None and end <= start):
                problems.append(f"line {row.line}: {relative}: the window [{start:g}, {end}] is empty or negative")
        key = (relative, start, end)
        if key in seen:
            problems.append(f"line {row.line}: {relative}" + (f" [{start:g}, {end}]" if timed else "")
                            + f" duplicates line {seen[key]}")
            continue
        seen[key] = row.line
        path = ld.inside(ld.root / relative, captions_path, f"line {row.line}", "path", relative)
        item_key = relative if not timed else f"{relative}@{start:g}-{'end' if end is None else f'{end:g}'}"
        items.append(VideoItem(key=item_key, video_id=relative.rsplit(".", 1)[0], path=ld.resolve(item_key, path),
                               text=caption, start=start, end=end))
    if problems:
        raise AnnotationError(f"{captions_path}: {len(problems)} problem(s), fix each:\n  " + "\n  ".join(problems))
    notes = (f"Folder retrieval benchmark {ld.root}: {len(items)} captions from {captions_path.name} (path,caption"
             + (",start,end: each row a clip of its video" if timed else "") + "); text->video over those items.")
    annotations = ld.annotations(items, notes)
    annotations.task = "retrieval"
    return annotations


def folder_corpus(listing: FolderListing) -> Annotations:
    """The ``folder`` corpus of a :func:`fitclip.folders.list_folder` listing, without captions (what
    ``fitclip.search`` searches).

    Raises:
        AnnotationError: no video file (the message counts the other entries).
    """
    ld = _Loader(SPECS["folder"], listing.root, "all", {"recursive": listing.recursive,
                                                         "extensions": list(listing.extensions)})
    return _folder_annotations(ld, listing, read_captions=False)


def _folder_annotations(ld: _Loader, listing: FolderListing, read_captions: bool = True) -> Annotations:
    """The corpus of a listing's videos; captions from ``captions=`` or ``<root>/captions.csv`` (`read_captions`)."""
    root, videos, recursive = listing.root, listing.videos, listing.recursive
    captions_option = ld.options.get("captions")
    captions: dict[str, str] = {}
    captions_path: Path | None = None
    if read_captions and captions_option is not None:
        captions_path = _captions_path(root, captions_option)
    elif read_captions and (root / "captions.csv").is_file():
        captions_path = root / "captions.csv"
    if captions_path is not None:
        ld.files.append(captions_path)
        text = _decode(captions_path)
        header = next(csv.reader(io.StringIO(text, newline="")), [])
        header = [h.strip() for h in header]
        if "video_id" in header and "caption" in header:
            id_col, text_col = "video_id", "caption"
        elif "videoid" in header and "name" in header:
            id_col, text_col = "videoid", "name"
        else:
            raise AnnotationError(
                f"{captions_path}: line 1: expected columns 'video_id,caption' or 'videoid,name', "
                f"the header has {header}."
            )
        seen: dict[str, int] = {}
        for row in _read_csv(captions_path, required=(id_col, text_col)):
            _check_unique(captions_path, seen, row[id_col], row.line, id_col)
            captions[row[id_col]] = row[text_col]
    by_stem: dict[str, list[Path]] = {}
    for p in videos:
        by_stem.setdefault(p.stem, []).append(p)
    items: list[VideoItem] = []
    used: set[str] = set()
    for relative, p in zip(listing.keys, videos):
        video_id = relative.rsplit(".", 1)[0]
        caption = None
        for candidate in (video_id, relative, p.stem if len(by_stem[p.stem]) == 1 else None):
            if candidate is not None and candidate in captions:
                caption = captions[candidate]
                used.add(candidate)
                break
        items.append(VideoItem(key=relative, video_id=video_id, path=p, text=caption))
    if not items:
        others = [f"{n} {what}" for n, what in ((len(listing.ignored), "other file(s), none with a video extension"),
                                                (len(listing.left_out), "entries left out: links, special files, "
                                                 "names that are not UTF-8 (fitclip.folders.list_folder)"))
                  if n]
        raise AnnotationError(
            f"folder: no video files ({', '.join(listing.extensions)}) under {escape_name(root)}"
            + (" (recursive)" if recursive else "") + (f"; {'; '.join(others)}" if others else "") + "."
        )
    n_captioned = sum(item.text is not None for item in items)
    left_out = f"{len(listing.left_out)} entries left out (links are never followed; special files, names that " \
               "are not UTF-8: fitclip.folders.list_folder). " if listing.left_out else ""
    notes = (
        f"Folder corpus {root}: {len(items)} video files ({'recursive' if recursive else 'top level'}, "
        f"sorted by relative path), key = relative path. {left_out}"
        + (f"Captions from {captions_path.name}: {n_captioned} videos captioned, "
           f"{len(items) - n_captioned} without (text=None), {len(set(captions) - used)} caption rows "
           "matched no video." if captions_path is not None else "No captions file: every text is None.")
    )
    annotations = ld.annotations(items, notes)
    annotations.task = "retrieval" if n_captioned == len(items) else "unlabeled"
    return annotations


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
                 **{f: _PEER_SOURCE for files in PEER_FILES["ucf101"].values() for f in files},
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
        parse=_parse_folder,
        sources={"*": "your own folder"},
        options={"captions": None, "recursive": (True, False), "extensions": None, "classes": ("subfolders",)},
        description="any folder of videos: unlabeled, or a retrieval benchmark with captions=CSV (path,caption"
                    "[,start,end], or video_id,caption), or a classification benchmark with classes=subfolders",
    ),
    "hmdb51": DatasetSpec(
        name="hmdb51", task="classification", default_split="all",
        splits=dict(PEER_FILES["hmdb51"]),
        video_layout="videos/<file>.avi or videos/<class_name>/<file>.avi",
        parse=_parse_peer_list,
        sources={"*": _PEER_SOURCE + "; videos: hmdb51_org.rar (serre-lab.clps.brown.edu)"},
        description="the peers' three test splits, 1,530 videos and 51 classes each; mean ± std over splits",
        split_groups={"all": PEER_SPLITS},
    ),
    "k600_zs": DatasetSpec(
        name="k600_zs", task="classification", default_split="all",
        splits=dict(PEER_FILES["k600_zs"]),
        video_layout="videos/<path as listed, e.g. train/<id>_<start>_<end>.mp4>",
        parse=_parse_peer_list,
        sources={"*": _PEER_SOURCE + "; videos: Kinetics-600 (cvdfoundation/kinetics-dataset)"},
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
        for row in _read_csv(path, required=("id", "name")):
            if not row["id"].isdigit() or not row["name"]:
                raise AnnotationError(f"{path}: line {row.line}: expected '<class index>,<name>', got "
                                      f"{row['id']!r},{row['name']!r}.")
            by_id.setdefault(int(row["id"]), []).append(row["name"])
        names = _in_id_order(path, by_id)
    else:
        names = []
        for line_no, line in _text_lines(path):
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
    lines = _text_lines(path)
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
    annotations = spec.parse(_Loader(spec, root, split, {k: v for k, v in options.items() if k not in generic}))
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
