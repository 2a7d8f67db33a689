"""FitCLIP step (1): teacher–student fine-tuning of a CLIP model on videos, 1 CPU to N GPUs on M nodes.

Each step the student (the whole CLIP model, trainable) sees 8 labeled clips (the seeded WebVid subset,
cycled and reshuffled each pass) and 8 unlabeled clips (one epoch = one pass over the unlabeled pool);
the loss is λ·distill + (1−λ)·labeled (`fitclip.losses`), with the frozen teacher's similarities as the
distillation target. Teacher and student start from the same weights (`arch`, `pretrained`).

Launch (the same module everywhere; see `fitclip/config.py` for every key and the two presets)::

    # one process (CPU or one GPU), no process group
    python -m fitclip.train --config run.json [--key value ...]
    # N GPUs on one machine (nccl; gloo on CPU-only machines)
    torchrun --nproc_per_node=N -m fitclip.train --config run.json
    # two nodes with 8 GPUs each: run on both machines, node_rank 0 on HOST
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 --rdzv_backend=c10d \
        --rdzv_endpoint=HOST:29500 --rdzv_id=fitclip1 -m fitclip.train --config run.json
    torchrun --nnodes=2 --node_rank=1 --nproc_per_node=8 --rdzv_backend=c10d \
        --rdzv_endpoint=HOST:29500 --rdzv_id=fitclip1 -m fitclip.train --config run.json
    # continue a run exactly where its last checkpoint left it (out_dir/last.pt, or a given file)
    python -m fitclip.train --config run.json --resume [PATH]

Batch sizes are per process (global batch = 8+8 × world size); losses all-gather across ranks, so every
rank computes the loss of the global batch and DDP's gradient average equals one process on it.
BatchNorm layers (the toy convnet's; ViTs have none) keep the start weights' running statistics
(`fitclip.models.freeze_batchnorm`): their affine parameters train, their statistics never update, so
every rank and a single process compute the same thing.

Teacher (`teacher_mode`):

* ``cached`` (default): the teacher's video and text embeddings are computed ONCE with
  ``python -m fitclip.pseudo_labels --config run.json`` (eval frames + eval transform, fp16 shards keyed
  by video id, resumable, sharded across ranks under torchrun) and read each step; no teacher forward.
* ``online``: the frozen teacher runs on the unlabeled half each step on its OWN independently sampled
  frames and crops (train sampler + transform on another seed stream), as in the original code.

The λ=0 baseline (plain fine-tuning on the labeled subset, the WiSE-FT / ViFi-CLIP-style baseline): pass
``--lam 0``. Then no teacher is built, no pseudo labels are read and no unlabeled clip is loaded; only
the labeled loss is trained (metrics log ``distill: null``). Fuse it with the teacher afterwards with
``python -m fitclip fuse`` like any FitCLIP student.

Outputs in ``out_dir`` (rank 0): ``config.json`` (the resolved config, itself a valid ``--config``),
``run_info.json`` (versions, world size, device, command), ``metrics.jsonl`` (one line per step: step,
epoch, the loss terms total / labeled / distill, lr, clips_per_s, time; plus val_labeled at validation
steps), ``last.pt`` (every ``save_every`` steps and at the end) and ``best_labeled.pt`` (lowest labeled
val loss). A checkpoint is a dict of state dicts and plain values, written atomically and read with
``weights_only=True``: ``student`` (open_clip keys; ``fitclip.models.load_clip(arch, "best_labeled.pt")``
loads it), ``optimizer``, ``step``, ``rng`` (python / numpy / torch / CUDA states of every rank, as
tensors), ``data`` (epoch and batch position of the labeled and unlabeled streams), ``best`` (best val
loss and its step), ``config``, ``world_size``, ``format``. ``--resume`` restores all of it: on CPU a run
killed mid-way and resumed ends with the same weights as an uninterrupted one (tests/test_train.py).
Only operational keys (max_steps, val_every, save_every, num_workers, ...) may change on resume.
A step's ``metrics.jsonl`` line is on disk before its checkpoint, and resume keeps the lines up to the
checkpoint's step (a torn final line is dropped), so after any kill and resume the log holds every step
exactly once. An ``out_dir`` without a checkpoint (a run that died before its first one) is a fresh start,
with or without ``--resume``.

One run per folder: rank 0 holds an exclusive ``fcntl.flock`` on ``out_dir/.lock`` for the whole run (the
OS releases it when the process dies, so there are no stale locks); a second writer, plain or ``--resume``,
is refused with a message naming the holder's PID (from ``out_dir/.lock.json``).

Failures: a non-finite loss stops the run with a message naming the step (exit code 3) before any weight
changes, so ``last.pt`` stays the last good checkpoint (a checkpoint is also never written from
non-finite weights); the message names the newest checkpoint, if any, and what to do. A bad config or
data set is exit code 2; a folder in use or not writable, a damaged checkpoint or log, or a training
video that does not decode (named, with the doctor command that checks them all) is a one-line error,
exit code 1. A dead or hung rank makes the others' next collective fail after ``collective_timeout_s``
and the job exits non-zero (torchrun then stops the remaining workers).

Test-only fault hook (documented so nobody trips on it): the environment variable
``FITCLIP_FAULT=KIND:STEP[:RANK]`` with KIND ``nan`` (the loss of that step becomes NaN), ``exit`` (the
process exits with code 17 mid-step) or ``hang`` (it sleeps forever mid-step, after backward and before
the optimizer step). Without RANK it applies to every rank.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import platform
import random
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from fitclip.annotations import AnnotationError
from fitclip.checkpoint import CheckpointDamaged, atomic_write_text, load_state, save_state, write_json
from fitclip.config import RESUMABLE_CHANGES, ConfigError, TrainConfig, parse_cli, validate
from fitclip.datasets import VideoDataset, collate_clips
from fitclip.losses import distillation_loss, fitclip_loss, labeled_loss
from fitclip.models import VideoCLIP, clone_model, freeze_batchnorm
from fitclip.runtime import (Dist, autocast_for, doctor_command, load_labeled, load_start_weights, load_unlabeled,
                             load_val, read_prompts, setup_distributed, teardown_distributed)
from fitclip.transforms import transforms_for
from fitclip.video import VideoDecodeError

CHECKPOINT_FORMAT = "fitclip-train-v1"


class NonFiniteLoss(RuntimeError):
    """The loss of a step was NaN/inf; the run stops without touching the weights or last.pt."""


class RunError(RuntimeError):
    """The run cannot start or go on for a reason the user can fix (folder in use or not writable, damaged
    checkpoint or log, a video that does not decode); `main` prints the one-line message, no traceback."""


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
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out = Path(out_dir)
        self.fd: int | None = None

    def __enter__(self) -> "RunFolderLock":
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunError(f"out_dir {str(self.out)!r} is not writable ({e.strerror or e}): fix its permissions "
                           f"or choose another out_dir") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise RunError(f"out_dir {str(self.out)!r} is in use by another training run ({self.holder()}); "
                               f"wait for it to end or stop it, or choose another out_dir") from None
            raise RunError(f"cannot lock {self.out / LOCK_FILE} ({e.strerror}): put out_dir on a file system "
                           f"that supports flock") from None
        self.fd = fd
        try:
            write_json(self.out / LOCK_OWNER_FILE, {"pid": os.getpid(), "host": socket.gethostname(),
                                                    "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv})
        except OSError as e:
            self.__exit__()
            raise RunError(f"out_dir {str(self.out)!r} is not writable ({e.strerror or e}): fix its permissions "
                           f"or choose another out_dir") from None
        return self

    def holder(self) -> str:
        """'PID n on host, since t' from the holder's `.lock.json` (best effort: it is informational)."""
        try:
            info = json.loads((self.out / LOCK_OWNER_FILE).read_text(encoding="utf-8"))
            return f"PID {info['pid']} on {info['host']}, since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "PID unknown: its .lock.json is not written yet"

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):  # still holding the lock: this is our own owner file
                (self.out / LOCK_OWNER_FILE).unlink(missing_ok=True)
            os.close(self.fd)  # releases the flock
            self.fd = None


