"""The project's file writing: checkpoints (state dicts only, never pickled modules, read with
`weights_only=True`), text, JSON, CSV and JSON-lines files, every one written atomically (a temp file in the
same folder, fsynced, then renamed), so a crash or a full disk never leaves half a file.

A write that fails for a reason the user can fix (a full disk, a read-only place, no permission) raises an
``OSError`` whose ``strerror`` says so in one line, names the file and says that nothing was replaced
(:func:`write_failure`); :func:`check_writable` asks the same question of a destination BEFORE any heavy work.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import pickle
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch


class CheckpointDamaged(ValueError):
    """A checkpoint file exists but cannot be read: truncated (a copy or a disk that filled up) or corrupt.
    ``detail``: the loader's error in a few words."""

    detail: str = ""


class PickledCheckpoint(ValueError):
    """A file that holds pickled Python objects, which ``weights_only=True`` refuses on purpose. ``detail``:
    the refused global's name (e.g. ``argparse.Namespace``)."""

    detail: str = ""


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


class WriteFailed(OSError):
    """A write that failed (:func:`write_failure`): an ``OSError`` with the original errno whose ``strerror`` is
    the whole one-line message; ``what`` is its first part ("cannot write X: the disk is full (…)") and
    ``fix`` the advice, for callers that give their own advice after ``what``."""

    what: str = ""
    fix: str = ""


def write_failure(error: OSError, path: str | os.PathLike) -> WriteFailed:
    """The ``OSError`` to raise when writing `path` failed: same errno, a one-line ``strerror`` that says what
    happened in words the user can act on (a full disk says how much is free there), that the previous file
    is unchanged, and the file's name as ``filename`` (a :class:`WriteFailed`; one already is returned as it
    is)."""
    if isinstance(error, WriteFailed):
        return error
    path = Path(path)
    code = error.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = f"{_human(shutil.disk_usage(path.parent).free)} free there"
        except OSError:
            free = "free space unknown"
        reason = f"the disk is full (no space left on the device of {path.parent}; {free})"
        fix = "free some space, then run the same command again"
    elif code == errno.EROFS:
        reason, fix = f"{path.parent} is on a read-only file system", "choose a writable place"
    elif code in (errno.EACCES, errno.EPERM):
        reason, fix = f"permission denied in {path.parent}", "fix its permissions or choose another place"
    elif code == errno.EISDIR:
        reason, fix = f"{path} is a directory", "give a file name"
    elif code == errno.ENOTDIR:
        reason, fix = f"a part of {path.parent} is a file, not a folder", "choose another place"
    else:
        reason, fix = error.strerror or str(error), "check the destination"
    failed = WriteFailed(code, f"cannot write {path}: {reason}; nothing was replaced — {fix}", str(path))
    failed.what, failed.fix = f"cannot write {path}: {reason}", fix
    return failed


class _RecordingWriter:
    """A binary file that remembers the OSError of a failed write: ``torch.save`` turns it into a bare
    "unexpected pos" RuntimeError, and this lets :func:`save_state` say what really happened."""

    def __init__(self, f: Any) -> None:
        self.f, self.error = f, None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


@contextlib.contextmanager
def _temp_beside(path: Path) -> Iterator[Path]:
    """A temp file name unique to this write in `path`'s folder (created on demand); removed unless renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def save_state(obj: dict[str, Any], path: str | os.PathLike) -> Path:
    """`torch.save` to a temp file in the same folder, fsync, then rename: a crash or a full disk never
    leaves half a file, and the previous file at `path` stays whole until the new one is complete.

    Args:
        obj: a dict of tensors / plain Python values (what `weights_only=True` can read back).
        path: destination.

    Raises:
        OSError: the write failed (:func:`write_failure`: a full disk says so, with the free space).
    """
    path = Path(path)
    try:
        with _temp_beside(path) as tmp:
            with open(tmp, "wb") as f:
                writer = _RecordingWriter(f)
                try:
                    torch.save(obj, writer)
                except RuntimeError as e:
                    if writer.error is not None:
                        raise writer.error from e
                    raise
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except OSError as e:
        raise write_failure(e, path) from e
    return path


def load_state(path: str | os.PathLike, map_location: str | torch.device = "cpu", mmap: bool = False) -> Any:
    """Load a checkpoint with `weights_only=True` (no arbitrary code runs). Safetensors files work too.

    Args:
        mmap: memory-map the tensors (``torch.load(mmap=True)``: processes that read one file share its pages).

    Raises:
        FileNotFoundError: no such file.
        PickledCheckpoint: the file holds pickled Python objects (a saved module, not a state dict); a
            ``ValueError``.
        CheckpointDamaged: the file cannot be read at all (truncated or corrupt); a ``ValueError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path), device=str(map_location))
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:  # a pickled module (refused on purpose) or a damaged file (truncated, corrupt)
        text = str(e).strip()
        first_line = f"{type(e).__name__}: {text.splitlines()[0].split('. ')[0] if text else ''}".rstrip(": ")
        if isinstance(e, pickle.UnpicklingError) and "GLOBAL" in str(e):
            pickled = PickledCheckpoint(f"could not load checkpoint {str(path)!r} with weights_only=True: it holds "
                                        f"pickled Python objects ({_refused_global(e)}); fitclip reads state dicts "
                                        f"only — re-save it as a state dict")
            refused = re.search(r"GLOBAL ([\w.]+)", str(e))
            pickled.detail = refused.group(1) if refused else "a class or function"
            raise pickled from e
        damaged = CheckpointDamaged(f"checkpoint {str(path)!r} is damaged (truncated or corrupt: {first_line}); "
                                    f"it cannot be read — use another copy or an earlier checkpoint")
        damaged.detail = first_line
        raise damaged from e


