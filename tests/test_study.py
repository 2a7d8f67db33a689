"""fitclip.study.results, curves, confidence, verdicts, views and tables: result rows, α curves, α selection, the
comparison table, Δ and error-rate reduction, verdicts, per-class and per-query views; the published numbers
(fitclip.study.published)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitclip.fusion import grid_model
from fitclip.study.curves import alpha_curves, alpha_table, choose_alpha
from fitclip.study.results import read_results


def _rows():
    """Two students over α ∈ {0, 0.5, 1}; values chosen by hand."""
    rows = []
    grid = {  # (student, alpha): {dataset: primary metric}
        ("fitclip", 0.0): {"ucf101": 50, "msrvtt": 20, "webvid": 10},
        ("fitclip", 0.5): {"ucf101": 60, "msrvtt": 30, "webvid": 30},
        ("fitclip", 1.0): {"ucf101": 55, "msrvtt": 35, "webvid": 40},
        ("wiseft", 0.0): {"ucf101": 50, "msrvtt": 20, "webvid": 10},
        ("wiseft", 0.5): {"ucf101": 52, "msrvtt": 25, "webvid": 45},
        ("wiseft", 1.0): {"ucf101": 40, "msrvtt": 30, "webvid": 45},
    }
    for (student, alpha), values in grid.items():
        for dataset, value in values.items():
            metric = {"ucf101": "top1", "webvid": "MRR"}.get(dataset, "R@5")  # headline metrics; α chosen by MRR
            rows.append({"model": grid_model(student, alpha), "student": student, "alpha": alpha, "dataset": dataset,
                         "split": "test",
                         "metric": metric, "value": value, "n_expected": 10, "n_evaluated": 10, "n_failed": 0})
            rows.append({**rows[-1], "metric": "R@1" if metric == "R@5" else "top5", "value": 99.0})
    return rows


@pytest.fixture
def results(tmp_path):
    path = tmp_path / "results.jsonl"
    stale = {**_rows()[0], "value": -1.0}  # an earlier run of the same model: the rerun wins
    path.write_text("\n".join(json.dumps(r) for r in [stale] + _rows()) + "\n")
    return read_results(path)


def test_curves_use_primary_metrics_and_last_rows_win(results):
    curves = alpha_curves(results)
    assert set(curves["metric"]) == {"top1", "R@5", "MRR"}  # never R@1 (the 99.0 rows) nor top-5
    assert curves[(curves.student == "fitclip") & (curves.alpha == 0) & (curves.dataset == "ucf101")]["value"].item() == 50


def test_choose_alpha_on_validation_breaks_ties_towards_teacher(results):
    curves = alpha_curves(results)
    assert choose_alpha(curves, ["webvid"]) == {"fitclip": 1.0, "wiseft": 0.5}
    assert choose_alpha(curves, ["ucf101", "msrvtt"]) == {"fitclip": 0.5, "wiseft": 0.5}
    with pytest.raises(ValueError, match="no α-grid results"):
        choose_alpha(curves, ["didemo"])


def test_alpha_table_hand_computed(results):
    curves = alpha_curves(results)
    t = alpha_table(curves, "fitclip", ["ucf101", "msrvtt"])
    assert t.loc[0.5, "average"] == 45


def test_curves_read_the_student_column_and_old_files_give_the_same_curves(tmp_path, results):
    # A plain model evaluated with an alpha, and a student whose name contains "-alpha": the columns decide.
    extra = [{**_rows()[0], "model": "teacher-alpha-ish", "student": None, "alpha": 0.5, "value": -5.0},
             *[{**r, "model": grid_model("my-alpha-net", r["alpha"]), "student": "my-alpha-net"} for r in _rows()[:6]]]
    path = tmp_path / "new.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows() + extra))
    curves = alpha_curves(read_results(path))
    assert set(curves["student"]) == {"fitclip", "wiseft", "my-alpha-net"} and -5.0 not in set(curves["value"])
    # A file written before the student column: the same curves, recovered from the grid names.
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "student"}) + "\n" for r in _rows()))
    pd.testing.assert_frame_equal(alpha_curves(read_results(old)), alpha_curves(results))


def test_read_results_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="evaluate"):
        read_results(tmp_path / "nope.jsonl")


# ----------------------------------------------------------------------------------------------------
# Headline metrics and the published numbers
# ----------------------------------------------------------------------------------------------------

def test_primary_metrics_are_the_papers_headline_metrics():
    from fitclip.study.published import load_published_results
    from fitclip.study.results import PRIMARY_METRIC

    table3 = load_published_results().query("table == 'Table 3'")
    assert dict(zip(table3["dataset"], table3["metric"])) == {d: PRIMARY_METRIC[d] for d in table3["dataset"]}
    # α is chosen on the labeled corpus' validation split by MRR, fixed in advance (issue 18 §2; the paper: R@5)
    assert PRIMARY_METRIC["webvid"] == "MRR"


def test_published_results_table():
    from fitclip.annotations import SPECS
    from fitclip.study.published import load_published_results

    frame = load_published_results()
    assert list(frame.columns) == ["source", "table", "model", "dataset", "split", "metric", "value",
                                   "protocol_note"]
    assert frame["value"].dtype == float
    assert len(frame) == 220  # every number of the paper's and the supplement's tables
    assert frame["dataset"].isin(set(SPECS) - {"folder"}).all()
    assert frame["source"].str.len().gt(0).all() and frame["protocol_note"].str.len().gt(0).all()
    assert not frame.duplicated(["table", "model", "dataset", "split", "metric"]).any()
    table3 = frame[frame["table"] == "Table 3"].set_index(["model", "dataset"])["value"]
    assert table3[("FitCLIP", "didemo")] == 53.7 and table3[("Teacher (CLIP)", "mit")] == 19.9


def test_published_results_are_the_shared_copy_unchanged(shared_dir):
    shared = shared_dir / "paper" / "published_results.csv"
    if not shared.is_file():
        pytest.skip(f"{shared} is absent (it exists in the project's CI and dev machines, not on a user's clone)")
    bundled = Path(__file__).resolve().parents[1] / "fitclip" / "data" / "published_results.csv"
    assert bundled.read_bytes() == shared.read_bytes()


def test_published_table_has_the_papers_rows():
    from fitclip.study.tables import published_table

    pub = published_table()
    assert list(pub.index) == ["Teacher", "Student", "FitCLIP", "WiSE-FT"]
    assert pub.loc["FitCLIP", "msrvtt"] == 59.8 and pub.loc["Teacher", "ucf101"] == 74.5
    assert pub.loc["WiSE-FT", "average"] == pytest.approx((72.5 + 22.0 + 59.9 + 15.1 + 55.4) / 5)


# ----------------------------------------------------------------------------------------------------
# Confidence intervals from saved per-item ranks
# ----------------------------------------------------------------------------------------------------

def _write_grid(folder, ranks_by_model, dataset="msrvtt", split="test", targets=None, scores=None, classnames=None):
    """Embedding files as `evaluate` writes them, with hand-chosen per-item ranks."""
    import torch

    from fitclip.files import save_state
    from fitclip.evaluate import EMBEDDINGS_FORMAT, embeddings_path

    for model, ranks in ranks_by_model.items():
        n = len(ranks)
        extra = {} if targets is None else {"targets": torch.tensor(targets), "scores": scores[model],
                                            "classnames": classnames}
        save_state({"format": EMBEDDINGS_FORMAT, "model": model, "dataset": dataset, "split": split,
                    "keys": [f"v{i}" for i in range(n)], "ranks": torch.tensor(ranks), **extra},
                   embeddings_path(folder, dataset, split, model))


def test_table_cis_and_paired_differences_from_saved_ranks(tmp_path):
    from fitclip.study.confidence import ci_table, paired_differences
    from fitclip.study.results import table_hits

    teacher = [1, 9, 9, 2, 7, 9, 1, 9]          # R@5 hits: 1 0 0 1 0 0 1 0 → 37.5
    student = [1, 2, 3, 9, 1, 2, 9, 9]          # 1 1 1 0 1 1 0 0 → 62.5
    _write_grid(tmp_path, {"fitclip-alpha0": teacher, "fitclip-alpha1": student, "fitclip-alpha0.5": student,
                           "wiseft-alpha0.5": student})
    hits = table_hits(tmp_path, {"fitclip": 0.5, "wiseft": 0.5}, {"msrvtt": "test"})
    assert list(hits) == ["Teacher", "Student", "FitCLIP", "WiSE-FT"]
    table = ci_table(hits, n_resamples=500)
    row = table[(table.model == "Student") & (table.dataset == "msrvtt")].iloc[0]
    assert row.value == 62.5 and row.metric == "R@5" and row.ci_low < 62.5 < row.ci_high and row.n == 8
    diffs = paired_differences(hits, n_resamples=500)
    same = diffs[(diffs.comparison == "FitCLIP − WiSE-FT") & (diffs.dataset == "msrvtt")].iloc[0]
    assert (same.delta, same.ci_low, same.ci_high, same.excludes_zero) == (0.0, 0.0, 0.0, False)
    gain = diffs[(diffs.comparison == "Student − Teacher") & (diffs.dataset == "msrvtt")].iloc[0]
    assert gain.delta == 25.0 and gain.ci_low <= 25.0 <= gain.ci_high


def test_curve_intervals_per_point_and_the_average(tmp_path):
    import numpy as np

    from fitclip.metrics import bootstrap_ci
    from fitclip.study.curves import AVERAGE, average_rows, curve_intervals, interval_table

    teacher = [1, 9, 9, 2, 7, 9, 1, 9]          # R@5 hits: 1 0 0 1 0 0 1 0 → 37.5
    student = [1, 2, 3, 9, 1, 2, 9, 9]          # 1 1 1 0 1 1 0 0 → 62.5
    _write_grid(tmp_path, {"fitclip-alpha0": teacher, "fitclip-alpha1": student})
    _write_grid(tmp_path, {"fitclip-alpha0": [1, 1, 9, 9], "fitclip-alpha1": [9, 9, 9, 1]}, dataset="didemo",
                split="val")
    curves = pd.DataFrame([
        {"student": "fitclip", "alpha": 0.0, "dataset": "msrvtt", "split": "test", "metric": "R@5", "value": 37.5},
        {"student": "fitclip", "alpha": 1.0, "dataset": "msrvtt", "split": "test", "metric": "R@5", "value": 62.5},
        {"student": "fitclip", "alpha": 0.0, "dataset": "didemo", "split": "val", "metric": "R@5", "value": 50.0},
        {"student": "fitclip", "alpha": 1.0, "dataset": "didemo", "split": "val", "metric": "R@5", "value": 25.0}])
    out = curve_intervals(curves, tmp_path, ["msrvtt", "didemo"], n_resamples=300)
    point = out[(out.dataset == "msrvtt") & (out.alpha == 1.0)].iloc[0]
    hits = np.array([100, 100, 100, 0, 100, 100, 0, 0], float)
    assert (point.ci_low, point.ci_high) == bootstrap_ci(hits, n_resamples=300) and point.n == 8
    assert point.ci_low < 62.5 < point.ci_high
    average = average_rows(out)
    assert list(average["alpha"]) == [0.0, 1.0] and set(average["dataset"]) == {AVERAGE}
    assert average["value"].tolist() == [(37.5 + 50) / 2, (62.5 + 25) / 2]
    low, high = bootstrap_ci([hits, np.array([0, 0, 0, 100], float)], n_resamples=300)  # each resampled alone
    assert (average.iloc[1].ci_low, average.iloc[1].ci_high) == (low, high)
    assert interval_table(average).loc[1.0, "fitclip"] == f"43.8 [{low:.1f}, {high:.1f}]"
    # ranks of another run than the rows: refused
    with pytest.raises(ValueError, match="another run"):
        curve_intervals(curves.assign(value=[37.5, 60.0, 50.0, 25.0]), tmp_path, ["msrvtt"], n_resamples=100)
    with pytest.raises(ValueError, match="run notebooks/04_fusion.ipynb again"):
        average_rows(curves)


def test_alpha_choice_records_the_criterion_the_validation_size_and_the_distance_to_alpha_1(tmp_path):
    import numpy as np

    from fitclip.metrics import bootstrap_ci
    from fitclip.study.curves import alpha_choice

    ranks = {0.0: [1, 2, 4, 1], 0.5: [1, 1, 2, 1], 1.0: [2, 1, 2, 4]}  # MRR 68.75, 87.5, 56.25 (×100)
    _write_grid(tmp_path, {f"fitclip-alpha{a:g}": r for a, r in ranks.items()}, dataset="webvid", split="val")
    curves = pd.DataFrame([{"student": "fitclip", "alpha": a, "dataset": "webvid", "split": "val", "metric": "MRR",
                            "value": float(np.mean([100 / x for x in r])), "n": 4} for a, r in ranks.items()])
    choice = alpha_choice(curves, tmp_path, ["webvid"], benchmarks=["webvid"], n_resamples=300)
    assert choice["criterion"] == "MRR" and choice["n_validation"] == 4 and choice["chosen"] == {"fitclip": 0.5}
    margin = choice["chosen_vs_student"]["fitclip"]
    diff = np.array([100 - 50, 100 - 100, 50 - 50, 100 - 25], float)  # paired, item by item
    assert margin["delta"] == pytest.approx(87.5 - 56.25) and (margin["ci_low"], margin["ci_high"]) == bootstrap_ci(diff, n_resamples=300)
    assert margin["resolved"] == (margin["ci_low"] > 0)


def test_alpha_curves_figure_validation_first_metrics_named_from_zero_with_bands():
    import matplotlib

    matplotlib.use("Agg")
    from fitclip.study.plots import plot_alpha_curves

    rows = []
    for dataset, metric, split in (("msrvtt", "R@5", "test"), ("ucf101", "top1", "test"), ("webvid", "R@5", "val")):
        for student in ("fitclip", "wiseft"):
            for alpha, value in ((0.0, 16.0), (0.5, 18.0), (1.0, 17.0)):
                rows.append({"student": student, "alpha": alpha, "dataset": dataset, "split": split, "metric": metric,
                             "value": value, "ci_low": value - 3, "ci_high": value + 3})
    fig = plot_alpha_curves(pd.DataFrame(rows), chosen={"fitclip": 1.0, "wiseft": 0.5}, select_on=["webvid"])
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["webvid val: validation, chooses α", "ucf101 test", "msrvtt test"]
    assert [ax.get_ylabel() for ax in axes] == ["R@5 (%)", "top-1 (%)", "R@5 (%)"]
    assert all(ax.get_ylim()[0] == 0 for ax in axes)
    assert all(len(ax.collections) == 2 for ax in axes)  # one CI band per student
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "fitclip: α = 1 (highest validation R@5)" in labels and "wiseft: α = 0.5 (highest validation R@5)" in labels


def test_slider_rows_show_validation_first_and_cis():
    from fitclip.study.curves import _interval_table, choice_text

    curves = pd.DataFrame([
        {"student": "fitclip", "alpha": 1.0, "dataset": "webvid", "metric": "R@5", "value": 35.33, "ci_low": 30.0, "ci_high": 40.7},
        {"student": "fitclip", "alpha": 1.0, "dataset": "ucf101", "metric": "top1", "value": 15.3, "ci_low": 12.5, "ci_high": 18.3},
        {"student": "fitclip", "alpha": 1.0, "dataset": "average", "metric": "mean", "value": 12.9, "ci_low": 11.7, "ci_high": 14.1}])
    row = _interval_table(curves, "fitclip", 1.0, ["ucf101"], ["webvid"])
    assert row == {"webvid val R@5 (chooses α)": "35.3 [30.0, 40.7]", "ucf101 top-1": "15.3 [12.5, 18.3]",
                   "average": "12.9 [11.7, 14.1]"}
    assert choice_text({"fitclip": 1.0, "wiseft": 0.6}) == (
        "chosen on validation (webvid MRR; highest, ties → the smaller α): fitclip α = 1, wiseft α = 0.6")


def test_verdicts_follow_the_cis(tmp_path):
    import numpy as np

    from fitclip.study.confidence import paired_differences
    from fitclip.study.verdicts import verdicts

    n = 400
    low, high, mid = np.zeros(n), np.full(n, 100.0), np.r_[np.zeros(n // 2), np.full(n // 2, 100.0)]
    hits = {"Teacher": {"ucf101": low, "mit": high}, "Student": {"ucf101": high, "mit": low},
            "FitCLIP": {"ucf101": mid, "mit": mid}, "WiSE-FT": {"ucf101": mid, "mit": mid}}
    diffs = paired_differences(hits, n_resamples=300)
    v = verdicts(hits, diffs, {"ucf101": "in-domain", "mit": "shifted"}).set_index("claim")["verdict"]
    assert v.iloc[0] == "supported" and v.iloc[1] == "supported"  # learns in-domain, forgets shifted
    assert v.iloc[2].startswith("not supported")  # FitCLIP == the average of both ends: not above both
    assert v.iloc[3].startswith("no difference resolved")


def test_order_control_pairwise_accuracy(tmp_path):
    import torch

    from fitclip.study.verdicts import order_control

    classnames = ["Growing", "Moving Left", "Shrinking"]
    targets = [0, 0, 2, 2]
    # The model ranks "Growing" above "Shrinking" for every video: right on the growing clips only.
    scores = {"m": torch.tensor([[0.9, 0.5, 0.1], [0.8, 0.1, 0.2], [0.7, 0.1, 0.6], [0.5, 0.0, 0.5]])}
    _write_grid(tmp_path, {"m": [1, 1, 2, 1]}, dataset="ucf101", split="test", targets=targets, scores=scores,
                classnames=classnames)
    rows = order_control(tmp_path, {"Teacher": "m"}, "ucf101", "test", [("Growing", "Shrinking")])
    assert rows.iloc[0].pairwise_accuracy == pytest.approx((100 + 100 + 0 + 50) / 4)  # a tie counts half
    assert rows.iloc[0].n == 4
    # The pre-registered rule: Bonferroni over the distinct rows, so more rows give wider CIs.
    from fitclip.study.verdicts import control_level, verdicts

    assert control_level(6) == pytest.approx(1 - 0.05 / 6) and control_level(1) == pytest.approx(0.95)
    wide = order_control(tmp_path, {"Teacher": "m"}, "ucf101", "test", [("Growing", "Shrinking")],
                         level=control_level(6))
    assert wide.iloc[0].level == pytest.approx(1 - 0.05 / 6)
    assert wide.iloc[0].ci_low <= rows.iloc[0].ci_low and wide.iloc[0].ci_high >= rows.iloc[0].ci_high
    row = verdicts({}, pd.DataFrame(columns=["comparison", "dataset", "delta", "ci_low", "ci_high"]), None,
                   wide).iloc[-1]
    assert row["ours"].startswith("99.17 % CIs (Bonferroni): Teacher (ucf101) 62.5")


# ----------------------------------------------------------------------------------------------------
# The tables of notebooks 06 and 07 (per-class difference, per-query ranks) and the α-average curve
# ----------------------------------------------------------------------------------------------------


def _classification_file(predictions: list[int], keys=("v0", "v1", "v2", "v3", "v4", "v5")) -> dict:
    """An embedding file's fields for 4 classes ('d' has no video); each video's top class is given."""
    import torch

    return {"keys": list(keys), "classnames": ["a", "b", "c", "d"], "targets": torch.tensor([0, 0, 1, 1, 2, 2]),
            "scores": torch.eye(4)[predictions]}


def test_per_class_difference_sign_order_n_and_interval():
    from fitclip.study.views import per_class_difference

    base = _classification_file([0, 1, 1, 1, 0, 0])   # a: 1/2 right, b: 2/2, c: 0/2
    other = _classification_file([0, 0, 0, 1, 2, 2])  # a: 2/2,       b: 1/2, c: 2/2
    table = per_class_difference(base, other)
    assert list(table.columns) == ["class", "videos", "base", "other", "difference", "shrunk", "ci_low", "ci_high"]
    # other − base, in points; 'd' (no video) is left out.
    plain = table[["class", "videos", "base", "other", "difference"]].to_dict("records")
    assert plain == [
        {"class": "c", "videos": 2, "base": 0.0, "other": 100.0, "difference": 100.0},
        {"class": "a", "videos": 2, "base": 50.0, "other": 100.0, "difference": 50.0},
        {"class": "b", "videos": 2, "base": 100.0, "other": 50.0, "difference": -50.0},
    ]
    # Shrinkage by hand: per-video d = a (0, 100), b (0, -100), c (100, 100); m = 100/3; pooled within-class
    # variance s² = (5000 + 5000 + 0) / (6 − 3) = 10000/3; τ² = the class means' variance (ddof 1) − s²/n.
    means, m, s2 = [100.0, 50.0, -50.0], 100 / 3, 10000 / 3
    var_means = sum((x - m) ** 2 for x in means) / 2
    tau2 = var_means - s2 / 2
    w = tau2 / (tau2 + s2 / 2)
    assert table["shrunk"].tolist() == pytest.approx([m + w * (x - m) for x in means])
    half = 1.959963984540054 * (w * s2 / 2) ** 0.5
    assert table["ci_high"].tolist() == pytest.approx([min(100.0, m + w * (x - m) + half) for x in means])
    assert table["ci_low"].tolist() == pytest.approx([m + w * (x - m) - half for x in means])
    swapped = per_class_difference(other, base)  # the sign follows the argument order
    assert swapped["class"].tolist() == ["b", "a", "c"] and swapped["difference"].tolist() == [50.0, -50.0, -100.0]
    with pytest.raises(ValueError, match="different videos"):
        per_class_difference(base, _classification_file([0] * 6, keys=("v0", "v1", "v2", "v3", "v4", "x")))


def test_per_class_difference_shrinks_everything_to_the_mean_when_classes_differ_no_more_than_noise():
    from fitclip.study.views import per_class_difference

    # Every class has one video up and one down: the class means are all 0, nothing to tell apart.
    base = _classification_file([1, 0, 0, 1, 0, 2])
    other = _classification_file([0, 1, 1, 0, 2, 0])
    table = per_class_difference(base, other)
    assert table["difference"].tolist() == [0.0, 0.0, 0.0]
    assert table["shrunk"].tolist() == [0.0, 0.0, 0.0] and (table["ci_low"] == table["ci_high"]).all()


def test_per_class_figure_has_no_empty_rows_and_readable_names():
    import matplotlib

    matplotlib.use("Agg")
    from fitclip.study.plots import plot_per_class_difference
    from fitclip.study.views import per_class_difference, readable_class

    assert readable_class("adult+female+singing") == "adult female singing"
    assert readable_class("Apply_Eye  Makeup") == "Apply Eye Makeup"
    base = _classification_file([0, 1, 1, 1, 0, 0])
    base["classnames"] = ["red+circle+moving+left", "b", "c", "d"]
    diff = per_class_difference(base, _classification_file([0, 0, 1, 1, 0, 0]))  # c: 0 → 0 (a zero row)
    fig = plot_per_class_difference(diff, k=25)
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert all("(n=2)" in label for label in labels) and "+" not in "".join(labels)
        # every row has its shrunk-estimate marker, the zero row included
        markers = [c for c in ax.collections if c.get_offsets().shape[0] == len(labels)]
        assert markers and all(sorted(c.get_offsets()[:, 1]) == list(range(len(labels))) for c in markers)
    assert "intervals exclude 0" in fig._suptitle.get_text()


def test_query_ranks_is_one_row_per_model_and_query():
    import torch

    from fitclip.study.views import query_ranks

    files = {"Teacher": {"dataset": "msrvtt", "keys": ["ret0", "ret1", "ret2"], "ranks": torch.tensor([1, 7, 2])},
             "FitCLIP": {"dataset": "msrvtt", "keys": ["ret0", "ret1", "ret2"], "ranks": torch.tensor([3, 1, 2])}}
    frame = query_ranks(files)
    assert list(frame.columns) == ["dataset", "model", "key", "rank"]
    assert [tuple(r) for r in frame.itertuples(index=False)] == [
        ("msrvtt", "Teacher", "ret0", 1), ("msrvtt", "Teacher", "ret1", 7), ("msrvtt", "Teacher", "ret2", 2),
        ("msrvtt", "FitCLIP", "ret0", 3), ("msrvtt", "FitCLIP", "ret1", 1), ("msrvtt", "FitCLIP", "ret2", 2)]
    assert list(frame.index) == list(range(6))  # one fresh index over both models


def test_average_curve_hand_computed():
    from fitclip.study.curves import average_curve

    curves = pd.DataFrame([
        {"student": "fitclip", "alpha": 0.0, "dataset": "ucf101", "value": 50.0},
        {"student": "fitclip", "alpha": 0.0, "dataset": "msrvtt", "value": 20.0},
        {"student": "fitclip", "alpha": 0.0, "dataset": "webvid", "value": 90.0},  # not averaged below
        {"student": "fitclip", "alpha": 1.0, "dataset": "ucf101", "value": 55.0},
        {"student": "fitclip", "alpha": 1.0, "dataset": "msrvtt", "value": 35.0},
        {"student": "wiseft", "alpha": 0.5, "dataset": "ucf101", "value": 40.0},
        {"student": "wiseft", "alpha": 0.5, "dataset": "msrvtt", "value": 31.0},
    ])
    avg = average_curve(curves, ["ucf101", "msrvtt"])
    assert [tuple(r) for r in avg[["student", "alpha", "value"]].itertuples(index=False)] == [
        ("fitclip", 0.0, 35.0), ("fitclip", 1.0, 45.0), ("wiseft", 0.5, 35.5)]
    with pytest.raises(ValueError, match=r"no α-grid results for \['didemo'\]"):
        average_curve(curves, ["ucf101", "didemo"])
    # A student or α without one of the datasets is an error, not a mean over fewer datasets.
    with pytest.raises(ValueError, match=r"student 'fitclip' at α=1 has no α-grid results for \['webvid'\]"):
        average_curve(curves, ["webvid"])
    with pytest.raises(ValueError, match=r"student 'wiseft' at α=0.5 has no α-grid results for \['webvid'\]"):
        average_curve(curves[~((curves["student"] == "fitclip") & (curves["alpha"] == 1.0))], ["ucf101", "webvid"])


# ----------------------------------------------------------------------------------------------------
# The stages' recipes (03, 04)
# ----------------------------------------------------------------------------------------------------

def test_training_log_tags_each_students_rows(tmp_path):
    from fitclip.study.recipes import training_log

    for name, losses in {"fitclip": [3.0, 2.0], "wiseft": [4.0]}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.jsonl").write_text(
            "".join(json.dumps({"step": i + 1, "labeled": v}) + "\n" for i, v in enumerate(losses)))
    log = training_log({"fitclip": tmp_path / "fitclip", "wiseft": tmp_path / "wiseft"})
    assert log[["run", "step", "labeled"]].values.tolist() == [["fitclip", 1, 3.0], ["fitclip", 2, 2.0],
                                                                ["wiseft", 1, 4.0]]


def test_alpha_grid_of_every_student_evaluated_on_each_dataset(tmp_path, toy_benchmarks):
    import torch
    from helpers import make_msrvtt

    from fitclip.fusion import FusionGrid
    from fitclip.models import load_clip
    from fitclip.study.recipes import evaluate_alpha_grid

    torch.manual_seed(0)
    teacher = load_clip("fitclip-tiny", None)
    students = {"fitclip": load_clip("fitclip-tiny", None).clip.state_dict(),
                "wiseft": load_clip("fitclip-tiny", None).clip.state_dict()}
    models = FusionGrid(teacher, students, [0.0, 1.0]).to("cpu")
    assert list(models) == ["fitclip-alpha0", "fitclip-alpha1", "wiseft-alpha0", "wiseft-alpha1"]
    assert models["fitclip-alpha0"].model is teacher and models["wiseft-alpha1"].student == "wiseft"

    layout = make_msrvtt(tmp_path / "bench", toy_benchmarks, n=4)
    results = evaluate_alpha_grid(models, layout.data_root, tmp_path / "04", [("msrvtt", None)], num_workers=0)
    assert results == tmp_path / "04" / "alpha_grid.jsonl"
    assert len(list((tmp_path / "04" / "embeddings").rglob("*.pt"))) == 4
    curves = alpha_curves(read_results(results, models=models))
    assert curves[["student", "alpha"]].values.tolist() == [["fitclip", 0.0], ["fitclip", 1.0], ["wiseft", 0.0],
                                                             ["wiseft", 1.0]]
    teacher_rows = curves[curves["alpha"] == 0]  # α = 0 is the teacher for both students
    assert teacher_rows["value"].nunique() == 1


def test_write_csv_is_the_atomic_writer_with_pandas_bytes(tmp_path):
    from fitclip.files import write_csv

    df = pd.DataFrame({"student": ["fitclip", "wiseft"], "alpha": [0.4, 0.5], "note": ["a,b", "é"]})
    path = write_csv(df, tmp_path / "sub" / "t.csv")
    df.to_csv(tmp_path / "direct.csv", index=False)  # what the notebooks wrote before
    assert path.read_bytes() == (tmp_path / "direct.csv").read_bytes() == 'student,alpha,note\nfitclip,0.4,"a,b"\nwiseft,0.5,é\n'.encode()
    pd.testing.assert_frame_equal(pd.read_csv(path), df)
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.csv"]  # no temp file left


def test_the_benchmark_bars_hold_the_tables_values_and_cis():
    """The figure shows the numbers it is given: each bar's height is its row's value and its error bar spans the
    row's CI (read back from the drawn artists)."""
    from fitclip.study.plots import plot_benchmark_bars

    tidy = pd.DataFrame([{"model": m, "dataset": d, "metric": "R@5", "value": v, "ci_low": v - 2 - i, "ci_high": v + 1}
                         for i, (m, d, v) in enumerate([("Teacher", "msrvtt", 20.0), ("Teacher", "didemo", 30.0),
                                                        ("FitCLIP", "msrvtt", 25.0), ("FitCLIP", "didemo", 35.5)])])
    fig = plot_benchmark_bars(tidy)
    ax = fig.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == [20.0, 30.0, 25.0, 35.5]  # model by model, datasets in order
    spans = sorted(tuple(np.round(seg[:, 1], 6)) for lines in ax.collections for seg in lines.get_segments())
    assert spans == sorted([(18.0, 21.0), (27.0, 31.0), (21.0, 26.0), (30.5, 36.5)])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["msrvtt\n(R@5)", "didemo\n(R@5)"]


