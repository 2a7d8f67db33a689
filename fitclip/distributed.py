"""torch.distributed helpers. World size 1 needs no process group: every helper is then a no-op."""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True when a process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


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
