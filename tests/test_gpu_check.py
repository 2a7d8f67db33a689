"""benchmarks/gpu_check.sh: its CPU dry mode runs the real code path end to end and writes the JSON schema;
without --dry-run and without a GPU it refuses with one `error:` line (exit 2). Timings are not asserted."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FITCLIP_PYTHON": sys.executable}
    env.pop("FITCLIP_TEST_FAULT", None)
    env.update(extra)
    return env


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_dry_run_writes_the_schema(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([str(SCRIPT), "--dry-run", "--out", str(out)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert str(out) in proc.stdout  # the summary names the file
    r = json.loads(out.read_text())
    assert r["schema"] == "fitclip-gpu-check-v1"
    assert r["mode"] == "dry-run" and r["device"] == "cpu" and r["parameters"]["arch"] == "fitclip-tiny"
    for key in ("device_name", "torch", "timestamp", "parameters", "measurements", "estimates", "assumptions"):
        assert r[key], key
    assert _positive(r["total_seconds"])

    ev = r["measurements"]["eval"]
    assert ev["precision"] == "fp32" and ev["forward_only"]["precision"] == "fp32"
    for part in ("forward_only", "decode_only", "end_to_end"):
        assert _positive(ev[part]["frames_per_s"]), part
    # decoding can only add to the forward passes' cost: end to end is at most about as fast as forward only
    assert 0 < ev["ratio"] <= 1.5, ev
    assert ev["goal"] == 0.8 and ev["goal_met"] == (ev["ratio"] >= 0.8)
    assert ev["grid"]["models"] == 22 and ev["grid"]["distinct_forwards"] == 21
    assert _positive(ev["grid"]["clips_per_s"])

    tr = r["measurements"]["train"]
    for mode in ("cached", "online"):
        assert _positive(tr[mode]["median_step_s"]), mode
        assert len(tr[mode]["step_s"]) == tr["steps"]
        assert all(_positive(t) for t in tr[mode]["step_s"])
    assert _positive(tr["ratio_cached_over_online"])
    pl = r["measurements"]["pseudo_labels"]
    assert pl["shards"] >= 2 and _positive(pl["seconds_per_clip"])

    e = r["estimates"]
    for part in ("training", "validation", "pseudo_labels", "grid"):
        assert _positive(e[part]["seconds"]), part
        assert e[part]["formula"], part
    assert set(e["grid"]["per_benchmark"]) == {"ucf101", "mit", "msrvtt", "youcook2", "didemo"}
    # the estimate of the whole run exceeds its largest part and is not more than all parts together
    parts = [e[p]["seconds"] for p in ("training", "validation", "pseudo_labels", "grid")]
    assert max(parts) < e["total_seconds"] <= sum(parts) * (1 + 1e-9)
    assert {"max_steps", "unlabeled_pool", "benchmark_items", "grid"} <= set(r["assumptions"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible: the real mode would run")
def test_without_dry_run_and_without_cuda_exits_2(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([str(SCRIPT), "--out", str(out)], cwd=tmp_path, env=_env(CUDA_VISIBLE_DEVICES=""),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--dry-run" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
