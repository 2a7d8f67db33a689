"""The package's layering, read from the source with `ast` (every import, top-level or inside a function):
the method core never imports the study wing or the toy world, and the library never imports the trainer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fitclip"

#: The library: what a user of the method imports; it never reaches the trainer or the wings.
LIBRARY = ("models", "transforms", "losses", "objectives", "fusion", "metrics", "video", "distributed", "files", "provenance", "prompts",
           "report",
           "annotations", "readers", "peer_lists", "folder_datasets", "folders", "datasets", "encoding", "evaluate",
           "doctor")
#: Pipelines built on the library (they may use the trainer, never the wings).
PIPELINES = ("__init__", "__main__", "config", "train", "streams", "resume", "pseudo_labels", "runtime", "run_data",
             "start_weights", "search", "search_inputs", "gallery")
#: `python -m fitclip.pipeline` keeps the documented command: a shim over fitclip.study.pipeline.
SHIMS = ("pipeline",)
WINGS = ("fitclip.study", "fitclip.toyworld")
TRAINER = ("fitclip.train", "fitclip.pseudo_labels")


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in `path` names (``from fitclip import video`` -> ``fitclip.video``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{path.name}: relative import of {node.module!r}; the package imports absolutely")
    return found


def _reaches(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def test_every_flat_module_has_its_place():
    flat = {p.stem for p in PACKAGE.glob("*.py")}
    assert flat == set(LIBRARY) | set(PIPELINES) | set(SHIMS), "place a new module in LIBRARY or PIPELINES"


def test_importing_the_library_loads_neither_the_trainer_nor_the_wings():
    """The same rule seen by Python itself rather than by this file's parser: importing every library module
    in a fresh interpreter leaves no trainer or wing module in ``sys.modules`` (top-level imports only; the
    ast tests below also see the imports inside functions)."""
    code = ("import sys\n" + "".join(f"import fitclip.{stem}\n" for stem in LIBRARY)
            + "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('fitclip'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240,
                          cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = set(proc.stdout.split())
    assert {f"fitclip.{stem}" for stem in LIBRARY} <= loaded  # the check saw the modules it is about
    assert _reaches(loaded, WINGS + TRAINER) == []


@pytest.mark.parametrize("stem", LIBRARY + PIPELINES)
def test_the_core_never_imports_the_wings(stem):
    assert _reaches(imported_modules(PACKAGE / f"{stem}.py"), WINGS) == []


@pytest.mark.parametrize("stem", LIBRARY)
def test_the_library_never_imports_the_trainer(stem):
    assert _reaches(imported_modules(PACKAGE / f"{stem}.py"), TRAINER) == []


def test_the_runner_shim_only_reaches_the_study_runner():
    assert _reaches(imported_modules(PACKAGE / "pipeline.py"), ("fitclip",)) == ["fitclip.study.pipeline",
                                                                                 "fitclip.study.pipeline.main"]


def test_no_private_name_is_imported_across_modules():
    """A name with a leading underscore stays in its module: `from fitclip.x import _y` in the package or the
    benchmarks means the code belongs elsewhere or the name should be public (issue 21)."""
    offenders = []
    for path in [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "benchmarks").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fitclip"):
                offenders += [f"{path.relative_to(PACKAGE.parent)}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert offenders == []

