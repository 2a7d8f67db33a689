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


def class_target_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1-based rank of each sample's target class among its scores `[N, C]` (optimistic ties, as
    :func:`target_ranks`): 1 + the number of classes scored strictly higher than the target."""
    scores, targets = torch.as_tensor(scores), torch.as_tensor(targets)
    if scores.ndim != 2 or targets.shape != scores.shape[:1]:
        raise ValueError(f"need scores [N, C] and targets [N], got {tuple(scores.shape)} and {tuple(targets.shape)}")
    if scores.shape[0] == 0:
        raise ValueError("no samples to score")
    bad = targets[(targets < 0) | (targets >= scores.shape[1])]
    if bad.numel():
        raise ValueError(f"targets must be class indices in [0, {scores.shape[1]}), got {bad[:5].tolist()}")
    return (scores > scores.gather(1, targets[:, None].long())).sum(dim=1) + 1


def classification_metrics(scores: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """`{"top1", "top5"}` accuracy in percent for scores `[N, C]` and int targets `[N]`.

    A sample is correct at k when its target's rank (:func:`class_target_ranks`, optimistic ties) is
    at most k; with fewer than 5 classes every sample is correct at 5.
    """
    out = classification_metrics_from_ranks(class_target_ranks(scores, targets))
    del out["MdR"]
    return out


def classification_metrics_from_ranks(ranks: torch.Tensor) -> dict[str, float]:
    """`{"top1", "top5", "MdR"}` from 1-based target-class ranks (:func:`class_target_ranks`): accuracy at 1
    and 5 in percent, and the lower median rank of the target class (the original's ``mr``)."""
    r = torch.as_tensor(ranks).double()
    if r.numel() == 0:
        raise ValueError("no samples to score (empty ranks)")
    out = {f"top{k}": float((r <= k).double().mean() * 100) for k in (1, 5)}
    out["MdR"] = float(torch.median(r))
    return out


#: The rank threshold behind each "hit within k" metric (percent of items whose target rank is <= k).
HIT_METRICS: dict[str, int] = {"top1": 1, "top5": 5, "R@1": 1, "R@5": 5, "R@10": 10}


def hits(ranks: torch.Tensor, metric: str) -> torch.Tensor:
    """Per-item 0/100 values of a hit metric (`HIT_METRICS`) from 1-based target ranks: their mean is the
    metric, and they are what a bootstrap over items resamples (:func:`bootstrap_ci`)."""
    if metric not in HIT_METRICS:
        raise ValueError(f"{metric!r} is not a per-item hit metric; use one of {', '.join(HIT_METRICS)}")
    return (torch.as_tensor(ranks) <= HIT_METRICS[metric]).double() * 100


def bootstrap_ci(samples, level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of per-sample means, each sample resampled independently.

    One sample (a benchmark's per-item values, e.g. :func:`hits`) gives the CI of that metric. Several
    samples (one per benchmark) give the CI of their average, resampling each benchmark's items on their
    own (a stratified bootstrap). For a PAIRED CI of a difference between two models on the same items,
    pass the per-item differences (model A − model B) of each benchmark: the same resampled items then
    enter both models, and identical models give exactly (0, 0). `scipy.stats.bootstrap` does the
    resampling (`method="percentile"`, seeded).

    Args:
        samples: one 1-D array-like, or a sequence of them.
        level: confidence level.
        n_resamples: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        (low, high); (nan, nan) when a sample has fewer than 2 items (no spread to estimate).
    """
    import numpy as np
    from scipy.stats import bootstrap

    if isinstance(samples, (torch.Tensor, np.ndarray)) or (len(samples) and np.isscalar(samples[0])):
        samples = [samples]
    data = tuple(np.asarray(torch.as_tensor(s).double().cpu(), dtype=np.float64).ravel() for s in samples)
    if not data or min(len(d) for d in data) < 2:
        return float("nan"), float("nan")
    if all(np.ptp(d) == 0 for d in data):  # no spread: every resample gives the same mean
        value = float(np.mean([d.mean() for d in data]))
        return value, value

    def mean_of_means(*xs, axis=-1):
        return np.mean([x.mean(axis=axis) for x in xs], axis=0)

    res = bootstrap(data, mean_of_means, n_resamples=n_resamples, confidence_level=level, method="percentile",
                    paired=False, vectorized=True, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


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
