"""The later peers' zero-shot protocol in the study (notebook 12): the chosen models on the three test splits of
UCF101, HMDB51 and the K600 zero-shot classes, as mean ± std over splits with each split's CI, in a table of its
own beside the peers' published numbers (``fitclip/data/peers_published.csv``, copied unchanged from the project's
record with each number's source). Never mixed with FitCLIP's protocol (stage 05's tables).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from fitclip.annotations import PEER_SPLITS, AnnotationError
from fitclip.fusion import grid_model
from fitclip.report import split_summary
from fitclip.study.results import TABLE_ROWS

#: The peers' three benchmarks, in their tables' order.
PEER_DATASETS: tuple[str, ...] = ("ucf101", "hmdb51", "k600_zs")
PEERS_COLUMNS = ("method", "venue", "backbone", "trained_on", "benchmark", "protocol", "metric", "value", "std",
                 "source")


def peer_datasets(datasets: Sequence[str] = PEER_DATASETS) -> list[tuple[str, str]]:
    """``(dataset, split)`` for every split of the peers' protocol, as ``fusion_grid(datasets=...)`` takes them."""
    return [(d, k) for d in datasets for k in PEER_SPLITS]


def load_peers_published() -> pd.DataFrame:
    """The 27 published numbers of the peers' protocol (``fitclip/data/peers_published.csv``: method, venue,
    backbone, trained_on, benchmark, protocol, metric, value, std, source); top-1 %, mean (± std where the
    source gives it) over the three splits."""
    from importlib import resources

    with resources.files("fitclip").joinpath("data/peers_published.csv").open("r", encoding="utf-8") as f:
        frame = pd.read_csv(f)
    if tuple(frame.columns) != PEERS_COLUMNS:
        raise AnnotationError(f"peers_published.csv: columns {list(frame.columns)}, expected {list(PEERS_COLUMNS)}")
    return frame


def split_rows(results: pd.DataFrame, chosen: Mapping[str, float],
               rows: Mapping[str, tuple[str, str | float]] = TABLE_ROWS, metric: str = "top1") -> list[dict[str, Any]]:
    """Our models under the peers' protocol: per (row, dataset) the value and bootstrap CI of each split, their mean
    and sample standard deviation (ddof = 1), and the fusion weight α of the row (the teacher is α = 0, the students
    α = 1, FitCLIP and WiSE-FT the α chosen on validation by stage 04). Rows whose model was not evaluated are left
    out.

    Args:
        results: ``read_results`` of the grid (rows with ``ci_low``/``ci_high``, as ``evaluate`` writes them).
        chosen: ``{student: α}`` (``04_fusion/chosen_alpha.json``'s ``chosen``).
        rows: label -> (student, α or "chosen"), as stage 05's table.
        metric: the peers' headline metric.
    """
    out = []
    for label, (student, alpha) in rows.items():
        if alpha == "chosen":
            if student not in chosen:
                continue
            alpha = chosen[student]
        sub = results[results["model"] == grid_model(student, float(alpha))].sort_values(["dataset", "split"])
        n_items = sub[sub["metric"] == metric].groupby("dataset", sort=False)["n_evaluated"].agg(list)
        for s in split_summary(sub.to_dict("records"), (metric,)):  # mean ± std over the splits, each split's CI
            out.append({"row": label, "student": student, "alpha": float(alpha), "dataset": s["dataset"],
                        "metric": metric, "splits": s["splits"], "values": s["values"],
                        "ci_low": [float(lo) for lo, _ in s["ci"]], "ci_high": [float(hi) for _, hi in s["ci"]],
                        "n_items": [int(n) for n in n_items[s["dataset"]]], "mean": s["mean"], "std": s["std"]})
    order = {d: i for i, d in enumerate(dict.fromkeys(results["dataset"]))}
    return sorted(out, key=lambda r: (list(rows).index(r["row"]), order[r["dataset"]]))


def _mean_std(mean: float, std: float | None) -> str:
    return f"{mean:.1f}" if std is None or pd.isna(std) else f"{mean:.1f} ± {std:.1f}"


def peer_table(ours: Sequence[Mapping[str, Any]], peers: pd.DataFrame | None = None,
               views: str = "") -> pd.DataFrame:
    """Our rows (the synthetic world, mean ± std over its three splits) above the peers' published rows (real data),
    one column per benchmark, with each row's data, training set, fusion weight and views stated. The published
    rows' fusion weight is 0 for frozen CLIP (no fine-tuning) and "not in the source" for the others (the
    published tables do not give it)."""
    peers = load_peers_published() if peers is None else peers
    table: dict[str, dict[str, Any]] = {}
    for r in ours:
        trained = "stills only (no video)" if r["alpha"] == 0 else "WebVid-like videos"
        entry = table.setdefault(f"ours: {r['row']}", {"data": "synthetic world", "trained on": trained,
                                                       "fusion weight α": r["alpha"], "views": views})
        entry[r["dataset"]] = _mean_std(r["mean"], r["std"])
    for r in peers.itertuples():
        entry = table.setdefault(r.method, {"data": "real (published)", "trained on": r.trained_on,
                                            "fusion weight α": "0 (no fine-tuning)" if r.trained_on == "none" else "not in the source",
                                            "views": "as published"})
        entry[r.benchmark] = _mean_std(r.value, r.std)
    frame = pd.DataFrame.from_dict(table, orient="index")
    columns = ["data", "trained on", "fusion weight α", "views", *[d for d in PEER_DATASETS if d in frame.columns]]
    frame.index.name = "method"
    return frame[columns].fillna("")


def split_table(ours: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Each of our rows' per-split value with its 95 % bootstrap CI over items (and the number of items)."""
    records = []
    for r in ours:
        for k, v, lo, hi, n in zip(r["splits"], r["values"], r["ci_low"], r["ci_high"], r["n_items"]):
            records.append({"row": r["row"], "α": r["alpha"], "dataset": r["dataset"], "split": k,
                            r["metric"]: f"{v:.1f} [{lo:.1f}, {hi:.1f}]", "n": n})
    return pd.DataFrame(records).set_index(["row", "α", "dataset", "split"])
