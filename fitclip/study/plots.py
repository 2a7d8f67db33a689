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


def plot_curves(df: pd.DataFrame, x: str, ys: Sequence[str], title: str = "", hue: str | None = None) -> plt.Figure:
    """Line plots of columns `ys` against `x` (one panel per y), optionally one line per `hue`."""
    ys = [y for y in ys if y in df.columns and df[y].notna().any()]
    fig, axes = plt.subplots(1, max(1, len(ys)), figsize=(4.2 * max(1, len(ys)), 3.2), squeeze=False)
    for ax, y in zip(axes[0], ys):
        data = df[df[y].notna()]
        sns.lineplot(data=data, x=x, y=y, hue=hue, ax=ax, marker="o" if len(data) < 40 else None)
        ax.set_title(y)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_alpha_curves(curves: pd.DataFrame, chosen: dict[str, float] | None = None,
                      select_on: Sequence[str] = ("webvid",), title: str = "fusion: metric vs α",
                      chosen_rule: str | None = None) -> plt.Figure:
    """α curves (like the paper's supplementary Fig. 3), one panel per dataset, one line per student.

    The validation panels (`select_on`, where α is chosen) come first and say so; then the benchmarks in
    the paper's order, other datasets, and the average last. Each panel names its metric on the y-axis, which starts at 0, and draws the
    95 % CI of every point as a band when `curves` has `ci_low`/`ci_high` (`fitclip.study.curves.curve_intervals`),
    so a wiggle inside the bands reads as noise. `chosen` (`{student: α}`) is drawn as a dotted line in the
    student's colour, labelled in the legend with `chosen_rule` (default: "highest validation <metric>", the
    metric of the validation panel, or "chosen on validation" when the curves have none).

    Args:
        curves: tidy rows `{student, alpha, dataset, metric, value[, ci_low, ci_high]}`.
    """
    from fitclip.study.curves import AVERAGE, metric_label

    from fitclip.study.results import BENCHMARKS

    present = list(dict.fromkeys(curves["dataset"]))
    validation = [d for d in select_on if d in present]
    order = [*validation, *BENCHMARKS, *present]  # validation, the benchmarks in the paper's order, the rest
    datasets = sorted(present, key=lambda d: (d == AVERAGE, order.index(d)))
    if chosen_rule is None:
        rows = curves[curves["dataset"].isin(validation)]
        chosen_rule = (f"highest validation {metric_label(str(rows['metric'].iloc[0]))}" if len(rows) else
                       "chosen on validation")
    students = list(dict.fromkeys(curves["student"]))
    colours = dict(zip(students, sns.color_palette(n_colors=max(1, len(students)))))
    bands = {"ci_low", "ci_high"} <= set(curves.columns)
    cols = min(4 if len(datasets) > 6 else 3, len(datasets))
    rows = int(np.ceil(len(datasets) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.1 * rows + 0.5), squeeze=False)
    for ax, name in zip(axes.flat, datasets):
        part = curves[curves["dataset"] == name]
        top = 0.0
        for student in students:
            line = part[part["student"] == student].sort_values("alpha")
            if line.empty:
                continue
            ax.plot(line["alpha"], line["value"], marker="o", ms=3.5, color=colours[student], label=student)
            top = max(top, float(line["value"].max()))
            if bands and line["ci_low"].notna().any():
                ax.fill_between(line["alpha"], line["ci_low"], line["ci_high"], color=colours[student], alpha=0.18,
                                lw=0)
                top = max(top, float(line["ci_high"].max()))
        for student, alpha in (chosen or {}).items():
            if student in colours:
                ax.axvline(alpha, ls=":", lw=1.6, color=colours[student],
                           label=f"{student}: α = {alpha:g} ({chosen_rule})")
        metric = metric_label(str(part["metric"].iloc[0])) if len(part) else "?"
        ax.set_ylabel(f"{metric} (%)")
        ax.set_ylim(0, min(100.0, max(5.0, top * 1.15)))
        ax.set_xlim(-0.03, 1.03)
        ax.set_xlabel("α (0 = teacher, 1 = student)")
        split = str(part["split"].iloc[0]) if "split" in part.columns and len(part) else ""
        if name in validation:
            ax.set_title(f"{name} {split}: validation, chooses α", fontweight="bold")
        elif name == AVERAGE:
            ax.set_title("average of the benchmarks")
        else:
            ax.set_title(f"{name} {split}".strip())
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in list(axes.flat)[len(datasets):]:
        ax.axis("off")
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize="small",
               frameon=False)
    note = "; bands: 95 % bootstrap CI over items" if bands else ""
    fig.suptitle(f"{title}{note}")
    fig.tight_layout(rect=(0, 0.07 if rows == 1 else 0.045, 1, 1))
    return fig


