"""The text of ``evaluate``'s metric rows: the markdown table ``fitclip evaluate`` prints (a CI beside each metric
that has one) and the later peers' summary over test splits (mean ± sample std, each split's CI)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["HEADLINE_METRICS", "format_split_summary", "format_table", "split_summary"]


#: The headline metric of each task (the paper's: top-1 for classification; R@5 for retrieval).
HEADLINE_METRICS: dict[str, str] = {"classification": "top1", "retrieval": "R@5"}


def split_summary(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = ("top1", "R@5")) -> list[dict[str, Any]]:
    """Mean ± standard deviation over splits, as the peers' protocol reports (benchmarks README §8), with each
    split's value and bootstrap CI: one record per (model, dataset, metric) with ``splits`` (in order),
    ``values``, ``ci`` (``[low, high]`` per split), ``mean`` and ``std`` (the sample standard deviation,
    ddof = 1; None with one split). Rows of a metric not in `metrics` are left out."""
    import statistics

    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        if r["metric"] in metrics:
            groups.setdefault((r["model"], r["dataset"], r["metric"]), []).append(r)
    out = []
    for (model, dataset, metric), group in groups.items():
        values = [float(r["value"]) for r in group]
        out.append({"model": model, "alpha": group[0].get("alpha"), "dataset": dataset, "metric": metric,
                    "splits": [r["split"] for r in group], "values": values,
                    "ci": [[r.get("ci_low"), r.get("ci_high")] for r in group],
                    "mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None})
    return out


def format_split_summary(summary: Sequence[Mapping[str, Any]]) -> str:
    """Lines like ``hmdb51 top1, model M: 53.33 ± 2.10 over splits 1, 2, 3 (split 1: 55.00 [45.00, 63.33]; ...)``."""
    lines = []
    for s in summary:
        spread = "" if s["std"] is None else f" ± {s['std']:.2f}"
        parts = "; ".join(f"split {k}: {v:.2f}" + ("" if lo is None else f" [{lo:.2f}, {hi:.2f}]")
                          for k, v, (lo, hi) in zip(s["splits"], s["values"], s["ci"]))
        lines.append(f"{s['dataset']} {s['metric']}, {s['model']}: {s['mean']:.2f}{spread} "
                     f"(mean ± sample std over splits {', '.join(s['splits'])}; 95 % CI of each: {parts})")
    return "\n".join(lines)


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A small markdown table: one line per (model, dataset, split), one column per metric (2 decimals), a
    metric with a CI as ``value [low, high]``."""
    import pandas as pd

    groups: dict[tuple, dict[str, Any]] = {}
    metrics: list[str] = []
    for r in rows:
        key = (r["model"], r["dataset"], r["split"])
        value = f"{r['value']:.2f}"  # text, so a column of values with and without CIs prints alike
        if r.get("ci_low") is not None and r.get("ci_high") is not None:
            value += f" [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
        groups.setdefault(key, {"model": r["model"], "alpha": r["alpha"], "dataset": r["dataset"],
                                "split": r["split"]})[r["metric"]] = value
        groups[key].update(n_evaluated=r["n_evaluated"], n_failed=r["n_failed"])
        if r["metric"] not in metrics:
            metrics.append(r["metric"])
    columns = ["model", "alpha", "dataset", "split", *metrics, "n_evaluated", "n_failed"]
    table = pd.DataFrame(list(groups.values()), columns=columns).astype(object)
    table = table.where(table.notna(), None)  # a missing metric or alpha prints as an empty cell
    floatfmt = ["g", "g", "g", "g", *[".2f"] * len(metrics), "g", "g"]
    return table.to_markdown(index=False, floatfmt=floatfmt, missingval="")
