"""Training data and randomness that a resumed run reproduces exactly: the named seeds
(:func:`derive_seed`), the seeded, rank-sharded, resumable batch streams (:class:`Stream`) over the
labeled and unlabeled clips (with the online teacher's own view, :class:`UnlabeledViews`), decode
failures as one-line errors (:func:`check_batch`), and every RNG's state as checkpointable tensors.
Used by `fitclip.train`.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from fitclip.datasets import VideoDataset, collate_clips
from fitclip.encoding import GuardedCollate, GuardedDataset
from fitclip.runtime import Dist, RunError


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

    @property
    def items(self) -> list:
        """The student view's items (what a decode failure names)."""
        return self.student.items

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


def check_batch(guarded: dict[str, Any], stream: str, doctor: str) -> dict[str, Any]:
    """A :class:`~fitclip.encoding.GuardedCollate` output's batch, or a RunError naming the video that did not
    decode and the doctor command to run (training never skips a video)."""
    errors = guarded["errors"]
    if errors:
        more = f" (and {len(errors) - 1} more in this batch)" if len(errors) > 1 else ""
        raise RunError(f"a {stream} video does not decode: {' '.join(errors[0]['reason'].split())}{more}. Check them "
                       f"all with `{doctor}`, then restore the file or drop its row")
    return guarded["batch"]


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
            loader = DataLoader(GuardedDataset(self.dataset), batch_sampler=self.batches(self.epoch)[self.batch:],
                                num_workers=self.num_workers, collate_fn=GuardedCollate(self.collate),
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
# RNG states (checkpointed with every training checkpoint)
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