def _refused_global(error: BaseException) -> str:
    """The 'unsupported GLOBAL x.y' sentence of torch's weights_only refusal, on one line."""
    for line in str(error).splitlines():
        if "GLOBAL" in line:
            return line.strip().rstrip(".")
    return "a class or function the safe loader refuses"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes via a temp file unique to this write in the same folder, fsync, then rename: a crash or a
    full disk never leaves half a file (PNG figures rendered to a buffer, copied videos).

    Raises:
        OSError: the write failed (:func:`write_failure`); the previous file at `path` is unchanged.
    """
    path = Path(path)
    try:
        with _temp_beside(path) as tmp:
            _write_synced(tmp, data)
            os.replace(tmp, path)
    except OSError as e:
        raise write_failure(e, path) from e
    return path


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically (:func:`atomic_write_bytes`).

    Newlines are written as given (CSV and JSON-lines files stay LF on every platform).
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomic, indented JSON (values JSON cannot hold are written as strings)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """One JSON object per line, atomically; NaN values become null (JSON has no NaN)."""
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and math.isnan(v) else v

    return atomic_write_text(path, "".join(json.dumps({k: clean(v) for k, v in row.items()}, allow_nan=False) + "\n"
                                           for row in rows))


def write_csv(df: Any, path: str | os.PathLike) -> Path:
    """A pandas DataFrame as CSV (no index, LF line ends), atomically (:func:`atomic_write_text`)."""
    return atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))


# ----------------------------------------------------------------------------------------------------
# JSON-lines logs (evaluate's results and protocol files): whole runs only
# ----------------------------------------------------------------------------------------------------


class TornLine(ValueError):
    """A JSON-lines file holds a line that is not one whole JSON object (a write that was cut, or a file of
    another kind)."""


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a JSON-lines file; blank lines are skipped.

    Raises:
        TornLine: a line that is not one complete JSON object, naming the file and the line.
    """
    path = Path(path)
    return _jsonl_records(path.read_bytes(), path)


def _jsonl_records(data: bytes, path: Path) -> list[dict[str, Any]]:
    """:func:`read_jsonl` of bytes already read (`path` names them in the error)."""
    records = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if not isinstance(record, dict):
            cut = number == data.count(b"\n") + 1  # the last line, with no newline after it
            raise TornLine(f"{path}: line {number} is not a complete JSON record ("
                           + ("cut short: a write was interrupted; " if cut else "")
                           + f"starts {line[:40]!r}); this is not a fitclip JSON-lines file or it was damaged — "
                             f"remove that line or choose another file")
        records.append(record)
    return records


