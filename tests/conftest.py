"""Test session setup: never touch the network, keep BLAS to one thread per process (2-core CI); the benchmark
files the harness tests build on (the toy world's, on any clone; the real ones in ../shared where present); the
smoke run of every notebook, shared by the tests that need it.

``FITCLIP_SHARED`` overrides where the real files are looked for (default ``../shared``): point it at a
missing folder to run the suite as a user's clone does (``FITCLIP_SHARED=/nonexistent make test``)."""

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
SHARED = Path(os.environ.get("FITCLIP_SHARED") or REPO.parent / "shared")
SHARED_BENCHMARKS = SHARED / "benchmarks"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """Where ../shared is looked for (it may be absent: tests that need a file in it skip when it is)."""
    return SHARED


@pytest.fixture(scope="session")
def shared_benchmarks() -> Path:
    """The real annotation files (CI has ../shared; a user's clone does not). Only tests of facts of the real
    files use it; the harness, doctor and parser tests build on :func:`toy_benchmarks`."""
    if not SHARED_BENCHMARKS.is_dir():
        pytest.skip(f"real benchmark annotations not found at {SHARED_BENCHMARKS} (only CI and dev machines "
                    f"have ../shared/benchmarks); this test checks facts of the real files")
    return SHARED_BENCHMARKS


#: The toy world the harness tests draw their annotation rows from: every benchmark, a few items each.
TOY_SIZES = dict(n_stills=0, webvid_train=8, webvid_val=4, webvid_labeled=4, ucf101_per_class=2, mit_videos=8,
                 msrvtt_videos=8, youcook2_videos=3, didemo_videos=3)


@pytest.fixture(scope="session")
def toy_benchmarks(tmp_path_factory) -> Path:
    """A data root holding every benchmark's annotation files in its official layout, as the toy world's writers
    write them (``fitclip.toyworld.plan_world``: planned, no video rendered, milliseconds). Read-only for tests:
    the ``helpers.make_<dataset>`` builders copy rows from it and render their own small videos."""
    from fitclip.toyworld import WorldConfig, plan_world

    root = tmp_path_factory.mktemp("toy_benchmarks")
    for rel, text in plan_world(0, WorldConfig(**TOY_SIZES)).files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8", newline="")
    return root


@pytest.fixture(scope="session")
def toy_world(tmp_path_factory) -> tuple[Path, dict]:
    """The smoke toy world rendered once per session (annotation files AND videos): ``(root, manifest)``."""
    from fitclip.toyworld import render_world

    root = tmp_path_factory.mktemp("toy_world")
    return root, render_world(root, seed=0, smoke=True, progress=False)


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
    log = data.parent / "pipeline.log"  # what the runner printed (tests/test_pipeline_smoke.py reads it)
    with open(log, "w") as f:
        done = subprocess.run([sys.executable, "-m", "fitclip.pipeline", "-p", "smoke", "True", "-p", "data_root",
                               str(data), "--quiet"], stdout=f, stderr=subprocess.STDOUT, timeout=1500, env=env, cwd=REPO)
    if done.returncode:
        raise RuntimeError(f"the smoke run failed (exit {done.returncode}):\n{log.read_text()[-6000:]}")
    return data


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

