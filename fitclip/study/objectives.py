"""Notebook 11: the field's anti-forgetting objectives in one harness (issue 19).

Every objective is a training run of the same recipe on the same labeled subset, unlabeled pool, seeds and step
budget, differing only in its switch (:data:`OBJECTIVES`: plain fine-tuning, FitCLIP's similarity KL, FROSTER's
feature distillation, the L2-SP weight penalty, Open-VCLIP's interpolated steps, a weight EMA, a frozen text
tower), plus checkpoint averaging of the plain run (:data:`AVERAGED`, from the checkpoints it kept). Each is
fused with the teacher over the α grid (`fitclip.study.grid.fusion_grid`) and read three ways
(:data:`ALPHA_RULES`): unfused (α = 1), at the α its validation MRR chooses (the study's pre-registered
criterion), and at the α that is best on the benchmarks' average — an ORACLE, marked as such, never a result.

The settings of the switches are fixed before running, from each method's own code where it has one
(FROSTER's 2:1 weight of its feature loss, Open-VCLIP's r ≤ 0.6); they are not tuned here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fitclip.fusion import grid_model
from fitclip.study.confidence import ci_cell, paired_differences
from fitclip.study.results import BENCHMARKS, item_hits

#: The compared runs: `{objective: its TrainConfig keys}` (λ = 0 is plain fine-tuning on the labeled loss).
OBJECTIVES: dict[str, dict[str, Any]] = {
    "plain": {"lam": 0.0},
    "fitclip": {"lam": 1e-4},                                       # Eq. 3–4, the paper's λ
    "froster": {"lam": 2 / 3, "distill": "feature_cosine"},         # FROSTER: feature loss 2.0 beside CE 1.0
    "weight_penalty": {"lam": 0.0, "weight_penalty": 1.0},          # L2-SP / EWC with identity Fisher
    "interpolation": {"lam": 0.0, "interpolation_max": 0.6},        # Open-VCLIP: r ~ U(0, 0.6)
    "ema": {"lam": 0.0, "ema_decay": 0.99},
    "frozen_text": {"lam": 0.0, "text_lr_scale": 0.0},              # MoTE / Text4Vis
}
#: The baseline every objective is compared with, besides FitCLIP; its kept checkpoints are averaged.
PLAIN = "plain"
FITCLIP = "fitclip"
#: Checkpoint averaging (uniform, SWA-style) of the plain run's kept checkpoints.
AVERAGED = "plain_averaged"
TEACHER = "teacher"
#: How α is set for each reported number.
ALPHA_RULES: tuple[str, ...] = ("none", "validation", "oracle")


def check_objectives(objectives: Mapping[str, Mapping[str, Any]], keys: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every run's config checked (ranges, combinations; no files) BEFORE any training; returns the runs.

    Raises:
        ValueError: no `plain` run (the baseline and the averaged run need it), or a name clashing with the
            averaged run or the teacher.
        fitclip.config.ConfigError: a bad key or value of a run (named).
    """
    from fitclip.config import config_from_dict, validate

    if PLAIN not in objectives:
        raise ValueError(f"objectives must include {PLAIN!r} (λ = 0: the baseline, and the run whose checkpoints "
                         f"are averaged); got {sorted(objectives)}")
    clash = {AVERAGED, TEACHER} & set(objectives)
    if clash:
        raise ValueError(f"{sorted(clash)[0]!r} is a reserved row name; rename that objective")
    for name, own in objectives.items():
        validate(config_from_dict({**{k: v for k, v in keys.items() if v is not None}, **own}), check_files=False)
    return {name: dict(own) for name, own in objectives.items()}


def objective_runs(names: Sequence[str], overrides: Mapping[str, Mapping[str, Any]] | None = None,
                   keep_every: int = 75) -> dict[str, dict[str, Any]]:
    """`{objective: its TrainConfig keys}` for `names` (each one of :data:`OBJECTIVES`, or any name whose keys
    `overrides` gives), `overrides` replacing keys per objective; the plain run keeps a checkpoint every
    `keep_every` steps (``step<N>.pt``, averaged into :data:`AVERAGED`).

    Raises:
        ValueError: an unknown objective without overrides, or an override for an objective not run.
    """
    overrides = dict(overrides or {})
    unknown = [n for n in names if n not in OBJECTIVES and n not in overrides]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}: use one of {', '.join(OBJECTIVES)}, or give its keys in "
                         f"overrides (e.g. {{{unknown[0]!r}: {{'lam': 0.0, 'ema_decay': 0.9}}}})")
    stray = sorted(set(overrides) - set(names))
    if stray:
        raise ValueError(f"overrides name {stray[0]!r}, which is not among the objectives {list(names)}")
    runs = {n: {**OBJECTIVES.get(n, {}), **overrides.get(n, {})} for n in names}
    if PLAIN in runs:
        runs[PLAIN]["keep_every"] = keep_every
    return runs


