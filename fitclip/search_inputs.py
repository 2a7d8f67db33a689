"""The inputs of :mod:`fitclip.search`, checked before any model is loaded: labels and template sets, queries,
the folder's videos (and what else it holds, counted by extension), the output folder (a previous search's
files only are ever replaced) and the lines that list skipped files."""


from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from fitclip.annotations import Annotations
from fitclip.files import check_writable
from fitclip.folders import escape_name, is_utf8, list_folder
from fitclip.prompts import UCF101_TEMPLATES

if TYPE_CHECKING:
    from fitclip.search import SearchResult
#: Named template sets for labels: the 48 UCF101 ones (default), or none (the label itself is the prompt).
TEMPLATE_SETS: dict[str, tuple[str, ...] | None] = {"ucf101": UCF101_TEMPLATES, "none": None}
#: Every file a run may write in its ``out_dir``, ``protocol.json`` last (the previous run's are replaced whole).
OUTPUT_FILES = ("ranking.csv", "ranking.jsonl", "labels.csv", "labels.jsonl", "movers.csv", "skipped.csv",
                "gallery.png", "gallery.html", "protocol.json")


# ----------------------------------------------------------------------------------------------------
# Inputs: labels, templates, the folder
# ----------------------------------------------------------------------------------------------------


def parse_labels(text: str | None = None, file: str | os.PathLike | None = None) -> list[str]:
    """Labels from a comma-separated string (``"dancing, cooking"``) or a file (one per line; blank lines
    and lines starting with ``#`` skipped). Repeated labels are an error."""
    if file is not None:
        path = Path(file).expanduser()
        if not path.is_file():
            raise ValueError(f"labels file {escape_name(path)!r} does not exist; give a text file with one label "
                             "per line")
        labels = _read_lines(path, "labels file")
        where = f"labels file {escape_name(path)}"
    else:
        labels = [label.strip() for label in (text or "").split(",") if label.strip()]
        where = "--labels"
        check_queries(labels, "--labels")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"{where}: repeated label(s) {repeated}; give each label once")
    if (text is not None or file is not None) and not labels:
        raise ValueError(f"{where} holds no label; e.g. --labels \"dancing,cooking\"")
    return labels


def resolve_templates(templates: str | os.PathLike | Sequence[str] | None = "ucf101") -> tuple[str, ...] | None:
    """Prompt templates for labels: ``"ucf101"`` (default), ``"none"``/``None`` (the label is the prompt), a
    file with one template per line, or a list; each template holds ``{}`` once, where the label goes."""
    if templates is None:
        return None
    if isinstance(templates, (str, os.PathLike)):
        name = str(templates)
        if name.lower() in TEMPLATE_SETS:
            return TEMPLATE_SETS[name.lower()]
        path = Path(name).expanduser()
        if not path.is_file():
            raise ValueError(f"templates {escape_name(name)!r}: not one of {', '.join(TEMPLATE_SETS)} nor a file of "
                             "templates (one per line, e.g. 'a video of {}.')")
        templates = _read_lines(path, "templates file")
    out = tuple(templates)
    if not out:
        raise ValueError("no templates given; use 'ucf101', 'none' or templates such as 'a video of {}.'")
    bad = [t for t in out if t.count("{}") != 1]
    if bad:
        raise ValueError(f"each template must hold '{{}}' exactly once (where the label goes), e.g. "
                         f"'a video of {{}}.'; got {bad[:3]}")
    return out


