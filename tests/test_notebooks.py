"""Notebook contract (structure, parameters, hygiene) and the pipeline runner; the smoke run of every
notebook end to end is in tests/test_pipeline_smoke.py."""

import ast
import json
from pathlib import Path

import pytest

from fitclip.study.pipeline import check_parameters, declared_parameters, parse_value, resolve_stages
from fitclip.study.project import DEMO_STAGES, STAGES

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _cells(stem):
    return json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text())["cells"]


def test_every_stage_has_its_notebook_and_nothing_else():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(STAGES)


@pytest.mark.parametrize("stem", STAGES)
def test_notebook_structure(stem):
    cells = _cells(stem)
    assert cells[0]["cell_type"] == "markdown"
    title = "".join(cells[0]["source"])
    assert title.startswith("# ") and "**Reads:**" in title and "**Writes:**" in title
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    tree = ast.parse("".join(params[0]["source"]))
    names = set()
    for node in tree.body:  # literals only: Papermill does not recompute derived values
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), \
            f"{stem}: the parameters cell must hold `name = literal` lines only"
        ast.literal_eval(node.value)
        names.add(node.targets[0].id)
    assert {"data_root", "smoke"} <= names  # arch/pretrained only where the stage loads a model
    # Papermill must see every one (a comment holding "=" hides a line from its parser, and the runner then
    # rejects `-p name` as unknown).
    assert set(declared_parameters(stem)) == names, f"{stem}: papermill cannot parse {names - set(declared_parameters(stem))}"
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        assert cell.get("outputs") == [] and cell.get("execution_count") is None, f"{stem}: committed with outputs"
        src = "".join(cell["source"])
        code = ast.parse(src)
        assert not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
                       for n in ast.walk(code)), f"{stem}: define functions in fitclip/, not in notebooks"
        assert "chdir" not in src and "%cd" not in src, f"{stem}: notebooks must not change directory"


def test_parse_value_like_papermill():
    assert parse_value("True") is True and parse_value("None") is None
    assert parse_value("1e-4") == 1e-4 and parse_value("3") == 3 and parse_value("fitclip-toy") == "fitclip-toy"


def test_unknown_parameter_is_rejected_before_running():
    with pytest.raises(SystemExit, match="unknown parameter.*'lamda'"):
        check_parameters(["03_train"], {"lamda": 1e-4})
    split = check_parameters(["00_toy_teacher", "03_train"], {"lam": 1e-4, "smoke": True})
    assert split["03_train"] == {"lam": 1e-4, "smoke": True} and split["00_toy_teacher"] == {"smoke": True}
    assert "lam" in declared_parameters("03_train")


def test_stage_selection():
    assert resolve_stages(["03", "00_toy_teacher"]) == ["00_toy_teacher", "03_train"]
    assert resolve_stages([]) == list(DEMO_STAGES) == list(STAGES[:9])  # the ablations run only when named
    assert resolve_stages(["10", "09"]) == ["09_labeled_size", "10_lambda_share"]
    with pytest.raises(SystemExit, match="unknown stage"):
        resolve_stages(["99"])
