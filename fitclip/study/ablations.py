"""The paper's two ablations, as notebooks 09 and 10 run them (supp. Sec. 7–8, Figs. 4–5).

* **Labeled-set size** (``09_labeled_size``): students fine-tuned without distillation (λ = 0) on nested
  labeled subsets of increasing size, each fused with the teacher over an α grid. The paper's finding: more
  labeled data moves the student further from the teacher and makes fusion harder (its best fused WebVid R@1
  is at 4,500 videos; far larger sets end worse than the pretrained model).
* **Distillation share** (``10_lambda_share``): students trained with λ = 0 and λ on a log axis up to 1e-2,
  each benchmark's headline metric (unfused, α = 1) against λ. The paper's finding: λ = 1e-4 beats λ = 0 on
  YouCook2 and UCF101, ties on MSR-VTT, loses on DiDeMo and MiT.

Both read the world and the teacher from stages 00–02, train with ``fitclip.study.recipes.train_students`` (the
same ``torchrun -m fitclip.train`` as 03) and evaluate with ``fitclip.study.grid.fusion_grid`` (the same grid
as 04), so every number has the same per-item CIs as the main study.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fitclip.fusion import grid_model
from fitclip.study.confidence import ci_cell, ci_table
from fitclip.study.recipes import data_index, train_students
from fitclip.study.results import BENCHMARKS, item_hits

#: The paper's reading of supp. Fig. 5: the sign of (λ = 1e-4) − (λ = 0) per benchmark (+1 beats, 0 ties, −1 loses).
PAPER_LAMBDA_FINDING: dict[str, int] = {"youcook2": 1, "ucf101": 1, "msrvtt": 0, "didemo": -1, "mit": -1}


def size_student(n: int) -> str:
    """The student trained on `n` labeled videos: ``labeled<n>``."""
    return f"labeled{n}"


def lambda_student(lam: float) -> str:
    """The student trained with distillation share `lam`: ``lam<λ:g>`` (``lam0``, ``lam0.0001``)."""
    return f"lam{lam:g}"


def labeled_pool(data_root: str | os.PathLike) -> list[Any]:
    """The WebVid-like train items a labeled subset may be drawn from: in the synthetic world the rows of the
    labeled concepts (as 01 draws its subset), otherwise all of train."""
    from fitclip.annotations import load_annotations

    root = data_index(data_root)["root"]
    items = load_annotations("webvid", root, split="train").items
    if (Path(root) / "world.json").is_file():
        from fitclip.toyworld.regime import labeled_candidates

        items = labeled_candidates(items, root)
    return items


def nested_subsets(items: Sequence[Any], sizes: Sequence[int], seed: int,
                   out_dir: str | os.PathLike) -> dict[int, Path]:
    """Nested labeled subsets (each size's videos include every smaller size's), drawn with one seeded
    permutation and written as ``<out_dir>/subsets/labeled<n>.csv`` in WebVid's columns.

    Raises:
        ValueError: a size is not positive or larger than `items`.
    """
    from fitclip.annotations import sample_labeled_subset

    sizes = sorted({int(n) for n in sizes})
    if not sizes or sizes[0] < 1 or sizes[-1] > len(items):
        raise ValueError(f"labeled sizes must be between 1 and {len(items)} (the videos a labeled subset can be "
                         f"drawn from), got {sizes}")
    order = random.Random(seed).sample(range(len(items)), sizes[-1])
    out = {}
    for n in sizes:
        chosen = [items[i] for i in sorted(order[:n])]
        path = Path(out_dir) / "subsets" / f"{size_student(n)}.csv"
        sample_labeled_subset(chosen, n=n, seed=seed, out_csv=path)
        out[n] = path
    return out


def train_size_students(data_root: str | os.PathLike, out_dir: str | os.PathLike, sizes: Sequence[int],
                        seed: int = 0, **keys: Any) -> dict[str, Path]:
    """One λ = 0 student per labeled size (``labeled<n>``), each on its nested subset; `keys` as for
    ``train_students`` (preset, lr, max_steps, ...: the same recipe for every size). Returns `{student: folder}`."""
    subsets = nested_subsets(labeled_pool(data_root), sizes, seed, out_dir)
    students: dict[str, Path] = {}
    for n, csv_path in subsets.items():
        students.update(train_students(data_root, out_dir, {size_student(n): 0.0}, [seed],
                                       labeled_csv=str(csv_path), **keys))
    return students


def check_fused_alpha(alphas: Sequence[float], fused_alpha: float) -> None:
    """Before any training: the fixed α of 09's verdict must be a point of its grid."""
    if round(float(fused_alpha), 6) not in {round(float(a), 6) for a in alphas}:
        raise ValueError(f"fused_alpha={fused_alpha:g} is not in alphas={list(alphas)}; add it to the grid or "
                         f"choose one of its values")