def _read_lines(path: Path, what: str) -> list[str]:
    """The non-blank lines of a small text file that are not ``#`` comments (UTF-8, BOM and CRLF tolerant);
    a ValueError naming the file when it cannot be read or is not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{what} {escape_name(path)}: cannot read it ({e.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(f"{what} {escape_name(path)}: line {line} is not valid UTF-8 (byte {e.start}: "
                         f"{data[e.start:e.start + 1]!r}); re-save the file as UTF-8") from None
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def check_queries(texts: Sequence[str], what: str = "--queries") -> list[str]:
    """`texts` as a list, refused when one is empty or not valid UTF-8 (an argument in another encoding:
    Python keeps its bytes as surrogates, which no output file can hold)."""
    texts = [str(t) for t in texts]
    if any(not t.strip() for t in texts):
        raise ValueError(f"{what}: an empty one; each needs some text")
    bad = [t for t in texts if not is_utf8(t)]  # argv in another encoding: lone surrogates
    if bad:
        raise ValueError(f"{what}: {escape_name(bad[0])!r} is not valid UTF-8 text; give it in UTF-8")
    return texts


def find_videos(folder: str | os.PathLike, recursive: bool = True,
                extensions: Sequence[str] | None = None) -> tuple[Annotations, list[dict[str, str]]]:
    """The folder's videos (the ``folder`` corpus's listing, :func:`fitclip.folders.list_folder`) and the
    entries not searched.

    Returns:
        (the annotations: one item per video file, key = its path relative to `folder`; the entries left
        out then the files ignored, ``[{"key", "path", "reason", "stage": "listing" | "ignored", ...}]``,
        each sorted by key).

    Raises:
        ValueError: `folder` is not a directory, or holds no video file (the message counts the others).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"videos folder {escape_name(folder)!r} is not a directory; pass the folder that holds "
                         "your videos")
    listing = list_folder(folder, recursive=recursive, extensions=extensions)
    return listing.annotations(), listing.left_out + listing.ignored


def ignored_by_extension(skipped: pd.DataFrame | Sequence[Mapping[str, str]], top: int = 10) -> dict[str, int]:
    """The ignored (non-video) files counted by extension, most common first; past the `top` extensions the
    rest are counted as ``"other"``."""
    records = skipped.to_dict(orient="records") if isinstance(skipped, pd.DataFrame) else skipped
    counts = Counter(os.path.splitext(r["key"])[1].lower() or "(none)" for r in records
                     if r["stage"] == "ignored").most_common()
    out = dict(counts[:top])
    if len(counts) > top:
        out["other"] = sum(n for _, n in counts[top:])
    return out


def _count_by_extension(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {escape_name(ext)}" for ext, n in counts.items())


def skipped_lines(result: "SearchResult", limit: int = 20) -> list[str]:
    """What the command line prints about the files not searched, escaped (:func:`escape_name`): one line per
    unreadable or left-out file up to `limit`, then one line counting the ignored files by extension."""
    skipped = result.skipped
    listed = skipped[skipped["stage"] != "ignored"]
    lines = [f"skipped {escape_name(r.key)} ({r.stage}): {escape_name(r.reason)}"
             for r in listed.iloc[:limit].itertuples()]
    if len(listed) > limit:
        lines.append(f"... and {len(listed) - limit} more unreadable or left-out file(s), all in skipped.csv")
    n_ignored = len(skipped) - len(listed)
    if n_ignored:
        lines.append(f"ignored {n_ignored} non-video file(s): {_count_by_extension(ignored_by_extension(skipped))} "
                     "(listed in skipped.csv)")
    return lines


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """Refuse, before any model loads or any video decodes, an `out_dir` a run cannot replace its files in.

    Returns:
        the folder.

    Raises:
        ValueError: `out_dir` is a file; or it holds a file named like an output (:data:`OUTPUT_FILES`) that
            is not a regular file, or such files with no search ``protocol.json`` beside them (not an earlier
            search run's: a user's own files are never replaced).
        OSError: `out_dir` cannot be written (:func:`fitclip.files.check_writable`'s one-line wording).
    """
    out = Path(out_dir).expanduser()
    shown = escape_name(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{shown} is a file, not a folder; give a folder for the search's files")
    if out.is_dir():
        present = [name for name in OUTPUT_FILES if os.path.lexists(out / name)]
        odd = [name for name in present if (out / name).is_symlink() or not (out / name).is_file()]
        if odd:
            raise ValueError(f"{shown}: {odd[0]} there is not a regular file, so no earlier search wrote it; move it "
                             "or choose another folder")
        if present and not _is_search_record(out / "protocol.json"):
            raise ValueError(f"{shown} holds {', '.join(present[:3])}{' ...' if len(present) > 3 else ''} but no "
                             "search protocol.json: not an earlier search run's files, and a search replaces its "
                             "files; move them or choose another folder")
    check_writable(out, "folder")
    return out


def _is_search_record(path: Path) -> bool:
    """Whether `path` is a regular file holding a search's protocol record (never opens anything else)."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 64 << 20:
            return False
        record = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("record") == "search-protocol"


# ----------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------


