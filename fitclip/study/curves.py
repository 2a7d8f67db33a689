"""The α curves of stage 04: each student's fused models α = 0 … 1 on every dataset, their bootstrap CIs, the
α chosen on validation, and the α slider.

Inputs are the tidy rows of `fitclip.evaluate` (`fitclip.study.results.read_results`) and, for the intervals,
the per-item ranks its embedding files keep (`04_fusion/embeddings/`). The curves are tidy rows
`{student, alpha, dataset, split, metric, value[, ci_low, ci_high, n]}`; `curve_intervals` adds the CIs and
one `dataset = "average"` row per student and α (the mean of the benchmarks' primary metrics, its CI
resampling each benchmark's items on their own, as the comparison table's average does).
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fitclip.fusion import grid_model
from fitclip.study.confidence import ci_cell
from fitclip.study.results import BENCHMARKS, PRIMARY_METRIC, headline_metric, item_hits

#: The name of the average's rows in `curve_intervals` output (never a dataset's name).
AVERAGE = "average"

#: How a metric is named on an axis or a column.
METRIC_LABELS: dict[str, str] = {"top1": "top-1", "top5": "top-5", "R@1": "R@1", "R@5": "R@5", "R@10": "R@10",
                                 "MRR": "MRR"}


def metric_label(metric: str) -> str:
    """`top1` → "top-1"; other names as they are."""
    return METRIC_LABELS.get(metric, metric)


def alpha_curves(results: pd.DataFrame, metric: str | Mapping[str, str] | None = None) -> pd.DataFrame:
    """Tidy α curves `{student, alpha, dataset, split, metric, value}` from the fused models' rows.

    Args:
        results: `read_results` output.
        metric: one metric for all datasets, a `{dataset: metric}` map, or None for each one's headline
            (`fitclip.study.results.headline_metric`).
    """
    df = results[results["student"].notna() & results["alpha"].notna()].copy()
    df["alpha"] = df["alpha"].astype(float).round(6)  # 0.30000000000000004 and 0.3 are one grid point
    # Your own benchmarks (fitclip.study.custom): top-1 where the rows are a classification's, else R@5.
    task = {d: "classification" if (df.loc[df["dataset"] == d, "metric"] == "top1").any() else "retrieval"
            for d in df["dataset"].unique()}
    wanted = metric if isinstance(metric, Mapping) else (
        {d: metric for d in df["dataset"].unique()} if metric else {d: headline_metric(d, t) for d, t in task.items()})
    df = df[df["metric"] == df["dataset"].map(wanted)]
    cols = ["student", "alpha", "dataset", "split", "metric", "value"]
    return df[cols].sort_values(["student", "dataset", "alpha"]).reset_index(drop=True)


def curve_intervals(curves: pd.DataFrame, embeddings_dir: str | os.PathLike,
                    average_of: Sequence[str] = BENCHMARKS, seed: int = 0, level: float = 0.95,
                    n_resamples: int = 1000) -> pd.DataFrame:
    """`curves` with a bootstrap CI over items for every point (`ci_low`, `ci_high`, `n`), plus one
    `dataset = "average"` row per student and α: the mean of `average_of`'s primary metrics, its CI from a
    stratified bootstrap (each benchmark's items resampled on their own, `fitclip.metrics.bootstrap_ci`).

    The per-item values are the hits `evaluate` saved (`fitclip.study.results.item_hits`: ties count at
    their expected value), so each point's mean is its value in `curves` (checked). Every point uses the
    same resampling seed.

    Raises:
        FileNotFoundError: a grid model's embedding file is missing (the grid was not evaluated with
            `embeddings_dir`).
        ValueError: the saved ranks do not give the curve's value (a file of another run).
    """
    from fitclip.metrics import bootstrap_ci

    rows, hits = [], {}
    for row in curves.itertuples(index=False):
        model = grid_model(row.student, row.alpha)
        _, values = item_hits(embeddings_dir, row.dataset, row.split, model, row.metric)
        if not np.isclose(values.mean(), row.value, atol=1e-6):
            raise ValueError(f"{embeddings_dir}: the saved ranks of {model} on {row.dataset}/{row.split} give "
                             f"{row.metric} {values.mean():.4f}, its row says {row.value:.4f}; the embeddings are "
                             f"from another run: evaluate the grid again (notebooks/04_fusion.ipynb)")
        hits[(row.student, row.alpha, row.dataset)] = values
        low, high = bootstrap_ci(values, level=level, n_resamples=n_resamples, seed=seed)
        rows.append({**row._asdict(), "ci_low": low, "ci_high": high, "n": len(values)})
    out = pd.DataFrame(rows, columns=[*curves.columns, "ci_low", "ci_high", "n"])
    points = curves[["student", "alpha"]].drop_duplicates()
    have = set(curves["dataset"])
    if average_of and set(average_of) <= have:
        metric_of = dict(zip(curves["dataset"], curves["metric"]))
        label = "mean of " + " / ".join(dict.fromkeys(metric_label(metric_of[d]) for d in average_of))
        average = []
        for student, alpha in points.itertuples(index=False):
            parts = [hits.get((student, alpha, d)) for d in average_of]
            if any(p is None for p in parts):
                continue  # this student and α lack a benchmark: no average (as average_curve refuses)
            low, high = bootstrap_ci(parts, level=level, n_resamples=n_resamples, seed=seed)
            average.append({"student": student, "alpha": alpha, "dataset": AVERAGE, "split": "",
                            "metric": label, "value": float(np.mean([p.mean() for p in parts])),
                            "ci_low": low, "ci_high": high, "n": int(sum(len(p) for p in parts))})
        out = pd.concat([out, pd.DataFrame(average, columns=out.columns)], ignore_index=True)
    return out


def average_curve(curves: pd.DataFrame, datasets: Sequence[str]) -> pd.DataFrame:
    """Per student and α, the mean primary metric over `datasets` (each student and α must have all of
    them: a mean over fewer datasets would not be the same average)."""
    part = curves[curves["dataset"].isin(datasets)]
    missing = sorted(set(datasets) - set(part["dataset"]))
    if missing:
        raise ValueError(f"no α-grid results for {missing}; evaluate them first (notebooks/04_fusion.ipynb)")
    have = part.groupby(["student", "alpha"])["dataset"].nunique()
    have = have.reindex(pd.MultiIndex.from_frame(curves[["student", "alpha"]].drop_duplicates()), fill_value=0)
    short = have[have < len(set(datasets))]
    if len(short):
        student, alpha = short.index[0]
        lacks = sorted(set(datasets) - set(part[(part["student"] == student) & (part["alpha"] == alpha)]["dataset"]))
        raise ValueError(f"student {student!r} at α={alpha:g} has no α-grid results for {lacks} (others have); "
                         f"evaluate it on every dataset first (notebooks/04_fusion.ipynb)")
    return part.groupby(["student", "alpha"], as_index=False)["value"].mean()


def choose_alpha(curves: pd.DataFrame, select_on: Sequence[str] = ("webvid",)) -> dict[str, float]:
    """Per student, the α with the best mean primary metric on the selection datasets (ties: smaller α,
    i.e. closer to the teacher)."""
    avg = average_curve(curves, select_on)
    best = avg.sort_values(["student", "value", "alpha"], ascending=[True, False, True]).groupby("student").head(1)
    return {row.student: float(row.alpha) for row in best.itertuples()}


def choice_margin(embeddings_dir: str | os.PathLike, curves: pd.DataFrame, chosen: Mapping[str, float],
                  select_on: Sequence[str] = ("webvid",), seed: int = 0, level: float = 0.95,
                  n_resamples: int = 1000) -> dict[str, dict[str, float]]:
    """How far apart, in CI terms, each student's chosen α and α = 1 (the unfused student) are on the
    validation data that chose it: the mean over `select_on` of (metric at the chosen α − metric at α = 1),
    with a PAIRED bootstrap CI over the validation items (each dataset resampled on its own).

    Returns:
        `{student: {"alpha", "delta", "ci_low", "ci_high", "resolved"}}` (`resolved`: the CI excludes 0).
    """
    from fitclip.metrics import bootstrap_ci

    out = {}
    for student, alpha in chosen.items():
        diffs = []
        for dataset in select_on:
            part = curves[curves["dataset"] == dataset].iloc[0]
            _, at_chosen = item_hits(embeddings_dir, dataset, part["split"], grid_model(student, alpha), part["metric"])
            _, at_one = item_hits(embeddings_dir, dataset, part["split"], grid_model(student, 1.0), part["metric"])
            diffs.append(at_chosen - at_one)
        low, high = bootstrap_ci(diffs, level=level, n_resamples=n_resamples, seed=seed)
        out[student] = {"alpha": float(alpha), "delta": float(np.mean([d.mean() for d in diffs])),
                        "ci_low": low, "ci_high": high, "resolved": bool(low > 0 or high < 0)}
    return out


def alpha_choice(curves: pd.DataFrame, embeddings_dir: str | os.PathLike, select_on: Sequence[str] = ("webvid",),
                 benchmarks: Sequence[str] = BENCHMARKS, seed: int = 0, n_resamples: int = 1000) -> dict[str, Any]:
    """Stage 04's record of the α choice (``chosen_alpha.json``): the validation datasets, the criterion (their
    metric in `curves`: `PRIMARY_METRIC`, MRR for the labeled corpus' val split), the number of validation
    items, the α chosen per student (:func:`choose_alpha`), how far the chosen α is from α = 1 on those items
    (:func:`choice_margin`, paired CI) and, for reference only, the α the benchmarks would have picked."""
    rows = curves[curves["dataset"].isin(select_on)].drop_duplicates("dataset")
    chosen = choose_alpha(curves, select_on)
    return {"select_on": list(select_on), "criterion": " + ".join(dict.fromkeys(rows["metric"])),
            "n_validation": int(rows["n"].sum()) if "n" in rows.columns else None,
            "chosen": chosen,
            "chosen_vs_student": choice_margin(embeddings_dir, curves, chosen, select_on, seed=seed,
                                               n_resamples=n_resamples),
            "best_on_test": choose_alpha(curves, list(benchmarks))}


def choice_text(chosen: Mapping[str, float], select_on: Sequence[str] = ("webvid",)) -> str:
    """The α choice in words, e.g. "chosen on validation (webvid val R@5, ties → smaller α): fitclip α = 1,
    wiseft α = 0.6"."""
    on = ", ".join(f"{d} {metric_label(PRIMARY_METRIC.get(d, '?'))}" for d in select_on)
    picks = ", ".join(f"{s} α = {a:g}" for s, a in chosen.items())
    return f"chosen on validation ({on}; highest, ties → the smaller α): {picks}"


