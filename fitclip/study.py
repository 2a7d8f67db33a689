"""The study's tables: α curves, α selection, the Teacher / Student / FitCLIP / WiSE-FT comparison,
per-class differences and per-query ranks. Inputs are the tidy rows written by `fitclip.evaluate`
(`{model, alpha, dataset, split, metric, value, n_expected, n_evaluated, n_failed}`) and its embedding
files; outputs are pandas DataFrames the notebooks show, save and plot.

Naming: the α grid of a student is evaluated as models `"<student>-alpha<α>"` (see
`fitclip.evaluate.fused_models`), with the students `"fitclip"` (λ > 0) and `"wiseft"` (λ = 0, plain
fine-tuning then fusion, the WiSE-FT baseline). α = 0 is the teacher for both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from fitclip.checkpoint import write_json  # noqa: F401  (re-exported for the notebooks)

BENCHMARKS: tuple[str, ...] = ("ucf101", "mit", "msrvtt", "youcook2", "didemo")
#: The metric each dataset is summarised by (the paper's headline column).
PRIMARY_METRIC: dict[str, str] = {"ucf101": "top1", "mit": "top1", "msrvtt": "R@1", "youcook2": "R@1",
                                  "didemo": "R@1", "webvid": "R@1"}
ALPHA_GRID: tuple[float, ...] = tuple(round(i / 10, 1) for i in range(11))
#: Metrics where lower is better (ranks); everything else is a percentage, higher is better.
LOWER_IS_BETTER = frozenset({"MdR", "MnR", "mr"})


def read_results(path: str | os.PathLike, models: Iterable[str] | None = None) -> pd.DataFrame:
    """Metric rows of an `evaluate` JSON-lines file; a rerun's rows replace earlier ones (last wins).

    Args:
        path: the file `evaluate(..., out=path)` appended to.
        models: keep only these model names (e.g. the models of the latest α grid, so rows of models
            an earlier run evaluated but this one did not can never leak into the tables).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; it is written by fitclip.evaluate.evaluate(..., out=...)")
    df = pd.read_json(path, lines=True, dtype={"model": str, "dataset": str, "split": str, "metric": str})
    if df.empty:
        raise ValueError(f"{path} holds no metric rows")
    if models is not None:
        df = df[df["model"].isin(list(models))]
    return df.drop_duplicates(["model", "dataset", "split", "metric"], keep="last").reset_index(drop=True)


def alpha_curves(results: pd.DataFrame, metric: str | Mapping[str, str] | None = None) -> pd.DataFrame:
    """Tidy α curves `{student, alpha, dataset, split, metric, value}` from the fused models' rows.

    Args:
        results: `read_results` output.
        metric: one metric for all datasets, a `{dataset: metric}` map, or None for `PRIMARY_METRIC`.
    """
    df = results[results["model"].str.contains("-alpha", regex=False) & results["alpha"].notna()].copy()
    df["student"] = df["model"].str.rsplit("-alpha", n=1).str[0]
    df["alpha"] = df["alpha"].astype(float).round(6)  # 0.30000000000000004 and 0.3 are one grid point
    wanted = metric if isinstance(metric, Mapping) else (
        {d: metric for d in df["dataset"].unique()} if metric else PRIMARY_METRIC)
    df = df[df["metric"] == df["dataset"].map(wanted)]
    cols = ["student", "alpha", "dataset", "split", "metric", "value"]
    return df[cols].sort_values(["student", "dataset", "alpha"]).reset_index(drop=True)


def average_curve(curves: pd.DataFrame, datasets: Sequence[str]) -> pd.DataFrame:
    """Per student and α, the mean primary metric over `datasets` (all of them must be present)."""
    part = curves[curves["dataset"].isin(datasets)]
    missing = sorted(set(datasets) - set(part["dataset"]))
    if missing:
        raise ValueError(f"no α-grid results for {missing}; evaluate them first (notebooks/04_fusion.ipynb)")
    return part.groupby(["student", "alpha"], as_index=False)["value"].mean()


def choose_alpha(curves: pd.DataFrame, select_on: Sequence[str] = ("webvid",)) -> dict[str, float]:
    """Per student, the α with the best mean primary metric on the selection datasets (ties: smaller α,
    i.e. closer to the teacher)."""
    avg = average_curve(curves, select_on)
    best = avg.sort_values(["student", "value", "alpha"], ascending=[True, False, True]).groupby("student").head(1)
    return {row.student: float(row.alpha) for row in best.itertuples()}


def alpha_table(curves: pd.DataFrame, student: str, datasets: Sequence[str] = BENCHMARKS) -> pd.DataFrame:
    """Rows = α, columns = datasets' primary metric plus their average (what the α slider shows)."""
    part = curves[(curves["student"] == student) & curves["dataset"].isin(datasets)]
    table = part.pivot_table(index="alpha", columns="dataset", values="value")
    table = table[[d for d in datasets if d in table.columns]]
    table["average"] = table.mean(axis=1)
    return table


