"""Peak memory and time of an α grid: `python -m fitclip evaluate --arch ViT-B-16 --student S.pt --alpha 0 0.1 … 1`.

The measurement of issue 12: an 11-α grid of ViT-B-16 (random weights; the teacher and a student saved as a
checkpoint, ~0.6 GB each) on a 4-video MSR-VTT-layout benchmark rendered to a temp dir. Each variant runs in
its own fresh process, which reports its peak resident set (``ru_maxrss``) and the wall time of the
``evaluate`` call alone (models already loaded):

* **grid**: the CLI as users run it (:class:`fitclip.fusion.FusionGrid`: the teacher, the student's weights and
  one working copy fused in place per batch);
* **copies**: the same 11 models, one full copy per α ≠ 0 each fused by :func:`fitclip.fusion.fuse` (what the
  CLI did before), the same ``evaluate`` call;
* **one**: a single fused model (α = 0.5) through the CLI's path: the unit of P3.

P3 = grid time ÷ (k × one evaluation), k = 11: below 1 the grid is cheaper than evaluating each model on its
own (it decodes once); the fusion per batch is part of the grid's time. Decoding is tiny here (4 videos),
so P3 mostly says what fusing in place costs next to encoding.

Usage: ``.venv/bin/python benchmarks/bench_grid.py`` (about 4 minutes on 2 CPU cores); writes
``benchmarks/results/grid.json`` and prints a markdown table.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALPHAS = [round(i / 10, 1) for i in range(11)]


def _render(root: Path, n: int = 4) -> Path:
    """bench_eval's MSR-VTT-layout dataset: `n` benchmark-like 320x240 clips (4 s at 25 fps)."""
    from bench_eval import VIDEO_SPECS, render_dataset

    render_dataset(root, VIDEO_SPECS["240p"], n)
    return root / "240p"


def _copies(teacher, student: str, alphas: list[float]) -> dict:
    """The grid as one full model copy per α ≠ 0 (α = 0 is the teacher), each fused by `fuse`."""
    from fitclip.fusion import fuse, grid_model
    from fitclip.models import EvalModel, clone_model, load_clip

    teacher_state = teacher.clip.state_dict()
    student_state = load_clip(teacher.arch, student).clip.state_dict()
    models = {}
    for alpha in alphas:
        model = teacher
        if alpha != 0.0:
            model = clone_model(teacher)
            model.clip.load_state_dict(fuse(teacher_state, student_state, alpha), strict=True)
            model.eval()
        models[grid_model("fused", alpha)] = EvalModel(model, alpha=alpha, weights={"student": student},
                                                       student="fused")
    return models


def child(variant: str, data_root: str, student: str) -> dict:
    """One variant in this (fresh) process: build the models as the CLI does, time `evaluate`, report peak RSS."""
    import torch

    from fitclip.evaluate import evaluate
    from fitclip.fusion import FusionGrid
    from fitclip.models import load_clip

    torch.manual_seed(0)
    teacher = load_clip("ViT-B-16", None)
    alphas = [0.5] if variant == "one" else ALPHAS
    models = (_copies(teacher, student, alphas) if variant == "copies"
              else FusionGrid(teacher, {"fused": student}, alphas))
    t0 = time.perf_counter()
    rows = evaluate(models, "msrvtt", data_root, progress=False, num_workers=0, batch_size=16)
    seconds = time.perf_counter() - t0
    return {"variant": variant, "models": len(alphas), "evaluate_seconds": seconds, "rows": len(rows),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:])))
        return 0
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import write_result

    import torch

    from fitclip.files import save_state
    from fitclip.models import load_clip, model_file_state

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data_root = _render(tmp / "bench")
        torch.manual_seed(1)
        student = save_state(model_file_state(load_clip("ViT-B-16", None)), tmp / "student.pt")
        results = {}
        for variant in ("grid", "copies", "one"):
            done = subprocess.run([sys.executable, __file__, "--child", variant, str(data_root), str(student)],
                                  env=env, cwd=REPO, capture_output=True, text=True, check=True, timeout=1800)
            results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
            print(results[variant], flush=True)
    k = len(ALPHAS)
    p3 = results["grid"]["evaluate_seconds"] / (k * results["one"]["evaluate_seconds"])
    result = {"arch": "ViT-B-16", "alphas": ALPHAS, "videos": 4, "frames_per_video": 4, **results, "P3": p3,
              "P3_definition": "grid evaluate seconds / (k x one fused model's evaluate seconds), k = 11",
              "goal": "grid peak RSS <= 3 GB"}
    path = write_result("grid", result)
    print("| variant | models | peak RSS (GB) | evaluate (s) |\n|---|---|---|---|")
    for v in ("grid", "copies", "one"):
        r = results[v]
        print(f"| {v} | {r['models']} | {r['peak_rss_gb']:.2f} | {r['evaluate_seconds']:.1f} |")
    print(f"P3 = {p3:.2f}; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
