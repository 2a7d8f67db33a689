"""Test session setup: never touch the network, keep BLAS to one thread per process (2-core CI)."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_BENCHMARKS = REPO.parent / "shared" / "benchmarks"


@pytest.fixture(scope="session")
def shared_benchmarks() -> Path:
    """The real annotation files (CI has ../shared; a user's clone does not)."""
    if not SHARED_BENCHMARKS.is_dir():
        pytest.skip(f"real benchmark annotations not found at {SHARED_BENCHMARKS} (only CI and dev machines "
                    f"have ../shared/benchmarks); these tests check the loaders against the real files")
    return SHARED_BENCHMARKS


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

