"""Uncertainty over items: bootstrap CIs of every cell of the comparison table (and the benchmarks'
average), paired differences A − B with a paired bootstrap CI, and the "value [low, high]" cells and wide
frames they are shown as. Inputs are `{row label: {dataset: per-item values}}`
(`fitclip.study.results.table_hits`); outputs are tidy pandas DataFrames.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fitclip.study.results import PRIMARY_METRIC

#: Paired differences reported beside the table (A − B on the same items).
COMPARISONS: tuple[tuple[str, str], ...] = (("Student", "Teacher"), ("FitCLIP", "Teacher"), ("WiSE-FT", "Teacher"),
                                            ("FitCLIP", "Student"), ("FitCLIP", "WiSE-FT"))


def ci_table(hits_by_row: Mapping[str, Mapping[str, np.ndarray]], seed: int = 0, level: float = 0.95,
             n_resamples: int = 2000, metrics: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Tidy `{model, dataset, metric, value, ci_low, ci_high, n}` with a bootstrap CI over items for every
    cell, plus an `average` column (the mean of the benchmarks, each resampled on its own). `metrics` names
    each dataset's metric (default `PRIMARY_METRIC`'s).
    `n_resamples=0` gives the values only (CIs NaN)."""
    from fitclip.metrics import bootstrap_ci as _bootstrap_ci

    def bootstrap_ci(*args: Any, **kwargs: Any) -> tuple[float, float]:
        return (float("nan"), float("nan")) if n_resamples == 0 else _bootstrap_ci(*args, **kwargs)

    rows = []
    for label, by_dataset in hits_by_row.items():
        for dataset, values in by_dataset.items():
            low, high = bootstrap_ci(values, level=level, n_resamples=n_resamples, seed=seed)
            rows.append({"model": label, "dataset": dataset, "metric": (metrics or PRIMARY_METRIC).get(dataset, "?"),
                         "value": float(np.mean(values)), "ci_low": low, "ci_high": high, "n": len(values)})
        low, high = bootstrap_ci(list(by_dataset.values()), level=level, n_resamples=n_resamples, seed=seed)
        rows.append({"model": label, "dataset": "average", "metric": "mean",
                     "value": float(np.mean([np.mean(v) for v in by_dataset.values()])), "ci_low": low,
                     "ci_high": high, "n": int(sum(len(v) for v in by_dataset.values()))})
    return pd.DataFrame(rows)


def paired_differences(hits_by_row: Mapping[str, Mapping[str, np.ndarray]],
                       comparisons: Sequence[tuple[str, str]] = COMPARISONS, seed: int = 0, level: float = 0.95,
                       n_resamples: int = 2000) -> pd.DataFrame:
    """Tidy `{comparison, a, b, dataset, delta, ci_low, ci_high, excludes_zero}`: A − B in points with a
    PAIRED bootstrap CI (the same resampled items for both models), per benchmark and for the average."""
    from fitclip.metrics import bootstrap_ci

    rows = []
    for a, b in comparisons:
        if a not in hits_by_row or b not in hits_by_row:
            continue
        diffs = {d: hits_by_row[a][d] - hits_by_row[b][d] for d in hits_by_row[a]}
        for dataset, values in [*diffs.items(), ("average", None)]:
            sample = list(diffs.values()) if values is None else values
            low, high = bootstrap_ci(sample, level=level, n_resamples=n_resamples, seed=seed)
            delta = float(np.mean([np.mean(v) for v in diffs.values()])) if values is None else float(np.mean(values))
            rows.append({"comparison": f"{a} − {b}", "a": a, "b": b, "dataset": dataset, "delta": delta,
                         "ci_low": low, "ci_high": high, "excludes_zero": bool(low > 0 or high < 0)})
    return pd.DataFrame(rows)


def ci_cell(value: float, low: float, high: float, mark: str = "") -> str:
    """A table cell: "value [low, high]" with one decimal (what intervals a few points wide support), the value
    alone when there is no interval (NaN), then `mark` (e.g. " *")."""
    if np.isnan(low):
        return f"{value:.1f}{mark}"
    return f"{value:.1f} [{low:.1f}, {high:.1f}]{mark}"


def format_ci_table(table: pd.DataFrame, alphas: Mapping[str, float] | None = None) -> pd.DataFrame:
    """`ci_table` as a wide frame of "value [low, high]" strings (rows: models; columns: benchmarks,
    average, and α when given)."""
    wide = table.assign(cell=[ci_cell(v, lo, hi) for v, lo, hi in zip(table["value"], table["ci_low"], table["ci_high"])])
    out = wide.pivot(index="model", columns="dataset", values="cell")
    out = out.loc[list(dict.fromkeys(table["model"])), list(dict.fromkeys(table["dataset"]))]
    if alphas is not None:
        out["α"] = [f"{alphas[m]:g}" if m in alphas else "" for m in out.index]
    out.index.name = None
    out.columns.name = None
    return out


def format_differences(diffs: pd.DataFrame) -> pd.DataFrame:
    """`paired_differences` as "Δ [low, high]" strings; `*` marks a CI that excludes 0."""
    cells = [ci_cell(d, lo, hi, " *" if ex else "") for d, lo, hi, ex in
             zip(diffs["delta"], diffs["ci_low"], diffs["ci_high"], diffs["excludes_zero"])]
    out = diffs.assign(cell=cells).pivot(index="comparison", columns="dataset", values="cell")
    out = out.loc[list(dict.fromkeys(diffs["comparison"])), list(dict.fromkeys(diffs["dataset"]))]
    out.index.name = None
    out.columns.name = None
    return out