def plot_per_class_difference(diff: pd.DataFrame, k: int = 25, title: str = "",
                              other: str = "FitCLIP", base: str = "teacher") -> plt.Figure:
    """The `k` classes with the largest and the `k` with the smallest difference `other − base` (supp. Fig. 1),
    each row labelled with its readable name and n: a diamond at the shrunk estimate (the sort key) with its
    95 % interval as a line, and a dot at the class's raw difference; green or red where the interval
    excludes 0, grey where it does not. Every row has its markers (a zero
    difference too), so no row is empty.

    Args:
        diff: `fitclip.study.views.per_class_difference` rows; without `shrunk` and the interval, the raw
            difference is drawn and sorted.
    """
    from fitclip.study.views import readable_class

    key = "shrunk" if "shrunk" in diff.columns else "difference"
    d = diff.sort_values([key, "difference"], ascending=False).reset_index(drop=True)
    k = min(k, len(d) // 2) if len(d) >= 2 else len(d)
    top, bottom = d.head(k), d.tail(k)
    intervals = {"ci_low", "ci_high"} <= set(d.columns)
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.3 * max(k, 4) + 1.8), sharex=True)
    for ax, part, name in ((axes[0], top, f"{k} largest"), (axes[1], bottom, f"{k} smallest")):
        y = np.arange(len(part))
        low, high = (part["ci_low"], part["ci_high"]) if intervals else (part[key], part[key])
        colour = np.where(low > 0, "tab:green", np.where(high < 0, "tab:red", "tab:grey"))  # grey: includes 0
        if intervals:
            ax.hlines(y, part["ci_low"], part["ci_high"], color=colour, alpha=0.5, lw=2, label="95 % interval")
        ax.scatter(part["difference"], y, color=colour, s=14, zorder=3, label="raw class difference")
        if key == "shrunk":
            ax.scatter(part["shrunk"], y, marker="D", facecolor="white", edgecolor="k", s=20, zorder=4,
                       label="shrunk estimate (sort key)")
        ax.set_yticks(y, [f"{readable_class(c)} (n={n})" for c, n in zip(part["class"], part["videos"])],
                      fontsize="small")
        ax.set_ylim(len(part) - 0.5, -0.5)
        ax.set_xlim(-105, 105)
        ax.axvline(0, c="k", lw=0.8)
        ax.set_title(f"{name} ({'by the shrunk estimate' if key == 'shrunk' else 'raw'})")
        ax.set_xlabel(f"top-1 difference, {other} − {base} (points)")
    axes[1].legend(loc="lower right", fontsize="x-small")
    if intervals:
        resolved = int(((d["ci_low"] > 0) | (d["ci_high"] < 0)).sum())
        title = (f"{title}\n{len(d)} classes; diamonds and lines: empirical-Bayes estimate and 95 % interval; "
                 f"{resolved} intervals exclude 0")
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