def alpha_table(curves: pd.DataFrame, student: str, datasets: Sequence[str] = BENCHMARKS,
                select_on: Sequence[str] = ()) -> pd.DataFrame:
    """Rows = α; columns = the validation datasets `select_on` (first), `datasets`' primary metric and
    their average (what the α slider shows). The average is the `"average"` rows of `curve_intervals`
    when `curves` has them (same value), else the mean of the columns."""
    part = curves[(curves["student"] == student) & curves["dataset"].isin([*select_on, *datasets])]
    table = part.pivot_table(index="alpha", columns="dataset", values="value")
    table = table[[d for d in [*select_on, *datasets] if d in table.columns]]
    table["average"] = table[[d for d in datasets if d in table.columns]].mean(axis=1)
    return table


def _interval_table(curves: pd.DataFrame, student: str, alpha: float, datasets: Sequence[str],
                    select_on: Sequence[str]) -> dict[str, str]:
    """One slider row: "value [low, high]" per column (one decimal: the CIs are points wide)."""
    part = curves[(curves["student"] == student) & np.isclose(curves["alpha"], alpha)].set_index("dataset")
    cells = {}
    for d in [*select_on, *datasets, AVERAGE]:
        if d not in part.index:
            continue
        row = part.loc[d]
        name = ("average" if d == AVERAGE else
                f"{d} {'val ' if d in select_on else ''}{metric_label(row['metric'])}"
                + (" (chooses α)" if d in select_on else ""))
        cells[name] = ci_cell(row["value"], row.get("ci_low", np.nan), row.get("ci_high", np.nan))
    return cells


