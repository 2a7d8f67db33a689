"""The annotation readers' types and machinery, shared by every format of :mod:`fitclip.annotations`.

:class:`VideoItem`, :class:`Annotations` and :class:`DatasetSpec` are what a reader returns and how a format is
described; :class:`AnnotationError` is its one kind of error. The machinery gives those errors their file, line and
column: text files decoded BOM- and CRLF-tolerant (:func:`decode_text`, :func:`text_lines`, :func:`read_json`), CSV
rows checked against required and optional columns (:func:`read_csv`), numbers and duplicate keys (:func:`csv_number`,
:func:`check_unique`), a cached look-up of a folder's files (:class:`DirCache`) and the :class:`Loader` every parser
receives (its spec, folder, split and options; :meth:`Loader.inside` keeps every path from an annotation file inside
the dataset's folder). The formats themselves are :mod:`fitclip.annotations`, :mod:`fitclip.peer_lists` and
:mod:`fitclip.folder_datasets`.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fitclip.folders import VIDEO_EXTENSIONS
from fitclip.prompts import format_prompts

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
    parse: Callable[[Loader], Annotations]
    sources: Mapping[str, str]
    options: Mapping[str, tuple[Any, ...] | None] = field(default_factory=dict)
    description: str = ""
    split_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------
# File reading helpers (clear errors, BOM and CRLF tolerant)
# ----------------------------------------------------------------------------------------------------


def decode_text(path: Path) -> str:
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


def text_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, stripped line) for every non-blank line; CRLF/CR/BOM tolerant."""
    text = decode_text(path)
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_json(path: Path) -> Any:
    text = decode_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(
            f"{path}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg}). "
            "Fix: re-extract the file from the official archive; it is probably truncated or edited."
        ) from None


@dataclass
class CsvRow:
    line: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values[column]

    def get(self, column: str, default: str | None = None) -> str | None:
        return self.values.get(column, default)


def read_csv(
    path: Path,
    required: Sequence[str],
    optional: Sequence[str] = (),
    names: Sequence[str] | None = None,
    min_fields: int | None = None,
) -> list[CsvRow]:
    """Read a CSV with the stdlib parser (RFC 4180 quoting, doubled quotes, CRLF, BOM).

    With ``names`` the file has no header row and its columns are ``names`` (at least ``min_fields``
    of them per row). Otherwise the first row is the header and must contain every ``required``
    column; other columns are ignored. Values are kept as strings (ids keep leading zeros).
    """
    text = decode_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[CsvRow] = []
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
                rows.append(CsvRow(reader.line_num, {c: row[i].strip() for c, i in wanted.items()}))
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
                rows.append(CsvRow(reader.line_num, {c: v.strip() for c, v in zip(names, row)}))
    except csv.Error as e:
        raise AnnotationError(f"{path}: line {reader.line_num}: malformed CSV ({e}).") from None
    if not rows:
        raise AnnotationError(f"{path} has a header but no rows. Fix: re-extract it from the official archive.")
    return rows


def csv_number(path: Path, row: CsvRow, column: str) -> float:
    value = row[column]
    try:
        return float(value)
    except ValueError:
        raise AnnotationError(
            f"{path}: line {row.line}, column {column!r}: {value!r} is not a number of seconds."
        ) from None


def fmt_seconds(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def check_unique(path: Path, seen: dict[str, int], key: str, line: int, what: str) -> None:
    if key in seen:
        raise AnnotationError(
            f"{path}: line {line}: duplicate {what} {key!r} (first seen at line {seen[key]}). "
            "Fix: remove the duplicated row; the official file has each id once."
        )
    seen[key] = line


class DirCache:
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


class Loader:
    """What a parse function gets: the spec, the dataset folder, the split and the options."""

    def __init__(self, spec: DatasetSpec, root: Path, split: str, options: dict[str, Any]) -> None:
        self.spec = spec
        self.root = root
        self.split = split
        self.options = options
        self.files: list[Path] = []
        self.dirs = DirCache()
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


