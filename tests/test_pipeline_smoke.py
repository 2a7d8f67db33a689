"""Every notebook, top to bottom, in smoke mode, through the pipeline runner (what `make demo` runs at
full size). The run is the session fixture `smoke_run` (tests/conftest.py): with `data_root` in a temp folder,
the artifacts, the figures and the executed notebooks all go there (the runner's default for a run that is
not the demo; each file is written to one place only, so the repo's runs/ and figures/ are untouched)."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from fitclip.study.project import STAGES


@pytest.mark.slow
def test_all_notebooks_run_in_smoke_mode(smoke_run):
    data = smoke_run  # the session's one smoke run of every notebook (tests/conftest.py)
    for stem in STAGES:
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
    figures = {p.relative_to(data / "figures").as_posix() for p in (data / "figures").rglob("*.png")}
    assert {"04_fusion/alpha_curves.png", "06_mit_per_class/per_class_difference.png",
            "07_ranking_plots/sorted_ranks.png", "03_train/loss_curves.png"} <= figures
    assert all((data / "figures" / f).with_suffix(".pdf").is_file() for f in figures)


def test_pipeline_rejects_unknown_parameter_before_running(tmp_path):
    out = subprocess.run([sys.executable, "-m", "fitclip.pipeline", "03", "-p", "lamda", "1e-4",
                          "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "unknown parameter(s) ['lamda']" in out.stderr
    assert not any(tmp_path.iterdir())  # nothing ran