def benchmark_table(curves: pd.DataFrame, chosen: Mapping[str, float], datasets: Sequence[str] = BENCHMARKS,
                    fitclip: str = "fitclip", wiseft: str = "wiseft") -> pd.DataFrame:
    """Teacher vs Student vs FitCLIP vs WiSE-FT across benchmarks (like the paper's Tables 3 and 6).

    Rows: `Teacher` (α=0), `Student` (FitCLIP student, α=1), `FitCLIP` (its α from `chosen`),
    `WiSE-FT` (the λ=0 student fused at its α from `chosen`, if evaluated). Columns: each dataset's
    primary metric and their average, plus `alpha`.
    """
    rows = {"Teacher": (fitclip, 0.0), "Student": (fitclip, 1.0), "FitCLIP": (fitclip, chosen.get(fitclip))}
    if wiseft in set(curves["student"]):
        rows["WiSE-FT"] = (wiseft, chosen.get(wiseft))
    out = []
    for label, (student, alpha) in rows.items():
        if alpha is None:
            raise ValueError(f"no α chosen for {student!r}; pass chosen={{{student!r}: α}}")
        table = alpha_table(curves, student, datasets)
        if alpha not in table.index:
            raise ValueError(f"α={alpha} is not in the evaluated grid of {student!r} ({list(table.index)})")
        out.append(table.loc[alpha].rename(label).to_frame().T.assign(alpha=alpha))
    return pd.concat(out)


def improvement_table(table: pd.DataFrame, reference: str = "Teacher") -> pd.DataFrame:
    """Δ (points) and error-rate reduction (%) of every row against `reference`.

    Error-rate reduction = (err_ref − err) / err_ref × 100 with err = 100 − metric (metrics in %).
    """
    metrics = table.drop(columns=["alpha"], errors="ignore")
    ref = metrics.loc[reference]
    delta = metrics.sub(ref, axis=1)
    err_ref = 100 - ref
    err_red = ((err_ref - (100 - metrics)) / err_ref.replace(0, np.nan) * 100)
    return pd.concat({"Δ": delta.drop(index=reference), "error-rate reduction %": err_red.drop(index=reference)})


def alpha_slider(curves: pd.DataFrame, datasets: Sequence[str] = BENCHMARKS, chosen: Mapping[str, float] | None = None):
    """An ipywidgets slider over the α grid that shows every benchmark's metric and their average for
    each student, read from the precomputed grid (no model runs when it moves)."""
    import ipywidgets as widgets
    from IPython.display import display

    students = list(dict.fromkeys(curves["student"]))
    tables = {s: alpha_table(curves, s, datasets) for s in students}
    grid = sorted(set().union(*(t.index for t in tables.values())))
    slider = widgets.SelectionSlider(options=grid, value=grid[len(grid) // 2], description="α",
                                     continuous_update=True, layout=widgets.Layout(width="60%"))
    out = widgets.Output()

    def show(change: Any = None) -> None:
        alpha = slider.value
        frame = pd.DataFrame({s: t.loc[alpha] for s, t in tables.items() if alpha in t.index}).T
        out.clear_output(wait=True)
        with out:
            note = f" (chosen on validation: {dict(chosen)})" if chosen else ""
            print(f"α = {alpha}: 0 = teacher, 1 = student{note}")
            display(frame.round(2))

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, out])


def doctor_summary(reports: Mapping[str, Any]) -> pd.DataFrame:
    """One row per checked dataset split: items, videos, ok, problems by cause."""
    rows = []
    for name, report in reports.items():
        rows.append({"dataset": name, "split": report.split, "items": len(report.rows), "videos": report.n_videos,
                     "ok": len(report.rows) - len(report.problems), "problems": len(report.problems),
                     "causes": ", ".join(f"{c}: {n}" for c, n in report.by_cause.items()) or "-"})
    return pd.DataFrame(rows)


def per_class_difference(base: Mapping[str, Any], other: Mapping[str, Any]) -> pd.DataFrame:
    """Per-class top-1 of two classification embedding files (`fitclip.evaluate.load_embeddings`) and
    their difference `other − base` (points), one row per class with at least one sample."""
    from fitclip.metrics import per_class_accuracy

    if list(base["keys"]) != list(other["keys"]):
        raise ValueError("the two embedding files cover different videos; evaluate both on the same items")
    names = list(base["classnames"])
    acc_b = per_class_accuracy(base["scores"], base["targets"], len(names))
    acc_o = per_class_accuracy(other["scores"], other["targets"], len(names))
    counts = torch.bincount(torch.as_tensor(base["targets"]), minlength=len(names))
    df = pd.DataFrame({"class": names, "videos": counts.numpy(), "base": acc_b.numpy(), "other": acc_o.numpy()})
    df = df[df["videos"] > 0].copy()
    df["difference"] = df["other"] - df["base"]
    return df.sort_values("difference", ascending=False).reset_index(drop=True)


def query_ranks(files: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Tidy per-query ranks `{dataset, model, key, rank}` from retrieval embedding files keyed by model label."""
    frames = []
    for label, emb in files.items():
        frames.append(pd.DataFrame({"dataset": emb["dataset"], "model": label, "key": list(emb["keys"]),
                                    "rank": torch.as_tensor(emb["ranks"]).numpy()}))
    return pd.concat(frames, ignore_index=True)


def models_for_alphas(names: Iterable[str]) -> list[str]:
    """Sorted distinct student prefixes among `"<student>-alpha<α>"` model names."""
    return sorted({n.rsplit("-alpha", 1)[0] for n in names if "-alpha" in n})


def tidy_table(table: pd.DataFrame) -> pd.DataFrame:
    """`benchmark_table` output as tidy rows `{model, alpha, dataset, metric, value}` (one per cell)."""
    rows = []
    for model, row in table.iterrows():
        for dataset, value in row.drop(labels=["alpha"], errors="ignore").items():
            rows.append({"model": model, "alpha": float(row.get("alpha", np.nan)), "dataset": dataset,
                         "metric": PRIMARY_METRIC.get(dataset, "average"), "value": float(value)})
    return pd.DataFrame(rows)
