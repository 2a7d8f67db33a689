"""fitclip.metrics: hand-computed cases, ties, and the 10⁵-scale chunked path."""

import math

import pytest
import torch

import numpy as np

from fitclip.metrics import (NonFiniteScores, bootstrap_ci, class_target_ranks, classification_metrics, hits,
                             metrics_from_ranks, per_class_accuracy, ranks_from_counts,
                             retrieval_rank_counts_from_embeddings, retrieval_metrics, retrieval_ranks_from_embeddings,
                             target_rank_counts, target_ranks)


def test_ranks_hand_computed():
    s = torch.tensor([[0.9, 0.1, 0.2],   # target best → rank 1
                      [0.5, 0.4, 0.3],   # one higher → rank 2
                      [0.9, 0.8, 0.1]])  # two higher → rank 3
    assert target_ranks(s).tolist() == [1, 2, 3]
    m = retrieval_metrics(s)
    assert m["R@1"] == pytest.approx(100 / 3) and m["R@5"] == 100 and m["R@10"] == 100
    assert m["MdR"] == 2 and m["MnR"] == 2


def test_ties_take_the_expected_rank_and_the_other_rules_stay_available():
    s = torch.tensor([[0.5, 0.5, 0.5], [0.1, 0.5, 0.5], [0.0, 0.0, 0.0]])
    # row 0: 0 higher, 2 tied -> ranks 1..3 equally likely; row 1: 0 higher, 1 tied -> 1 or 2; row 2: as row 0
    assert target_ranks(s).tolist() == [2.0, 1.5, 2.0]
    assert target_ranks(s, ties="optimistic").tolist() == [1, 1, 1]
    assert target_ranks(s, ties="pessimistic").tolist() == [3, 2, 3]
    better, tied = target_rank_counts(s)
    assert better.tolist() == [0, 0, 0] and tied.tolist() == [2, 1, 2]
    # P(rank <= 1) = 1/3, 1/2, 1/3 -> R@1 = 7/18; every rank is <= 3 -> R@5 = 100
    m = retrieval_metrics(s)
    assert m["R@1"] == pytest.approx(700 / 18) and m["R@5"] == 100
    assert m["MdR"] == 2.0 and m["MnR"] == pytest.approx(11 / 6)
    with pytest.raises(ValueError, match="ties"):
        target_ranks(s, ties="random")


def test_a_nan_model_is_an_error_never_a_perfect_score():
    """Every comparison with NaN is false: counting only 'strictly higher' scores ranked every target first."""
    nan = torch.full((4, 4), float("nan"))
    for call in (lambda: retrieval_metrics(nan), lambda: target_ranks(nan),
                 lambda: classification_metrics(nan, torch.tensor([0, 1, 2, 3])),
                 lambda: per_class_accuracy(nan, torch.tensor([0, 1, 2, 3])),
                 lambda: retrieval_ranks_from_embeddings(torch.full((4, 3), float("nan")), torch.eye(4, 3)),
                 lambda: retrieval_ranks_from_embeddings(torch.eye(4, 3), torch.full((4, 3), float("inf")))):
        with pytest.raises(NonFiniteScores, match="not finite"):
            call()
    one = torch.eye(4)
    one[2, 1] = float("nan")  # a single NaN score is enough
    with pytest.raises(NonFiniteScores, match="1 of 16 values are not finite"):
        retrieval_metrics(one)
    with pytest.raises(NonFiniteScores, match="item embeddings"):
        retrieval_ranks_from_embeddings(torch.eye(4), torch.eye(4) * float("nan"))


def test_a_constant_model_scores_what_guessing_scores():
    """All 20 videos get the same score for every query: each target's rank is uniform on 1..20, so R@k = k/20
    and the expected rank is 10.5 (the optimistic rule gave R@1 = 100)."""
    n = 20
    text = torch.nn.functional.normalize(torch.randn(n, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    video = torch.zeros(n, 8)  # a collapsed model: every video embedding is the same
    better, tied = retrieval_rank_counts_from_embeddings(text, video)
    assert better.tolist() == [0] * n and tied.tolist() == [n - 1] * n
    ranks = ranks_from_counts(better, tied)
    m = metrics_from_ranks(ranks, tied)
    assert m == {"R@1": 5.0, "R@5": 25.0, "R@10": 50.0, "MdR": 10.5, "MnR": 10.5,
                 "MRR": pytest.approx(100 * sum(1 / k for k in range(1, n + 1)) / n)}  # E[1/R], R uniform 1..20
    assert hits(ranks, "R@5", tied).tolist() == [25.0] * n
    c = classification_metrics(torch.ones(n, 10), torch.arange(n) % 10)  # 10 classes, all tied
    assert c == {"top1": pytest.approx(10.0), "top5": pytest.approx(50.0)}
    assert per_class_accuracy(torch.ones(n, 10), torch.arange(n) % 10).tolist() == pytest.approx([10.0] * 10)


def test_a_half_constant_model_gets_credit_only_for_what_it_tells_apart():
    """Videos 0 and 1 are told apart, videos 2 and 3 collapse to one embedding: queries 0 and 1 rank their
    video first; queries 2 and 3 find their video tied with the other one (rank 1 or 2, each with p = 1/2)."""
    text = torch.eye(4)
    video = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0.5, 0.5], [0, 0, 0.5, 0.5]])
    better, tied = retrieval_rank_counts_from_embeddings(text, video)
    assert better.tolist() == [0, 0, 0, 0] and tied.tolist() == [0, 0, 1, 1]
    ranks = ranks_from_counts(better, tied)
    assert ranks.tolist() == [1.0, 1.0, 1.5, 1.5]
    assert hits(ranks, "R@1", tied).tolist() == [100.0, 100.0, 50.0, 50.0]
    m = metrics_from_ranks(ranks, tied)
    assert m == {"R@1": 75.0, "R@5": 100.0, "R@10": 100.0, "MdR": 1.0, "MnR": 1.25,
                 "MRR": pytest.approx((100 + 100 + 75 + 75) / 4)}  # a tied pair: E[1/R] = (1 + 1/2) / 2
    assert hits(ranks, "MRR", tied).tolist() == pytest.approx([100.0, 100.0, 75.0, 75.0])
    # classification: 3 classes, class 1 and 2 share an embedding; samples of classes 0, 1, 2
    scores = torch.tensor([[0.9, 0.2, 0.2], [0.1, 0.7, 0.7], [0.1, 0.7, 0.7]])
    assert classification_metrics(scores, torch.tensor([0, 1, 2])) == {"top1": pytest.approx(200 / 3),
                                                                      "top5": 100.0}
    assert per_class_accuracy(scores, torch.tensor([0, 1, 2])).tolist() == [100.0, 50.0, 50.0]


def test_hits_with_ties_are_probabilities():
    # 3 items higher and 4 others tied: rank uniform on 4..8; P(rank <= 5) = 2/5, P(<= 1) = 0, P(<= 10) = 1
    ranks, tied = ranks_from_counts(torch.tensor([3]), torch.tensor([4])), torch.tensor([4])
    assert ranks.tolist() == [6.0]
    assert [hits(ranks, m, tied).item() for m in ("R@1", "R@5", "R@10")] == [0.0, pytest.approx(40.0), 100.0]
    # without tie information a rank is thresholded as before (files written before ties were kept)
    assert hits(torch.tensor([5, 6]), "R@5").tolist() == [100.0, 0.0]


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
