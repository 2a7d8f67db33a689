"""What a training-side process needs at run time, shared by `fitclip.train` and `fitclip.pseudo_labels`:
the torchrun/process-group setup, the start weights, the labeled / validation / unlabeled sets (WebVid's
format, or your own folder of captioned videos), prompt files, autocast, the run folder's lock (one writer per ``out_dir``) and the one-line errors of
its writes (:func:`write_failed`: a full disk names the file, its free space and the checkpoint kept).
Neither module imports the other for these.
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
from typing import Any, Sequence

import torch

from fitclip.annotations import VideoItem, load_annotations
from fitclip.files import WriteFailed, sha256_file, write_failure, write_json
from fitclip.config import ConfigError, TrainConfig, resolve_path
from fitclip.encoding import autocast
from fitclip.distributed import init_from_env, shutdown
from fitclip.models import VideoCLIP, is_weights_file, load_clip


@dataclass
class Dist:
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


def load_start_weights(cfg: TrainConfig, device: torch.device | str = "cpu") -> VideoCLIP:
    """The weights teacher and student start from (random ones are drawn from torch.manual_seed(seed))."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return load_clip(cfg.arch, cfg.pretrained, device=device)


def load_labeled(cfg: TrainConfig) -> list[VideoItem]:
    """The labeled set: the seeded WebVid subset (`labeled_csv`, WebVid columns), or with `video_folder` the
    rows of its captions file `labeled_csv`."""
    if cfg.video_folder:
        ann = load_annotations("folder", Path(cfg.video_folder).expanduser(),
                               captions=str(resolve_path(cfg, cfg.labeled_csv)))
    else:
        ann = load_annotations("webvid", cfg.data_root, split="train", csv=str(resolve_path(cfg, cfg.labeled_csv)))
    return _usable(ann, "labeled_csv", need_text=True, doctor=doctor_command(cfg, "labeled"))


def load_val(cfg: TrainConfig, labeled: Sequence[VideoItem] | None = None) -> list[VideoItem]:
    """The labeled validation set: WebVid val (or the `val_csv` subset of it), or with `video_folder` the rows
    of its captions file `val_csv`; with `video_folder` no validation video may be a labeled one."""
    if cfg.video_folder:
        ann = load_annotations("folder", Path(cfg.video_folder).expanduser(),
                               captions=str(resolve_path(cfg, cfg.val_csv)))
        items = _usable(ann, "val_csv", need_text=True, doctor=doctor_command(cfg, "val"))
        shared = sorted({i.video_id for i in items} & {i.video_id for i in (labeled or load_labeled(cfg))})
        if shared:
            raise ConfigError(f"val_csv={cfg.val_csv!r} and labeled_csv={cfg.labeled_csv!r} share {len(shared)} "
                              f"video(s) (first: {shared[:3]}); validation must be held out: split the videos, not the "
                              "captions, between the two files")
        return items
    options = {"csv": str(resolve_path(cfg, cfg.val_csv))} if cfg.val_csv else {}
    return _usable(load_annotations("webvid", cfg.data_root, split="val", **options), "val", need_text=True,
                   doctor=doctor_command(cfg, "val"))


def load_unlabeled(cfg: TrainConfig, labeled: Sequence[VideoItem] | None = None) -> list[VideoItem]:
    """The unlabeled pool (`unlabeled`), without the labeled subset's video files if `exclude_labeled` (and,
    with `video_folder`, without the validation files: α is chosen on them)."""
    options = dict(cfg.unlabeled)
    name, exclude = options.pop("name"), options.pop("exclude_labeled", True)
    if name == "webvid":
        ann = load_annotations("webvid", cfg.data_root, split=options.pop("split", "train"), **options)
    else:
        ann = load_annotations("folder", Path(options.pop("path")).expanduser(), **options)
    items = _usable(ann, "unlabeled", need_text=cfg.unlabeled_text == "captions",
                    doctor=doctor_command(cfg, "unlabeled"))
    if exclude:
        if labeled is None:
            labeled = load_labeled(cfg)
        held = load_val(cfg, labeled) if cfg.video_folder and cfg.val_csv else []  # your validation videos stay unseen too
        taken = {Path(item.path).resolve() for item in [*labeled, *held]}  # the same file, whichever folder listed it
        items = [item for item in items if Path(item.path).resolve() not in taken]
    return items


#: ``<out_dir>/videos.json``: a training run's :func:`data_identity`, written when it starts or resumes.
VIDEOS_RECORD = "videos.json"


def videos_fingerprint(items: Sequence[VideoItem]) -> str:
    """What the videos of a set ARE, cheaply: sha256 over each item's key, clip window and its file's size and
    modification time (``stat``, nothing read). A re-rendered, re-encoded or re-downloaded video changes it; the
    same files give the same value wherever the folder lies (keys, not paths). Reuse checks compare it, so a
    stage never reuses labels, students or a grid computed from other videos under the same annotation files
    (the synthetic world re-rendered with another look keeps every caption)."""
    import hashlib

    h = hashlib.sha256()
    for item in items:
        try:
            st = os.stat(item.path)
            state = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            state = "missing"
        h.update(f"{item.key}\t{item.start}\t{item.end}\t{state}\n".encode())
    return h.hexdigest()


