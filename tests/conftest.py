"""Test session setup: never touch the network, keep BLAS to one thread per process (2-core CI); the smoke run
of every notebook, shared by the tests that need it."""

import os
import subprocess
import sys
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


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """Every notebook (00 → 08) in smoke mode through the pipeline runner, ONCE per test session, into a temp
    `data_root`; returns that data_root. With data_root outside the demo, the artifacts, the figures
    (`<data_root>/figures/`) and the executed notebooks (`<data_root>/runs/`) all go there, so the repo's runs/
    and figures/ are untouched. tests/test_pipeline_smoke.py checks its outputs; tests/test_browser.py opens its
    executed 04_fusion in JupyterLab."""
    env = {k: v for k, v in os.environ.items() if k != "FITCLIP_FIGURES"}
    env["OMP_NUM_THREADS"] = "2"
    data = tmp_path_factory.mktemp("smoke") / "data"
    subprocess.run([sys.executable, "-m", "fitclip.pipeline", "-p", "smoke", "True", "-p", "data_root", str(data),
                    "--quiet"], check=True, timeout=1500, env=env, cwd=REPO)
    return data


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

