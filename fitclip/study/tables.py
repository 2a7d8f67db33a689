"""The study's tables: result rows, the Teacher / Student / FitCLIP / WiSE-FT comparison, per-class
differences and per-query ranks (the α curves and their selection: `fitclip.study.curves`). Inputs are the
tidy rows written by `fitclip.evaluate` (`{model, student, alpha, dataset, split, metric, value, n_expected,
n_evaluated, n_failed}`) and its embedding files; outputs are pandas DataFrames the notebooks show, save and plot.

Naming: the α grid of a student is evaluated as models `fitclip.fusion.grid_model(student, α)`
(`"<student>-alpha<α>"`, see `fitclip.fusion.fused_models`), with the students `"fitclip"` (λ > 0) and
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
import torch

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


def fused_label(alpha: float, name: str = "FitCLIP") -> str:
    """A fused model's label that says what α means at the ends: "FitCLIP (α = 0.6)", "FitCLIP (α = 1: the
    student)", "FitCLIP (α = 0: the teacher)"."""
    end = {0.0: ": the teacher", 1.0: ": the student"}.get(float(alpha), "")
    return f"{name} (α = {alpha:g}{end})"


def readable_class(name: str) -> str:
    """A class name as a reader reads it: Moments in Time's `adult+female+singing` and UCF-style `_` as spaces."""
    return " ".join(str(name).replace("+", " ").replace("_", " ").split())


def per_class_difference(base: Mapping[str, Any], other: Mapping[str, Any], level: float = 0.95) -> pd.DataFrame:
    """Per-class top-1 of two classification embedding files (`fitclip.evaluate.load_embeddings`) and
    their difference `other − base` (points), one row per class with at least one video, with what a
    reader needs to judge a class of 3 videos: `videos` (n), a `shrunk` difference and its interval
    (`ci_low`, `ci_high`).

    A class of 3 videos moves by 33 points per video, and a bootstrap over 3 videos that all agree has no
    spread at all, so the classes are judged together (empirical Bayes, normal–normal, method of moments):
    each class's difference d is pulled towards the mean difference m over all videos, shrunk = m + w·(d − m)
    with w = τ² / (τ² + s²/n), s² the pooled within-class variance of the per-video differences and τ² the
    between-class variance left after that sampling noise; the interval is the posterior's,
    shrunk ± z·√(w·s²/n). When the class differences vary no more than noise (τ² = 0) every class is shrunk
    to m and its interval is that point: the data cannot tell the classes apart. Rows are sorted by
    `shrunk`, then `difference` (largest gain first). Per-video hits are `evaluate`'s (a tie counts at its
    expected value), so `base`/`other` are the classes' top-1 in the tables.
    """
    from scipy.stats import norm

    from fitclip.metrics import top1_hits

    if list(base["keys"]) != list(other["keys"]):
        raise ValueError("the two embedding files cover different videos; evaluate both on the same items")
    names = list(base["classnames"])
    targets = torch.as_tensor(base["targets"])

    per_video = pd.DataFrame({"target": targets.numpy(), "base": top1_hits(base["scores"], targets).numpy(),
                              "other": top1_hits(other["scores"], targets).numpy()})
    per_video["d"] = per_video["other"] - per_video["base"]
    groups = per_video.groupby("target", sort=True)
    df = pd.DataFrame({"class": [names[i] for i in groups.size().index], "videos": groups.size().to_numpy(),
                       "base": groups["base"].mean().to_numpy(), "other": groups["other"].mean().to_numpy()})
    df["difference"] = df["other"] - df["base"]
    shrunk, sd = _shrunk_means(df["difference"].to_numpy(), df["videos"].to_numpy(),
                               groups["d"].var(ddof=1).fillna(0).to_numpy())
    z = float(norm.ppf(0.5 + level / 2))
    df["shrunk"] = shrunk  # the interval is clipped to what a difference of accuracies can be
    df["ci_low"], df["ci_high"] = np.clip(shrunk - z * sd, -100, 100), np.clip(shrunk + z * sd, -100, 100)
    return df.sort_values(["shrunk", "difference"], ascending=False).reset_index(drop=True)


