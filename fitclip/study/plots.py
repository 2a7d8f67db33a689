"""Figures for the notebooks (matplotlib/seaborn). Each function returns a Figure; saving is the caller's
(`fitclip.study.project.save_figure`). Nothing here computes results: inputs are tidy tables."""

from __future__ import annotations

from typing import Sequence

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "nbagg", "widget",
                                            "ipympl", "module://ipympl.backend_nbagg"):
    matplotlib.use("Agg")  # headless runs (Papermill, CI) have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def plot_curves(df: pd.DataFrame, x: str, ys: Sequence[str], title: str = "", hue: str | None = None,
                logy: bool = False) -> plt.Figure:
    """Line plots of columns `ys` against `x` (one panel per y), optionally one line per `hue`."""
    ys = [y for y in ys if y in df.columns and df[y].notna().any()]
    fig, axes = plt.subplots(1, max(1, len(ys)), figsize=(4.2 * max(1, len(ys)), 3.2), squeeze=False)
    for ax, y in zip(axes[0], ys):
        data = df[df[y].notna()]
        sns.lineplot(data=data, x=x, y=y, hue=hue, ax=ax, marker="o" if len(data) < 40 else None)
        ax.set_title(y)
        if logy:
            ax.set_yscale("log")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_alpha_curves(curves: pd.DataFrame, chosen: dict[str, float] | None = None,
                      title: str = "fusion: metric vs α") -> plt.Figure:
    """α curves (like the paper's supplementary Fig. 3).

    Args:
        curves: tidy rows `{student, alpha, dataset, value}` (the primary metric of each dataset).
        chosen: optional `{student: α}` marked with a vertical line.
    """
    datasets = list(dict.fromkeys(curves["dataset"]))
    cols = min(4, len(datasets))
    rows = int(np.ceil(len(datasets) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
    for ax, name in zip(axes.flat, datasets):
        sns.lineplot(data=curves[curves["dataset"] == name], x="alpha", y="value", hue="student", marker="o",
                     ax=ax, legend=ax is axes.flat[0])
        for student, alpha in (chosen or {}).items():
            ax.axvline(alpha, ls=":", c="grey")
        ax.set_title(name)
        ax.set_xlabel("α (0 = teacher, 1 = student)")
    for ax in list(axes.flat)[len(datasets):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_per_class_difference(diff: pd.DataFrame, k: int = 25, title: str = "") -> plt.Figure:
    """Horizontal bars of the `k` largest and `k` smallest per-class differences (supp. Fig. 1).

    Args:
        diff: rows `{class, difference}` sorted or not.
    """
    d = diff.sort_values("difference", ascending=False)
    k = min(k, len(d) // 2) if len(d) >= 2 else len(d)
    top, bottom = d.head(k), d.tail(k)
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.28 * max(k, 4) + 1.2))
    for ax, part, name in ((axes[0], top, f"{k} largest"), (axes[1], bottom, f"{k} smallest")):
        ax.barh(part["class"].astype(str), part["difference"], color=np.where(part["difference"] >= 0, "tab:green", "tab:red"))
        ax.invert_yaxis()
        ax.set_title(name)
        ax.set_xlabel("top-1 difference (points)")
        ax.axvline(0, c="k", lw=0.8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_sorted_ranks(ranks: pd.DataFrame, title: str = "") -> plt.Figure:
    """Per-query rank of the true video, sorted, log scale, one line per model (supp. Fig. 2).

    Args:
        ranks: tidy rows `{dataset, model, rank}`.
    """
    datasets = list(dict.fromkeys(ranks["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.2), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        for model, part in ranks[ranks["dataset"] == name].groupby("model", sort=False):
            r = np.sort(part["rank"].to_numpy())
            ax.plot(np.arange(1, len(r) + 1), r, label=model)
        ax.set_yscale("log")
        ax.set_xlabel("query (sorted by rank)")
        ax.set_ylabel("rank of the true video")
        ax.set_title(name)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_benchmark_bars(tidy: pd.DataFrame, title: str = "zero-shot benchmarks (95 % CI)") -> plt.Figure:
    """Grouped bars: one group per dataset, one bar per model (rows `{model, dataset, metric, value}`), with
    error bars from `ci_low`/`ci_high` when the rows carry them."""
    datasets = list(dict.fromkeys(tidy["dataset"]))
    models = list(dict.fromkeys(tidy["model"]))
    fig, ax = plt.subplots(figsize=(1.6 * len(datasets) + 2, 3.4))
    width = 0.8 / len(models)
    metric = tidy.drop_duplicates("dataset").set_index("dataset")["metric"]
    for j, model in enumerate(models):
        part = tidy[tidy["model"] == model].set_index("dataset").reindex(datasets)
        x = np.arange(len(datasets)) + (j - (len(models) - 1) / 2) * width
        yerr = None
        if {"ci_low", "ci_high"} <= set(part.columns):
            yerr = np.vstack([part["value"] - part["ci_low"], part["ci_high"] - part["value"]])
        ax.bar(x, part["value"], width, yerr=yerr, capsize=2, label=model)
    ax.set_xticks(np.arange(len(datasets)), [f"{d}\n({metric[d]})" if d in metric else d for d in datasets])
    ax.set_ylabel("metric (%)")
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