def average_runs(runs: Mapping[str, tuple[str, int]], folders: Mapping[str, str | os.PathLike],
                 out_dir: str | os.PathLike) -> dict[str, Path]:
    """`{student: model file}` of every averaged run in `runs` (:func:`run_names`): the plain run of the same seed
    averaged over its kept checkpoints (:func:`average_run`), written as ``<out_dir>/<student>.pt``."""
    plain = {seed: folders[s] for s, (objective, seed) in runs.items() if objective == PLAIN}
    return {s: average_run(plain[seed], Path(out_dir) / f"{s}.pt")
            for s, (objective, seed) in runs.items() if objective == AVERAGED}


def objective_forgetting(embeddings_dir: str | os.PathLike, world_root: str | os.PathLike, labeled: Sequence[str],
                         splits: Mapping[str, str], students: Mapping[str, float], seed: int = 0,
                         n_resamples: int = 2000) -> list[dict[str, Any]]:
    """Issue 18's inside/outside split for every objective: each unfused student (α = 1) minus the teacher on the
    items inside and outside the labeled concepts (`fitclip.study.forgetting.forgetting_rows`; `students` =
    `{student: λ}`)."""
    from fitclip.study.forgetting import forgetting_rows
    from fitclip.toyworld.regime import item_splits

    item_split = {d: item_splits(world_root, d, split, labeled) for d, split in splits.items()}
    first = next(iter(students))
    teacher = {d: item_hits(embeddings_dir, d, split, grid_model(first, 0.0)) for d, split in splits.items()}
    hits = {s: (lam, {d: item_hits(embeddings_dir, d, split, grid_model(s, 1.0)) for d, split in splits.items()})
            for s, lam in students.items()}
    return forgetting_rows(teacher, hits, item_split, seed=seed, n_resamples=n_resamples)


def run_names(objectives: Sequence[str], seeds: Sequence[int]) -> dict[str, tuple[str, int]]:
    """`{student: (objective, seed)}` as `train_students` names them (the first seed bare, then ``-seed<k>``),
    the averaged plain run of each seed included."""
    from fitclip.study.results import seed_suffix

    return {name + seed_suffix(seed, seeds[0]): (name, seed) for seed in seeds for name in [*objectives, AVERAGED]}


def average_run(run_dir: str | os.PathLike, out_file: str | os.PathLike) -> Path:
    """Checkpoint averaging of one run: the uniform mean of the ``step<N>.pt`` it kept (``keep_every``), written
    as a model file (`fitclip.fusion.average_checkpoints`)."""
    from fitclip.files import save_state
    from fitclip.fusion import average_checkpoints

    kept = sorted(Path(run_dir).glob("step*.pt"), key=lambda p: int(p.stem.removeprefix("step")))
    if len(kept) < 2:
        raise ValueError(f"{run_dir} kept {len(kept)} checkpoint(s); averaging needs 2 or more: train it with "
                         f"keep_every below max_steps / 2")
    state = average_checkpoints(kept)
    save_state(state, out_file)
    return Path(out_file)


def step_costs(students: Mapping[str, str | os.PathLike], runs: Mapping[str, tuple[str, int]],
               skip: int = 2) -> pd.DataFrame:
    """Seconds per optimizer step of each training run (median over its steps after the first `skip`, from the
    clips per second its ``metrics.jsonl`` logs) and the ratio to the plain run's of the same seed, all measured
    in this notebook's run; the averaged run costs what the plain run did (averaging is post hoc).

    Returns:
        `{student, objective, seed, step_seconds, step_cost}` (`step_cost` = step_seconds / plain's).
    """
    import json

    rows = []
    for name, folder in students.items():
        cfg = json.loads((Path(folder) / "config.json").read_text())
        clips = cfg["batch_size_labeled"] + (cfg["batch_size_unlabeled"] if cfg["lam"] > 0 else 0)
        log = pd.read_json(Path(folder) / "metrics.jsonl", lines=True)
        world = json.loads((Path(folder) / "run_info.json").read_text()).get("world_size", 1)
        seconds = (world * clips / log["clips_per_s"]).iloc[skip:]
        objective, seed = runs[name]
        rows.append({"student": name, "objective": objective, "seed": seed, "step_seconds": float(seconds.median())})
    df = pd.DataFrame(rows)
    plain = df[df["objective"] == PLAIN].set_index("seed")["step_seconds"]
    averaged = [{"student": s, "objective": AVERAGED, "seed": seed, "step_seconds": float(plain.get(seed, np.nan))}
                for s, (objective, seed) in runs.items() if objective == AVERAGED]
    df = pd.concat([df, pd.DataFrame(averaged)], ignore_index=True)
    df["step_cost"] = [t / plain.get(seed, np.nan) for t, seed in zip(df["step_seconds"], df["seed"])]
    return df