def _shrunk_means(means: np.ndarray, n: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes (normal–normal, method of moments) estimates of class means `means` of `n` items with
    within-class variances `variances`, and their posterior standard deviations: see
    :func:`per_class_difference`."""
    total = n.sum()
    grand = float((means * n).sum() / total)
    dof = total - len(n)
    within = float(((n - 1) * variances).sum() / dof) if dof > 0 else 0.0
    if len(n) < 2 or within == 0:
        return means.astype(float), np.zeros(len(means))  # no noise to shrink away (or one class)
    tau2 = max(0.0, float(np.var(means, ddof=1)) - float(np.mean(within / n)))
    weight = tau2 / (tau2 + within / n)
    return grand + weight * (means - grand), np.sqrt(weight * within / n)


def query_ranks(files: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Tidy per-query ranks `{dataset, model, key, rank}` from retrieval embedding files keyed by model label."""
    frames = []
    for label, emb in files.items():
        frames.append(pd.DataFrame({"dataset": emb["dataset"], "model": label, "key": list(emb["keys"]),
                                    "rank": torch.as_tensor(emb["ranks"]).numpy()}))
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------------------------------
# Uncertainty: bootstrap CIs over items, paired differences, verdicts
# ----------------------------------------------------------------------------------------------------

#: The comparison table's rows: label -> (student, which α). "chosen" = the α chosen on validation.
TABLE_ROWS: dict[str, tuple[str, str | float]] = {"Teacher": ("fitclip", 0.0), "Student": ("fitclip", 1.0),
                                                  "FitCLIP": ("fitclip", "chosen"), "WiSE-FT": ("wiseft", "chosen")}
#: Paired differences reported beside the table (A − B on the same items).
COMPARISONS: tuple[tuple[str, str], ...] = (("Student", "Teacher"), ("FitCLIP", "Teacher"), ("WiSE-FT", "Teacher"),
                                            ("FitCLIP", "Student"), ("FitCLIP", "WiSE-FT"))


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


#: The order-only control's multiple-comparison rule, fixed before the run it judges (issue 18 §4): the
#: control holds when, for every DISTINCT model × benchmark row (a row whose model is another row's, e.g.
#: FitCLIP at α = 1 = the Student, is counted once), the pairwise accuracy's bootstrap CI at level
#: 1 − 0.05 / m (Bonferroni over the m distinct rows) includes 50; it fails when one excludes 50.
CONTROL_RULE = "Bonferroni over the m distinct model × benchmark rows: each CI at level 1 − 0.05/m must include 50"


def control_level(n_distinct_rows: int, alpha: float = 0.05) -> float:
    """The CI level of :data:`CONTROL_RULE` for `n_distinct_rows` rows (Bonferroni: 1 − alpha / m)."""
    return 1 - alpha / max(1, n_distinct_rows)


def order_control(embeddings_dir: str | os.PathLike, models: Mapping[str, str], dataset: str, split: str,
                  pairs: Sequence[tuple[str, str]], seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """The order-only negative control: for the videos of two classes that differ only in frame order
    (e.g. growing / shrinking), how often a model scores the true class above its partner (ties count
    half). An order-blind video embedding can only be at chance (50 %) here.

    Args:
        models: `{label: evaluated model name}`.
        pairs: `(class, partner class)` name pairs of the dataset's classnames.
        level: the CIs' confidence level (see :data:`CONTROL_RULE`).

    Returns:
        `{model, dataset, pairwise_accuracy, ci_low, ci_high, n, level}`, one row per model.
    """
    from fitclip.evaluate import embeddings_path, load_embeddings
    from fitclip.metrics import bootstrap_ci

    rows = []
    for label, model in models.items():
        emb = load_embeddings(embeddings_path(embeddings_dir, dataset, split, model))
        index = {name: i for i, name in enumerate(emb["classnames"])}
        partner = {}
        for a, b in pairs:
            if a in index and b in index:
                partner[index[a]], partner[index[b]] = index[b], index[a]
        targets = torch.as_tensor(emb["targets"])
        scores = torch.as_tensor(emb["scores"]).double()
        values = []
        for i, t in enumerate(targets.tolist()):
            if t in partner:
                own, other = float(scores[i, t]), float(scores[i, partner[t]])
                values.append(100.0 if own > other else 50.0 if own == other else 0.0)
        if not values:
            raise ValueError(f"{dataset}: no evaluated video belongs to the pairs {list(pairs)[:3]}…")
        low, high = bootstrap_ci(np.array(values), level=level, seed=seed)
        rows.append({"model": label, "dataset": dataset, "pairwise_accuracy": float(np.mean(values)),
                     "ci_low": low, "ci_high": high, "n": len(values), "level": level})
    return pd.DataFrame(rows)


def _delta_text(diffs: pd.DataFrame, comparison: str, dataset: str) -> str:
    row = diffs[(diffs["comparison"] == comparison) & (diffs["dataset"] == dataset)].iloc[0]
    return f"{row['delta']:+.1f} [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]"


def _direction(diffs: pd.DataFrame, comparison: str, dataset: str) -> int:
    """+1 / −1 when the paired CI of A − B lies above / below 0, else 0 (not resolved)."""
    row = diffs[(diffs["comparison"] == comparison) & (diffs["dataset"] == dataset)].iloc[0]
    return 1 if row["ci_low"] > 0 else -1 if row["ci_high"] < 0 else 0


def verdicts(hits_by_row: Mapping[str, Mapping[str, np.ndarray]], diffs: pd.DataFrame,
             domains: Mapping[str, str] | None = None, control: pd.DataFrame | None = None,
             seed: int = 0) -> pd.DataFrame:
    """One verdict per claim of the paper, read off the paired CIs (nothing is called an effect when its
    CI includes 0): (a) the student learns video (Student − Teacher on in-domain benchmarks), (b) it
    forgets (Student − Teacher on shifted ones), (c) fusion beats both ends (FitCLIP − Teacher and FitCLIP −
    Student on the zero-shot average), (d) FitCLIP vs WiSE-FT, (e) the order-only negative control.

    Args:
        domains: `{benchmark: "in-domain" | "shifted" | ...}` (the synthetic world's); without it (a) and
            (b) are reported as not defined.
        control: `order_control` rows.

    Returns:
        `{claim, paper, ours, verdict}` rows.
    """
    rows = []
    groups = {g: [d for d, dom in (domains or {}).items() if dom == g and d in hits_by_row["Teacher"]]
              for g in ("in-domain", "shifted")}
    for claim, group, paper, want in (
            ("(a) the student learns video: Student − Teacher, in-domain", "in-domain",
             "the student beats the teacher on WebVid-like data (its training domain)", 1),
            ("(b) the student forgets: Student − Teacher, shifted domain", "shifted",
             "the student falls below the teacher on every zero-shot benchmark (Table 3)", -1)):
        names = groups[group]
        if not names:
            rows.append({"claim": claim, "paper": paper, "ours": "no such benchmark here", "verdict": "not defined"})
            continue
        sub = paired_differences({k: {d: v[d] for d in names} for k, v in hits_by_row.items()},
                                 [("Student", "Teacher")], seed=seed)
        per = ", ".join(f"{d} {_delta_text(sub, 'Student − Teacher', d)}" for d in names)
        avg = _direction(sub, "Student − Teacher", "average")
        ours = f"mean of {'/'.join(names)} {_delta_text(sub, 'Student − Teacher', 'average')} ({per})"
        verdict = "supported" if avg == want else "contradicted" if avg == -want else "not supported (CI includes 0)"
        rows.append({"claim": claim, "paper": paper, "ours": ours, "verdict": verdict})
    if "FitCLIP" in hits_by_row:
        d_t, d_s = _direction(diffs, "FitCLIP − Teacher", "average"), _direction(diffs, "FitCLIP − Student", "average")
        ours = (f"FitCLIP − Teacher {_delta_text(diffs, 'FitCLIP − Teacher', 'average')}, FitCLIP − Student "
                f"{_delta_text(diffs, 'FitCLIP − Student', 'average')} (zero-shot average)")
        verdict = ("supported" if d_t == 1 and d_s == 1 else
                   "contradicted" if d_t == -1 or d_s == -1 else "not supported (a CI includes 0)")
        rows.append({"claim": "(c) fusion beats both ends (α chosen on validation)",
                     "paper": "FitCLIP (α 0.4) above teacher and student on the zero-shot average (Table 3)",
                     "ours": ours, "verdict": verdict})
    if "WiSE-FT" in hits_by_row:
        d = _direction(diffs, "FitCLIP − WiSE-FT", "average")
        rows.append({"claim": "(d) FitCLIP vs WiSE-FT (λ = 0 student fused)",
                     "paper": "close: average 44.8 vs 45.0 (supp. Table 6)",
                     "ours": f"FitCLIP − WiSE-FT {_delta_text(diffs, 'FitCLIP − WiSE-FT', 'average')}",
                     "verdict": "FitCLIP better" if d == 1 else "WiSE-FT better" if d == -1 else
                     "no difference resolved (CI includes 0)"})
    if control is not None and len(control):
        at_chance = ((control["ci_low"] <= 50) & (control["ci_high"] >= 50)).all()
        level = float(control["level"].iloc[0]) if "level" in control.columns else 0.95
        ours = "; ".join(f"{r.model} ({r.dataset}) {r.pairwise_accuracy:.1f} [{r.ci_low:.1f}, {r.ci_high:.1f}]"
                         for r in control.itertuples())
        rows.append({"claim": "(e) order-only negative control (growing vs shrinking, chance = 50)",
                     "paper": "(not in the paper: a check of this world) an order-blind mean of frames cannot "
                              "tell a clip from its reverse",
                     "ours": f"{100 * level:.2f} % CIs (Bonferroni): {ours}",
                     "verdict": "holds (every CI includes 50)" if at_chance else
                     "FAILS: some model tells the order apart; look for a leak"})
    return pd.DataFrame(rows)


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


def seeds_table(tables: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Mean ± sd across training seeds of each cell of per-seed `ci_table`s (sd over seeds, ddof=1)."""
    both = pd.concat([t.assign(seed=s) for s, t in tables.items()])
    stats = both.groupby(["model", "dataset"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    stats["cell"] = [f"{m:.1f} ± {s:.1f}" if c > 1 else f"{m:.1f}" for m, s, c in
                     zip(stats["mean"], stats["std"].fillna(0), stats["count"])]
    out = stats.pivot(index="model", columns="dataset", values="cell")
    out = out.loc[list(dict.fromkeys(both["model"])), list(dict.fromkeys(both["dataset"]))]
    out.index.name = None
    out.columns.name = None
    return out


def published_table(tables: Sequence[str] = ("Table 3", "Supp. Table 6")) -> pd.DataFrame:
    """The paper's headline comparison (real data, OpenAI ViT-B/16) in our table's shape: rows Teacher,
    Student, FitCLIP, WiSE-FT; columns the five benchmarks' primary metrics and their average. For
    reading effect directions beside ours, not for comparing values (different world and model)."""
    from fitclip.study.published import load_published_results

    pub = load_published_results()
    pub = pub[pub["table"].isin(tables)]
    names = {"Teacher (CLIP)": "Teacher", "CLIP": "Teacher", "Student": "Student", "FitCLIP": "FitCLIP",
             "WiSE-FT": "WiSE-FT"}
    pub = pub.assign(row=pub["model"].map(names)).dropna(subset=["row"])
    pub = pub[pub["metric"] == pub["dataset"].map(PRIMARY_METRIC)]
    wide = pub.drop_duplicates(["row", "dataset"]).pivot(index="row", columns="dataset", values="value")
    wide = wide.loc[[r for r in TABLE_ROWS if r in wide.index], [d for d in BENCHMARKS if d in wide.columns]]
    wide["average"] = wide.mean(axis=1)
    wide.index.name = None
    wide.columns.name = None
    return wide


def benchmark_report(embeddings_dir: str | os.PathLike, chosen: Mapping[str, float],
                     world: Mapping[str, Any] | None = None, datasets: Sequence[str] = BENCHMARKS,
                     seed: int = 0, n_resamples: int = 2000) -> dict[str, pd.DataFrame]:
    """Everything `05_benchmarks` shows, from the α grid's saved per-item ranks (nothing is re-encoded).

    Args:
        embeddings_dir: `04_fusion/embeddings`.
        chosen: `{student: α chosen on validation}` (04's `chosen_alpha.json`); students `fitclip`/`wiseft`
            are the first training seed, `fitclip-seed<k>`/`wiseft-seed<k>` the others.
        world: `world_info(...)` of the synthetic world (domains and control pairs), or None/{} for real data.
        seed, n_resamples: of the bootstraps.

    Returns:
        `table` (tidy, with CIs), `differences` (paired), `verdicts`, `control` (may be empty),
        `seeds` (mean ± sd over training seeds; one column per benchmark) and `alphas` (`{row: α}`).
    """
    from fitclip.evaluate import embeddings_path, load_embeddings

    world = world or {}
    splits = benchmark_splits(datasets)
    suffixes = sorted({k[len("fitclip"):] for k in chosen if k.startswith("fitclip")}, key=lambda s: (s != "", s))
    if "" not in suffixes:
        raise ValueError(f"no α chosen for the 'fitclip' student in {sorted(chosen)}; run notebooks/04_fusion.ipynb")
    per_seed = {}
    for sfx in suffixes:
        rows = table_rows(f"fitclip{sfx}", f"wiseft{sfx}")
        per_seed[sfx] = table_hits(embeddings_dir, chosen, splits, rows)
    hits = per_seed[""]
    metrics = {d: headline_metric(d, load_embeddings(embeddings_path(embeddings_dir, d, split, grid_model("fitclip", 0.0)))
                                  .get("task")) for d, split in splits.items()}  # your benchmarks' by their task
    table = ci_table(hits, seed=seed, n_resamples=n_resamples, metrics=metrics)
    alphas = {label: (chosen[student] if alpha == "chosen" else alpha)
              for label, (student, alpha) in TABLE_ROWS.items() if label in hits}
    table.insert(1, "alpha", table["model"].map(alphas))
    diffs = paired_differences(hits, seed=seed, n_resamples=n_resamples)
    control = pd.DataFrame()
    if world.get("control"):
        models = {label: grid_model(student, alphas[label]) for label, (student, _) in TABLE_ROWS.items()
                  if label in hits}
        names = [name for name in world["control"] if name in splits]
        level = control_level(len(set(models.values())) * len(names))  # CONTROL_RULE: distinct rows only
        control = pd.concat([order_control(embeddings_dir, models, name, splits[name], world["control"][name],
                                           seed=seed, level=level) for name in names], ignore_index=True)
    return {"table": table, "differences": diffs, "alphas": alphas, "control": control,
            "verdicts": verdicts(hits, diffs, world.get("domains"), control, seed=seed),
            "seeds": seeds_table({k: ci_table(v, n_resamples=0) for k, v in per_seed.items()}),
            "n_seeds": len(per_seed)}


def write_report(out_dir: str | os.PathLike, report: Mapping[str, Any]) -> dict[str, Path]:
    """Write `benchmark_report` output under `out_dir` (atomically): `results.jsonl` (tidy rows with
    `ci_low`/`ci_high`), `table.md` (values with CIs), `table.csv` (values: models × benchmarks),
    `differences.md`/`.csv`, `verdicts.md`/`.csv`, `control.csv`, `seeds.md`."""
    from fitclip.files import atomic_write_text

    out = Path(out_dir)
    table = format_ci_table(report["table"], report["alphas"])
    diffs = format_differences(report["differences"])
    files = {
        "results.jsonl": report["table"].to_json(orient="records", lines=True),
        "table.csv": report["table"].pivot(index="model", columns="dataset", values="value")
        .loc[list(dict.fromkeys(report["table"]["model"])), list(dict.fromkeys(report["table"]["dataset"]))]
        .to_csv(),
        "table.md": table.to_markdown() + "\n",
        "differences.csv": report["differences"].to_csv(index=False),
        "differences.md": diffs.to_markdown() + "\n",
        "verdicts.csv": report["verdicts"].to_csv(index=False),
        "verdicts.md": report["verdicts"].to_markdown(index=False) + "\n",
        "control.csv": report["control"].to_csv(index=False),
        "seeds.md": report["seeds"].to_markdown() + "\n",
    }
    return {name: atomic_write_text(out / name, text) for name, text in files.items()}