def check_jsonl(path: str | os.PathLike, records: bool = True) -> None:
    """Refuse a file that records cannot be appended to: not a regular file, or (`records`) not JSON lines (a
    torn line, a checkpoint given as `--out`). A missing file is fine (it will be created)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a JSON-lines file name (e.g. {path / 'results.jsonl'})")
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} is not a regular file; give a JSON-lines file name")
    if records and path.is_file():
        read_jsonl(path)


@contextlib.contextmanager
def _folder_lock(folders: Sequence[Path]) -> Iterator[None]:
    """An exclusive ``flock`` on each folder (sorted, so two writers never wait on each other in a cycle):
    two processes appending to the same files take turns. A file system that cannot lock a folder (some
    network mounts) gets no lock: each append is still whole, only two simultaneous runs could race."""
    fds = []
    try:
        for folder in sorted(set(folders)):
            fd = os.open(folder, os.O_RDONLY)
            fds.append(fd)
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        for fd in fds:
            os.close(fd)  # releases the lock


def append_jsonl(batches: Mapping[str | os.PathLike, Sequence[Mapping[str, Any]]]) -> None:
    """Append records to JSON-lines files as ONE step: every file holds all of its new lines, or none.

    Each file is rewritten whole (its current bytes, then the new lines) into a temp file beside it; only
    when every temp file is written and fsynced are they renamed over the originals, in the order given. A
    full disk, or any failure before the renames, leaves every file exactly as it was; a crash between two
    renames (microseconds) can leave an earlier file updated and a later one not — give the files in the
    order that keeps that harmless (evaluate: the protocol records, then the rows they describe). The files'
    folders are locked while this runs, so concurrent writers take turns and no run's lines are lost.
    Rewriting costs a copy of the file per call: fine for result logs (megabytes), not for a 100 GB log.

    Raises:
        TornLine: a file already holds a line that is not a whole record (nothing is written).
        OSError: a write failed (:func:`write_failure`); every file is unchanged.
    """
    paths = [Path(p) for p in batches]
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
    writing = paths[0] if paths else None
    try:
        with _folder_lock([p.parent for p in paths]), contextlib.ExitStack() as temps:
            ready = []
            for path, records in zip(paths, batches.values()):
                writing = path
                new = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records).encode()
                old = b""
                if path.exists():
                    check_jsonl(path, records=False)
                    old = path.read_bytes()
                    _jsonl_records(old, path)  # a torn or foreign line refuses the append
                    if old and not old.endswith(b"\n"):
                        old += b"\n"  # a last line that is whole JSON but lost its newline
                tmp = temps.enter_context(_temp_beside(path))
                _write_synced(tmp, old + new)
                ready.append((tmp, path))
            for tmp, path in ready:
                writing = path
                os.replace(tmp, path)
    except OSError as e:  # the temp files are gone by now, so the free space is what the user has
        raise write_failure(e, writing) from e


def check_writable(path: str | os.PathLike, kind: str = "file") -> None:
    """Ask whether `path` (a ``"file"`` to write or a ``"folder"`` to write into) can be written, before any
    heavy work: a probe file is created and removed in the folder that would hold it (permission bits alone
    do not tell: root ignores them, read-only mounts do not show them).

    Raises:
        ValueError: a folder given where a file is wanted or the other way round, a parent that is a file.
        OSError: the place cannot be written (:func:`write_failure`'s wording).
    """
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ValueError(f"{path} exists and is not a folder; give a folder")
    folder = path if kind == "folder" else path.parent
    existing = folder
    while not existing.exists():  # the nearest existing ancestor is where the folders would be created
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ValueError(f"{existing} is a file, so {path} cannot be created under it; choose another place")
    probe = existing / f".fitclip-write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
    except OSError as e:
        raise write_failure(e, path) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def replace_files(folder: str | os.PathLike, files: Mapping[str, bytes],
                  previous: Sequence[str] = ()) -> dict[str, Path]:
    """Replace one SET of files in `folder` by another, whole: afterwards `folder` holds every file of `files`
    and none of the `previous` names that `files` lacks (a previous run's outputs); nothing else in it is touched.

    Every new file is first written and fsynced in a hidden staging folder inside `folder` (the same file
    system, so what follows are renames, which need no space): a full disk or any failed write stops there
    and leaves `folder` exactly as it was. Then the previous files are moved into a hidden backup folder, the
    new ones moved in, the folder fsynced and the backup deleted; a move that fails puts the previous files
    back. The LAST name of `files` goes in last and its previous version out first, so its presence marks a
    whole set (a crash during the moves, microseconds, leaves the folder without it and the previous set in
    ``.fitclip-old-*``). A `folder` this call created is removed again when nothing could be written.

    Returns:
        name → path of each file written.

    Raises:
        OSError: a write or a move failed (:func:`write_failure`'s wording); `folder` is as it was.
    """
    folder = Path(folder)
    names = list(files)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging, backup = folder / f".fitclip-new-{tag}", folder / f".fitclip-old-{tag}"
    created = not folder.exists()
    writing, keep_backup = folder, False
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            for name, data in files.items():
                writing = folder / name
                _write_synced(staging / name, data)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # before the error's message measures the free space
            if created:
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
        old = [n for n in dict.fromkeys([*names[-1:], *previous, *names])
               if os.path.lexists(folder / n) and not os.path.isdir(folder / n)]
        moved_out: list[str] = []
        moved_in: list[str] = []
        try:
            backup.mkdir()
            for name in old:
                writing = folder / name
                os.rename(folder / name, backup / name)
                moved_out.append(name)
            for name in names:
                writing = folder / name
                os.rename(staging / name, folder / name)
                moved_in.append(name)
        except OSError:
            try:
                for name in reversed(moved_in):
                    os.rename(folder / name, staging / name)
                for name in reversed(moved_out):
                    os.rename(backup / name, folder / name)
            except OSError:
                keep_backup = True  # the previous files stay in the backup folder rather than be lost
            raise
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise write_failure(e, writing) from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not keep_backup:
            shutil.rmtree(backup, ignore_errors=True)
    return {name: folder / name for name in names}
