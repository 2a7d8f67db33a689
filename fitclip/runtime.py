"""The run's process and its folder, shared by `fitclip.train` and `fitclip.pseudo_labels`: the
torchrun/process-group setup and teardown (:class:`Dist`), the run folder's lock (one writer per ``out_dir``,
:class:`RunFolderLock`) and the one-line errors of its writes (:func:`write_failed`: a full disk names the file,
its free space and the checkpoint kept; :class:`RunError`). The run's data sets are in `fitclip.run_data`, its
start weights in `fitclip.start_weights`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fitclip.config import TrainConfig
from fitclip.distributed import init_from_env, shutdown
from fitclip.files import WriteFailed, write_failure, write_json


@dataclass
class Dist:
    """This process of the run: its rank, local rank, the world size and its device (``main``: rank 0)."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(cfg: TrainConfig) -> Dist:
    """Read RANK/LOCAL_RANK/WORLD_SIZE set by torchrun; init nccl (CUDA) or gloo (CPU) with a timeout."""
    return Dist(*init_from_env(cfg.device, cfg.collective_timeout_s))


def teardown_distributed() -> None:
    """Clean shutdown: under gloo, free the DDP model (caller), collect, barrier, then destroy."""
    gc.collect()
    shutdown()


class RunError(RuntimeError):
    """The run cannot start or go on for a reason the user can fix (folder in use or not writable, damaged
    checkpoint or log, a video that does not decode); `main` prints the one-line message, no traceback."""


def resume_flag(out: Path, path: Path) -> str:
    """How to continue from checkpoint `path` of `out`: ``--resume`` for its last.pt, else ``--resume PATH``."""
    return "--resume" if path == out / "last.pt" else f"--resume {path}"


def write_failed(error: OSError, path: Path, out: Path, saved: tuple[Path, int] | None) -> RunError:
    """A write of the run (a checkpoint, the step's metrics line, config.json, run_info.json, the trimmed log)
    failed, mostly because the disk is full: ONE line saying so and where (`fitclip.files.write_failure`'s
    words), that the last checkpoint is kept (every write is atomic, or an append whose torn last line
    `--resume` drops), and how to go on once space is freed."""
    what = write_failure(error, path).what
    fix = "free some space" if error.errno in (errno.ENOSPC, errno.EDQUOT) else "make it writable"
    if saved is None:
        advice = (f"no checkpoint was written yet: {fix}, then run the same command again (a folder without a "
                  f"checkpoint is a fresh start)")
    else:
        advice = (f"the last checkpoint, {saved[0]} (step {saved[1]}), is kept: {fix}, then "
                  f"`{resume_flag(out, saved[0])}` continues from it")
    return RunError(f"{what}; {advice}")


@contextlib.contextmanager
def writing(path: Path, out: Path, saved: tuple[Path, int] | None) -> Any:
    """Turn a failed write of `path` into `write_failed`'s one-line RunError (no traceback)."""
    try:
        yield
    except OSError as e:
        raise write_failed(e, path, out, saved) from e


# ----------------------------------------------------------------------------------------------------
# The run folder: one writer at a time
# ----------------------------------------------------------------------------------------------------

LOCK_FILE, LOCK_OWNER_FILE = ".lock", ".lock.json"