def plot_labeled_size(average: pd.DataFrame, summary: pd.DataFrame,
                      title: str = "labeled-set size (λ = 0, fused with the teacher)") -> plt.Figure:
    """Supp. Fig. 4's ablation: left, the zero-shot average against α, one line per labeled size with its 95 %
    CI band (`average`: the `"average"` rows of `curve_intervals`, students ``labeled<n>``); right, how far
    each student moved from the teacher (relative weight distance) against the labeled size (`summary`)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
    students = sorted(dict.fromkeys(average["student"]), key=lambda s: int(s.removeprefix("labeled")))
    colours = dict(zip(students, sns.color_palette("viridis", n_colors=max(1, len(students)))))
    top = 0.0
    for student in students:
        line = average[average["student"] == student].sort_values("alpha")
        left.plot(line["alpha"], line["value"], marker="o", ms=3.5, color=colours[student],
                  label=f"{student.removeprefix('labeled')} videos")
        left.fill_between(line["alpha"], line["ci_low"], line["ci_high"], color=colours[student], alpha=0.15, lw=0)
        top = max(top, float(line["ci_high"].max()))
    left.set_xlabel("α (0 = teacher, 1 = student)")
    left.set_ylabel("zero-shot average (%)")
    left.set_ylim(0, max(5.0, top * 1.15))
    left.set_title("zero-shot average vs α (bands: 95 % CI)")
    left.legend(fontsize="small", frameon=False)
    right.plot(summary["labeled"], summary["weight_distance"], marker="o", color="black")
    right.set_xlabel("labeled videos")
    right.set_ylabel("‖θ − θ₀‖ / ‖θ₀‖")
    right.set_ylim(0, float(summary["weight_distance"].max()) * 1.2 or 1)
    right.set_title("how far fine-tuning moved")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_lambda_share(table: pd.DataFrame, title: str = "distillation share λ (unfused students, α = 1)") -> plt.Figure:
    """Supp. Fig. 5's ablation: each benchmark's headline metric against λ on a symmetric-log axis (λ = 0 at
    the left), with 95 % CIs as error bars; the teacher as a dashed line with its CI band (`table`:
    `fitclip.study.ablations.lambda_table`)."""
    from fitclip.study.curves import metric_label

    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.3 * len(datasets), 3.3), squeeze=False)
    students = table[table["model"] != "teacher"]
    positive = students.loc[students["lam"] > 0, "lam"]
    linthresh = float(positive.min()) if len(positive) else 1e-6
    for ax, name in zip(axes[0], datasets):
        part = students[students["dataset"] == name].sort_values("lam")
        err = np.vstack([part["value"] - part["ci_low"], part["ci_high"] - part["value"]])
        ax.errorbar(part["lam"], part["value"], yerr=err, marker="o", ms=4, capsize=3, color="tab:blue",
                    label="student (α = 1)")
        teacher = table[(table["model"] == "teacher") & (table["dataset"] == name)].iloc[0]
        ax.axhline(teacher["value"], ls="--", color="grey", label="teacher")
        ax.axhspan(teacher["ci_low"], teacher["ci_high"], color="grey", alpha=0.15, lw=0)
        ax.set_xscale("symlog", linthresh=linthresh)
        # λ is never negative: the axis starts just left of 0 (no negative ticks) and ends just right of the largest.
        ax.set_xlim(-0.5 * linthresh, float(students["lam"].max()) * 1.5 or 1.0)
        ax.set_xlabel("λ (symlog; 0 at the left)")
        ax.set_ylabel(f"{metric_label(str(part['metric'].iloc[0]))} (%)")
        ax.set_ylim(0, max(5.0, float(max(part["ci_high"].max(), teacher["ci_high"])) * 1.15))
        ax.set_title(name)
    axes[0][0].legend(fontsize="small", frameon=False)
    fig.suptitle(f"{title}; error bars and band: 95 % bootstrap CI over items")
    fig.tight_layout()
    return fig


def plot_tradeoff(table: pd.DataFrame, title: str = "the forgetting trade-off per objective") -> plt.Figure:
    """Notebook 11's figure: zero-shot gain (benchmarks' average − teacher) against in-domain gain (labeled
    corpus' validation MRR − teacher) per objective, unfused (α = 1) and at its validation-chosen α, with paired
    95 % CIs as error bars on both axes; the teacher is the origin (`table`: `fitclip.study.objectives.tradeoff`)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharex=True, sharey=True)
    palette = dict(zip(dict.fromkeys(table["objective"]), sns.color_palette("tab10", table["objective"].nunique())))
    for ax, (rule, label) in zip(axes, (("none", "unfused (α = 1)"), ("validation", "α chosen on validation"))):
        part = table[table["rule"] == rule]
        for r in part.itertuples():
            ax.errorbar(r.in_domain, r.zero_shot, color=palette[r.objective], marker="o", ms=5, capsize=3,
                        xerr=[[r.in_domain - r.in_domain_ci_low], [r.in_domain_ci_high - r.in_domain]],
                        yerr=[[r.zero_shot - r.zero_shot_ci_low], [r.zero_shot_ci_high - r.zero_shot]],
                        label=r.objective if rule == "none" else None)
            if rule == "validation":
                ax.annotate(f"α={r.alpha:g}", (r.in_domain, r.zero_shot), fontsize="x-small",
                            xytext=(3, 3), textcoords="offset points")
        ax.axhline(0, ls="--", color="grey", lw=0.8)
        ax.axvline(0, ls="--", color="grey", lw=0.8)
        ax.set_xlabel("in-domain gain: validation MRR − teacher (points)")
        ax.set_title(label)
    axes[0].set_ylabel("zero-shot gain: benchmarks' average − teacher (points)")
    fig.legend(loc="center right", fontsize="small", frameon=False)
    fig.suptitle(f"{title}; error bars: paired 95 % bootstrap CIs (the teacher is the origin)")
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    return fig
