"""Zero-shot metrics: retrieval recalls and ranks, classification accuracy, and their bootstrap CIs.

**Ties.** A target's rank is its EXPECTED rank when the items that share its score are put in a uniformly
random order: with ``b`` items scored strictly higher and ``t`` others scored exactly the same,
``rank = b + 1 + t/2``, and a hit within ``k`` counts ``P(rank <= k) = clip((k - b) / (t + 1), 0, 1)``
(:func:`hits`), so R@k, top-k and the mean rank are exactly their expectations under random tie-breaking.
Why this rule: a model gains nothing from ties and loses nothing either. A collapsed model (every score
equal) gets what guessing gets (R@1 = 100/n, mean rank (n+1)/2), never 100 %, which the earlier
"optimistic" rule (count only strictly higher scores) gave it; the "pessimistic" rule (count every tie
against the target) would instead give a model that cannot tell two identical videos apart 0 for both,
although any order of the two is as good. The original FitCLIP code (``aligner/metrics.py``: the target's
position in ``argsort(descending=True)``) breaks ties by the sort's internal order, arbitrary but about
random for a constant model; CLIP4Clip-style ``compute_metrics`` (``np.where(sort(-x) == diag)``) counts a
row once per tied position, an average over tied positions weighted by each row's tie count. Both are
close to this rule on ties; neither is defined for NaN. Here **non-finite scores are an error**
(:class:`NonFiniteScores`): every comparison with NaN is false, which used to rank every target first.

Only ``tie_rule="optimistic"`` / ``"pessimistic"`` remain as options, for comparison with other code.
"""

from __future__ import annotations

import torch

TIE_RULES = ("expected", "optimistic", "pessimistic")
TIE_RULE_TEXT = ("rank = 1 + #items scored higher + #others tied with the target / 2 (the expected rank under "
                 "random tie-breaking); a hit within k counts P(rank <= k); non-finite scores are an error")


class NonFiniteScores(ValueError):
    """Scores (or the embeddings they come from) hold NaN or infinity: a broken model, never a metric."""


def check_finite(x: torch.Tensor, what: str) -> None:
    """Raise :class:`NonFiniteScores` naming `what` when `x` holds NaN or ±inf."""
    x = torch.as_tensor(x)
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        nan = int(torch.isnan(x).sum())
        raise NonFiniteScores(f"{what}: {bad} of {x.numel()} values are not finite ({nan} NaN, {bad - nan} "
                              f"infinite)")


def _check_rule(ties: str) -> None:
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {', '.join(TIE_RULES)}, got {ties!r}")