class RunFolderLock:
    """Exclusive ownership of `out_dir` for the lifetime of one training run (taken by rank 0).

    `fcntl.flock(LOCK_EX | LOCK_NB)` on `<out_dir>/.lock`, an empty file that is never rewritten (so every
    process locks the same inode). The OS drops the lock when the holder exits or is killed, so a dead run
    never leaves a stale lock. A second writer — a plain start or a `--resume` — is refused with a RunError
    naming the holder's PID, read from `.lock.json` (written atomically right after the lock is taken,
    removed on release; it only names the holder, the lock itself is the flock).

    A run that fails (the `with` block raises: a checkpoint that does not fit, a full disk, ...) leaves no
    trace of the lock: the `.lock` file is removed if this lock created it (while still holding it), and so
    are the folders it created, if nothing else was written there. So a failed `--resume` into a new
    `out_dir` leaves no empty folder behind, and a failed start in an existing folder adds nothing to it.
    Removing a lock file is safe because a taker checks, once it holds the flock, that the file it locked is
    still the one at the path (else it locked a removed file, and takes the lock again).
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out = Path(out_dir)
        self.fd: int | None = None
        self.made_folders: list[Path] = []  # the folders this lock created, deepest first
        self.made_lock_file = False

    def __enter__(self) -> "RunFolderLock":
        missing, folder = [], self.out
        while not folder.exists() and folder.parent != folder:
            missing.append(folder)
            folder = folder.parent
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(_not_writable(self.out, e)) from None
        self.made_folders = missing
        try:
            fd, self.made_lock_file = self._lock()
        except BaseException:
            self._remove_made_folders()
            raise
        self.fd = fd
        try:
            write_json(self.out / LOCK_OWNER_FILE, {"pid": os.getpid(), "host": socket.gethostname(),
                                                    "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv})
        except OSError as e:
            message = _not_writable(self.out, e)  # before the release, which may remove the folder
            self._release(failed=True)
            raise RunError(message) from None
        return self

    def _lock(self) -> tuple[int, bool]:
        """(the locked file's descriptor, whether this process created the file); RunError if held or failing."""
        path = self.out / LOCK_FILE
        for _ in range(100):  # another failed start removing the file between our open and our flock: retry
            try:
                try:
                    fd, made = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), True
                except FileExistsError:
                    fd, made = os.open(path, os.O_RDWR), False
            except FileNotFoundError:
                continue  # removed between the two opens
            except OSError as e:
                raise RunError(_not_writable(self.out, e)) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise RunError(f"out_dir {str(self.out)!r} is in use by another training run ({self.holder()}); "
                                   f"wait for it to end or stop it, or choose another out_dir") from None
                raise RunError(f"cannot lock {path} ({e.strerror}): put out_dir on a file system "
                               f"that supports flock") from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                return fd, made
            os.close(fd)  # we locked a file a failed start had just removed
        raise RunError(f"cannot lock {path}: it keeps being removed by other processes; "
                       f"check what else runs in out_dir")

    def holder(self) -> str:
        """'PID n on host, since t' from the holder's `.lock.json` (best effort: it is informational)."""
        try:
            info = json.loads((self.out / LOCK_OWNER_FILE).read_text(encoding="utf-8"))
            return f"PID {info['pid']} on {info['host']}, since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "PID unknown: its .lock.json is not written yet"

    def __exit__(self, exc_type: Any = None, *exc: Any) -> None:
        self._release(failed=exc_type is not None)

    def _release(self, failed: bool) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):  # still holding the lock: this is our own owner file
            (self.out / LOCK_OWNER_FILE).unlink(missing_ok=True)
        if failed and self.made_lock_file:
            with contextlib.suppress(OSError):  # still holding it: nobody else can be using this file
                (self.out / LOCK_FILE).unlink(missing_ok=True)
        os.close(self.fd)  # releases the flock
        self.fd = None
        if failed:
            self._remove_made_folders()

    def _remove_made_folders(self) -> None:
        """The folders this lock created, deepest first, as long as they are empty."""
        for folder in self.made_folders:
            try:
                folder.rmdir()
            except OSError:  # not empty (the run wrote something there), or gone
                break


def _not_writable(out: Path, error: OSError) -> str:
    """Why `out` cannot hold a run, in one line: a full disk says so (and how much is free), anything else
    is the folder's permissions or file system."""
    text = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        what = write_failure(error, Path(error.filename) if error.filename else out / LOCK_FILE).what
        return f"{what}; free some space there or choose another out_dir"
    if isinstance(error, WriteFailed):  # already a sentence of `write_failure`'s
        return f"out_dir {str(out)!r} is not writable: {text}"
    return f"out_dir {str(out)!r} is not writable ({text}): fix its permissions or choose another out_dir"
