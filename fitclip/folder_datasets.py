"""Your own folder of videos as a dataset (``load_annotations("folder", DIR, ...)``): a corpus (optional captions),
a text→video retrieval benchmark (``captions=FILE`` of ``path,caption[,start,end]``) or a classification benchmark
(``classes=subfolders``). Which files are videos, and how the folder is listed, is :mod:`fitclip.folders`.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from fitclip.folders import FolderListing, escape_name, list_folder
from fitclip.readers import AnnotationError, Annotations, Loader, VideoItem, check_unique, decode_text, read_csv

# ----------------------------------------------------------------------------------------------------
# The folder corpus (its listing rules: fitclip.folders)
# ----------------------------------------------------------------------------------------------------


def parse_folder(ld: Loader) -> Annotations:
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
    return [h.strip() for h in next(csv.reader(io.StringIO(decode_text(path), newline="")), [])]


def folder_class_name(folder: str) -> str:
    """A class folder's prompt name: ``_`` and ``-`` become spaces (``playing_guitar`` -> ``playing guitar``)."""
    return " ".join(folder.replace("_", " ").replace("-", " ").split())


def _folder_classes(ld: Loader, listing: FolderListing) -> Annotations:
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


def _folder_clips(ld: Loader, listing: FolderListing, captions_path: Path) -> Annotations:
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
    for row in read_csv(captions_path, required=("path", "caption"), optional=("start", "end")):
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
    from fitclip.annotations import SPECS  # the table of every format, this one's row included

    ld = Loader(SPECS["folder"], listing.root, "all", {"recursive": listing.recursive,
                                                         "extensions": list(listing.extensions)})
    return _folder_annotations(ld, listing, read_captions=False)


def _folder_annotations(ld: Loader, listing: FolderListing, read_captions: bool = True) -> Annotations:
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
        text = decode_text(captions_path)
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
        for row in read_csv(captions_path, required=(id_col, text_col)):
            check_unique(captions_path, seen, row[id_col], row.line, id_col)
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


