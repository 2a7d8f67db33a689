"""Stage 05's benchmark report: the Teacher / Student / FitCLIP / WiSE-FT comparison with CIs, paired
differences, verdicts and the order-only control (`benchmark_report`), the mean ± sd over training seeds
(`seeds_table`), the paper's published comparison in the same shape (`published_table`), and the report's
files (`write_report`). The pieces: result rows and item hits (`fitclip.study.results`), CIs
(`fitclip.study.confidence`), verdicts (`fitclip.study.verdicts`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from fitclip.fusion import grid_model
from fitclip.study.confidence import ci_table, format_ci_table, format_differences, paired_differences
from fitclip.study.results import (BENCHMARKS, PRIMARY_METRIC, TABLE_ROWS, benchmark_splits, headline_metric,
                                   table_hits, table_rows)
from fitclip.study.verdicts import control_level, order_control, verdicts


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