def oracle_alpha(curves: pd.DataFrame, student: str) -> float:
    """The α with the best zero-shot average on the BENCHMARKS (ties: the smaller): an oracle, for reference."""
    avg = curves[(curves["dataset"] == "average") & (curves["student"] == student)]
    return float(avg.sort_values(["value", "alpha"], ascending=[False, True]).iloc[0]["alpha"])


def results_rows(curves: pd.DataFrame, chosen: Mapping[str, float], costs: pd.DataFrame,
                 runs: Mapping[str, tuple[str, int]]) -> list[dict[str, Any]]:
    """The rows of ``11_objectives/results.jsonl``: per objective, α rule and benchmark (and the average), the
    headline metric with its 95 % bootstrap CI (read off the curves, which carry them), and the run's step cost.
    The teacher is one row set (`objective` "teacher", α = 0, rule "none", step cost NaN).

    Returns:
        `{objective, seed, student, alpha, alpha_rule, dataset, metric, value, ci_low, ci_high, n, step_cost}` rows.
    """
    cost = dict(zip(costs["student"], costs["step_cost"]))
    evaluated = set(curves["student"])
    students = [s for s in runs if s in evaluated]  # the objectives' order
    first = students[0]
    picks: list[tuple[str, str, float, str]] = [(TEACHER, first, 0.0, "none")]
    for s in students:
        picks += [(s, s, 1.0, "none"), (s, s, float(chosen[s]), "validation"), (s, s, oracle_alpha(curves, s), "oracle")]
    rows = []
    for name, student, alpha, rule in picks:
        objective, seed = (TEACHER, runs[first][1]) if name == TEACHER else runs[student]
        part = curves[(curves["student"] == student) & np.isclose(curves["alpha"], alpha)
                      & curves["dataset"].isin([*BENCHMARKS, "average"])]
        for r in part.itertuples():
            rows.append({"objective": objective, "seed": seed, "student": name if name != TEACHER else TEACHER,
                         "alpha": alpha, "alpha_rule": rule, "dataset": r.dataset,
                         "metric": r.metric, "value": float(r.value), "ci_low": float(r.ci_low),
                         "ci_high": float(r.ci_high), "n": int(r.n),
                         "step_cost": float(cost.get(student, np.nan)) if objective != TEACHER else float("nan")})
    return rows


def results_table(rows: Sequence[Mapping[str, Any]], rules: Sequence[str] = ("none", "validation"),
                  seed: int | None = None) -> pd.DataFrame:
    """The notebook's table for one training seed (default the first): one row per objective and α rule,
    "value [low, high]" per benchmark and the average, with the step cost beside them (oracle rows only when
    asked for, labelled as such)."""
    df = pd.DataFrame(rows)
    seed = int(df["seed"].iloc[0]) if seed is None else seed
    df = df[(df["seed"] == seed) & (df["alpha_rule"].isin(rules) | (df["objective"] == TEACHER))]
    df = df.assign(row=[f"{o} · α = {a:g}" + (" (validation)" if r == "validation" else " (ORACLE)" if r == "oracle"
                                              else "") for o, a, r in zip(df["objective"], df["alpha"], df["alpha_rule"])],
                   cell=[ci_cell(v, lo, hi) for v, lo, hi in zip(df["value"], df["ci_low"], df["ci_high"])])
    table = df.pivot(index="row", columns="dataset", values="cell")
    table = table.loc[list(dict.fromkeys(df["row"])), [*BENCHMARKS, "average"]]
    cost = df.drop_duplicates("row").set_index("row")["step_cost"]
    table["step cost"] = [f"{c:.2f}×" if np.isfinite(c) else "—" for c in cost.loc[table.index]]
    table.index.name = None
    table.columns.name = None
    return table


