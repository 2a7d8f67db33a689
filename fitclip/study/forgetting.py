"""Is the synthetic world in the paper's regime? Two tables read off the α grid's saved per-item ranks (nothing
is re-encoded):

* the **regime** table: the teacher's headline metric on every benchmark beside chance (the paper's teacher,
  CLIP, already does well zero-shot on video: 74.5 % top-1 on UCF101 from 4 frames, Table 3);
* the **forgetting** table: each unfused student (α = 1) minus the teacher (α = 0) on the items whose video
  shows only concepts the labeled subset showed (``inside``) and on those showing none (``outside``), with
  paired bootstrap CIs. The world is in the paper's regime when plain fine-tuning (λ = 0) gains inside and
  loses outside, each resolved (its CI excludes 0).

The inside/outside split of each item comes from the world (``fitclip.toyworld.regime.item_splits``, with the
labeled concepts ``01_data_prep/regime.json`` counted from the drawn subset).
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fitclip.fusion import grid_model
from fitclip.study.confidence import ci_cell, ci_table
from fitclip.study.results import PRIMARY_METRIC, item_hits

SPLITS: tuple[str, ...] = ("inside", "outside")


def chance_level(embeddings_dir: str | os.PathLike, dataset: str, split: str, model: str) -> float:
    """The headline metric of a model that ranks at random, in percent: 100·k / classes for top-k, 100·k / items
    for R@k (k candidates of the n videos)."""
    from fitclip.evaluate import embeddings_path, load_embeddings

    metric = PRIMARY_METRIC[dataset]
    if not (metric.startswith("top") or metric.startswith("R@")):
        raise ValueError(f"{dataset}: chance of {metric!r} is not defined here (top-k and R@k only)")
    emb = load_embeddings(embeddings_path(embeddings_dir, dataset, split, model))
    if metric.startswith("top"):
        return 100.0 * int(metric[3:]) / len(emb["classnames"])
    return 100.0 * min(int(metric[2:]), len(emb["keys"])) / len(emb["keys"])


def regime_table(embeddings_dir: str | os.PathLike, splits: Mapping[str, str], seed: int = 0,
                 n_resamples: int = 2000, teacher: str = grid_model("fitclip", 0.0)) -> pd.DataFrame:
    """`{dataset, metric, chance, teacher, ci_low, ci_high, times_chance, n}`: the teacher against chance (its
    CIs from `fitclip.study.confidence.ci_table`)."""
    hits = {"teacher": {d: item_hits(embeddings_dir, d, split, teacher)[1] for d, split in splits.items()}}
    table = ci_table(hits, seed=seed, n_resamples=n_resamples)
    table = table[table["dataset"] != "average"].reset_index(drop=True)
    chance = [chance_level(embeddings_dir, d, splits[d], teacher) for d in table["dataset"]]
    return pd.DataFrame({"dataset": table["dataset"], "metric": table["metric"], "chance": chance,
                         "teacher": table["value"], "ci_low": table["ci_low"], "ci_high": table["ci_high"],
                         "times_chance": table["value"] / chance, "n": table["n"]})


def forgetting_rows(teacher: Mapping[str, tuple[list[str], np.ndarray]],
                    students: Mapping[str, tuple[float, Mapping[str, tuple[list[str], np.ndarray]]]],
                    item_split: Mapping[str, Mapping[str, str]], seed: int = 0,
                    n_resamples: int = 2000, parts: Sequence[str] = SPLITS) -> list[dict[str, Any]]:
    """The rows of ``05_benchmarks/forgetting.json``: per student (α = 1), benchmark and split.

    Args:
        teacher: `{dataset: (item keys, per-item values)}` of the teacher (:func:`~fitclip.study.results.item_hits`).
        students: `{student: (λ, {dataset: (item keys, per-item values)})}` of the unfused students.
        item_split: `{dataset: {item key: "inside" | "outside" | "mixed"}}` (mixed items are left out).
        parts: the item labels to report (default inside and outside; e.g.
            `fitclip.toyworld.regime.WORD_PARTS` with word-level labels).

    Returns:
        `{student, lam, dataset, split, diff_vs_teacher, ci_low, ci_high, n_items, teacher, value}` rows (points;
        paired bootstrap CI over the items, the same resampled items for both models; NaN where a split has
        fewer than 2 items), then per student and split an ``average`` row over the benchmarks (the mean of
        the benchmarks' differences, each benchmark resampled on its own).
    """
    from fitclip.metrics import bootstrap_ci

    rows = []
    for student, (lam, by_dataset) in students.items():
        by_split: dict[str, list[np.ndarray]] = {s: [] for s in parts}
        for dataset, (keys, base) in teacher.items():
            other_keys, values = by_dataset[dataset]
            if list(other_keys) != list(keys):
                raise ValueError(f"{dataset}: {student} was evaluated on other items than the teacher; evaluate every "
                                 f"model of the grid in one run (notebooks/04_fusion.ipynb)")
            labels = np.array([item_split[dataset].get(k, "unknown") for k in keys])
            if (labels == "unknown").any():
                raise ValueError(f"{dataset}: {int((labels == 'unknown').sum())} items have no inside/outside label; "
                                 f"the world's manifest does not match the evaluated items")
            for part in parts:
                mask = labels == part
                n = int(mask.sum())
                diff = np.asarray(values, np.float64)[mask] - np.asarray(base, np.float64)[mask]
                if n:
                    by_split[part].append(diff)
                low, high = bootstrap_ci(diff, n_resamples=n_resamples, seed=seed) if n > 1 else (np.nan, np.nan)
                rows.append({"student": student, "lam": float(lam), "dataset": dataset, "split": part,
                             "diff_vs_teacher": float(diff.mean()) if n else float("nan"),
                             "ci_low": float(low), "ci_high": float(high), "n_items": n,
                             "teacher": float(np.mean(np.asarray(base)[mask])) if n else float("nan"),
                             "value": float(np.mean(np.asarray(values)[mask])) if n else float("nan")})
        for part in parts:
            groups = by_split[part]
            ok = groups and all(len(p) > 1 for p in groups)
            low, high = bootstrap_ci(groups, n_resamples=n_resamples, seed=seed) if ok else (np.nan, np.nan)
            rows.append({"student": student, "lam": float(lam), "dataset": "average", "split": part,
                         "diff_vs_teacher": float(np.mean([p.mean() for p in groups])) if groups else float("nan"),
                         "ci_low": float(low), "ci_high": float(high), "n_items": int(sum(len(p) for p in groups)),
                         "teacher": float("nan"), "value": float("nan")})
    return rows


def _direction(row: Mapping[str, Any]) -> int | None:
    """+1 / −1 when the CI excludes 0 above / below, 0 when it includes 0, None when there is no CI (NaN)."""
    if np.isnan(row["ci_low"]) or np.isnan(row["ci_high"]):
        return None
    return 1 if row["ci_low"] > 0 else -1 if row["ci_high"] < 0 else 0


def split_contrast(teacher: Mapping[str, tuple[list[str], np.ndarray]],
                   student: Mapping[str, tuple[list[str], np.ndarray]], item_split: Mapping[str, Mapping[str, str]],
                   seed: int = 0, n_resamples: int = 2000, level: float = 0.95) -> dict[str, float]:
    """Outside − inside of one student's difference to the teacher, on the benchmarks' average: does it lose
    MORE on what the labeled videos did not show (forgetting) than on what they showed? The two splits are
    different items, so each benchmark's inside and outside differences are resampled independently
    (percentile bootstrap, seeded); the average is the mean of the benchmarks' means, as in the table.

    Returns:
        ``{"delta", "ci_low", "ci_high"}`` in points (NaN when a benchmark has fewer than 2 items in a split).
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"inside": [], "outside": []}
    for dataset, (keys, base) in teacher.items():
        labels = np.array([item_split[dataset].get(k, "unknown") for k in keys])
        diff = np.asarray(student[dataset][1], np.float64) - np.asarray(base, np.float64)
        for part in parts:
            parts[part].append(diff[labels == part])
    if any(len(x) < 2 for group in parts.values() for x in group):
        return {"delta": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    delta = float(np.mean([x.mean() for x in parts["outside"]]) - np.mean([x.mean() for x in parts["inside"]]))
    draws = {part: np.mean([x[rng.integers(0, len(x), size=(n_resamples, len(x)))].mean(1) for x in group], axis=0)
             for part, group in parts.items()}
    low, high = np.quantile(draws["outside"] - draws["inside"], [(1 - level) / 2, (1 + level) / 2])
    return {"delta": delta, "ci_low": float(low), "ci_high": float(high)}


def regime_verdict(rows: list[dict[str, Any]], contrast: Mapping[str, float] | None = None,
                   plain: str = "wiseft") -> dict[str, str]:
    """Whether the world is in the paper's regime: plain fine-tuning (the λ = 0 `plain` student) gains on the
    items inside the labeled concepts and loses outside them, each resolved on the benchmarks' average; and,
    with `contrast` (:func:`split_contrast`), whether it loses more outside than inside (forgetting of what
    the labeled videos did not show, rather than a drift over everything). "not defined" when a CI is missing."""
    avg = {r["split"]: r for r in rows if r["student"] == plain and r["dataset"] == "average"}
    if set(avg) != set(SPLITS):
        return {"verdict": "not defined", "ours": f"no average rows for {plain!r}"}
    inside, outside = _direction(avg["inside"]), _direction(avg["outside"])
    ours = (f"λ = 0 student − teacher: inside {ci_cell(avg['inside']['diff_vs_teacher'], avg['inside']['ci_low'], avg['inside']['ci_high'])}"
            f", outside {ci_cell(avg['outside']['diff_vs_teacher'], avg['outside']['ci_low'], avg['outside']['ci_high'])}")
    more = None
    if contrast is not None:
        more = _direction(contrast)
        ours += f"; outside − inside {ci_cell(contrast['delta'], contrast['ci_low'], contrast['ci_high'])}"
    ours += f" (mean over {', '.join(sorted({r['dataset'] for r in rows if r['dataset'] != 'average'}))})"
    if inside is None or outside is None or (contrast is not None and more is None):
        return {"verdict": "not defined (a split has too few items for a CI)", "ours": ours}
    if inside == 1 and outside == -1:
        verdict = "in the paper's regime (gains inside, forgets outside, both resolved)"
    elif outside == -1 and more == -1:
        verdict = "partly: loses more outside than inside (forgetting), but " + (
            "loses inside too" if inside == -1 else "no resolved gain inside")
    elif outside == -1 and more == 0:
        verdict = ("NOT in the paper's regime: loses " + ("on both sides alike" if inside == -1 else
                   "outside, no more than inside") + " (a drift over everything, not a forgetting of what the "
                   "labeled videos did not show)")
    elif outside == -1:
        verdict = "partly: loses outside; " + ("loses inside too" if inside == -1 else "no resolved gain inside")
    elif inside == 1:
        verdict = "NOT in the paper's regime: gains inside, no resolved loss outside"
    else:
        verdict = "NOT in the paper's regime: no resolved loss outside"
    return {"verdict": verdict, "ours": ours}


def forgetting_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows `student (λ) · split`, columns the benchmarks and their average: "Δ [low, high]" cells (n below)."""
    df = pd.DataFrame(rows)
    df["row"] = [f"{s} (λ = {lam:g}) · {part}" for s, lam, part in zip(df["student"], df["lam"], df["split"])]
    df["cell"] = [ci_cell(v, lo, hi, " *" if (lo > 0 or hi < 0) else "") + f" (n={n})"
                  for v, lo, hi, n in zip(df["diff_vs_teacher"], df["ci_low"], df["ci_high"], df["n_items"])]
    out = df.pivot(index="row", columns="dataset", values="cell")
    out = out.loc[list(dict.fromkeys(df["row"])), list(dict.fromkeys(df["dataset"]))]
    out.index.name = None
    out.columns.name = None
    return out


def format_regime(table: pd.DataFrame) -> pd.DataFrame:
    """The regime table for the README: per benchmark the metric, chance, the teacher with its CI, ×chance."""
    return pd.DataFrame({"metric": table["metric"].values,
                         "chance": [f"{c:.1f}" for c in table["chance"]],
                         "teacher": [ci_cell(v, lo, hi) for v, lo, hi in
                                     zip(table["teacher"], table["ci_low"], table["ci_high"])],
                         "× chance": [f"{x:.1f}" for x in table["times_chance"]],
                         "n": table["n"].values}, index=table["dataset"].values)


def regime_report(embeddings_dir: str | os.PathLike, world_root: str | os.PathLike, regime: Mapping[str, Any],
                  students: Mapping[str, float], splits: Mapping[str, str], seed: int = 0,
                  n_resamples: int = 2000) -> dict[str, Any]:
    """Everything 05 shows about the regime: `regime` (teacher vs chance), `forgetting` (the rows of
    ``forgetting.json``), `forgetting_table` (formatted) and `verdict` (:func:`regime_verdict`).

    Args:
        world_root: the synthetic world (``01_data_prep/world``).
        regime: ``01_data_prep/regime.json`` (its ``labeled_concept_list`` defines inside / outside).
        students: `{student: λ}` of the unfused students to compare with the teacher.
    """
    from fitclip.toyworld.regime import item_splits

    labeled = regime["labeled_concept_list"]
    item_split = {name: item_splits(world_root, name, split, labeled) for name, split in splits.items()}
    teacher = {name: item_hits(embeddings_dir, name, split, grid_model("fitclip", 0.0)) for name, split in splits.items()}
    hits = {student: (lam, {name: item_hits(embeddings_dir, name, split, grid_model(student, 1.0))
                            for name, split in splits.items()}) for student, lam in students.items()}
    rows = forgetting_rows(teacher, hits, item_split, seed=seed, n_resamples=n_resamples)
    plain = next((name for name, lam in students.items() if lam == 0), "")
    words = []
    if plain:  # exploratory: the outside items by which of their two words the labeled captions used
        from fitclip.toyworld.regime import WORD_PARTS

        word_split = {name: item_splits(world_root, name, split, labeled, words=True) for name, split in splits.items()}
        words = forgetting_rows(teacher, {plain: hits[plain]}, word_split, seed=seed, n_resamples=n_resamples,
                                parts=WORD_PARTS)
    contrast = split_contrast(teacher, hits[plain][1], item_split, seed=seed, n_resamples=n_resamples) if plain else None
    return {"regime": regime_table(embeddings_dir, splits, seed=seed, n_resamples=n_resamples),
            "forgetting": rows, "forgetting_table": forgetting_table(rows), "contrast": contrast,
            "words": words, "words_table": forgetting_table(words) if words else None,
            "verdict": regime_verdict(rows, contrast, plain)}


def write_regime_report(out_dir: str | os.PathLike, report: Mapping[str, Any]) -> None:
    """``forgetting.json`` (the rows), ``forgetting.md`` (table + verdict), ``forgetting_words.md`` (the λ = 0
    student's outside items by the words the labeled captions used: exploratory) and ``regime.md`` under `out_dir`."""
    from pathlib import Path

    from fitclip.files import atomic_write_text, write_json

    out = Path(out_dir)
    rows = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in report["forgetting"]]  # no NaN in the JSON: an empty split has null values
    write_json(out / "forgetting.json", rows)
    atomic_write_text(out / "forgetting.md", report["forgetting_table"].to_markdown() + "\n\n"
                      + f"Regime: **{report['verdict']['verdict']}** — {report['verdict']['ours']}\n")
    if report.get("words_table") is not None:  # exploratory, beside the registered split
        atomic_write_text(out / "forgetting_words.md", report["words_table"].to_markdown() + "\n")
    atomic_write_text(out / "regime.md", format_regime(report["regime"]).to_markdown() + "\n")
