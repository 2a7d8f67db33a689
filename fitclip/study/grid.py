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
import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from fitclip.files import write_json

SPEC_FILE = "grid_spec.json"


#: What a finished grid's results were computed from (`grid_fingerprint`), beside its results.
GRID_RECORD = "grid.json"


def fusion_grid(arch: str, pretrained: str, students: Mapping[str, str | os.PathLike], alphas: Sequence[float],
                root: str | os.PathLike, out_dir: str | os.PathLike, *, nproc_per_node: int = 1,
                datasets: Sequence[tuple[str, str | None]] | None = None, timeout_s: float = 7200,
                reuse: bool = True, progress: bool = True, **options: Any) -> tuple[Path, list[str]]:
    """Evaluate every student's α grid on every benchmark (and WebVid-like val), appending to
    ``<out_dir>/alpha_grid.jsonl`` — or reuse the grid evaluated there before when nothing it depends on
    changed.

    A finished grid records its fingerprint in ``<out_dir>/grid.json`` (:func:`grid_fingerprint`: the
    teacher's and students' weights and the annotation files by sha256, the α values, the datasets, the
    options and the evaluation code). A rerun with the same fingerprint whose rows and embedding files are
    all present evaluates nothing and says so (a re-run notebook no longer appends a copy of the same grid);
    anything changed, and the grid is evaluated again (its rows appended: ``read_results(path, models=...)``
    keeps the last).

    Args:
        arch, pretrained: the teacher (an open_clip tag or a weights file).
        students: ``{name: checkpoint}`` (``fitclip.study.recipes.trained_students``).
        alphas: α values in [0, 1].
        root: the benchmarks' root.
        out_dir: the stage folder (results, embeddings/, and the spec when launched under torchrun).
        nproc_per_node: 1 evaluates in this process; more launches torchrun with that many ranks.
        datasets: ``(name, split)`` pairs, or ``(name, split, source)`` for your own folders (:func:`load_entry`);
            default: every benchmark, then WebVid-like val.
        reuse: False evaluates even when the recorded grid matches.
        progress: a progress bar per dataset (tqdm: the notebook's bar in Jupyter) when in this process.
        **options: for ``evaluate`` (skip_broken, batch_size, num_workers, device, precision).

    Returns:
        (the results file, the grid's model names: pass them to ``read_results(path, models=...)``).
    """
    from fitclip.fusion import grid_model

    if nproc_per_node < 1:
        raise ValueError(f"nproc_per_node must be >= 1, got {nproc_per_node}")
    out_dir = Path(out_dir)
    spec = {"arch": arch, "pretrained": str(pretrained), "students": {k: str(v) for k, v in students.items()},
            "alphas": [float(a) for a in alphas], "root": str(root), "out_dir": str(out_dir),
            "datasets": [list(d) for d in (datasets or default_datasets())], "options": dict(options)}
    models = [grid_model(s, a) for s in students for a in spec["alphas"]]
    results = out_dir / "alpha_grid.jsonl"
    fingerprint = grid_fingerprint(spec)
    record_path = out_dir / GRID_RECORD
    previous = json.loads(record_path.read_text()) if record_path.is_file() else None
    recorded = (previous or {}).get("fingerprint", {})
    if reuse and recorded == fingerprint and _complete(out_dir, fingerprint["data"], models):
        print(f"reusing the α grid finished {previous.get('finished', '?')} in {out_dir} ({len(models)} models × "
              f"{len(spec['datasets'])} splits): same teacher, students, α, data, options and evaluation code "
              f"({GRID_RECORD}); nothing evaluated. Delete {record_path} (or pass reuse=False) to evaluate again.",
              flush=True)
        return results, models
    if previous is None:
        why = "no finished grid recorded here"
    elif recorded != fingerprint:
        why = "the recorded grid differs in its " + ", ".join(k for k in fingerprint if fingerprint[k] != recorded.get(k))
    else:
        why = "rows or embedding files of the recorded grid are missing" if reuse else "reuse=False"
    print(f"evaluating the α grid: {len(models)} models × {len(spec['datasets'])} splits ({why})", flush=True)
    if nproc_per_node == 1:
        run({**spec, "options": {**spec["options"], "progress": progress}})
    else:
        from fitclip.study.launch import torchrun

        path = write_json(out_dir / SPEC_FILE, spec)
        torchrun("fitclip.study.grid", ["--spec", str(path)], nproc_per_node=nproc_per_node,
                 log_file=out_dir / "grid.log", timeout_s=timeout_s)
    write_json(record_path, {"fingerprint": fingerprint, "models": models,
                             "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
    return results, models


def load_entry(entry: Sequence[Any], root: str | os.PathLike) -> Any:
    """The annotations of one of the grid's datasets: ``(name, split)`` under `root`, or ``(name, split, source)``
    with ``source = {"dataset", "root", "options"}`` (your own folders, :func:`fitclip.study.custom.grid_datasets`),
    loaded from there and carrying `name` (the results' ``dataset``)."""
    from fitclip.annotations import load_annotations

    name, split, *source = entry
    if not source:
        return load_annotations(name, root, split)
    annotations = load_annotations(source[0]["dataset"], source[0]["root"], split, **source[0].get("options", {}))
    annotations.name = name
    return annotations


def default_datasets() -> list[tuple[str, str | None]]:
    """Every benchmark (its default split), then WebVid-like val (where α is chosen)."""
    from fitclip.study.results import BENCHMARKS

    return [*((name, None) for name in BENCHMARKS), ("webvid", "val")]


def grid_fingerprint(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What a grid's numbers depend on: the teacher's and each student's weights (sha256 of the file, or the
    open_clip tag), the α values, the datasets with the sha256 of every annotation file they read and what their
    videos are (:func:`fitclip.run_data.videos_fingerprint`: a re-rendered world keeps its annotation files), the
    evaluation options (the number of decode workers aside) and the sha256 of the method core's source
    (``fitclip/*.py``), so a change to how anything is scored evaluates the grid again."""
    import fitclip
    from fitclip.files import sha256_file
    from fitclip.run_data import videos_fingerprint

    def weights(value: str) -> str:
        return f"sha256:{sha256_file(value)}" if os.path.isfile(value) else value

    data = {}
    for entry in spec["datasets"]:
        annotations = load_entry(entry, spec["root"])
        data[f"{annotations.name}/{annotations.split}"] = {"annotations": sorted(sha256_file(p) for p in annotations.annotation_files),
                                               "videos": videos_fingerprint(annotations.items)}
    core = sorted(Path(fitclip.__file__).parent.glob("*.py"))
    code = hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in core)).hexdigest()
    return {"arch": spec["arch"], "teacher": weights(spec["pretrained"]),
            "students": {k: weights(v) for k, v in spec["students"].items()}, "alphas": spec["alphas"],
            "data": data, "options": {k: v for k, v in spec["options"].items() if k not in ("num_workers", "progress")},
            "code": code}


def _complete(out_dir: Path, data: Mapping[str, Any], models: Sequence[str]) -> bool:
    """Whether every model has its rows and its embeddings file for every ``"<dataset>/<split>"`` of `data` (the
    fingerprint's, whose splits are resolved already)."""
    from fitclip.evaluate import embeddings_path
    from fitclip.study.results import read_results

    try:
        rows = read_results(out_dir / "alpha_grid.jsonl", models=models)
    except (FileNotFoundError, ValueError):
        return False
    for key in data:
        name, split = key.split("/", 1)
        have = set(rows[(rows["dataset"] == name) & (rows["split"] == split)]["model"])
        if set(models) - have or not all(embeddings_path(out_dir / "embeddings", name, split, m).is_file()
                                         for m in models):
            return False
    return True


def run(spec: Mapping[str, Any]) -> Path:
    """Load the teacher, build the :class:`~fitclip.fusion.FusionGrid` and evaluate it (sharded under torchrun)."""
    from fitclip.distributed import init_from_env
    from fitclip.models import load_clip
    from fitclip.fusion import FusionGrid
    from fitclip.study.recipes import evaluate_alpha_grid

    options = dict(spec["options"])
    device = init_from_env(str(options.pop("device", "auto")))[3]
    teacher = load_clip(spec["arch"], spec["pretrained"], device="cpu")
    models = FusionGrid(teacher, spec["students"], spec["alphas"]).to(device)
    datasets = [tuple(d) for d in spec["datasets"]] if spec.get("datasets") else None
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