def weight_distance(arch: str, teacher: str | os.PathLike, student: str | os.PathLike) -> float:
    """‖θ_student − θ_teacher‖ / ‖θ_teacher‖ over every floating-point weight: how far fine-tuning moved."""
    import torch

    from fitclip.models import load_clip

    a = load_clip(arch, str(teacher)).state_dict()
    b = load_clip(arch, str(student)).state_dict()
    num = sum(float(((b[k].double() - v.double()) ** 2).sum()) for k, v in a.items() if v.is_floating_point())
    den = sum(float((v.double() ** 2).sum()) for v in a.values() if v.is_floating_point())
    return float(np.sqrt(num / den)) if den else float("nan")


def lambda_runs(lams: Sequence[float], compare: float | None = None) -> dict[str, float]:
    """`{student: λ}` for `train_students` (``lam<λ>``), checked before any training: λ values distinct, in
    [0, 1), 0 (the baseline) and `compare` (the λ of the verdict) among them."""
    lams = [float(x) for x in lams]
    if len(set(lams)) != len(lams) or any(not 0 <= x < 1 for x in lams) or 0.0 not in lams:
        raise ValueError(f"lams must be distinct values in [0, 1) including 0 (the baseline), got {lams}")
    if compare is not None and float(compare) not in lams:
        raise ValueError(f"compare={compare:g} is not among lams={lams}; add it, or compare a λ that is trained")
    return {lambda_student(x): x for x in sorted(lams)}


def size_summary(curves: pd.DataFrame, embeddings_dir: str | os.PathLike, checkpoints: Mapping[str, Any],
                 arch: str, teacher_weights: str | os.PathLike, fused_alpha: float = 0.4, seed: int = 0,
                 n_resamples: int = 2000, datasets: Sequence[str] = BENCHMARKS) -> pd.DataFrame:
    """Per labeled size: how far the student moved (weight distance at its run's ``last.pt``: the same step
    for every size, whichever checkpoint is evaluated), the unfused student − teacher and the
    fused (α = `fused_alpha`) − teacher on the zero-shot average (paired bootstrap CIs, each benchmark's items
    resampled on their own), and the best α on the average (read off the curves: descriptive, never a choice).

    Returns:
        `{labeled, weight_distance, student_vs_teacher, …_ci_low, …_ci_high, fused_vs_teacher, …, best_alpha,
        best_average}` rows, smallest size first.
    """
    from fitclip.metrics import bootstrap_ci

    sizes = sorted(int(name.removeprefix("labeled")) for name in checkpoints)
    teacher = {d: item_hits(embeddings_dir, d, _split(curves, d), grid_model(size_student(sizes[0]), 0.0))[1]
               for d in datasets}
    rows = []
    for n in sizes:
        name = size_student(n)
        row: dict[str, Any] = {"labeled": n, "weight_distance": weight_distance(
            arch, teacher_weights, Path(checkpoints[name]).parent / "last.pt")}
        for label, alpha in (("student_vs_teacher", 1.0), ("fused_vs_teacher", fused_alpha)):
            diffs = [item_hits(embeddings_dir, d, _split(curves, d), grid_model(name, alpha))[1] - teacher[d]
                     for d in datasets]
            low, high = bootstrap_ci(diffs, n_resamples=n_resamples, seed=seed)
            row.update({label: float(np.mean([x.mean() for x in diffs])), f"{label}_ci_low": low,
                        f"{label}_ci_high": high})
        avg = curves[(curves["dataset"] == "average") & (curves["student"] == name)]
        best = avg.loc[avg["value"].idxmax()]
        row.update({"best_alpha": float(best["alpha"]), "best_average": float(best["value"])})
        rows.append(row)
    return pd.DataFrame(rows)


def _split(curves: pd.DataFrame, dataset: str) -> str:
    return str(curves.loc[curves["dataset"] == dataset, "split"].iloc[0])


def _trend(values: Sequence[float]) -> str:
    diffs = np.diff(np.asarray(values, float))
    return "rises" if (diffs > 0).all() else "falls" if (diffs < 0).all() else "is not monotonic"


