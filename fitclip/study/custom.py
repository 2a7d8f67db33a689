"""The study on your own videos (issue 20 §5): ``python -m fitclip.pipeline 01 02 03 04 05 -p world custom
-p video_folder DIR -p labeled_csv labeled.csv -p val_csv val.csv -p benchmarks '["DIR2:captions=test.csv"]'``.

Stage 01 (:func:`prepare_custom`) checks every video of the labeled set, the validation set, the pool and each
benchmark with the doctor (one table; any problem stops the stage with the doctor's summary of each, before
02 runs), and writes ``datasets.json`` with ``world = "custom"``: the trainer's keys for your folder
(``video_folder``, ``labeled_csv``, ``val_csv``, the pool), the benchmarks' names and where each comes from.
Stages 02–03 train from those keys (:func:`fitclip.study.recipes.run_config`); 04 evaluates the α grid on your
benchmarks and on your validation captions (:func:`grid_datasets`, named ``validation``: α is chosen there by
MRR, as for WebVid-like val); 05 tabulates your benchmarks with CIs and paired differences. The paper's
verdicts, the regime and the published tables are the synthetic or real world's, not shown for yours.

A benchmark is ``FOLDER:KEY=VALUE`` (more options joined by ``:``): ``my_test:captions=captions.csv`` (text→video
retrieval over ``path,caption[,start,end]``, R@5 its headline) or ``my_classes:classes=subfolders``
(classification over the class folders' names, top-1); its name is the folder's name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from fitclip.files import write_json

#: The name of your validation captions in the α grid (04 chooses α on it: MRR).
VALIDATION = "validation"


def parse_benchmark(spec: str) -> tuple[str, dict[str, Any]]:
    """``"FOLDER:KEY=VALUE[:KEY=VALUE]"`` → (its name: the folder's name, ``{"dataset": "folder", "root", "options"}``)."""
    folder, *options = spec.split(":")
    pairs = [o.partition("=") for o in options]
    if not folder or not options or any(not k or not sep for k, sep, _ in pairs):
        raise ValueError(f"benchmark {spec!r}: write FOLDER:captions=FILE.csv (retrieval) or FOLDER:classes=subfolders "
                         "(classification)")
    root = Path(folder).expanduser().resolve()
    return root.name, {"dataset": "folder", "root": str(root), "options": {k: v for k, _, v in pairs}}


def prepare_custom(out_dir: str | os.PathLike, video_folder: str, labeled_csv: str, val_csv: str,
                   pool_captions: str, benchmarks: Sequence[str], num_workers: int = 2) -> dict[str, Any]:
    """Check your data with the doctor and write ``<out_dir>/datasets.json`` (``world = "custom"``).

    Args:
        video_folder: the folder of your training videos (labeled set, validation set and pool).
        labeled_csv, val_csv: captions files of it (``path,caption[,start,end]``; no video in both).
        pool_captions: captions file of the pool, or "" (uncaptioned: 02 and 03 then need ``unlabeled_text`` = a
            prompts file).
        benchmarks: ``FOLDER:KEY=VALUE`` specs (:func:`parse_benchmark`), each outside `video_folder`.

    Returns:
        The index written, with ``doctor`` (one row per checked set).

    Raises:
        ValueError: a bad parameter (named, with the fix) or videos with problems (every set's doctor summary).
    """
    from fitclip.doctor import doctor
    from fitclip.study.results import BENCHMARKS, doctor_summary

    folder = Path(video_folder).expanduser().resolve() if video_folder else None
    if folder is None or not folder.is_dir():
        raise ValueError(f"world='custom' needs video_folder = the folder of your videos; {video_folder!r} is not one")
    if not benchmarks:
        raise ValueError("world='custom' needs benchmarks, e.g. -p benchmarks '[\"my_test:captions=captions.csv\"]'")
    sources = dict(parse_benchmark(spec) for spec in benchmarks)
    if len(sources) != len(benchmarks) or set(sources) & {*BENCHMARKS, "webvid", VALIDATION, "average"}:
        raise ValueError(f"benchmarks {list(benchmarks)}: each needs its own folder name, not one of "
                         f"{[*BENCHMARKS, 'webvid', VALIDATION, 'average']}")
    inside = [n for n, s in sources.items() if Path(s["root"]).is_relative_to(folder)]
    if inside:
        raise ValueError(f"benchmark(s) {inside} lie inside video_folder {folder}, whose videos are the unlabeled pool: "
                         "move them beside it")
    sets = {"labeled": {"dataset": "folder", "root": str(folder), "options": {"captions": labeled_csv}},
            VALIDATION: {"dataset": "folder", "root": str(folder), "options": {"captions": val_csv}},
            "pool": {"dataset": "folder", "root": str(folder),
                     "options": {"captions": pool_captions} if pool_captions else {}},
            **sources}
    out_dir = Path(out_dir)
    reports = {name: doctor(s["dataset"], s["root"], out_dir=out_dir / "doctor" / name, num_workers=num_workers,
                            dataset_options=s["options"]) for name, s in sets.items()}
    bad = [r.format_summary() for r in reports.values() if not r.ok]
    if bad:
        raise ValueError("your videos have problems; fix or drop each (the manifests under "
                         f"{out_dir / 'doctor'} list them):\n" + "\n".join(bad))
    index = {"world": "custom", "root": str(folder), "benchmarks": list(sources), "select_on": [VALIDATION],
             "video_folder": str(folder), "labeled_csv": labeled_csv, "val_csv": val_csv,
             "unlabeled": {"name": "folder", "path": str(folder), "exclude_labeled": True,
                           **({"captions": pool_captions} if pool_captions else {})},
             "sources": {name: s for name, s in sets.items() if name not in ("labeled", "pool")},
             "n_labeled": len(reports["labeled"].rows),
             "doctor": doctor_summary(reports).to_dict(orient="records")}
    write_json(out_dir / "datasets.json", index)
    return index


def grid_datasets(index: dict[str, Any]) -> list[list[Any]] | None:
    """The α grid's datasets for a ``datasets.json``: None (the default: the five benchmarks, then WebVid-like val)
    for the synthetic and real worlds; for yours, ``[name, None, source]`` per benchmark, then the validation
    captions (:func:`fitclip.study.grid.load_entry` reads each)."""
    if index.get("world") != "custom":
        return None
    return [[name, None, index["sources"][name]] for name in [*index["benchmarks"], VALIDATION]]
