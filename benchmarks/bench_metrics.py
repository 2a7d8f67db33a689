"""Retrieval metrics at 10⁵ × 10⁵ from embeddings, by row chunks (never an N×N matrix), and what the
NaN check and the tie counts cost: the same chunked pass with the score products alone, in the same run.

Usage: python benchmarks/bench_metrics.py
"""

import time

import torch

from _common import write_result
from fitclip.metrics import metrics_from_ranks, ranks_from_counts, retrieval_rank_counts_from_embeddings

g = torch.Generator().manual_seed(0)
n, d, chunk = 100_000, 512, 2048
items = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)
queries = torch.nn.functional.normalize(items + 0.05 * torch.randn(n, d, generator=g), dim=-1)

t0 = time.perf_counter()
for lo in range(0, n, chunk):  # the scores alone: the floor any ranking by chunks pays
    block = queries[lo:lo + chunk] @ items.t()
products = time.perf_counter() - t0
t0 = time.perf_counter()
better, tied = retrieval_rank_counts_from_embeddings(queries, items, chunk_size=chunk)
seconds = time.perf_counter() - t0
m = metrics_from_ranks(ranks_from_counts(better, tied), tied)
chunk_mib = chunk * n * 4 / 2**20
path = write_result("metrics", {"n": n, "dim": d, "seconds": seconds, "products_only_seconds": products,
                                "ranking_over_products": seconds / products, "chunk_scores_mib": chunk_mib,
                                "full_matrix_gib": n * n * 4 / 2**30, "n_items_tied": int((tied > 0).sum()),
                                "metrics": m})
print(f"| retrieval 10^5 x 10^5, D={d} | {seconds:.1f} s ({seconds / products:.2f} x the score products alone, "
      f"{products:.1f} s) | peak chunk {chunk_mib:.0f} MiB vs full matrix {n * n * 4 / 2**30:.0f} GiB |")
print(f"wrote {path}")