def size_verdicts(summary: pd.DataFrame, curves: pd.DataFrame, embeddings_dir: str | os.PathLike,
                  fused_alpha: float = 0.4, seed: int = 0, n_resamples: int = 2000,
                  datasets: Sequence[str] = BENCHMARKS) -> pd.DataFrame:
    """The paper's labeled-size findings against ours: (1) more labeled data moves the student further (weight
    distance rises with size), (2) it makes fusion harder: the fused model (at a fixed α) of the largest size
    minus that of the smallest, on the zero-shot average, with a PAIRED bootstrap CI over the same items
    (each benchmark resampled on its own)."""
    from fitclip.metrics import bootstrap_ci

    first, last = int(summary["labeled"].iloc[0]), int(summary["labeled"].iloc[-1])
    moved = _trend(summary["weight_distance"])
    diffs = []
    for d in datasets:
        keys_a, a = item_hits(embeddings_dir, d, _split(curves, d), grid_model(size_student(last), fused_alpha))
        keys_b, b = item_hits(embeddings_dir, d, _split(curves, d), grid_model(size_student(first), fused_alpha))
        if keys_a != keys_b:
            raise ValueError(f"{d}: the two sizes were evaluated on other items; evaluate them in one grid")
        diffs.append(a - b)
    low, high = bootstrap_ci(diffs, n_resamples=n_resamples, seed=seed)
    delta = float(np.mean([x.mean() for x in diffs]))
    gain = "; ".join(f"{r.labeled}: {ci_cell(r.fused_vs_teacher, r.fused_vs_teacher_ci_low, r.fused_vs_teacher_ci_high)}"
                     for r in summary.itertuples())
    return pd.DataFrame([
        {"finding": "more labeled data moves the student further from the teacher",
         "ours": "‖θ − θ₀‖/‖θ₀‖ at the last step " + ", ".join(f"{x:.4f}" for x in summary["weight_distance"]) +
                 f" for {', '.join(str(n) for n in summary['labeled'])} videos",
         "verdict": "supported" if moved == "rises" else f"not supported (the distance {moved})"},
        {"finding": f"more labeled data makes fusion harder (fused at α = {fused_alpha:g}, zero-shot average)",
         "ours": f"{last} − {first} videos, paired: {ci_cell(delta, low, high)} (each − teacher: {gain})",
         "verdict": "supported (the largest size's fused model is below the smallest's)" if high < 0 else
                    "contradicted (the largest size's fused model is above the smallest's)" if low > 0 else
                    "not supported (the paired difference's CI includes 0)"},
    ])


def lambda_table(embeddings_dir: str | os.PathLike, lams: Sequence[float], splits: Mapping[str, str],
                 seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Each benchmark's headline metric per λ (unfused students, α = 1) and the teacher (α = 0), with bootstrap
    CIs over items (`fitclip.study.confidence.ci_table`): tidy `{lam, model, dataset, metric, value, ci_low, ci_high,
    n}` (`lam` NaN for the teacher)."""
    models = {"teacher": grid_model(lambda_student(lams[0]), 0.0),
              **{lambda_student(lam): grid_model(lambda_student(lam), 1.0) for lam in lams}}
    hits = {label: {d: item_hits(embeddings_dir, d, split, model)[1] for d, split in splits.items()}
            for label, model in models.items()}
    table = ci_table(hits, seed=seed, n_resamples=n_resamples)
    table = table[table["dataset"] != "average"].reset_index(drop=True)
    table.insert(0, "lam", table["model"].map({lambda_student(lam): float(lam) for lam in lams}).astype(float))
    return table


def lambda_verdicts(embeddings_dir: str | os.PathLike, splits: Mapping[str, str], lam: float = 1e-4,
                    base: float = 0.0, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """The paper's λ finding per benchmark against ours: (λ = `lam`) − (λ = `base`) on the same items, paired
    bootstrap CI; "beats"/"loses" only when the CI excludes 0, else "ties"."""
    from fitclip.metrics import bootstrap_ci

    words = {1: "beats", 0: "ties", -1: "loses"}
    rows = []
    for dataset, split in splits.items():
        keys, a = item_hits(embeddings_dir, dataset, split, grid_model(lambda_student(lam), 1.0))
        other, b = item_hits(embeddings_dir, dataset, split, grid_model(lambda_student(base), 1.0))
        if keys != other:
            raise ValueError(f"{dataset}: the two students were evaluated on other items; evaluate them in one grid")
        low, high = bootstrap_ci(a - b, n_resamples=n_resamples, seed=seed)
        ours = 1 if low > 0 else -1 if high < 0 else 0
        paper = PAPER_LAMBDA_FINDING.get(dataset)
        rows.append({"dataset": dataset, "paper": f"λ = {lam:g} {words[paper]} λ = {base:g}" if paper is not None else "",
                     "ours": f"{ci_cell(float((a - b).mean()), low, high)} points: "
                             f"{words[ours] if ours else 'no difference resolved'}",
                     "verdict": "—" if paper is None else ("agrees (no difference resolved, as the paper's tie)" if ours == 0 else "agrees") if ours == paper else
                                "not resolved (CI includes 0)" if ours == 0 else "disagrees"})
    return pd.DataFrame(rows)