def _block_counts(block: torch.Tensor, first_target: int, checked: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(#items scored strictly higher, #other items scored the same) for rows `block[i]` whose target is
    column `first_target + i`; `checked`: the caller knows every score is finite (no NaN pass needed)."""
    if not checked:
        check_finite(block, "scores")
    rows = torch.arange(block.shape[0], device=block.device)
    target = block[rows, rows + first_target].unsqueeze(1)
    better = (block > target).sum(dim=1)
    tied = (block == target).sum(dim=1) - 1  # the target equals itself
    return better.cpu(), tied.cpu()


def ranks_from_counts(better: torch.Tensor, tied: torch.Tensor, ties: str = "expected") -> torch.Tensor:
    """1-based float64 ranks from the counts of items scored higher and of others tied with the target."""
    _check_rule(ties)
    better, tied = torch.as_tensor(better).double(), torch.as_tensor(tied).double()
    return better + 1 + {"expected": tied / 2, "optimistic": 0 * tied, "pessimistic": tied}[ties]


def target_rank_counts(scores: torch.Tensor, chunk_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """(better, tied) int64 ``[n_queries]`` of a ``[n_queries, n_items]`` score matrix whose query i's target is
    item i, computed in row chunks (memory beyond `scores`: ``chunk_size × n_items`` booleans).

    Raises:
        NonFiniteScores: a score is NaN or infinite.
    """
    if scores.ndim != 2 or scores.shape[1] < scores.shape[0]:
        raise ValueError(f"scores must be [n_queries, n_items] with n_items >= n_queries (query i's target is "
                         f"item i), got {tuple(scores.shape)}")
    n = scores.shape[0]
    better, tied = torch.empty(n, dtype=torch.long), torch.empty(n, dtype=torch.long)
    for lo in range(0, n, chunk_size):
        b, t = _block_counts(scores[lo:lo + chunk_size], lo)
        better[lo:lo + len(b)], tied[lo:lo + len(t)] = b, t
    return better, tied


def target_ranks(scores: torch.Tensor, ties: str = "expected", chunk_size: int = 1024) -> torch.Tensor:
    """Rank of each query's target (item i for query i), 1-based float64, by the tie rule (module docstring).

    Args:
        scores: `[n_queries, n_items]` with n_items ≥ n_queries; may be a memory-mapped tensor.
        ties: "expected" (default), "optimistic" (ties count for the target) or "pessimistic" (against it).
        chunk_size: rows per chunk.
    """
    _check_rule(ties)
    return ranks_from_counts(*target_rank_counts(scores, chunk_size), ties)


def metrics_from_ranks(ranks: torch.Tensor, tied: torch.Tensor | None = None) -> dict[str, float]:
    """`{"R@1", "R@5", "R@10", "MdR", "MnR", "MRR"}` from 1-based target ranks.

    Recalls are percentages (0–100), the mean of :func:`hits` (expected hits when `tied`, the number of
    others tied with each target, is given); MdR is the lower median (as `torch.median`) of the ranks, MnR
    their mean, and MRR the mean reciprocal rank in percent (:func:`reciprocal_ranks`).
    """
    ranks = torch.as_tensor(ranks)
    if ranks.numel() == 0:
        raise ValueError("no queries to score (empty ranks)")
    r = ranks.double()
    out = {f"R@{k}": float(hits(r, f"R@{k}", tied).mean()) for k in (1, 5, 10)}
    out["MdR"] = float(torch.median(r))
    out["MnR"] = float(r.mean())
    out["MRR"] = float(reciprocal_ranks(r, tied).mean())
    return out


def retrieval_metrics(scores: torch.Tensor, chunk_size: int = 1024) -> dict[str, float]:
    """Retrieval metrics of a `[n_queries, n_items]` score matrix where query i's target is item i (expected
    ranks under random tie-breaking; non-finite scores raise :class:`NonFiniteScores`)."""
    better, tied = target_rank_counts(scores, chunk_size=chunk_size)
    return metrics_from_ranks(ranks_from_counts(better, tied), tied)


def retrieval_rank_counts_from_embeddings(queries: torch.Tensor, items: torch.Tensor,
                                          chunk_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """(better, tied) for cosine/dot scores `queries @ items.T`, never materialising the full matrix.

    Use this for 10⁵ × 10⁵ retrieval: only `chunk_size × n_items` scores exist at a time.

    Args:
        queries: `[n, D]` (e.g. text embeddings); query i's target is item i.
        items: `[m, D]` with m ≥ n (e.g. video embeddings).

    Raises:
        NonFiniteScores: an embedding or a score is NaN or infinite (naming which side).
    """
    if items.shape[0] < queries.shape[0]:
        raise ValueError(f"need at least as many items as queries, got {items.shape[0]} < {queries.shape[0]}")
    check_finite(queries, "query embeddings")
    check_finite(items, "item embeddings")
    # Finite embeddings give finite dot products unless |q|·|v|·D overflows: then no score needs a NaN pass.
    bound = float(queries.abs().max()) * float(items.abs().max()) * queries.shape[1] if queries.numel() else 0.0
    checked = bound < torch.finfo(torch.promote_types(queries.dtype, items.dtype)).max / 2
    n = queries.shape[0]
    better, tied = torch.empty(n, dtype=torch.long), torch.empty(n, dtype=torch.long)
    for lo in range(0, n, chunk_size):
        b, t = _block_counts(queries[lo:lo + chunk_size] @ items.t(), lo, checked)
        better[lo:lo + len(b)], tied[lo:lo + len(t)] = b, t
    return better, tied


def retrieval_ranks_from_embeddings(queries: torch.Tensor, items: torch.Tensor, ties: str = "expected",
                                    chunk_size: int = 4096) -> torch.Tensor:
    """Target ranks (float64, by the tie rule) of :func:`retrieval_rank_counts_from_embeddings`."""
    _check_rule(ties)
    return ranks_from_counts(*retrieval_rank_counts_from_embeddings(queries, items, chunk_size), ties)


def class_rank_counts(scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(#classes scored strictly higher than the target, #other classes scored the same) per sample of
    scores `[N, C]`; non-finite scores raise :class:`NonFiniteScores`."""
    scores, targets = torch.as_tensor(scores), torch.as_tensor(targets)
    if scores.ndim != 2 or targets.shape != scores.shape[:1]:
        raise ValueError(f"need scores [N, C] and targets [N], got {tuple(scores.shape)} and {tuple(targets.shape)}")
    if scores.shape[0] == 0:
        raise ValueError("no samples to score")
    bad = targets[(targets < 0) | (targets >= scores.shape[1])]
    if bad.numel():
        raise ValueError(f"targets must be class indices in [0, {scores.shape[1]}), got {bad[:5].tolist()}")
    check_finite(scores, "class scores")
    target = scores.gather(1, targets[:, None].long())
    return (scores > target).sum(dim=1), (scores == target).sum(dim=1) - 1


def class_target_ranks(scores: torch.Tensor, targets: torch.Tensor, ties: str = "expected") -> torch.Tensor:
    """1-based float64 rank of each sample's target class among its scores `[N, C]`, by the tie rule."""
    return ranks_from_counts(*class_rank_counts(scores, targets), ties)


def classification_metrics(scores: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """`{"top1", "top5"}` accuracy in percent for scores `[N, C]` and int targets `[N]` (expected hits under
    random tie-breaking); with fewer than 5 classes every sample is correct at 5."""
    better, tied = class_rank_counts(scores, targets)
    out = classification_metrics_from_ranks(ranks_from_counts(better, tied), tied)
    del out["MdR"]
    return out


def classification_metrics_from_ranks(ranks: torch.Tensor, tied: torch.Tensor | None = None) -> dict[str, float]:
    """`{"top1", "top5", "MdR"}` from 1-based target-class ranks (:func:`class_target_ranks`): accuracy at 1
    and 5 in percent (the mean of :func:`hits`, expected hits when `tied` is given), and the lower median
    rank of the target class (the original's ``mr``)."""
    r = torch.as_tensor(ranks).double()
    if r.numel() == 0:
        raise ValueError("no samples to score (empty ranks)")
    out = {f"top{k}": float(hits(r, f"top{k}", tied).mean()) for k in (1, 5)}
    out["MdR"] = float(torch.median(r))
    return out


#: The rank threshold behind each "hit within k" metric (percent of items whose target rank is <= k).
HIT_METRICS: dict[str, int] = {"top1": 1, "top5": 5, "R@1": 1, "R@5": 5, "R@10": 10}


def hits(ranks: torch.Tensor, metric: str, tied: torch.Tensor | None = None) -> torch.Tensor:
    """Per-item values in [0, 100] of a hit metric (`HIT_METRICS`): their mean is the metric, and they are
    what a bootstrap over items resamples (:func:`bootstrap_ci`).

    Args:
        ranks: 1-based target ranks; with `tied`, the expected ranks ``b + 1 + t/2`` (the default rule).
        metric: a key of `HIT_METRICS` (e.g. "R@5", "top1").
        tied: per item, how many others share the target's score (``t``); then an item scores
            ``100 · P(rank <= k) = 100 · clip((k - b) / (t + 1), 0, 1)`` under random tie-breaking. None (no
            tie information, e.g. files written before it was kept): ``100`` when ``rank <= k``, else 0.
    """
    if metric == "MRR":
        return reciprocal_ranks(ranks, tied)
    if metric not in HIT_METRICS:
        raise ValueError(f"{metric!r} is not a per-item metric; use MRR or one of {', '.join(HIT_METRICS)}")
    k = HIT_METRICS[metric]
    r = torch.as_tensor(ranks).double()
    if tied is None:
        return (r <= k).double() * 100
    t = torch.as_tensor(tied).double()
    better = r - 1 - t / 2
    return ((k - better) / (t + 1)).clamp(0, 1) * 100


def reciprocal_ranks(ranks: torch.Tensor, tied: torch.Tensor | None = None) -> torch.Tensor:
    """Per-item reciprocal ranks of the target, in percent (100 / rank): their mean is the MRR (×100).

    With `tied` (``t`` others share the target's score, `ranks` the expected ranks ``b + 1 + t/2``) an item
    scores its expectation under random tie-breaking, ``100 · E[1/R]`` with R uniform on ``b+1 … b+t+1``:
    ``100 · (H(b+t+1) − H(b)) / (t+1)`` (harmonic numbers, via the digamma function), so a collapsed model
    scores what guessing scores. Unlike R@k, every rank counts (1/1, 1/2, 1/3, …), so two models that
    differ below the top k still differ: the criterion with less variance that stage 04 chooses α by.
    """
    r = torch.as_tensor(ranks).double()
    if tied is None:
        return 100.0 / r
    t = torch.as_tensor(tied).double()
    b = r - 1 - t / 2
    expected = 100.0 * (torch.special.digamma(b + t + 2) - torch.special.digamma(b + 1)) / (t + 1)
    return torch.where(t == 0, 100.0 / r, expected)  # untied: exactly 100 / rank


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
    data = tuple(np.array(s.detach().double().cpu().numpy() if isinstance(s, torch.Tensor) else s,
                          dtype=np.float64).ravel() for s in samples)  # a copy: read-only inputs are fine
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


def top1_hits(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample top-1 hits in [0, 100] of scores `[N, C]` for int targets `[N]`: 100 when the target class
    scores highest, its probability under random tie-breaking when tied (:func:`hits`); their mean is top-1."""
    better, tied = class_rank_counts(scores, targets)
    return hits(ranks_from_counts(better, tied), "top1", tied)


def per_class_accuracy(scores: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Top-1 accuracy (percent) per class, float64 `[C]` (expected hits under random tie-breaking, as
    :func:`classification_metrics`); NaN for classes with no sample."""
    scores, targets = torch.as_tensor(scores), torch.as_tensor(targets)
    c = num_classes if num_classes is not None else scores.shape[1]
    bad = targets[(targets < 0) | (targets >= c)]
    if bad.numel():
        raise ValueError(f"targets must be class indices in [0, {c}), got {bad[:5].tolist()}; pass num_classes")
    correct = top1_hits(scores, targets)
    count = torch.bincount(targets, minlength=c).double()
    total = torch.bincount(targets, weights=correct, minlength=c)
    acc = total / count
    acc[count == 0] = float("nan")
    return acc