def test_the_training_curves_plot_each_runs_losses():
    from fitclip.study.plots import plot_curves

    log = pd.DataFrame({"step": [1, 2, 3, 1, 2, 3], "labeled": [3.0, 2.0, 1.5, 3.1, 2.5, 2.4],
                        "run": ["fitclip"] * 3 + ["wiseft"] * 3})
    fig = plot_curves(log, x="step", ys=["labeled", "distill"], hue="run")  # distill absent: one panel
    [ax] = [a for a in fig.axes if a.get_title()]
    drawn = {tuple(line.get_ydata()) for line in ax.get_lines() if len(line.get_ydata()) == 3}
    assert drawn == {(3.0, 2.0, 1.5), (3.1, 2.5, 2.4)}


def test_the_lambda_plot_draws_every_student_and_no_negative_lambda():
    """Supp. Fig. 5's plot: each benchmark's students at their λ (0 included, on the symlog axis), the teacher as a
    line, and an x axis that starts just left of 0 (λ is never negative, so no negative tick)."""
    from fitclip.study.plots import plot_lambda_share

    rows = [{"lam": lam, "model": "teacher" if lam is None else f"lam={lam}", "dataset": "ucf101", "metric": "top1",
             "value": v, "ci_low": v - 2, "ci_high": v + 2} for lam, v in ((None, 30.0), (0.0, 40.0), (1e-4, 42.0),
                                                                          (1e-2, 35.0))]
    fig = plot_lambda_share(pd.DataFrame(rows))
    [ax] = [a for a in fig.axes if a.get_title() == "ucf101"]
    [bars] = [c for c in ax.containers if c.get_label() == "student (α = 1)"]
    student = bars.lines[0]  # the error bar's data line
    assert list(student.get_xdata()) == [0.0, 1e-4, 1e-2] and list(student.get_ydata()) == [40.0, 42.0, 35.0]
    assert [line.get_ydata()[0] for line in ax.get_lines() if line.get_label() == "teacher"] == [30.0]
    low, high = ax.get_xlim()
    assert -1e-4 < low < 0 and high > 1e-2
    assert all(tick >= 0 for tick in ax.get_xticks() if low <= tick <= high)


def test_the_alpha_slider_rewrites_its_table_when_moved():
    """The slider's table is an HTML widget whose value is replaced (no Output widget: a headless run could hang on
    one, jupyter/nbclient#312): it starts at the chosen α and follows the slider."""
    from fitclip.study.curves import alpha_slider

    rows = [{"student": s, "alpha": a, "dataset": d, "split": "test", "metric": m, "value": v + a}
            for s in ("fitclip", "wiseft") for a in (0.0, 0.5, 1.0)
            for d, m, v in (("webvid", "MRR", 10.0), ("ucf101", "top1", 20.0))]
    box = alpha_slider(pd.DataFrame(rows), ["ucf101"], chosen={"fitclip": 0.5}, select_on=["webvid"])
    slider, table = box.children
    assert "fitclip-alpha-table" in table._dom_classes  # what the browser test finds it by
    assert slider.value == 0.5 and table.value.startswith("<p>α = 0.5: 0 = teacher")
    assert "20.5" in table.value and "ucf101" in table.value
    slider.value = 1.0
    assert table.value.startswith("<p>α = 1.0:") and "21.0" in table.value and "20.5" not in table.value
