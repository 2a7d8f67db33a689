"""Shared by the benchmark scripts: environment record and atomic result files."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def environment() -> dict:
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d")}


def write_result(name: str, result: dict) -> Path:
    """Write `benchmarks/results/<name>.json` atomically (the project's one writer) and return its path."""
    from fitclip.files import write_json

    return write_json(RESULTS / f"{name}.json", {**result, "environment": environment()})


def best_of(fn, repeat: int = 3) -> float:
    """Best wall time of `repeat` calls, in seconds (the least disturbed run)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