def data_identity(cfg: TrainConfig, labeled: Sequence[VideoItem], pool: Sequence[VideoItem],
                  val: Sequence[VideoItem]) -> dict[str, str]:
    """A training run's videos (:func:`videos_fingerprint` of the labeled set, the unlabeled pool and the
    validation set), recorded in every checkpoint and in ``<out_dir>/videos.json``; a resume must match it."""
    return {"labeled": videos_fingerprint(labeled), "pool": videos_fingerprint(pool), "val": videos_fingerprint(val)}


def run_data_identity(cfg: TrainConfig) -> dict[str, str]:
    """:func:`data_identity` of the sets `cfg` trains on, loaded as the trainer loads them (annotations only)."""
    labeled = load_labeled(cfg)
    pool = load_unlabeled(cfg, labeled) if cfg.lam > 0 else []
    val = load_val(cfg) if cfg.val_every > 0 else []
    return data_identity(cfg, labeled, pool, val)


def doctor_command(cfg: TrainConfig, stream: str) -> str:
    """The `python -m fitclip doctor` command that checks every video of a stream (labeled, unlabeled, val)."""
    if stream == "unlabeled" and cfg.unlabeled.get("name") == "folder":
        captions = cfg.unlabeled.get("captions")
        return (f"python -m fitclip doctor --dataset folder --data-root {cfg.unlabeled['path']}"
                + (f" --dataset-option captions={captions}" if captions else ""))
    csv = {"labeled": cfg.labeled_csv, "val": cfg.val_csv}.get(stream, cfg.unlabeled.get("csv"))
    if cfg.video_folder and stream in ("labeled", "val"):
        return (f"python -m fitclip doctor --dataset folder --data-root {cfg.video_folder} "
                f"--dataset-option captions={resolve_path(cfg, csv)}")
    split = {"labeled": "train", "val": "val"}.get(stream, cfg.unlabeled.get("split", "train"))
    option = f" --dataset-option csv={resolve_path(cfg, csv)}" if csv else ""
    return f"python -m fitclip doctor --dataset webvid --data-root {cfg.data_root} --split {split}{option}"


def _usable(ann: Any, what: str, need_text: bool, doctor: str) -> list[VideoItem]:
    """The items, or a one-line ConfigError (missing videos, missing captions) before any training work."""
    if ann.missing:
        raise ConfigError(f"{what}: {len(ann.missing)} of {len(ann.items)} videos are missing (first: "
                          f"{ann.missing[:3]}); download them or drop them from the csv (`{doctor}` lists them)")
    if need_text and any(item.text is None for item in ann.items):
        bad = [item.key for item in ann.items if item.text is None]
        raise ConfigError(f"{what}: {len(bad)} videos have no caption (first: {bad[:3]}); every {what} video "
                          f"needs one" + (" (or set unlabeled_text to a prompts file)" if what == "unlabeled" else ""))
    return list(ann.items)


def read_prompts(path: str | os.PathLike) -> list[str]:
    """A prompts file: one prompt per line, blank lines ignored."""
    prompts = [line.strip() for line in Path(path).expanduser().read_text(encoding="utf-8").splitlines() if line.strip()]
    if not prompts:
        raise ValueError(f"prompts file {str(path)!r} has no prompts (one per line)")
    return prompts


def autocast_for(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward passes' autocast for the run's `precision` (:func:`fitclip.encoding.autocast`)."""
    return autocast(cfg.precision, device)


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


_SHA256_CACHE: dict[tuple[str, int, int, int, int], str] = {}  # a file read twice in one process: hashed once


def teacher_fingerprint(cfg: TrainConfig) -> dict[str, Any]:
    """What identifies the start weights (the teacher's, and the student's at step 0): pseudo labels and
    training checkpoints record it, so neither is reused with other weights. It holds arch + tag, + the init seed for random weights, + the
    sha256 of a weights file."""
    fp: dict[str, Any] = {"arch": cfg.arch, "pretrained": cfg.pretrained}
    if cfg.pretrained.lower() == "none":
        fp["init_seed"] = cfg.seed
    elif is_weights_file(cfg.pretrained):
        path = Path(cfg.pretrained).expanduser()
        stat = path.stat()
        key = (str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
        if key not in _SHA256_CACHE:
            _SHA256_CACHE[key] = sha256_file(path)
        fp["pretrained_sha256"] = _SHA256_CACHE[key]
    return fp


def same_teacher(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two fingerprints name the same weights. A weights file is identified by its sha256, not its path,
    so moving or copying the data folder keeps the cache valid."""
    if "pretrained_sha256" in a or "pretrained_sha256" in b:
        return a.get("arch") == b.get("arch") and a.get("pretrained_sha256") == b.get("pretrained_sha256")
    return a == b
