"""The pipeline runner's `-p` values (parsed as Papermill does, lists accepted, type-checked against each
parameters cell before anything runs) and where a run's executed notebooks and figures go. Papermill's
execution is replaced by a recorder: these tests run no notebook."""

from __future__ import annotations

import os
from pathlib import Path
import time

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


def test_save_figure_writes_the_same_bytes_twice_and_shows_the_png_inline(tmp_path, monkeypatch):
    """A re-run leaves committed figures unchanged (no creation date in the PDF), and in a Jupyter kernel the
    figure is displayed as an inline PNG (what the notebooks show), not as a list of paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.display import Image

    import fitclip.study.project as project

    def figure():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [2, 3])
        return fig

    monkeypatch.setenv("FITCLIP_FIGURES", str(tmp_path / "f"))
    assert not project.in_kernel()  # pytest is no Jupyter kernel: nothing is displayed here
    first = [p.read_bytes() for p in save_figure(figure(), "04_fusion", "curve", show=False)]
    assert b"CreationDate" not in first[1]
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    monkeypatch.setattr(project, "in_kernel", lambda: True)
    paths = save_figure(figure(), "04_fusion", "curve")
    assert [p.read_bytes() for p in paths] == first  # byte for byte
    assert len(shown) == 1 and isinstance(shown[0], Image) and shown[0].data == first[0]
    assert repr(paths) == f"saved {paths[0]}, {paths[1]}"


def test_runner_kernels_print_no_tcp_warning_and_are_not_sent_sigint_at_shutdown(tmp_path, capfd):
    """The runner's kernels: no "running over TCP without encryption" warning, and no SIGINT to the
    kernel's process group when a finished notebook's kernel is shut down. jupyter_client's own manager does
    both: the control run below sees them, so the test can tell the two apart."""
    import nbformat
    import papermill
    from jupyter_client.manager import AsyncKernelManager

    from fitclip.study.pipeline import KERNEL_ARGUMENTS, _kernel_manager_class

    def run(manager, name, arguments=()):
        flag = tmp_path / f"{name}.sigint"
        child = tmp_path / f"{name}_child.py"  # stays in the kernel's process group past the last cell
        child.write_text("import pathlib, signal, sys, time\n"
                         f"signal.signal(signal.SIGINT, lambda *a: pathlib.Path({str(flag)!r}).write_text('x'))\n"
                         "print('ready', flush=True)\ntime.sleep(8)\n")
        cell = (f"import subprocess, sys\nchild = subprocess.Popen([sys.executable, {str(child)!r}], "
                "stdout=subprocess.PIPE)\nchild.stdout.readline()")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
        papermill.execute_notebook(str(tmp_path / f"{name}.ipynb"), str(tmp_path / f"{name}-out.ipynb"),
                                   kernel_manager_class=manager, progress_bar=False, extra_arguments=list(arguments))
        time.sleep(1.5)
        return flag.exists(), capfd.readouterr().err

    interrupted, err = run(AsyncKernelManager, "stock")
    assert interrupted and "without encryption" in err  # the control: what the runner used to get
    interrupted, err = run(_kernel_manager_class(), "runner", KERNEL_ARGUMENTS)
    assert not interrupted and "without encryption" not in err, err
    assert not list(tmp_path.glob("kernel-ipc*")) and not list(Path.cwd().glob("kernel-ipc*"))  # no sockets left here


def test_unknown_stage_is_one_line(executed):
    with pytest.raises(SystemExit) as e:
        main(["99"])
    assert "unknown stage '99'" in _error(e) and executed == []
