"""Every notebook, top to bottom, in smoke mode, through the pipeline runner (what `make demo` runs at
full size). The run is the session fixture `smoke_run` (tests/conftest.py): with `data_root` in a temp folder,
the artifacts, the figures and the executed notebooks all go there (the runner's default for a run that is
not the demo; each file is written to one place only, so the repo's runs/ and figures/ are untouched)."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from fitclip.study.project import DEMO_STAGES


@pytest.mark.slow
def test_all_notebooks_run_in_smoke_mode(smoke_run):
    data = smoke_run  # the session's one smoke run of every notebook (tests/conftest.py)
    for stem in DEMO_STAGES:
        executed = json.loads((data / "runs" / f"{stem}.ipynb").read_text())
        assert all(not any(o.get("output_type") == "error" for o in c.get("outputs", [])) for c in executed["cells"])
        assert (data / stem / "params.json").is_file(), stem
    table = pd.read_csv(data / "05_benchmarks" / "table.csv", index_col=0)
    assert {"Teacher", "Student", "FitCLIP", "WiSE-FT"} <= set(table.index)
    assert {"ucf101", "mit", "msrvtt", "youcook2", "didemo", "average"} <= set(table.columns)
    rows = pd.read_json(data / "05_benchmarks" / "results.jsonl", lines=True)
    assert {"value", "ci_low", "ci_high", "n"} <= set(rows.columns)
    assert set(rows.loc[rows["dataset"].isin(["msrvtt", "youcook2", "didemo"]), "metric"]) == {"R@5"}
    assert set(rows.loc[rows["dataset"].isin(["ucf101", "mit"]), "metric"]) == {"top1"}
    assert (rows["ci_low"] <= rows["value"] + 1e-9).all() and (rows["value"] <= rows["ci_high"] + 1e-9).all()
    verdicts = pd.read_csv(data / "05_benchmarks" / "verdicts.csv")
    assert len(verdicts) == 5 and verdicts["verdict"].notna().all()
    # The regime (issue 18): the names others check, counted from the smoke world's files.
    regime = json.loads((data / "01_data_prep" / "regime.json").read_text())
    assert regime["teacher_concepts"] == 60 and 1 <= regime["labeled_concepts"] <= 4 and regime["pool_concepts"] >= 1
    forgetting = json.loads((data / "05_benchmarks" / "forgetting.json").read_text())
    assert {(r["student"], r["lam"]) for r in forgetting} == {("fitclip", 1e-4), ("wiseft", 0.0)}
    assert {r["split"] for r in forgetting} == {"inside", "outside"}
    assert {r["dataset"] for r in forgetting} == {"ucf101", "mit", "msrvtt", "youcook2", "didemo", "average"}
    assert all({"diff_vs_teacher", "ci_low", "ci_high", "n_items"} <= set(r) for r in forgetting)
    for name, counts in regime["benchmark_items"].items():  # every item is inside or outside (one object each)
        assert counts["mixed"] == 0
        assert sum(r["n_items"] for r in forgetting if r["dataset"] == name and r["student"] == "wiseft") == \
            counts["inside"] + counts["outside"]
    figures = {p.relative_to(data / "figures").as_posix() for p in (data / "figures").rglob("*.png")}
    assert {"04_fusion/alpha_curves.png", "06_mit_per_class/per_class_difference.png",
            "07_ranking_plots/sorted_ranks.png", "03_train/loss_curves.png"} <= figures
    assert all((data / "figures" / f).with_suffix(".pdf").is_file() for f in figures)


@pytest.mark.slow
def test_notebooks_show_their_figures_and_the_run_prints_no_error(smoke_run):
    """In JupyterLab a figure appears where it is made: every plotting notebook (03–08) holds an inline PNG.
    A clean run prints no ERROR, none of the kernels' TCP warnings (the runner's kernels use IPC) and no
    warning about the random weights stage 00 starts from by design."""
    data = smoke_run
    for stem in DEMO_STAGES[3:]:
        executed = json.loads((data / "runs" / f"{stem}.ipynb").read_text())
        images = [o for c in executed["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert images, f"{stem}: no inline figure"
    log = (data.parent / "pipeline.log").read_text()
    assert "ERROR" not in log and "without encryption" not in log and "Traceback" not in log, log[-3000:]
    assert "initialized randomly" not in log  # stage 00 trains from scratch on purpose: nothing to warn about
    curves = pd.read_csv(data / "04_fusion" / "alpha_curves.csv")
    assert {"ci_low", "ci_high", "n"} <= set(curves.columns) and "average" in set(curves["dataset"])
    inside = curves.dropna(subset=["ci_low"])
    assert ((inside["ci_low"] <= inside["value"] + 1e-9) & (inside["value"] <= inside["ci_high"] + 1e-9)).all()


@pytest.mark.slow
def test_a_rerun_reuses_the_grid_and_rewrites_identical_files(smoke_run):
    """Running 04–07 again on the same data evaluates nothing (the finished grid is reused, not appended
    twice) and rewrites every figure byte for byte: a second `make demo` leaves the committed tree clean."""
    data = smoke_run
    grid = data / "04_fusion" / "alpha_grid.jsonl"
    before_lines = grid.read_text().count("\n")
    watched = sorted((data / "figures").rglob("*.p[nd][gf]")) + [data / "04_fusion" / "alpha_curves.csv",
                                                                 data / "05_benchmarks" / "table.md"]
    before = {p: p.read_bytes() for p in watched}
    env = {k: v for k, v in os.environ.items() if k != "FITCLIP_FIGURES"}
    subprocess.run([sys.executable, "-m", "fitclip.pipeline", "04", "05", "06", "07", "-p", "smoke", "True",
                    "-p", "data_root", str(data), "--quiet"], check=True, timeout=900, env=env,
                   capture_output=True)
    assert grid.read_text().count("\n") == before_lines
    executed = (data / "runs" / "04_fusion.ipynb").read_text()
    assert "reusing the α grid" in executed
    changed = [str(p.relative_to(data)) for p, b in before.items() if p.read_bytes() != b]
    assert not changed, f"a rerun changed {changed}"


@pytest.mark.slow
def test_the_ablation_notebooks_run_in_smoke_mode(smoke_run):
    """09 (labeled-set size) and 10 (λ share) on the smoke run's stages 00–02, through the runner: every cell
    runs, the tables, verdicts and figures are written (issue 18 §3)."""
    data = smoke_run
    env = {k: v for k, v in os.environ.items() if k != "FITCLIP_FIGURES"}
    done = subprocess.run([sys.executable, "-m", "fitclip.pipeline", "09", "10", "-p", "smoke", "True",
                           "-p", "data_root", str(data), "--quiet"], timeout=1500, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    summary = pd.read_csv(data / "09_labeled_size" / "summary.csv")
    assert list(summary["labeled"]) == [2, 4] and (summary["weight_distance"] > 0).all()
    assert {"student_vs_teacher_ci_low", "fused_vs_teacher_ci_high", "best_alpha"} <= set(summary.columns)
    curves = pd.read_csv(data / "09_labeled_size" / "alpha_curves.csv")
    assert set(curves["student"]) == {"labeled2", "labeled4"} and "average" in set(curves["dataset"])
    table = pd.read_csv(data / "10_lambda_share" / "lambda_table.csv")
    assert set(table["model"]) == {"teacher", "lam0", "lam0.0001"} and table["ci_low"].notna().any()
    for stem in ("09_labeled_size", "10_lambda_share"):
        assert "verdict" in (data / stem / "verdicts.md").read_text()
        executed = json.loads((data / "runs" / f"{stem}.ipynb").read_text())
        assert any("image/png" in o.get("data", {}) for c in executed["cells"] for o in c.get("outputs", []))
    assert (data / "figures" / "09_labeled_size" / "labeled_size.png").is_file()
    assert (data / "figures" / "10_lambda_share" / "lambda_share.png").is_file()


@pytest.mark.slow
def test_the_objectives_harness_runs_in_smoke_mode(smoke_run):
    """11 (issue 19) on the smoke run's stages 00–02: every objective trains, the plain run's kept checkpoints are
    averaged, results.jsonl holds every objective under the three α rules with CIs and step costs."""
    data = smoke_run
    env = {k: v for k, v in os.environ.items() if k != "FITCLIP_FIGURES"}
    done = subprocess.run([sys.executable, "-m", "fitclip.pipeline", "11", "-p", "smoke", "True",
                           "-p", "data_root", str(data), "--quiet"], timeout=1500, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    out = data / "11_objectives"
    rows = pd.read_json(out / "results.jsonl", lines=True)
    objectives = {"plain", "fitclip", "froster", "weight_penalty", "interpolation", "ema", "frozen_text",
                  "plain_averaged"}
    assert set(rows["objective"]) == objectives | {"teacher"}
    assert {"objective", "alpha", "alpha_rule", "ci_low", "ci_high", "step_cost"} <= set(rows.columns)
    for objective in objectives:
        assert set(rows.loc[rows["objective"] == objective, "alpha_rule"]) == {"none", "validation", "oracle"}
    unfused = rows[rows["alpha_rule"] == "none"]
    assert (unfused.loc[unfused["objective"] != "teacher", "alpha"] == 1.0).all()
    assert (rows["ci_low"] <= rows["value"] + 1e-9).all() and (rows["value"] <= rows["ci_high"] + 1e-9).all()
    costs = rows.drop_duplicates("objective").set_index("objective")["step_cost"]
    assert costs["plain"] == 1.0 and costs["plain_averaged"] == 1.0 and (costs.drop("teacher") > 0).all()
    assert len(list((out / "plain").glob("step*.pt"))) >= 2 and (out / "plain_averaged.pt").is_file()
    diffs = pd.read_csv(out / "differences.csv")
    assert {"fitclip − plain", "froster − fitclip"} <= set(diffs["comparison"])
    assert (data / "figures" / "11_objectives" / "tradeoff.png").is_file()


def test_pipeline_rejects_unknown_parameter_before_running(tmp_path):
    out = subprocess.run([sys.executable, "-m", "fitclip.pipeline", "03", "-p", "lamda", "1e-4",
                          "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "unknown parameter(s) ['lamda']" in out.stderr
    assert not any(tmp_path.iterdir())  # nothing ran


@pytest.mark.slow
def test_the_peer_protocol_notebook_runs_in_smoke_mode(smoke_run):
    """12 (issue 20 §4) on the smoke run's stages 00–04: the chosen models on the three splits of ucf101, hmdb51 and
    k600_zs with multi-view testing, mean ± std over splits, a table of its own beside the peers' published rows."""
    data = smoke_run
    env = {k: v for k, v in os.environ.items() if k != "FITCLIP_FIGURES"}
    done = subprocess.run([sys.executable, "-m", "fitclip.pipeline", "12", "-p", "smoke", "True", "-p", "views",
                           "[2, 3, 1]", "-p", "data_root", str(data), "--quiet"], timeout=1500, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    out = data / "12_peer_protocol"
    rows = json.loads((out / "splits.json").read_text())
    assert {r["dataset"] for r in rows} == {"ucf101", "hmdb51", "k600_zs"}
    assert {r["row"] for r in rows} >= {"Teacher", "Student", "FitCLIP"}
    for r in rows:
        assert r["splits"] == ["1", "2", "3"] and len(r["values"]) == 3 and r["std"] is not None
        assert all(lo <= v <= hi for v, lo, hi in zip(r["values"], r["ci_low"], r["ci_high"]))
    table = (out / "table.md").read_text()
    assert "ours: Teacher" in table and "FROSTER" in table and "2 × 3 × 1" in table
    protocol = pd.read_json(out / "alpha_grid.protocol.jsonl", lines=True)
    assert set(protocol["frames"].map(lambda f: f["views"])) == {"2 frames x 3 clips x 1 crops"}


def test_the_recipe_sweep_runs_and_reuses_its_runs(smoke_run, tmp_path):
    """`fitclip.study.recipes.sweep` (how the `toy` preset was chosen: README "The toy recipe"), on the smoke
    world: one labeled size, two learning rates, a fused validation score; a second call reuses every run."""
    from fitclip.study.recipes import sweep

    keys = dict(arch="fitclip-toy", pretrained=str(smoke_run / "00_toy_teacher" / "teacher.pt"), labeled_sizes=(4,),
                lrs=(1e-4, 3e-4), batch_sizes=(2,), samples=8, validations=2, hflips=(False,), alphas=[0.0, 1.0],
                num_workers=0)
    table = sweep(smoke_run, tmp_path / "sweep", **keys)
    assert list(table["lr"]) == [1e-4, 3e-4] and set(table["max_steps"]) == {4} and set(table["best_step"]) <= {2, 4}
    for column in ("MRR", "R@5", "fused_MRR"):
        assert table[column].between(0, 100).all(), column
    assert (table["MRR_ci_low"] <= table["MRR"]).all() and (table["MRR"] <= table["MRR_ci_high"]).all()
    assert set(table["fused_alpha"]) <= {0.0, 1.0} and (tmp_path / "sweep" / "sweep.csv").is_file()
    again = sweep(smoke_run, tmp_path / "sweep", **keys)  # finished runs are read back, not trained again
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), table.drop(columns="seconds"))
