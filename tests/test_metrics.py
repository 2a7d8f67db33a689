"""fitclip.metrics: hand-computed cases, ties, and the 10⁵-scale chunked path."""

import math

import pytest
import torch

import numpy as np

from fitclip.metrics import (bootstrap_ci, class_target_ranks, classification_metrics, hits, metrics_from_ranks,
                             per_class_accuracy, retrieval_metrics, retrieval_ranks_from_embeddings, target_ranks)


def test_ranks_hand_computed():
    s = torch.tensor([[0.9, 0.1, 0.2],   # target best → rank 1
                      [0.5, 0.4, 0.3],   # one higher → rank 2
                      [0.9, 0.8, 0.1]])  # two higher → rank 3
    assert target_ranks(s).tolist() == [1, 2, 3]
    m = retrieval_metrics(s)
    assert m["R@1"] == pytest.approx(100 / 3) and m["R@5"] == 100 and m["R@10"] == 100
    assert m["MdR"] == 2 and m["MnR"] == 2


def test_ties_optimistic_and_pessimistic():
    s = torch.tensor([[0.5, 0.5, 0.5], [0.1, 0.5, 0.5], [0.0, 0.0, 0.0]])
    assert target_ranks(s).tolist() == [1, 1, 1]
    assert target_ranks(s, ties="pessimistic").tolist() == [3, 2, 3]
    with pytest.raises(ValueError, match="ties"):
        target_ranks(s, ties="random")


def test_lower_median_and_recall_thresholds():
    m = metrics_from_ranks(torch.tensor([1, 5, 10, 11]))
    assert m["MdR"] == 5  # lower median of an even count, as torch.median
    assert (m["R@1"], m["R@5"], m["R@10"]) == (25, 50, 75)
    assert m["MnR"] == pytest.approx(6.75)


def test_chunking_does_not_change_ranks():
    s = torch.randn(300, 300)
    assert torch.equal(target_ranks(s, chunk_size=7), target_ranks(s, chunk_size=1000))


def test_bad_shapes():
    with pytest.raises(ValueError, match="n_items >= n_queries"):
        retrieval_metrics(torch.randn(5, 3))


def test_from_embeddings_matches_full_matrix():
    q, v = torch.randn(257, 16), torch.randn(300, 16)
    full = target_ranks(q @ v.t())
    assert torch.equal(retrieval_ranks_from_embeddings(q, v, chunk_size=50), full)


def test_large_retrieval_by_chunks():
    """3·10⁴ × 3·10⁴ scores never exist at once (benchmarks/bench_metrics.py runs 10⁵ × 10⁵)."""
    g = torch.Generator().manual_seed(0)
    n, d = 30_000, 8
    items = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)
    queries = items + 0.01 * torch.randn(n, d, generator=g)
    ranks = retrieval_ranks_from_embeddings(queries, items, chunk_size=2048)
    m = metrics_from_ranks(ranks)
    assert ranks.shape == (n,) and ranks.min() >= 1 and ranks.max() <= n
    assert m["R@1"] > 50 and m["R@10"] >= m["R@5"] >= m["R@1"]


def test_classification_hand_computed():
    scores = torch.tensor([[0.9, 0.1, 0.0, 0.0, 0.0, 0.0],
                           [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],   # target 1 is 5th best → top5 hit only
                           [0.0, 0.05, 0.06, 0.07, 0.1, 0.9]])  # target 0 is 6th: not in top 5
    targets = torch.tensor([0, 1, 0])
    m = classification_metrics(scores, targets)
    assert m["top1"] == pytest.approx(100 / 3) and m["top5"] == pytest.approx(200 / 3)
    acc = per_class_accuracy(scores, targets, num_classes=6)
    assert acc[0] == 50 and acc[1] == 0 and all(math.isnan(x) for x in acc[2:].tolist())
    with pytest.raises(ValueError, match="class indices"):
        classification_metrics(scores, torch.tensor([0, 1, 6]))


def test_classification_with_fewer_than_five_classes():
    m = classification_metrics(torch.tensor([[0.2, 0.8], [0.9, 0.1]]), torch.tensor([0, 0]))
    assert m == {"top1": 50.0, "top5": 100.0}


def test_per_class_rejects_out_of_range_targets_naming_them():
    with pytest.raises(ValueError, match=r"got \[7\]"):
        per_class_accuracy(torch.zeros(2, 3), torch.tensor([0, 7]), num_classes=3)


def test_hits_are_the_metric_per_item():
    ranks = torch.tensor([1, 2, 5, 6, 11])
    assert hits(ranks, "R@1").tolist() == [100, 0, 0, 0, 0]
    assert hits(ranks, "R@5").tolist() == [100, 100, 100, 0, 0]
    assert hits(ranks, "R@5").mean().item() == metrics_from_ranks(ranks)["R@5"]
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.1]])
    targets = torch.tensor([1, 2, 0])
    assert class_target_ranks(scores, targets).tolist() == [1, 2, 2]
    assert hits(class_target_ranks(scores, targets), "top1").mean().item() == \
        pytest.approx(classification_metrics(scores, targets)["top1"])
    with pytest.raises(ValueError, match="MdR"):
        hits(ranks, "MdR")


def test_bootstrap_hand_computed_two_items():
    # Resampling two items {0, 100} gives a mean of 0, 50 or 100 with probabilities 1/4, 1/2, 1/4, so
    # the 2.5th percentile is 0 and the 97.5th is 100.
    assert bootstrap_ci([0.0, 100.0]) == (0.0, 100.0)
    # An average over two benchmarks resamples each on its own: {0, 100} and a constant 100 → (50, 100).
    assert bootstrap_ci([[0.0, 100.0], [100.0, 100.0, 100.0]]) == (50.0, 100.0)


def test_bootstrap_matches_the_normal_approximation_and_is_seeded():
    values = np.r_[np.zeros(300), np.full(300, 100.0)]  # 50 % on 600 items
    low, high = bootstrap_ci(values, seed=1)
    half = 1.96 * math.sqrt(0.25 / 600) * 100  # 4.0 points
    assert low == pytest.approx(50 - half, abs=0.6) and high == pytest.approx(50 + half, abs=0.6)
    assert bootstrap_ci(values, seed=1) == (low, high)
    assert bootstrap_ci(values, level=0.5, seed=1)[1] < high


def test_paired_bootstrap_of_identical_models_is_exactly_zero():
    a = hits(torch.tensor([1, 3, 7, 1, 2, 9]), "R@5")
    assert bootstrap_ci([a - a]) == (0.0, 0.0)
    assert bootstrap_ci([a - a, a[:3] - a[:3]]) == (0.0, 0.0)
    # Two models that agree on 5 of 6 items: the paired difference a − b = (100, 0, 0, 0, 0, 0). A resample
    # holds k copies of the 100 with k ~ Binomial(6, 1/6): P(k = 0) = 0.33 > 2.5 % and P(k <= 2) = 0.94 <
    # 97.5 % <= P(k <= 3) = 0.99, so the interval is (0, 50) -- narrower than either model's own interval.
    b = a.clone()
    b[0] = 0.0
    assert a.tolist() == [100.0, 100.0, 0.0, 100.0, 100.0, 0.0]
    assert bootstrap_ci(a - b) == (0.0, 50.0)
    low, high = bootstrap_ci(a)
    assert high - low > 50.0


def test_bootstrap_with_fewer_than_two_items_has_no_interval():
    low, high = bootstrap_ci([100.0])
    assert math.isnan(low) and math.isnan(high)
