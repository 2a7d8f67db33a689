"""A user's folder of videos, listed as it really is: which files are videos, which entries are left out and
why, and names made safe to print (:func:`escape_name`). The ``folder`` corpus of :mod:`fitclip.annotations`
and ``fitclip search`` list folders with :func:`list_folder`, so both follow the same rules (in its docstring):
nothing is opened while listing, symbolic links are never followed, special files and names that are not
UTF-8 are listed as left out with the reason.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["VIDEO_EXTENSIONS", "FolderListing", "escape_name", "is_utf8", "list_folder"]

#: Extensions recognised as video files (``folder`` corpus, and preferred by "<any ext>" look-ups).
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
    ".3gp", ".3g2", ".mts", ".m2ts", ".ts", ".ogv", ".vob",
)


def escape_name(text: str | os.PathLike) -> str:
    """A file name (or any text) safe to print, write as UTF-8 and show: bytes that are not UTF-8 (kept by
    Python as surrogate escapes) become ``\\xNN`` and characters that are not printable (terminal escape
    sequences, newlines, tabs, bidi overrides) their ``\\xNN`` / ``\\uNNNN`` escapes; everything else, any
    script included, is unchanged. A name from a folder can then never drive the terminal (clear the screen,
    set the window title) nor break a CSV or UTF-8 writer."""
    text = os.fspath(text)
    if text.isprintable():
        return text
    return "".join(f"\\x{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff"
                   else ch.encode("unicode_escape").decode("ascii") if not ch.isprintable() else ch for ch in text)


def is_utf8(name: str) -> bool:
    """Whether a name read from the file system is valid UTF-8 (Python keeps other bytes as lone surrogates,
    which the UTF-8 writers and decord refuse)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utf8_name(name: str) -> str:
    """`name` as recorded in the listing: unchanged when it is UTF-8, else :func:`escape_name`'s form."""
    return name if is_utf8(name) else escape_name(name)


