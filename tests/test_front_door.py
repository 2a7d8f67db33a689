"""The front door (issue 21): one command line, ``fitclip <command>`` (a console script, the same as
``python -m fitclip``), and the names a user starts from on the package itself."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import fitclip
from fitclip.__main__ import FORWARDED, main

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("train", "pseudo-labels", "fuse", "average", "evaluate", "doctor", "search", "pipeline")


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(f"\n    {c}" in out for c in COMMANDS), out


@pytest.mark.parametrize("command, says", [("train", "Config keys"), ("pseudo-labels", "pseudo"),
                                           ("pipeline", "stages"), ("evaluate", "--dataset")])
def test_each_command_has_its_help(command, says, capsys):
    try:
        code = main([command, "--help"])
    except SystemExit as e:  # argparse's --help
        code = e.code
    assert code == 0 and says in capsys.readouterr().out


def test_forwarded_commands_reach_their_modules(monkeypatch):
    import fitclip.pseudo_labels
    import fitclip.study.pipeline
    import fitclip.train

    seen = []
    for module in (fitclip.train, fitclip.pseudo_labels):
        monkeypatch.setattr(module, "main", lambda argv, m=module.__name__: seen.append((m, argv)) or 0)
    monkeypatch.setattr("fitclip.pipeline.main", lambda argv: seen.append(("pipeline", argv)) or 0)
    for command in FORWARDED:
        assert main([command, "--lam", "0"]) == 0
    assert seen == [("fitclip.train", ["--lam", "0"]), ("fitclip.pseudo_labels", ["--lam", "0"]),
                    ("pipeline", ["--lam", "0"])]


def test_the_console_script_is_the_same_main():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"fitclip": "fitclip.__main__:main"}
    out = subprocess.run([sys.executable, "-m", "fitclip", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and out.stdout.startswith("usage: fitclip")


def test_the_package_exports_the_names_a_user_starts_from():
    from fitclip.config import TrainConfig
    from fitclip.fusion import FusionGrid, fuse
    from fitclip.losses import fitclip_loss
    from fitclip.models import load_clip

    assert (fitclip.fuse, fitclip.FusionGrid, fitclip.load_clip, fitclip.TrainConfig, fitclip.fitclip_loss) == (
        fuse, FusionGrid, load_clip, TrainConfig, fitclip_loss)
    assert set(fitclip.__all__) <= set(dir(fitclip))
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        fitclip.nothing_here  # noqa: B018


def test_the_declared_dependencies_cover_what_the_package_imports():
    """Every third-party top-level module imported anywhere in fitclip/ is a declared dependency (by its
    distribution name), so `pip install .` gives a working package."""
    import ast

    distribution = {"open_clip": "open_clip_torch", "yaml": "pyyaml", "PIL": "torchvision", "IPython": "ipykernel",
                    "jupyter_client": "papermill"}  # modules that come with another declared distribution
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    stdlib = set(sys.stdlib_module_names)
    imported = set()
    for path in (REPO / "fitclip").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in stdlib and m not in ("fitclip", "__future__")}
    missing = sorted(m for m in third_party if distribution.get(m, m) not in declared)
    assert not missing, f"pyproject.toml's dependencies lack {missing}"
