"""Zero-shot metrics: retrieval recalls and ranks, classification accuracy."""

from __future__ import annotations

import torch


def target_ranks(scores: torch.Tensor, ties: str = "optimistic", chunk_size: int = 1024) -> torch.Tensor:
    """Rank of each query's target (item i for query i), 1-based, computed in row chunks.

    Rank = 1 + the number of items scored strictly higher than the target (`ties="optimistic"`), or
    ≥ the target excluding the target itself (`ties="pessimistic"`). No N×N argsort and no N×N
    temporaries: memory beyond `scores` is `chunk_size × n_items` booleans.

    Args:
        scores: `[n_queries, n_items]` with n_items ≥ n_queries; may be a memory-mapped tensor.
        ties: "optimistic" or "pessimistic".
        chunk_size: rows per chunk.

    Returns:
        int64 `[n_queries]`.
    """
    if ties not in ("optimistic", "pessimistic"):
        raise ValueError(f"ties must be 'optimistic' or 'pessimistic', got {ties!r}")
    if scores.ndim != 2 or scores.shape[1] < scores.shape[0]:
        raise ValueError(f"scores must be [n_queries, n_items] with n_items >= n_queries (query i's target is "
                         f"item i), got {tuple(scores.shape)}")
    n = scores.shape[0]
    ranks = torch.empty(n, dtype=torch.long)
    for lo in range(0, n, chunk_size):
        block = scores[lo:lo + chunk_size]
        ranks[lo:lo + block.shape[0]] = _block_ranks(block, lo, ties)
    return ranks


def _block_ranks(block: torch.Tensor, first_target: int, ties: str) -> torch.Tensor:
    """Ranks of rows `block[i]` whose target is column `first_target + i`."""
    rows = torch.arange(block.shape[0], device=block.device)
    target = block[rows, rows + first_target].unsqueeze(1)
    if ties == "optimistic":
        better = (block > target).sum(dim=1)
    else:
        better = (block >= target).sum(dim=1) - 1  # the target is always >= itself
    return better.cpu() + 1


def metrics_from_ranks(ranks: torch.Tensor) -> dict[str, float]:
    """`{"R@1", "R@5", "R@10", "MdR", "MnR"}` from 1-based target ranks.

    Recalls are percentages (0–100); MdR is the lower median (as `torch.median`); MnR the mean rank.
    """
    ranks = torch.as_tensor(ranks)
    if ranks.numel() == 0:
        raise ValueError("no queries to score (empty ranks)")
    r = ranks.double()
    out = {f"R@{k}": float((r <= k).double().mean() * 100) for k in (1, 5, 10)}
    out["MdR"] = float(torch.median(r))
    out["MnR"] = float(r.mean())
    return out


def retrieval_metrics(scores: torch.Tensor, ties: str = "optimistic", chunk_size: int = 1024) -> dict[str, float]:
    """Retrieval metrics of a `[n_queries, n_items]` score matrix where query i's target is item i.

    See `target_ranks` for the rank and tie rules and `metrics_from_ranks` for the outputs.
    """
    return metrics_from_ranks(target_ranks(scores, ties=ties, chunk_size=chunk_size))


def retrieval_ranks_from_embeddings(queries: torch.Tensor, items: torch.Tensor, ties: str = "optimistic",
                                    chunk_size: int = 4096) -> torch.Tensor:
    """Target ranks for cosine/dot scores `queries @ items.T`, never materialising the full matrix.

    Use this for 10⁵ × 10⁵ retrieval: only `chunk_size × n_items` scores exist at a time.

    Args:
        queries: `[n, D]` (e.g. text embeddings); query i's target is item i.
        items: `[m, D]` with m ≥ n (e.g. video embeddings).
    """
    if ties not in ("optimistic", "pessimistic"):
        raise ValueError(f"ties must be 'optimistic' or 'pessimistic', got {ties!r}")
    if items.shape[0] < queries.shape[0]:
        raise ValueError(f"need at least as many items as queries, got {items.shape[0]} < {queries.shape[0]}")
    n = queries.shape[0]
    ranks = torch.empty(n, dtype=torch.long)
    for lo in range(0, n, chunk_size):
        block = queries[lo:lo + chunk_size] @ items.t()
        ranks[lo:lo + block.shape[0]] = _block_ranks(block, lo, ties)
    return ranks


def classification_metrics(scores: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """`{"top1", "top5"}` accuracy in percent for scores `[N, C]` and int targets `[N]`.

    A sample is correct at k when its target is among the k highest scores (`torch.topk`); with fewer
    than 5 classes top-5 uses all classes.
    """
    scores, targets = torch.as_tensor(scores), torch.as_tensor(targets)
    if scores.ndim != 2 or targets.shape != scores.shape[:1]:
        raise ValueError(f"need scores [N, C] and targets [N], got {tuple(scores.shape)} and {tuple(targets.shape)}")
    if scores.shape[0] == 0:
        raise ValueError("no samples to score")
    bad = targets[(targets < 0) | (targets >= scores.shape[1])]
    if bad.numel():
        raise ValueError(f"targets must be class indices in [0, {scores.shape[1]}), got {bad[:5].tolist()}")
    topk = scores.topk(min(5, scores.shape[1]), dim=1).indices
    hit = topk == targets[:, None]
    return {"top1": float(hit[:, 0].double().mean() * 100), "top5": float(hit.any(dim=1).double().mean() * 100)}


def per_class_accuracy(scores: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Top-1 accuracy (percent) per class, float64 `[C]`; NaN for classes with no sample."""
    scores, targets = torch.as_tensor(scores), torch.as_tensor(targets)
    c = num_classes if num_classes is not None else scores.shape[1]
    bad = targets[(targets < 0) | (targets >= c)]
    if bad.numel():
        raise ValueError(f"targets must be class indices in [0, {c}), got {bad[:5].tolist()}; pass num_classes")
    correct = (scores.argmax(dim=1) == targets).double()
    count = torch.bincount(targets, minlength=c).double()
    hits = torch.bincount(targets, weights=correct, minlength=c)
    acc = hits / count * 100
    acc[count == 0] = float("nan")
    return acc
