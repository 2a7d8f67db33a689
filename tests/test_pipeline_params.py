"""The pipeline runner's `-p` values (parsed as Papermill does, lists accepted, type-checked against each
parameters cell before anything runs) and where a run's executed notebooks and figures go. Papermill's
execution is replaced by a recorder: these tests run no notebook."""

from __future__ import annotations

import os

import papermill
import pytest

from fitclip.study.pipeline import check_parameters, main, output_dirs, parse_value
from fitclip.study.project import figure_dir, project_root, save_figure


@pytest.fixture
def executed(monkeypatch):
    """Record each execute_notebook call (output path, parameters, FITCLIP_FIGURES seen by the kernel)."""
    calls = []

    def record(source, output, parameters, **kwargs):
        calls.append({"output": output, "parameters": parameters, "figures": os.environ.get("FITCLIP_FIGURES")})
    monkeypatch.setattr(papermill, "execute_notebook", record)
    monkeypatch.delenv("FITCLIP_FIGURES", raising=False)
    return calls


def _error(excinfo) -> str:
    message = str(excinfo.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


def test_values_are_parsed_like_papermill_and_lists_like_its_yaml_option():
    assert parse_value("True") is True and parse_value("None") is None and parse_value("3") == 3
    assert parse_value("1e-4") == 1e-4 and parse_value("abc") == "abc"
    assert parse_value("[0, 0.5]") == [0, 0.5] and parse_value('["webvid", "msrvtt"]') == ["webvid", "msrvtt"]
    with pytest.raises(SystemExit) as e:
        parse_value("[0, 0.5")
    assert "is not a valid list or mapping" in _error(e)


@pytest.mark.parametrize("stage, name, text, kind", [
    ("03_train", "lam", "abc", "a number"),
    ("03_train", "smoke", "1", "True or False"),
    ("03_train", "max_steps", "2.5", "an integer"),   # `max_steps = None  # type: int`
    ("03_train", "lr", "fast", "a number"),           # `lr = None  # type: float`
    ("04_fusion", "alphas", "0.5", "a list of numbers"),
    ("04_fusion", "alphas", '["a", 0.5]', "a list of numbers"),
    ("04_fusion", "select_on", "[1, 2]", "a list of strings"),
])
def test_a_value_of_the_wrong_type_is_refused_before_anything_runs(stage, name, text, kind, executed):
    with pytest.raises(SystemExit) as e:
        main([stage, "-p", name, text])
    message = _error(e)
    assert f"-p {name} {text!r}" in message and f"notebooks/{stage}.ipynb declares {name} =" in message
    assert f"must be {kind}" in message and executed == []


def test_good_values_reach_the_notebooks_typed(executed, tmp_path):
    main(["03", "04", "-p", "lam", "1e-3", "-p", "lr", "3e-4", "-p", "alphas", "[0, 0.5, 1]", "-p", "data_root",
          str(tmp_path), "-p", "smoke", "True"])
    by_stage = {os.path.basename(c["output"]): c["parameters"] for c in executed}
    assert by_stage["03_train.ipynb"] == {"lam": 1e-3, "lr": 3e-4, "data_root": str(tmp_path), "smoke": True}
    assert by_stage["04_fusion.ipynb"] == {"alphas": [0, 0.5, 1], "data_root": str(tmp_path), "smoke": True}
    # A typed None literal (`max_steps = None  # type: int`) takes None or its type.
    assert check_parameters(["03_train"], {"max_steps": None, "val_every": 50})["03_train"] == \
        {"max_steps": None, "val_every": 50}
    # A text parameter keeps its text, whatever Papermill's parsing makes of it.
    assert check_parameters(["03_train"], {"data_root": 2024}, raw={"data_root": "2024"})["03_train"] == \
        {"data_root": "2024"}


def test_a_run_on_other_data_keeps_its_notebooks_and_figures(executed, tmp_path):
    """With data_root elsewhere nothing goes to the repo's runs/ or figures/; the kernels get FITCLIP_FIGURES."""
    data = tmp_path / "elsewhere"
    main(["05", "-p", "data_root", str(data)])
    assert [c["output"] for c in executed] == [str(data / "runs" / "05_benchmarks.ipynb")]
    assert executed[0]["figures"] == str(data / "figures") and "FITCLIP_FIGURES" not in os.environ
    # The demo (the notebooks' default data_root) keeps the committed figures/ and runs/.
    assert output_dirs({}) == output_dirs({"data_root": "data"}) == (project_root() / "runs",
                                                                     project_root() / "figures")
    assert output_dirs({"data_root": str(data)}, out_dir=tmp_path / "nb") == (tmp_path / "nb", data / "figures")


def test_save_figure_follows_the_run(tmp_path, monkeypatch):
    """The notebooks' `save_figure(fig, stem, name)` writes where FITCLIP_FIGURES points (the runner sets
    it); a data_root may also be passed directly; without either it is the demo's figures/."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.delenv("FITCLIP_FIGURES", raising=False)
    assert figure_dir("04_fusion", create=False) == project_root() / "figures" / "04_fusion"
    assert figure_dir("04_fusion", create=False, data_root=tmp_path / "d") == tmp_path / "d" / "figures" / "04_fusion"
    paths = save_figure(plt.figure(), "04_fusion", "curve", data_root=tmp_path / "d")
    assert all(p.is_file() and p.parent == tmp_path / "d" / "figures" / "04_fusion" for p in paths)
    monkeypatch.setenv("FITCLIP_FIGURES", str(tmp_path / "f"))
    paths = save_figure(plt.figure(), "04_fusion", "curve")  # the notebooks' call
    assert [p.name for p in paths] == ["curve.png", "curve.pdf"] and all(p.is_file() for p in paths)
    assert paths[0].parent == tmp_path / "f" / "04_fusion"


def test_unknown_stage_is_one_line(executed):
    with pytest.raises(SystemExit) as e:
        main(["99"])
    assert "unknown stage '99'" in _error(e) and executed == []
