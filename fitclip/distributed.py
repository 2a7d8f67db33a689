"""torch.distributed helpers. World size 1 needs no process group: every helper is then a no-op."""

from __future__ import annotations

import os
import warnings
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True when a process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_from_env(device: str = "auto", timeout_s: float = 1800.0) -> tuple[int, int, int, torch.device]:
    """(rank, local rank, world size, device) from torchrun's RANK/LOCAL_RANK/WORLD_SIZE (1 process: 0, 0, 1).

    `device` "auto" or "cuda" gives ``cuda:<local rank>`` when a GPU is visible ("cuda" without one is the
    caller's error to report); the process group (nccl on CUDA, gloo on CPU) is started only when the world
    has more than one rank. A collective waiting longer than `timeout_s` raises instead of hanging.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    where = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(where)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(seconds=timeout_s),
                                device_id=where if cuda else None)
    return rank, local, world, where


def shutdown() -> None:
    """Leave the process group cleanly (barrier, then destroy); nothing to do without one."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the running process group; (0, 1) without one."""
    if not is_distributed():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj` (picklable; CPU tensors inside are fine), in rank order, on every rank; ``[obj]``
    without a process group."""
    if not is_distributed():
        return [obj]
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, obj)
    return parts


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every rank's `obj` in rank order on rank 0 (None on the other ranks); ``[obj]`` without a process group.
    For what only rank 0 needs (embeddings it alone scores): no rank receives every other rank's copy."""
    if not is_distributed():
        return [obj]
    parts: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, parts, dst=0)
    return parts


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` `[n, ...]` from all ranks along dim 0, keeping gradients to every rank's part.

    The backward of `torch.distributed.nn.functional.all_gather` sums the gradients of all ranks into
    each rank's own slice; with every rank computing the same global loss and DDP averaging the
    parameter gradients, the update equals the single-process update on the concatenated batch.
    Ranks must hold the same `n`.
    """
    if not is_distributed():
        return x
    from torch.distributed.nn.functional import all_gather
    with warnings.catch_warnings():
        # Deprecated in favour of a private (_functional_collectives) API; the public one is kept on
        # purpose and its gradients are checked by tests/test_losses.py.
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(x), dim=0)


@torch.no_grad()
def all_gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Like `all_gather_with_grad` for tensors that need no gradient (teacher embeddings)."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)
