"""Stage 04's α grid, in this process or under torchrun: ``fusion_grid(...)`` from a notebook cell, and
``python -m fitclip.study.grid --spec FILE`` (what that cell launches with ``torchrun --nproc_per_node=N``).

One process evaluates the grid in the notebook's kernel; with ``nproc_per_node > 1`` the cell writes the grid's
spec (arch, teacher weights, students, α values, options) to ``<out_dir>/grid_spec.json`` and launches
``torchrun -m fitclip.study.grid`` (:func:`fitclip.study.launch.torchrun`): each rank decodes and encodes its
shard of every benchmark, rank 0 scores and appends the rows (:func:`fitclip.evaluate.evaluate`). Both paths
run :func:`run`, so their rows are the same.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from fitclip.checkpoint import write_json

SPEC_FILE = "grid_spec.json"


def fusion_grid(arch: str, pretrained: str, students: Mapping[str, str | os.PathLike], alphas: Sequence[float],
                root: str | os.PathLike, out_dir: str | os.PathLike, *, nproc_per_node: int = 1,
                datasets: Sequence[tuple[str, str | None]] | None = None, timeout_s: float = 7200,
                **options: Any) -> tuple[Path, list[str]]:
    """Evaluate every student's α grid on every benchmark (and WebVid-like val), appending to
    ``<out_dir>/alpha_grid.jsonl``.

    Args:
        arch, pretrained: the teacher (an open_clip tag or a weights file).
        students: ``{name: checkpoint}`` (``fitclip.study.recipes.trained_students``).
        alphas: α values in [0, 1].
        root: the benchmarks' root.
        out_dir: the stage folder (results, embeddings/, and the spec when launched under torchrun).
        nproc_per_node: 1 evaluates in this process; more launches torchrun with that many ranks.
        datasets: ``(name, split)`` pairs (default: every benchmark, then WebVid-like val).
        **options: for ``evaluate`` (skip_broken, batch_size, num_workers, device, precision).

    Returns:
        (the results file, the grid's model names: pass them to ``read_results(path, models=...)``).
    """
    from fitclip.fusion import grid_model

    if nproc_per_node < 1:
        raise ValueError(f"nproc_per_node must be >= 1, got {nproc_per_node}")
    spec = {"arch": arch, "pretrained": str(pretrained), "students": {k: str(v) for k, v in students.items()},
            "alphas": [float(a) for a in alphas], "root": str(root), "out_dir": str(out_dir),
            "datasets": None if datasets is None else [list(d) for d in datasets], "options": dict(options)}
    if nproc_per_node == 1:
        results = run(spec)
    else:
        from fitclip.study.launch import torchrun

        path = write_json(Path(out_dir) / SPEC_FILE, spec)
        torchrun("fitclip.study.grid", ["--spec", str(path)], nproc_per_node=nproc_per_node,
                 log_file=Path(out_dir) / "grid.log", timeout_s=timeout_s)
        results = Path(out_dir) / "alpha_grid.jsonl"
    return results, [grid_model(s, a) for s in students for a in spec["alphas"]]


def run(spec: Mapping[str, Any]) -> Path:
    """Load the teacher, build the :class:`~fitclip.fusion.FusionGrid` and evaluate it (sharded under torchrun)."""
    from fitclip.distributed import init_from_env
    from fitclip.models import load_clip
    from fitclip.study.recipes import alpha_grid, evaluate_alpha_grid

    options = dict(spec["options"])
    device = init_from_env(str(options.pop("device", "auto")))[3]
    teacher = load_clip(spec["arch"], spec["pretrained"], device="cpu")
    models = alpha_grid(teacher, spec["students"], spec["alphas"], device=device)
    datasets = None if spec.get("datasets") is None else [tuple(d) for d in spec["datasets"]]
    return evaluate_alpha_grid(models, spec["root"], spec["out_dir"], datasets, device=device, **options)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fitclip.study.grid", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True, help=f"the grid's spec ({SPEC_FILE}, written by fusion_grid)")
    args = parser.parse_args(argv)
    from fitclip.distributed import shutdown

    try:
        run(json.loads(args.spec.read_text()))
    finally:
        shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