def alpha_slider(curves: pd.DataFrame, datasets: Sequence[str] = BENCHMARKS,
                 chosen: Mapping[str, float] | None = None, select_on: Sequence[str] = ("webvid",)):
    """An ipywidgets slider over the α grid showing, per student, the validation metric that chooses α, every
    benchmark's primary metric and their average, each with its 95 % CI when `curves` has them
    (`curve_intervals`), read from the precomputed grid (no model runs when it moves). It starts at the α
    chosen for the first student in `chosen` (else the middle of the grid)."""
    import html

    import ipywidgets as widgets

    students = list(dict.fromkeys(curves["student"]))
    grid = sorted(set(curves["alpha"]))
    start = next(iter(chosen.values())) if chosen else grid[len(grid) // 2]
    start = min(grid, key=lambda a: abs(a - start))
    select_on = [d for d in select_on if d in set(curves["dataset"])]
    slider = widgets.SelectionSlider(options=grid, value=start, description="α",
                                     continuous_update=True, layout=widgets.Layout(width="60%"))
    # An HTML widget whose value is replaced, not an Output widget printed into: executed headless (papermill,
    # nbclient), output captured by an Output widget makes the client send comm messages on the shell channel it
    # is polling for the cell's reply, and a run can hang there (jupyter/nbclient#312); the page reads the same.
    table = widgets.HTML()
    table.add_class("fitclip-alpha-table")  # the page's other HTML widgets are progress bars
    note = choice_text(chosen, select_on) if chosen else "no α chosen"
    intervals = "ci_low" in curves.columns

    def show(change: Any = None) -> None:
        alpha = slider.value
        frame = pd.DataFrame({s: _interval_table(curves, s, alpha, datasets, select_on) for s in students}).T
        line = (f"α = {alpha}: 0 = teacher, 1 = student; {note}."
                + (" Cells: value [95 % bootstrap CI over items], %." if intervals else ""))
        table.value = f"<p>{html.escape(line)}</p>{frame.to_html()}"

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, table])


def average_rows(curves: pd.DataFrame) -> pd.DataFrame:
    """The `"average"` rows of `alpha_curves.csv` (written by `curve_intervals` in stage 04)."""
    rows = curves[curves["dataset"] == AVERAGE].reset_index(drop=True)
    if rows.empty:
        raise ValueError("the α curves hold no 'average' rows: they were written before 04 computed the curves' "
                         "CIs; run notebooks/04_fusion.ipynb again (it reuses the finished grid)")
    return rows


def interval_table(rows: pd.DataFrame, index: str = "alpha", columns: str = "student") -> pd.DataFrame:
    """Tidy rows with `value`, `ci_low`, `ci_high` as a wide table of "value [low, high]" strings (one
    decimal, what intervals a few points wide support)."""
    cells = rows.assign(cell=[ci_cell(v, lo, hi) for v, lo, hi in zip(rows["value"], rows["ci_low"], rows["ci_high"])])
    table = cells.pivot(index=index, columns=columns, values="cell")
    table.columns.name = None
    return table[list(dict.fromkeys(rows[columns]))]
