"""Retrieval metrics at 10⁵ × 10⁵ from embeddings, by row chunks (never an N×N matrix).

Usage: python benchmarks/bench_metrics.py
"""

import time

import torch

from _common import write_result
from fitclip.metrics import metrics_from_ranks, retrieval_ranks_from_embeddings

g = torch.Generator().manual_seed(0)
n, d = 100_000, 512
items = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)
queries = torch.nn.functional.normalize(items + 0.05 * torch.randn(n, d, generator=g), dim=-1)
t0 = time.perf_counter()
ranks = retrieval_ranks_from_embeddings(queries, items, chunk_size=2048)
seconds = time.perf_counter() - t0
m = metrics_from_ranks(ranks)
chunk_mib = 2048 * n * 4 / 2**20
path = write_result("metrics", {"n": n, "dim": d, "seconds": seconds, "chunk_scores_mib": chunk_mib,
                                "full_matrix_gib": n * n * 4 / 2**30, "metrics": m})
print(f"| retrieval 10^5 x 10^5, D={d} | {seconds:.1f} s | peak chunk {chunk_mib:.0f} MiB vs full matrix "
      f"{n * n * 4 / 2**30:.0f} GiB |")
print(f"wrote {path}")
