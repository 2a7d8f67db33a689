"""Per-class and per-query views of two models' embedding files (notebooks 06 and 07): the per-class top-1
difference with its empirical-Bayes shrinkage and intervals, the per-query ranks, and the labels a reader reads
(a class name with spaces, a fused model's α). Inputs are `fitclip.evaluate.load_embeddings` dicts; outputs
are pandas DataFrames the notebooks show, save and plot (`fitclip.study.plots`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch


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
