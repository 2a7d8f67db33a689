"""The study's result rows and how they are named: the benchmarks and each one's headline metric, reading
the tidy rows `fitclip.evaluate` wrote (`results.jsonl`: `{model, student, alpha, dataset, split, metric, value,
n_expected, n_evaluated, n_failed}`) and the per-item hits of its embedding files, the comparison table's rows and
each training seed's students, the benchmarks' default splits, the synthetic world's manifest and the dataset
doctor's summary. What is built from them: bootstrap CIs (`fitclip.study.confidence`), the verdicts
(`fitclip.study.verdicts`), stage 05's report (`fitclip.study.tables`), per-class and per-query views
(`fitclip.study.views`), the α curves and their selection (`fitclip.study.curves`).

Naming: the α grid of a student is evaluated as models `fitclip.fusion.grid_model(student, α)`
(`"<student>-alpha<α>"`, see `fitclip.fusion.FusionGrid`), with the students `"fitclip"` (λ > 0) and
`"wiseft"` (λ = 0, plain fine-tuning then fusion, the WiSE-FT baseline). α = 0 is the teacher for both.
The rows carry `student` and `alpha` as columns and the tables read those; only `read_results` recovers
them from the name, for files written before the `student` column existed (`_fill_student`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from fitclip.files import read_jsonl
from fitclip.fusion import grid_model

BENCHMARKS: tuple[str, ...] = ("ucf101", "mit", "msrvtt", "youcook2", "didemo")
#: The metric each dataset is summarised by: the paper's headline column (Table 3, supp. Table 6 and
#: supp. Fig. 3): top-1 for classification, R@5 for text→video retrieval. α is chosen on the labeled
#: corpus' validation split by the mean reciprocal rank (MRR), fixed before the benchmarks were looked at
#: (issue 18 §2): every rank counts, so it has far less variance than R@5, which on 300 videos could not
#: tell α = 0.6 from α = 1 (the paper chooses by R@5).
PRIMARY_METRIC: dict[str, str] = {"ucf101": "top1", "mit": "top1", "msrvtt": "R@5", "youcook2": "R@5",
                                  "didemo": "R@5", "webvid": "MRR", "validation": "MRR"}
#: Your own benchmarks' headline (`fitclip.study.custom`), by task: the paper's rule.
TASK_HEADLINE: dict[str, str] = {"classification": "top1", "retrieval": "R@5"}


def headline_metric(dataset: str, task: str | None = None) -> str:
    """A dataset's headline metric: `PRIMARY_METRIC`'s, else (your own benchmarks) top-1 for classification and
    R@5 for retrieval."""
    if dataset in PRIMARY_METRIC:
        return PRIMARY_METRIC[dataset]
    if task in TASK_HEADLINE:
        return TASK_HEADLINE[task]
    raise KeyError(f"no headline metric for dataset {dataset!r} (task {task!r})")


def read_results(path: str | os.PathLike, models: Iterable[str] | None = None) -> pd.DataFrame:
    """Metric rows of an `evaluate` JSON-lines file; a rerun's rows replace earlier ones (last wins).

    Args:
        path: the file `evaluate(..., out=path)` appended to.
        models: keep only these model names (e.g. the models of the latest α grid, so rows of models
            an earlier run evaluated but this one did not can never leak into the tables).

    Raises:
        FileNotFoundError: no such file.
        fitclip.files.TornLine: a line that is not a whole JSON record (a ``ValueError`` naming the file
            and the line).
        ValueError: the file holds no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; it is written by fitclip.evaluate.evaluate(..., out=...)")
    df = pd.DataFrame(read_jsonl(path))  # a torn or foreign line is an error naming the file and the line
    for column in ("model", "dataset", "split", "metric"):
        if column in df.columns:
            df[column] = df[column].astype(str)
    if df.empty:
        raise ValueError(f"{path} holds no metric rows")
    if models is not None:
        df = df[df["model"].isin(list(models))]
    df = _fill_student(df)
    return df.drop_duplicates(["model", "dataset", "split", "metric"], keep="last").reset_index(drop=True)


def _fill_student(df: pd.DataFrame) -> pd.DataFrame:
    """The `student` column for rows written before `evaluate` wrote it: the one place a grid model's
    name is read back, and only where the name is exactly `grid_model(student, alpha)` of its row."""
    df = df.copy()
    if "student" not in df.columns:
        df["student"] = None
    df["student"] = df["student"].astype(object).where(df["student"].notna(), None)
    for i in df.index[df["student"].isna() & df["alpha"].notna()]:
        name, alpha = df.at[i, "model"], float(df.at[i, "alpha"])
        prefix = name.rsplit("-alpha", 1)[0]
        if "-alpha" in name and grid_model(prefix, alpha) == name:
            df.at[i, "student"] = prefix
    return df