_SPECIAL_FILES = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                  (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    return next((what for test, what in _SPECIAL_FILES if test(mode)), "a special file")


@dataclass
class FolderListing:
    """What :func:`list_folder` found in a folder, without opening any file.

    Attributes:
        root: the folder.
        recursive, extensions: the rules it was listed with.
        videos: the video files, sorted by key.
        keys: their keys (the path relative to `root`, ``/``-separated).
        left_out: ``[{"key", "path", "reason", "stage": "listing", "cause"}]``: entries not searched for a
            reason other than their extension (``cause``: ``link``, ``special``, ``folder``, ``name``,
            ``unlistable``); names that are not UTF-8 are shown escaped (:func:`escape_name`).
        ignored: ``[{"key", "path", "reason", "stage": "ignored", "extension"}]``: the other regular files.
    """

    root: Path
    recursive: bool
    extensions: tuple[str, ...]
    videos: list[Path] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    left_out: list[dict[str, str]] = field(default_factory=list)
    ignored: list[dict[str, str]] = field(default_factory=list)

    def annotations(self) -> Any:
        """The ``folder`` corpus of these videos, without captions (what ``fitclip.search`` searches):
        :func:`fitclip.annotations.folder_corpus`.

        Raises:
            fitclip.annotations.AnnotationError: no video file (the message counts the other entries).
        """
        from fitclip.annotations import folder_corpus  # the corpus builds on this module's listing

        return folder_corpus(self)


def list_folder(root: str | os.PathLike, recursive: bool = True,
                extensions: Sequence[str] | None = None) -> FolderListing:
    """The ``folder`` corpus's listing rules (``fitclip.search`` lists with the same function).

    * **Videos**: regular files (not links) whose extension (any case) is one of `extensions` (default
      ``VIDEO_EXTENSIONS``), at any depth (`recursive`) or the top level, sorted by relative path.
    * **Hidden** entries (a name starting with ``.``, and everything under a hidden folder) are skipped silently.
    * **Symbolic links are never followed**, to files or to folders, wherever they point: a link is listed as
      left out (cause ``link``) with what it points to (a file, a folder, nothing). So the corpus is exactly the
      files inside the folder; a link never brings in a file from elsewhere (a gallery never shows one), never
      counts a video twice and never loops. To search linked videos, search the folder they are in.
    * **Left out, with the reason** (never opened: the listing only reads directory entries and ``lstat``,
      so a FIFO cannot block it and ``/dev/zero`` is never read): FIFOs, sockets and devices; a folder named
      like a video (``x.mp4/``; its files are listed like any folder's); a video whose name is not valid UTF-8
      (the decoders cannot open it; it is listed with ``\\xNN`` escapes: rename it); a sub-folder whose name is
      not UTF-8 or that cannot be read (its files are not listed).
    * **Ignored**: every other regular file (its extension is not a video one).

    Raises:
        AnnotationError: `root` is not a readable folder, or its path is not valid UTF-8.
    """
    from fitclip.annotations import AnnotationError  # the folder corpus's error (that module imports this one)

    root = Path(root).expanduser()
    exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in (extensions or VIDEO_EXTENSIONS))
    if not root.is_dir():
        raise AnnotationError(f"folder: {escape_name(root)} is not a directory. Pass data_root=<folder of videos>.")
    if not is_utf8(os.fspath(root)):
        raise AnnotationError(f"folder: the path {escape_name(root)} is not valid UTF-8, so the video decoders "
                              "cannot open files in it; rename the folder")
    listing = FolderListing(root, bool(recursive), exts)
    videos: list[tuple[str, Path]] = []

    def leave_out(key: str, path: str, cause: str, reason: str) -> None:
        listing.left_out.append({"key": _utf8_name(key), "path": _utf8_name(path), "reason": reason,
                                 "stage": "listing", "cause": cause})

    folders = [(os.fspath(root), "")]
    while folders:
        directory, prefix = folders.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as e:
            if not prefix:
                raise AnnotationError(f"folder: cannot list {escape_name(root)} ({e.strerror}).") from None
            leave_out(prefix.rstrip("/"), directory, "unlistable",
                      f"a folder that cannot be listed ({e.strerror}): its files are not searched")
            continue
        for entry in entries:
            name, key = entry.name, prefix + entry.name
            if name.startswith("."):
                continue
            ext = os.path.splitext(name)[1].lower()
            try:
                if entry.is_symlink():
                    try:
                        target = _kind(os.stat(entry.path).st_mode)  # stat follows the link; nothing is opened
                    except OSError as e:
                        target = "nothing (dangling)" if isinstance(e, FileNotFoundError) else f"? ({e.strerror})"
                    leave_out(key, entry.path, "link", f"a symbolic link to {target}; links are never followed "
                              "(only files inside the folder are searched): search the folder it points into, "
                              "or copy the file here")
                elif entry.is_dir(follow_symlinks=False):
                    if not is_utf8(name):
                        leave_out(key, entry.path, "name", "a folder whose name is not valid UTF-8: its files are "
                                  "not searched; rename it")
                        continue
                    if ext in exts:
                        leave_out(key, entry.path, "folder", "a folder, not a video file"
                                  + (" (its files are listed like any folder's)" if recursive
                                     else " (not searched: top level only)"))
                    if recursive:
                        folders.append((entry.path, key + "/"))
                elif entry.is_file(follow_symlinks=False):
                    if ext not in exts:
                        listing.ignored.append({
                            "key": _utf8_name(key), "path": _utf8_name(entry.path), "stage": "ignored",
                            "reason": f"not a video file (extension {escape_name(ext) or '(none)'})",
                            "extension": escape_name(ext) or "(none)"})
                    elif not is_utf8(name):
                        leave_out(key, entry.path, "name", "a video whose file name is not valid UTF-8 (shown with "
                                  "\\x escapes): the decoders cannot open it; rename it to search it")
                    else:
                        videos.append((key, Path(entry.path)))
                else:
                    leave_out(key, entry.path, "special",
                              f"{_kind(entry.stat(follow_symlinks=False).st_mode)}, not a regular file: never opened")
            except OSError as e:  # the entry vanished or cannot be lstat'ed
                leave_out(key, entry.path, "unlistable", f"cannot be examined ({e.strerror})")
    videos.sort(key=lambda kv: kv[0])
    listing.keys = [k for k, _ in videos]
    listing.videos = [p for _, p in videos]
    listing.left_out.sort(key=lambda r: r["key"])
    listing.ignored.sort(key=lambda r: r["key"])
    return listing