# ----------------------------------------------------------------------------------------------------
# Seeds and data
# ----------------------------------------------------------------------------------------------------


def derive_seed(*parts: Any) -> int:
    """A stable seed (< 2**31) for one named random stream, e.g. derive_seed(seed, "labeled-order", epoch)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little") >> 1


class UnlabeledViews(Dataset):
    """The unlabeled clip for the student, plus (online teacher) the teacher's own independent view."""

    def __init__(self, student: VideoDataset, teacher: VideoDataset | None = None) -> None:
        self.student, self.teacher = student, teacher

    def set_epoch(self, epoch: int) -> None:
        self.student.set_epoch(epoch)
        if self.teacher is not None:
            self.teacher.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.student)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.student[index]
        if self.teacher is not None:
            view = self.teacher[index]
            sample["teacher_frames"], sample["teacher_length"] = view["frames"], view["length"]
        return sample


def collate_views(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    own = [{k: v for k, v in s.items() if not k.startswith("teacher_")} for s in samples]
    out = collate_clips(own)
    if "teacher_frames" in samples[0]:
        t = collate_clips([{"frames": s["teacher_frames"], "length": s["teacher_length"], "key": s["key"],
                            "index": s["index"]} for s in samples])
        out["teacher_frames"], out["teacher_lengths"] = t["frames"], t["lengths"]
    return out


class _Guarded(Dataset):
    """A dataset whose decode failures come back as records: raised inside a DataLoader worker, the error
    would reach the trainer wrapped in the worker's traceback; `check_batch` turns it into one line instead."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            return self.dataset[index]
        except VideoDecodeError as e:
            return {"broken": " ".join(str(e).split())}


class _GuardedCollate:
    """`collate` of the good samples, or `{"broken": [reasons]}` when any sample of the batch failed."""

    def __init__(self, collate: Callable) -> None:
        self.collate = collate

    def __call__(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        broken = [s["broken"] for s in samples if "broken" in s]
        return {"broken": broken} if broken else self.collate(samples)


def check_batch(batch: dict[str, Any], stream: str, doctor: str) -> dict[str, Any]:
    """The batch, or a RunError naming the video that did not decode and the doctor command to run."""
    if "broken" in batch:
        more = f" (and {len(batch['broken']) - 1} more in this batch)" if len(batch["broken"]) > 1 else ""
        raise RunError(f"a {stream} video does not decode: {batch['broken'][0]}{more}. Check them all with "
                       f"`{doctor}`, then restore the file or drop its row")
    return batch


class Stream:
    """An endless, seeded, rank-sharded sequence of batches over a dataset.

    Epoch e is the permutation `randperm(n, seed=derive_seed(seed, name, e))`; rank r takes every
    world-th element from r (DistributedSampler-style, disjoint across ranks), the last incomplete
    batch is dropped. The position (epoch, batch) is the whole state: a resumed run rebuilds the same
    batches from it, whatever the number of workers.
    """

    def __init__(self, name: str, dataset: Dataset, batch_size: int, seed: int, d: Dist, num_workers: int,
                 collate: Callable = collate_clips, doctor: str = "python -m fitclip doctor") -> None:
        self.name, self.dataset, self.batch_size, self.seed = name, dataset, batch_size, seed
        self.doctor = doctor  # the command that checks this stream's videos, named when one does not decode
        self.rank, self.world, self.num_workers, self.collate = d.rank, d.world, num_workers, collate
        self.pin = d.device.type == "cuda"
        self.n = len(dataset)
        self.per_rank = self.n // self.world
        self.per_epoch = self.per_rank // batch_size
        if self.per_epoch < 1:
            raise ValueError(f"{name}: {self.n} clips cannot fill one batch of {batch_size} on each of {self.world} "
                             f"rank(s); lower the batch size or use more videos")
        self.epoch, self.batch = 0, 0
        self._it = None

    def batches(self, epoch: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(derive_seed(self.seed, self.name, epoch))
        mine = torch.randperm(self.n, generator=g).tolist()[self.rank::self.world][: self.per_rank]
        b = self.batch_size
        return [mine[i * b:(i + 1) * b] for i in range(self.per_epoch)]

    def next(self) -> dict[str, Any]:
        if self._it is None:
            if self.batch >= self.per_epoch:
                self.epoch, self.batch = self.epoch + 1, 0
            self.dataset.set_epoch(self.epoch)
            loader = DataLoader(_Guarded(self.dataset), batch_sampler=self.batches(self.epoch)[self.batch:],
                                num_workers=self.num_workers, collate_fn=_GuardedCollate(self.collate),
                                pin_memory=self.pin,
                                generator=torch.Generator().manual_seed(derive_seed(self.seed, "workers", self.epoch)))
            self._it = iter(loader)
        out = check_batch(next(self._it), self.name, self.doctor)
        self.batch += 1
        if self.batch >= self.per_epoch:
            self._it = None  # the epoch is done: let its workers go
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.batch, self._it = int(state["epoch"]), int(state["batch"]), None

    @property
    def epoch_float(self) -> float:
        return self.epoch + self.batch / self.per_epoch


# ----------------------------------------------------------------------------------------------------
# The step
# ----------------------------------------------------------------------------------------------------


def _pad_cat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Concatenate two clip batches [B, T, ...] along B, zero-padding the shorter T."""
    t = max(a.shape[1], b.shape[1])
    pad = lambda x: x if x.shape[1] == t else torch.cat([x, x.new_zeros((x.shape[0], t - x.shape[1], *x.shape[2:]))], 1)  # noqa: E731
    return torch.cat([pad(a), pad(b)], 0)


def compute_losses(model: torch.nn.Module, cfg: TrainConfig, labeled: dict[str, torch.Tensor],
                   unlabeled: dict[str, torch.Tensor] | None, teacher_video: torch.Tensor | None,
                   teacher_text: torch.Tensor | None, shared_text: bool = False) -> dict[str, torch.Tensor]:
    """One forward of the student (DDP-wrapped or not) on the labeled + unlabeled halves → the losses.

    Args:
        labeled / unlabeled: {"frames" [B,T,3,H,W], "lengths" [B], "tokens" [B or m, L]} on the device;
            `unlabeled=None` for λ=0 (no unlabeled work). With `shared_text`, unlabeled["tokens"] are the
            m prompts.
        teacher_video, teacher_text: the teacher's embeddings of the unlabeled videos / texts.
    """
    device = labeled["frames"].device
    if unlabeled is None:
        frames, lengths, tokens = labeled["frames"], labeled["lengths"], labeled["tokens"]
    else:
        frames = _pad_cat(labeled["frames"], unlabeled["frames"])
        lengths = torch.cat([labeled["lengths"], unlabeled["lengths"]])
        tokens = torch.cat([labeled["tokens"], unlabeled["tokens"]])
    with autocast_for(cfg, device):
        video, text = model(frames, tokens, lengths)  # one DDP forward for the whole step
    video, text = video.float(), text.float()
    n = labeled["frames"].shape[0]
    lab = labeled_loss(video[:n], text[:n], cfg.temperature)
    if unlabeled is None:
        distill = torch.zeros((), device=device)
    else:
        distill = distillation_loss(video[n:], text[n:], teacher_video, teacher_text, cfg.temperature,
                                    scale=cfg.distill_scale, shared_text=shared_text)
    return fitclip_loss(lab, distill, cfg.lam)


def parse_fault(spec: str | None, rank: int) -> tuple[str, int] | None:
    """FITCLIP_FAULT=KIND:STEP[:RANK] (test-only hook, see the module docstring) → (kind, step) or None."""
    if not spec:
        return None
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("nan", "exit", "hang"):
        raise ValueError(f"FITCLIP_FAULT={spec!r}: expected KIND:STEP[:RANK] with KIND nan, exit or hang")
    if len(parts) == 3 and int(parts[2]) != rank:
        return None
    return parts[0], int(parts[1])


# ----------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """This process's RNG states as tensors / plain values (what weights_only=True loads)."""
    py = random.getstate()
    npy = np.random.get_state()
    return {
        "python": {"version": int(py[0]), "state": torch.tensor(py[1], dtype=torch.int64), "gauss": py[2]},
        "numpy": {"keys": torch.from_numpy(npy[1].astype(np.int64)), "pos": int(npy[2]),
                  "has_gauss": int(npy[3]), "cached_gaussian": float(npy[4])},
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def all_rng_states(d: Dist) -> list[dict[str, Any]]:
    """Every rank's RNG states (collective under DDP: all ranks must call it)."""
    mine = rng_state()
    if d.world == 1:
        return [mine]
    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, mine)
    return out


def checkpoint_state(student: VideoCLIP, optimizer: torch.optim.Optimizer, step: int, rngs: list, streams: dict,
                     best: dict, cfg: TrainConfig, world: int) -> dict[str, Any]:
    return {"format": CHECKPOINT_FORMAT, "student": {k: v.detach().cpu() for k, v in student.clip.state_dict().items()},
            "optimizer": optimizer.state_dict(), "step": step, "rng": rngs,
            "data": {name: s.state() for name, s in streams.items()}, "best": dict(best),
            "config": cfg.to_dict(), "world_size": world}


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    bad = [k for k, v in state["student"].items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:  # never replace a good checkpoint with broken weights
        raise NonFiniteLoss(f"step {state['step']}: non-finite student weights ({bad[:3]}); not writing {path}, "
                            f"the previous checkpoint is kept")
    save_state(state, path)


def nonfinite_advice(cfg: TrainConfig, out: Path, saved: tuple[Path, int] | None) -> str:
    """What to do after a non-finite loss, true for this folder: a resumed run keeps its recipe (lr
    included), and a folder without a checkpoint is a fresh start."""
    if saved is None:
        return (f"No checkpoint was written before it, so {out} holds none: run the same command again with a "
                f"lower lr (e.g. --lr {cfg.lr / 10:g}); a folder without a checkpoint is a fresh start")
    path, step = saved
    flag = "--resume" if path == out / "last.pt" else f"--resume {path}"
    return (f"The last good checkpoint, {path} (step {step}), is kept: `{flag}` continues from it with the same "
            f"recipe and data (the loss will diverge again unless the cause was transient); for a lower lr, "
            f"start a new out_dir (a resumed run cannot change lr)")


def check_resume_config(saved: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    diff = [k for k, v in cfg.to_dict().items() if k not in RESUMABLE_CHANGES and saved.get(k) != v]
    if diff:
        detail = ", ".join(f"{k}: {saved.get(k)!r} in the checkpoint vs {getattr(cfg, k)!r} now" for k in diff)
        raise ConfigError(f"--resume {path}: the config differs from the checkpoint's ({detail}); a resumed run "
                          f"must compute the same thing (only {', '.join(RESUMABLE_CHANGES)} may change). "
                          f"Use the run's config.json, or start a new out_dir")


# ----------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------


#: Validation clips are decoded once and kept in memory (eval frames and the eval transform are
#: deterministic) when they take at most this many bytes; larger validation sets are decoded each time.
VAL_CACHE_BYTES = 512 * 2 ** 20


@torch.no_grad()
def validate_labeled(student: VideoCLIP, val_ds: VideoDataset, cfg: TrainConfig, d: Dist,
                     cache: list[dict[str, torch.Tensor]] | None = None) -> float:
    """Mean labeled loss over full global batches of the val set (eval frames/transform; the leftover
    len % (batch × world) videos are skipped so every batch has the training batch's negatives).

    `cache`: a list owned by the caller; the first call fills it with this rank's decoded batches when they
    fit in `VAL_CACHE_BYTES`, later calls read it instead of decoding the videos again.
    """
    n, world = len(val_ds), d.world
    b = min(cfg.batch_size_labeled, n // world)
    g = b * world
    batches = [list(range(j * g + d.rank * b, j * g + (d.rank + 1) * b)) for j in range(n // g)]
    keep = cache is not None and not cache and \
        len(batches) * b * cfg.num_frames * 3 * student.image_size ** 2 * 4 <= VAL_CACHE_BYTES
    if cache:
        source = cache
    else:
        source = DataLoader(_Guarded(val_ds), batch_sampler=batches, num_workers=cfg.num_workers,
                            collate_fn=_GuardedCollate(collate_clips))
    was_training = student.training
    student.eval()
    total, count = 0.0, 0
    for batch in source:
        if "tokens" not in batch:
            check_batch(batch, "val", doctor_command(cfg, "val"))
            batch = {"frames": batch["frames"], "lengths": batch["lengths"],
                     "tokens": student.tokenize([val_ds.items[i].text for i in batch["indices"].tolist()])}
            if keep:
                cache.append(batch)
        with autocast_for(cfg, d.device):
            video, text = student(batch["frames"].to(d.device), batch["tokens"].to(d.device),
                                  batch["lengths"].to(d.device))
        total += float(labeled_loss(video.float(), text.float(), cfg.temperature))
        count += 1
    if was_training:
        freeze_batchnorm(student.train())
    return total / count


# ----------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------


def build_teacher(student: VideoCLIP) -> VideoCLIP:
    """The frozen teacher: a copy of the starting weights (never trained)."""
    teacher = clone_model(student).eval()
    teacher.requires_grad_(False)
    return teacher


def versions() -> dict[str, Any]:
    """The libraries that decide the numbers (as in evaluation records) plus platform, CUDA and git commit."""
    from fitclip.doctor import library_versions

    info: dict[str, Any] = {**library_versions(), "platform": platform.platform(), "cuda": torch.version.cuda,
                            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    try:
        import subprocess
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                            cwd=Path(__file__).parent).stdout.strip() or None
    except Exception:  # noqa: BLE001
        info["git_commit"] = None
    return info


def trim_metrics(path: Path, step: int) -> list[str]:
    """On resume: rewrite `metrics.jsonl` (atomically) with only the lines of steps <= `step`, the
    checkpoint's; the resumed run redoes the later ones. Returns notes for the user.

    A final line that is not JSON is what a kill in the middle of its write leaves; as a log reader should,
    it is dropped (with a note): its step is past the checkpoint, since a step's line reaches the disk
    before its checkpoint. An unreadable line anywhere else means the file is damaged: RunError naming it.
    """
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    keep, notes = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            if number == len(lines):
                notes.append(f"{path}: dropped a torn final line (line {number}, {len(line)} characters) left by "
                             f"an interrupted write; its step is redone")
                continue
            raise RunError(f"{path}: line {number} is not a JSON object ({line[:40]!r}): the log is damaged; "
                           f"remove that line, then --resume again") from None
        if int(record.get("step", 0)) <= step:
            keep.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in keep))
    return notes


def _read_resume_checkpoint(resume: str | os.PathLike, cfg: TrainConfig, out: Path) -> dict[str, Any]:
    """The `--resume` checkpoint, checked; a damaged or foreign file is a RunError naming what to fall back to."""
    path = Path(resume)
    best = out / "best_labeled.pt"
    fallback = (f"fall back to the best checkpoint with --resume {best} (an earlier step; the steps after it are "
                f"redone)" if best.is_file() and best.resolve() != path.resolve() else
                f"{out} has no other checkpoint: start a new out_dir")
    try:
        ckpt = load_state(path)
    except CheckpointDamaged as e:
        raise RunError(f"--resume: {e}; {fallback}") from None
    except (ValueError, FileNotFoundError) as e:
        raise RunError(f"--resume: {e}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"--resume {path}: not a fitclip training checkpoint (no format {CHECKPOINT_FORMAT!r}); "
                       f"pass the last.pt or best_labeled.pt of a training run")
    check_resume_config(ckpt["config"], cfg, path)
    return ckpt


def train(cfg: TrainConfig, resume: str | os.PathLike | None = None, d: Dist | None = None) -> dict[str, Any]:
    """Run (or resume) training. Call `validate(cfg)` first (`main` does). Returns a summary dict.

    Rank 0 holds the run folder's lock (`RunFolderLock`) from before anything is read until the end, so
    a second writer into the same `out_dir` is refused before it does any work.
    """
    d = d or setup_distributed(cfg)
    out = Path(cfg.out_dir).expanduser()
    with RunFolderLock(out) if d.main else contextlib.nullcontext():
        return _train(cfg, resume, d, out)


def _train(cfg: TrainConfig, resume: str | os.PathLike | None, d: Dist, out: Path) -> dict[str, Any]:
    use_unlabeled = cfg.lam > 0  # λ = 0: plain fine-tuning, no teacher, no pseudo labels, no unlabeled clips
    prompts = None if cfg.unlabeled_text == "captions" else read_prompts(cfg.unlabeled_text)
    # Read and check the checkpoint first: a mismatching config fails before any other work.
    ckpt = None if resume is None else _read_resume_checkpoint(resume, cfg, out)
    metrics_path = out / "metrics.jsonl"
    if d.main:  # the log next, so a damaged one is refused before any heavy work (the lock is held)
        if ckpt is not None:  # drop lines past the checkpoint: they will be redone
            for note in trim_metrics(metrics_path, int(ckpt["step"])):
                print(f"note: {note}", file=sys.stderr)
        elif metrics_path.exists():  # validate let it through: a run that died before its first checkpoint
            print(f"note: {metrics_path} is from a run that wrote no checkpoint; starting over", file=sys.stderr)
            atomic_write_text(metrics_path, "")

    # Data (annotations only; clips are decoded by the loaders).
    labeled_items = load_labeled(cfg)
    pool = load_unlabeled(cfg, labeled_items) if use_unlabeled else []
    val_items = load_val(cfg) if cfg.val_every > 0 else []
    if cfg.val_every > 0 and len(val_items) < d.world:
        raise ValueError(f"the val set has {len(val_items)} videos, fewer than the {d.world} ranks")
    store = None
    if use_unlabeled and cfg.teacher_mode == "cached":
        from fitclip.pseudo_labels import PseudoLabels
        store = PseudoLabels(cfg.pseudo_labels)
        store.check(cfg, [item.key for item in pool], prompts)

    # Models: the same start weights on every rank; the teacher is a frozen copy (online mode only).
    student = load_start_weights(cfg)
    teacher = build_teacher(student).to(d.device) if use_unlabeled and cfg.teacher_mode == "online" else None
    student.clip.logit_scale.requires_grad_(False)  # unused: losses use the fixed τ
    freeze_batchnorm(student.to(d.device).train())  # BatchNorm keeps the start weights' statistics
    train_tf, eval_tf = transforms_for(student)
    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    model: torch.nn.Module = student
    if d.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            student, device_ids=[d.device.index] if d.device.type == "cuda" else None)

    streams: dict[str, Stream] = {"labeled": Stream(
        "labeled", VideoDataset(labeled_items, cfg.num_frames, "train", train_tf, derive_seed(cfg.seed, "labeled")),
        cfg.batch_size_labeled, cfg.seed, d, cfg.num_workers, doctor=doctor_command(cfg, "labeled"))}
    if use_unlabeled:
        views = UnlabeledViews(
            VideoDataset(pool, cfg.num_frames, "train", train_tf, derive_seed(cfg.seed, "unlabeled")),
            VideoDataset(pool, cfg.num_frames, "train", train_tf, derive_seed(cfg.seed, "teacher"))
            if teacher is not None else None)
        streams["unlabeled"] = Stream("unlabeled", views, cfg.batch_size_unlabeled, cfg.seed, d, cfg.num_workers,
                                      collate_views, doctor=doctor_command(cfg, "unlabeled"))
    val_ds = VideoDataset(val_items, cfg.num_frames, "eval", eval_tf) if val_items else None
    val_cache: list[dict[str, torch.Tensor]] = []  # val clips decoded once (see VAL_CACHE_BYTES)

    # Teacher side of prompts (n videos x m prompts): fixed for the whole run.
    prompt_tokens = prompt_teacher_text = None
    if use_unlabeled and prompts is not None:
        prompt_tokens = student.tokenize(prompts).to(d.device)
        if store is not None:
            prompt_teacher_text = store.prompt_text().to(d.device)
        else:
            with torch.no_grad(), autocast_for(cfg, d.device):
                prompt_teacher_text = teacher.encode_text(prompt_tokens).float()

    # State: fresh, or everything from the checkpoint.
    seed_everything(cfg.seed + d.rank)
    step, best = 0, {"val_labeled": None, "step": None}
    if ckpt is not None:
        student.clip.load_state_dict(ckpt["student"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, best = int(ckpt["step"]), dict(ckpt["best"])
        for name, s in streams.items():
            s.load_state(ckpt["data"][name])
        if ckpt["world_size"] == d.world:
            set_rng_state(ckpt["rng"][d.rank])
        elif d.main:
            print(f"warning: resuming a {ckpt['world_size']}-process run with {d.world} processes: data shards and "
                  f"RNG streams differ from the original run (not an exact continuation)", file=sys.stderr)
        del ckpt

    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", cfg.to_dict())
        write_json(out / "run_info.json", {**versions(), "world_size": d.world, "device": str(d.device),
                                            "argv": sys.argv, "resumed_from_step": step if resume else None,
                                            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    fault = parse_fault(os.environ.get("FITCLIP_FAULT"), d.rank)

    from tqdm import tqdm
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not d.main, desc="fitclip", dynamic_ncols=True)
    metrics = open(metrics_path, "a", encoding="utf-8") if d.main else None
    last_losses: dict[str, float] = {}
    saved = (Path(resume), step) if resume is not None else None  # the newest checkpoint: (path, step)
    try:
        while step < cfg.max_steps:
            step += 1
            t0 = time.perf_counter()
            lab = streams["labeled"].next()
            lab_in = {"frames": lab["frames"].to(d.device, non_blocking=True), "lengths": lab["lengths"].to(d.device),
                      "tokens": student.tokenize([labeled_items[i].text for i in lab["indices"].tolist()]).to(d.device)}
            unl_in = teacher_video = teacher_text = None
            if use_unlabeled:
                unl = streams["unlabeled"].next()
                keys = unl["keys"]
                unl_tokens = prompt_tokens if prompts is not None else \
                    student.tokenize([pool[i].text for i in unl["indices"].tolist()]).to(d.device)
                unl_in = {"frames": unl["frames"].to(d.device, non_blocking=True),
                          "lengths": unl["lengths"].to(d.device), "tokens": unl_tokens}
                if store is not None:
                    teacher_video, teacher_text = store.get(keys, text=prompts is None)
                    teacher_video = teacher_video.to(d.device)
                    teacher_text = prompt_teacher_text if prompts is not None else teacher_text.to(d.device)
                else:
                    with torch.no_grad(), autocast_for(cfg, d.device):
                        teacher_video = teacher.encode_video(unl["teacher_frames"].to(d.device),
                                                             unl["teacher_lengths"].to(d.device)).float()
                        teacher_text = prompt_teacher_text if prompts is not None else \
                            teacher.encode_text(unl_tokens).float()
            losses = compute_losses(model, cfg, lab_in, unl_in, teacher_video, teacher_text,
                                    shared_text=prompts is not None)
            if fault == ("nan", step):
                losses["total"] = losses["total"] * float("nan")
            if not bool(torch.isfinite(losses["total"])):
                values = {k: float(v.detach()) for k, v in losses.items()}
                raise NonFiniteLoss(f"non-finite loss at step {step} (total={values['total']}, labeled="
                                    f"{values['labeled']}, distill={values['distill']}); stopping without "
                                    f"updating the weights (check the data of this step). "
                                    f"{nonfinite_advice(cfg, out, saved)}")
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            if fault == ("exit", step):
                os._exit(17)
            if fault == ("hang", step):
                time.sleep(10**6)
            optimizer.step()
            dt = time.perf_counter() - t0

            last_losses = {k: float(v.detach()) for k, v in losses.items()}
            record: dict[str, Any] = {
                "step": step, "epoch": streams["unlabeled" if use_unlabeled else "labeled"].epoch_float,
                "total": last_losses["total"], "labeled": last_losses["labeled"],
                "distill": last_losses["distill"] if use_unlabeled else None, "lr": optimizer.param_groups[0]["lr"],
                "clips_per_s": d.world * (cfg.batch_size_labeled + (cfg.batch_size_unlabeled if use_unlabeled else 0)) / dt,
                "time": time.time()}
            if val_ds is not None and (step % cfg.val_every == 0 or step == cfg.max_steps):
                record["val_labeled"] = validate_labeled(student, val_ds, cfg, d, val_cache)
                improved = best["val_labeled"] is None or record["val_labeled"] < best["val_labeled"]
                if improved:
                    best = {"val_labeled": record["val_labeled"], "step": step}
            else:
                improved = False
            save_last = step == cfg.max_steps or (cfg.save_every > 0 and step % cfg.save_every == 0)
            if metrics is not None:
                # The step's line reaches the disk BEFORE its checkpoint: a kill between the two leaves a line
                # past the checkpoint, which resume drops and redoes (written after it, the line was lost for
                # good). Appending is safe here (no atomic rewrite of the whole log each step): a torn line
                # can only be the last one, past the checkpoint, and `trim_metrics` drops it. The fsync before
                # a checkpoint also covers the lines of the steps since the previous one.
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                if save_last or improved:
                    os.fsync(metrics.fileno())
            if save_last or improved:
                state = checkpoint_state(student, optimizer, step, all_rng_states(d), streams, best, cfg, d.world)
                if d.main:
                    if improved:
                        save_checkpoint(state, out / "best_labeled.pt")
                    if save_last:
                        save_checkpoint(state, out / "last.pt")
                saved = (out / ("last.pt" if save_last else "best_labeled.pt"), step)
                del state
            bar.set_postfix(loss=f"{last_losses['total']:.4f}", refresh=False)
            bar.update(1)
    finally:
        bar.close()
        if metrics is not None:
            metrics.close()
    del model
    return {"step": step, "best": best, "losses": last_losses, "out_dir": str(out)}


HELP = """usage: python -m fitclip.train [--config run.json] [--preset paper|reference-code] [--KEY VALUE ...] [--resume [PATH]]
       torchrun --nproc_per_node=N -m fitclip.train ...   (same arguments)

Config keys (see fitclip/config.py for their meaning and the presets):
  {keys}
--resume [PATH]: continue from PATH (default: <out_dir>/last.pt) exactly where it stopped.
"""


def default_resume(cfg: TrainConfig) -> str | None:
    """`--resume` without a path: `<out_dir>/last.pt`, or None (a fresh start, with a note) when the folder
    holds no checkpoint, e.g. a run that died before its first one."""
    out = Path(cfg.out_dir).expanduser()
    if (out / "last.pt").is_file():
        return str(out / "last.pt")
    if (out / "best_labeled.pt").is_file():
        raise ConfigError(f"--resume: {out} has best_labeled.pt but no last.pt; continue from it with "
                          f"--resume {out / 'best_labeled.pt'}, or choose another out_dir")
    if os.environ.get("RANK", "0") == "0":
        print(f"note: --resume: {out} holds no checkpoint; starting a new run there", file=sys.stderr)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        from fitclip.config import KEYS
        print(__doc__)
        print(HELP.format(keys=", ".join(KEYS)))
        return 0
    d: Dist | None = None
    try:
        cfg, flags = parse_cli(argv, extra_flags=("resume",))
        resume = flags.get("resume")
        if resume is True:
            resume = default_resume(cfg)
        validate(cfg, resume=resume is not None)
        if resume is not None and not Path(resume).is_file():
            raise ConfigError(f"--resume: no checkpoint at {resume}; drop --resume to start a new run")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    code = 0
    try:
        d = setup_distributed(cfg)
        summary = train(cfg, resume, d)
        if d.main:
            print(json.dumps({"done": summary}))
    except NonFiniteLoss as e:
        print(f"error (rank {d.rank if d else 0}): {e}", file=sys.stderr)
        code = 3
    except (ConfigError, AnnotationError) as e:  # found once the data / pseudo labels are read
        print(f"error: {e}", file=sys.stderr)
        code = 2
    except RunError as e:  # folder in use or not writable, damaged checkpoint or log, a broken video
        print(f"error: {e}", file=sys.stderr)
        code = 1
    except Exception:  # noqa: BLE001 - report, then exit non-zero promptly (never hang in shutdown)
        import traceback
        traceback.print_exc()
        code = 1
    if code and d is not None and d.world > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code == 0:
        teardown_distributed()
    return code


if __name__ == "__main__":
    from fitclip.train import main as _main  # run the importable module, not a second __main__ copy

    sys.exit(_main())