def doctor_summary(reports: Mapping[str, Any]) -> pd.DataFrame:
    """One row per checked dataset split: items, videos, ok, problems by cause."""
    rows = []
    for name, report in reports.items():
        rows.append({"dataset": name, "split": report.split, "items": len(report.rows), "videos": report.n_videos,
                     "ok": len(report.rows) - len(report.problems), "problems": len(report.problems),
                     "causes": ", ".join(f"{c}: {n}" for c, n in report.by_cause.items()) or "-"})
    return pd.DataFrame(rows)


#: The comparison table's rows: label -> (student, which α). "chosen" = the α chosen on validation.
TABLE_ROWS: dict[str, tuple[str, str | float]] = {"Teacher": ("fitclip", 0.0), "Student": ("fitclip", 1.0),
                                                  "FitCLIP": ("fitclip", "chosen"), "WiSE-FT": ("wiseft", "chosen")}


def item_hits(embeddings_dir: str | os.PathLike, dataset: str, split: str, model: str,
              metric: str | None = None) -> tuple[list[str], np.ndarray]:
    """Per-item values in [0, 100] of `metric` (default: the dataset's primary metric) for one evaluated model,
    from the target ranks and ties `evaluate` saved (0 or 100, or the probability of a hit when the target
    is tied with other items: :func:`fitclip.metrics.hits`); returns (item keys, values). Their mean is the
    metric."""
    from fitclip.evaluate import embeddings_path, load_embeddings
    from fitclip.metrics import hits

    emb = load_embeddings(embeddings_path(embeddings_dir, dataset, split, model))
    metric = metric or headline_metric(dataset, emb.get("task"))
    return list(emb["keys"]), hits(emb["ranks"], metric, emb.get("tied")).numpy()


def table_hits(embeddings_dir: str | os.PathLike, chosen: Mapping[str, float], splits: Mapping[str, str],
               rows: Mapping[str, tuple[str, str | float]] = TABLE_ROWS) -> dict[str, dict[str, np.ndarray]]:
    """`{row label: {dataset: per-item values}}` for the comparison table, all rows on the same items.

    Args:
        embeddings_dir: `04_fusion/embeddings`.
        chosen: `{student: α}` chosen on validation (`choose_alpha`).
        splits: `{dataset: split}` of the benchmarks (their order is the table's column order).
        rows: see `TABLE_ROWS`; rows whose student was not evaluated are left out.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    keys: dict[str, list[str]] = {}
    for label, (student, alpha) in rows.items():
        if alpha == "chosen":
            if student not in chosen:
                continue
            alpha = chosen[student]
        values = {}
        for dataset, split in splits.items():
            try:
                item_keys, values[dataset] = item_hits(embeddings_dir, dataset, split, grid_model(student, alpha))
            except FileNotFoundError:
                if label in ("Teacher", "Student", "FitCLIP"):
                    raise
                break
            if keys.setdefault(dataset, item_keys) != item_keys:
                raise ValueError(f"{dataset}: {label} was evaluated on other items than {next(iter(out))}; evaluate "
                                 f"every model of the grid in one run (notebooks/04_fusion.ipynb)")
        else:
            out[label] = values
    return out


def benchmark_splits(datasets: Sequence[str] = BENCHMARKS) -> dict[str, str]:
    """`{dataset: its default split}`: the splits `evaluate` uses when none is given (as 04 does); your own
    benchmarks (`fitclip.study.custom`) are folders."""
    from fitclip.annotations import SPECS

    return {name: SPECS[name if name in SPECS else "folder"].default_split for name in datasets}


def table_rows(fitclip: str = "fitclip", wiseft: str = "wiseft") -> dict[str, tuple[str, str | float]]:
    """`TABLE_ROWS` for one training seed's pair of students."""
    return {"Teacher": (fitclip, 0.0), "Student": (fitclip, 1.0), "FitCLIP": (fitclip, "chosen"),
            "WiSE-FT": (wiseft, "chosen")}


def seed_suffix(seed: int, first: int) -> str:
    """The students of the first training seed are `fitclip`/`wiseft`; others `fitclip-seed<k>`/…."""
    return "" if seed == first else f"-seed{seed}"


def world_info(world_root: str | os.PathLike) -> dict[str, Any]:
    """What the synthetic world's manifest (`<root>/world.json`) says about the study: each benchmark's
    domain and the order-only class pairs of ucf101 and mit. `{}` for real data (no manifest)."""
    import json

    path = Path(world_root) / "world.json"
    if not path.is_file():
        return {}
    world = json.loads(path.read_text(encoding="utf-8"))
    pair = world["order_only_pair"]
    ucf = dict(zip(world["classes"]["ucf101"]["folders"], world["classes"]["ucf101"]["names"]))
    grow, shrink = pair["mit_suffix"]
    mit = [(c, c[: -len(grow)] + shrink) for c in world["classes"]["mit"] if c.endswith(grow)]
    return {"domains": dict(world["benchmark_domains"]),
            "control": {"ucf101": [tuple(ucf[f] for f in pair["ucf101"])], "mit": mit}}