def objective_hits(embeddings_dir: str | os.PathLike, splits: Mapping[str, str],
                   picks: Mapping[str, tuple[str, float]]) -> dict[str, dict[str, np.ndarray]]:
    """`{row label: {dataset: per-item values}}` for `picks` = `{label: (student, α)}`, all on the same items."""
    out: dict[str, dict[str, np.ndarray]] = {}
    keys: dict[str, list[str]] = {}
    for label, (student, alpha) in picks.items():
        out[label] = {}
        for dataset, split in splits.items():
            k, values = item_hits(embeddings_dir, dataset, split, grid_model(student, alpha))
            if keys.setdefault(dataset, k) != k:
                raise ValueError(f"{dataset}: {student} was evaluated on other items; evaluate every model in one grid")
            out[label][dataset] = values
    return out


def objective_differences(embeddings_dir: str | os.PathLike, splits: Mapping[str, str], students: Sequence[str],
                          chosen: Mapping[str, float], seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Paired differences (same items, paired bootstrap CI) of every objective against plain fine-tuning and
    against FitCLIP, unfused (α = 1) and at each one's validation-chosen α (`rule` column)."""
    frames = []
    for rule in ("none", "validation"):
        picks = {s: (s, 1.0 if rule == "none" else float(chosen[s])) for s in students}
        hits = objective_hits(embeddings_dir, splits, picks)
        comparisons = [(s, base) for base in (PLAIN, FITCLIP) for s in students if s != base and base in students]
        frames.append(paired_differences(hits, comparisons, seed=seed, n_resamples=n_resamples).assign(rule=rule))
    return pd.concat(frames, ignore_index=True)


def tradeoff(embeddings_dir: str | os.PathLike, splits: Mapping[str, str], val_split: tuple[str, str],
             students: Sequence[str], chosen: Mapping[str, float], seed: int = 0,
             n_resamples: int = 2000) -> pd.DataFrame:
    """The forgetting trade-off per objective: the in-domain gain (validation MRR on the labeled corpus' val
    split, minus the teacher's) against the zero-shot gain (the benchmarks' average minus the teacher's), each
    a paired bootstrap CI over the same items, unfused and at the validation-chosen α.

    Returns:
        `{objective, rule, alpha, in_domain, in_domain_ci_low, in_domain_ci_high, zero_shot, zero_shot_ci_low,
        zero_shot_ci_high}`.
    """
    from fitclip.metrics import bootstrap_ci

    teacher = grid_model(students[0], 0.0)
    vd, vs = val_split
    _, val_teacher = item_hits(embeddings_dir, vd, vs, teacher, "MRR")
    zs_teacher = {d: item_hits(embeddings_dir, d, s, teacher)[1] for d, s in splits.items()}
    rows = []
    for student in students:
        for rule, alpha in (("none", 1.0), ("validation", float(chosen[student]))):
            model = grid_model(student, alpha)
            dv = item_hits(embeddings_dir, vd, vs, model, "MRR")[1] - val_teacher
            dz = [item_hits(embeddings_dir, d, s, model)[1] - zs_teacher[d] for d, s in splits.items()]
            lv, hv = bootstrap_ci(dv, n_resamples=n_resamples, seed=seed)
            lz, hz = bootstrap_ci(dz, n_resamples=n_resamples, seed=seed)
            rows.append({"objective": student, "rule": rule, "alpha": alpha, "in_domain": float(dv.mean()),
                         "in_domain_ci_low": lv, "in_domain_ci_high": hv,
                         "zero_shot": float(np.mean([x.mean() for x in dz])), "zero_shot_ci_low": lz,
                         "zero_shot_ci_high": hz})
    return pd.DataFrame(rows)


def difference_summary(diffs: pd.DataFrame) -> pd.DataFrame:
    """The average rows of :func:`objective_differences` in words: "Δ [low, high]" and whether it is resolved."""
    avg = diffs[diffs["dataset"] == "average"]
    return pd.DataFrame({
        "rule": avg["rule"].map({"none": "unfused (α = 1)", "validation": "α by validation"}).values,
        "comparison": avg["comparison"].values,
        "zero-shot average Δ [95 % CI]": [ci_cell(d, lo, hi) for d, lo, hi in zip(avg["delta"], avg["ci_low"], avg["ci_high"])],
        "reading": ["higher" if lo > 0 else "lower" if hi < 0 else "no difference resolved"
                    for lo, hi in zip(avg["ci_low"], avg["ci_high"])]})
