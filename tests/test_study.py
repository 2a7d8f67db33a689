"""fitclip.study: α curves, α selection, the comparison table, Δ and error-rate reduction."""

import json

import pandas as pd
import pytest

from fitclip.study import (alpha_curves, alpha_table, benchmark_table, choose_alpha, improvement_table,
                           read_results)


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
            metric = "top1" if dataset == "ucf101" else "R@1"
            rows.append({"model": f"{student}-alpha{alpha:g}", "alpha": alpha, "dataset": dataset, "split": "test",
                         "metric": metric, "value": value, "n_expected": 10, "n_evaluated": 10, "n_failed": 0})
            rows.append({**rows[-1], "metric": "R@5" if metric == "R@1" else "top5", "value": 99.0})
    return rows


@pytest.fixture
def results(tmp_path):
    path = tmp_path / "results.jsonl"
    stale = {**_rows()[0], "value": -1.0}  # an earlier run of the same model: the rerun wins
    path.write_text("\n".join(json.dumps(r) for r in [stale] + _rows()) + "\n")
    return read_results(path)


def test_curves_use_primary_metrics_and_last_rows_win(results):
    curves = alpha_curves(results)
    assert set(curves["metric"]) == {"top1", "R@1"}
    assert curves[(curves.student == "fitclip") & (curves.alpha == 0) & (curves.dataset == "ucf101")]["value"].item() == 50


def test_choose_alpha_on_validation_breaks_ties_towards_teacher(results):
    curves = alpha_curves(results)
    assert choose_alpha(curves, ["webvid"]) == {"fitclip": 1.0, "wiseft": 0.5}
    assert choose_alpha(curves, ["ucf101", "msrvtt"]) == {"fitclip": 0.5, "wiseft": 0.5}
    with pytest.raises(ValueError, match="no α-grid results"):
        choose_alpha(curves, ["didemo"])


def test_tables_hand_computed(results):
    curves = alpha_curves(results)
    t = alpha_table(curves, "fitclip", ["ucf101", "msrvtt"])
    assert t.loc[0.5, "average"] == 45
    table = benchmark_table(curves, {"fitclip": 0.5, "wiseft": 0.5}, ["ucf101", "msrvtt"])
    assert list(table.index) == ["Teacher", "Student", "FitCLIP", "WiSE-FT"]
    assert table.loc["Student", "msrvtt"] == 35 and table.loc["FitCLIP", "ucf101"] == 60
    imp = improvement_table(table)
    assert imp.loc[("Δ", "FitCLIP"), "ucf101"] == 10
    # error 50 → 40: a fifth of the errors removed
    assert imp.loc[("error-rate reduction %", "FitCLIP"), "ucf101"] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="not in the evaluated grid"):
        benchmark_table(curves, {"fitclip": 0.3, "wiseft": 0.5}, ["ucf101"])


def test_read_results_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="evaluate"):
        read_results(tmp_path / "nope.jsonl")
