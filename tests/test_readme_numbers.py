"""The numbers the README quotes from the default run (`make demo`) are the numbers that run wrote.

The run's small result files are committed (`data/README.md` lists them; `.gitignore` lets exactly those
through): a `make demo` on the same machine rewrites them byte for byte, one that changes them shows up in
`git diff`, and then these tests fail until the README says what the run says. Each expected text is built
from the files here, so a stale number in the README is a failing test naming it.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
#: The README's prose with its line breaks and typographic minus signs undone, for matching quoted numbers.
PROSE = " ".join(README.replace("−", "-").split())
DATA = REPO / "data"


def _file(relative: str) -> Path:
    path = DATA / relative
    assert path.is_file(), f"{path} is committed from the default run (data/README.md); restore it with `make demo`"
    return path


@pytest.mark.parametrize("name", ["05_benchmarks/table.md", "05_benchmarks/differences.md",
                                  "05_benchmarks/verdicts.md", "05_benchmarks/regime.md",
                                  "05_benchmarks/forgetting.md", "05_benchmarks/forgetting_words.md",
                                  "09_labeled_size/verdicts.md",
                                  "10_lambda_share/verdicts.md", "12_peer_protocol/table.md"])
def test_the_readme_shows_the_runs_tables_verbatim(name):
    table = _file(name).read_text(encoding="utf-8").strip()
    assert table in README, f"README.md does not show data/{name} as the run wrote it"


def test_the_regime_counts_are_the_worlds():
    regime = json.loads(_file("01_data_prep/regime.json").read_text())
    expected = [f"teacher_concepts = {regime['teacher_concepts']}", f"labeled_concepts = {regime['labeled_concepts']}",
                f"pool_concepts = {regime['pool_concepts']}",
                f"{regime['n_labeled_videos']} labeled videos", f"{regime['n_pool_videos']:,} pool videos"]
    expected += [f"{name} {c['inside']} / {c['outside']}" for name, c in regime["benchmark_items"].items()]
    missing = [text for text in expected if text not in PROSE]
    assert not missing, f"README.md lacks (or misquotes) {missing}"


def _curve(curves: pd.DataFrame, dataset: str, student: str, alpha: float) -> pd.Series:
    row = curves[(curves["dataset"] == dataset) & (curves["student"] == student) & (curves["alpha"].round(6) == alpha)]
    assert len(row) == 1, (dataset, student, alpha)
    return row.iloc[0]


def _with_ci(row: pd.Series) -> str:
    return f"{row['value']:.1f} [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"


def test_the_alpha_choice_and_the_validation_numbers_are_the_runs():
    choice = json.loads(_file("04_fusion/chosen_alpha.json").read_text())
    curves = pd.read_csv(_file("04_fusion/alpha_curves.csv"))
    [dataset] = choice["select_on"]
    assert choice["criterion"] == "MRR" and f"{choice['n_validation']:,} WebVid-like validation videos" in PROSE

    def mrr(student: str, alpha: float) -> str:
        row = _curve(curves, dataset, student, alpha)
        return f"{row['value']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"

    def margin(student: str) -> str:
        m = choice["chosen_vs_student"][student]
        return f"{m['delta']:+.2f} [{m['ci_low']:+.2f}, {m['ci_high']:+.2f}]"

    fitclip, wiseft = choice["chosen"]["fitclip"], choice["chosen"]["wiseft"]
    at_one = _curve(curves, dataset, "fitclip", 1.0)["value"]
    expected = [
        f"**{fitclip:.1f} for FitCLIP** (validation MRR {mrr('fitclip', fitclip)} vs {at_one:.2f} at α = 1: "
        f"chosen - α = 1 is {margin('fitclip')}",
        f"**{wiseft:.1f} for WiSE-FT** (MRR {mrr('wiseft', wiseft)}; chosen - α = 1 {margin('wiseft')}",
        f"the teacher scores {mrr('fitclip', 0.0)} there",
    ]
    best = set(choice["best_on_test"].values())
    if len(best) == 1:
        expected.append(f"The benchmarks would have picked {best.pop():g} for both")
    missing = [text for text in expected if text not in PROSE]
    assert not missing, f"README.md lacks (or misquotes) {missing}"


def test_the_average_alpha_curve_numbers_are_the_runs():
    curves = pd.read_csv(_file("04_fusion/alpha_curves.csv"))
    average = curves[(curves["dataset"] == "average") & (curves["student"] == "fitclip")].set_index("alpha")
    peak = average["value"].round(1).max()
    peak_alphas = sorted(a for a, v in average["value"].round(1).items() if v == peak)
    at_peak, end = average.loc[peak_alphas[0]], average.loc[1.0]
    span = f"{peak_alphas[0]:g}–{peak_alphas[-1]:g}" if len(peak_alphas) > 1 else f"{peak_alphas[0]:g}"
    text = (f"({at_peak['value']:.1f} [{at_peak['ci_low']:.1f}, {at_peak['ci_high']:.1f}] at α = {span} vs "
            f"{end['value']:.1f} [{end['ci_low']:.1f}, {end['ci_high']:.1f}] at α = 1)")
    assert text in PROSE, f"README.md's (c) should quote {text!r}"


def test_the_teachers_accuracy_table_is_the_runs():
    record = json.loads(_file("00_toy_teacher/pretrain.json").read_text())
    steps = record["config"]["steps"]

    def row(label: str, z: dict, bold: bool) -> str:
        top1 = f"**{z['top1']:.1f}**" if bold else f"{z['top1']:.1f}"
        motion = " | ".join(f"{z[k]:.1f} [{z[k + '_ci_low']:.1f}, {z[k + '_ci_high']:.1f}]"
                            for k in ("motion_given_object", "motion_only"))
        return (f"| {label} | {top1} | [{z['top1_ci_low']:.1f}, {z['top1_ci_high']:.1f}] | {z['colour']:.1f} | "
                f"{z['shape']:.1f} | {z['top5']:.1f} | {motion} |")

    for expected in (row("before (random init)", record["zero_shot_before"], False),
                     row(f"after {steps} steps", record["zero_shot_after"], True)):
        assert expected in README, f"README.md's stage-00 table should have the row {expected!r}"


def test_the_objectives_tables_are_the_runs():
    """Notebook 11's table and paired differences, formatted from its committed result files, are in the README."""
    from fitclip.study.objectives import difference_summary, results_table

    rows = [json.loads(line) for line in _file("11_objectives/results.jsonl").read_text().splitlines() if line.strip()]
    assert results_table(rows).to_markdown() in README, "README.md does not show 11's table as the run wrote it"
    diffs = difference_summary(pd.read_csv(_file("11_objectives/differences.csv"))).to_markdown(index=False)
    assert diffs in README, "README.md does not show 11's paired differences as the run wrote them"
