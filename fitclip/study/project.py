"""Where a stage reads and writes: `<data_root>/<NN_stem>/` for artifacts, `<figures root>/<NN_stem>/` for
figures.

The figures root is `$FITCLIP_FIGURES` when set; else `figures/` of the repository for the demo (the
default `data_root`, "data": those figures are committed); else `<data_root>/figures/`, so a run on other
data never overwrites the demo's figures. `python -m fitclip.pipeline -p data_root DIR` sets
`FITCLIP_FIGURES` for its notebooks accordingly (notebooks call `save_figure(fig, stem, name)`).

Relative paths are resolved against the project root, not the process's working directory, so a notebook
writes to the same place whether Papermill runs it from the repository root, `python -m fitclip.pipeline`
runs it, or JupyterLab starts its kernel inside `notebooks/`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import fitclip
from fitclip.files import atomic_write_bytes, write_json

#: The notebooks' default `data_root`: the demo, whose figures are the committed `figures/`.
DEMO_DATA_ROOT = "data"

STAGES: tuple[str, ...] = ("00_toy_teacher", "01_data_prep", "02_teacher_pseudo_labels", "03_train",
                           "04_fusion", "05_benchmarks", "06_mit_per_class", "07_ranking_plots", "08_your_videos",
                           "09_labeled_size", "10_lambda_share", "11_objectives", "12_peer_protocol")
#: What `make demo` (the runner with no stage named) runs: the study; the ablations 09–10, the objectives harness 11 and
#: the peers' protocol 12 run when named.
DEMO_STAGES: tuple[str, ...] = STAGES[:9]


def project_root() -> Path:
    """The repository root: the first folder upward from the working directory that holds both
    `fitclip/` and `notebooks/`; else the folder above the installed package; else the working dir."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "fitclip" / "__init__.py").is_file() and (folder / "notebooks").is_dir():
            return folder
    package_parent = Path(fitclip.__file__).resolve().parents[1]
    if (package_parent / "notebooks").is_dir():
        return package_parent
    return here


def resolve(path: str | os.PathLike) -> Path:
    """An absolute path; relative ones are taken from the project root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def stage_dir(data_root: str | os.PathLike, stem: str, create: bool = True) -> Path:
    """`<data_root>/<stem>/`, the artifact folder of one stage."""
    return _stage_folder(resolve(data_root), stem, create)


def _stage_folder(base: Path, stem: str, create: bool) -> Path:
    """`<base>/<stem>/` for a known stage, created when asked."""
    if stem not in STAGES:
        raise ValueError(f"unknown stage {stem!r}; stages are {list(STAGES)}")
    folder = base / stem
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def is_demo(data_root: str | os.PathLike | None) -> bool:
    """Whether `data_root` is the demo's (None means the notebooks' default, which is)."""
    return data_root is None or resolve(data_root) == resolve(DEMO_DATA_ROOT)


def figures_root(data_root: str | os.PathLike | None = None) -> Path:
    """`$FITCLIP_FIGURES` if set; else `figures/` of the project for the demo; else `<data_root>/figures/`."""
    base = os.environ.get("FITCLIP_FIGURES")
    if base:
        return resolve(base)
    return project_root() / "figures" if is_demo(data_root) else resolve(data_root) / "figures"


def figure_dir(stem: str, create: bool = True, data_root: str | os.PathLike | None = None) -> Path:
    """`<figures root>/<stem>/` (see :func:`figures_root`)."""
    return _stage_folder(figures_root(data_root), stem, create)


def require(path: Path, written_by: str) -> Path:
    """Fail fast, naming the stage to run, when an input artifact is missing."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: it is written by notebooks/{written_by}.ipynb; run that "
                                f"stage first (python -m fitclip.pipeline {written_by})")
    return path


def resolve_pretrained(pretrained: str | None, data_root: str | os.PathLike) -> str | None:
    """Model weights named in a notebook's parameters.

    `"00_toy_teacher"` means the toy teacher that stage wrote (`<data_root>/00_toy_teacher/teacher.pt`);
    an open_clip tag (e.g. "openai") or `"none"` pass through; other values are file paths.
    """
    if pretrained is None or str(pretrained).lower() == "none":
        return None
    if pretrained == "00_toy_teacher":
        return str(require(stage_dir(data_root, "00_toy_teacher", create=False) / "teacher.pt", "00_toy_teacher"))
    from fitclip.models import is_weights_file  # models imports open_clip: only when needed
    if is_weights_file(str(pretrained)):
        return str(resolve(pretrained))
    return str(pretrained)


def write_params(folder: Path, params: dict[str, Any]) -> Path:
    """Record a stage's resolved parameters as `params.json` (atomic)."""
    return write_json(folder / "params.json", params)


class SavedFigure(list):
    """The paths `save_figure` wrote (a list), shown as one short line in a notebook."""

    def __repr__(self) -> str:
        return "saved " + ", ".join(str(p) for p in self)


def in_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (JupyterLab, Papermill), where figures are shown inline."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def save_figure(fig: Any, stem: str, name: str, data_root: str | os.PathLike | None = None,
                show: bool | None = None) -> SavedFigure:
    """Save a matplotlib figure as PNG and PDF under `<figures root>/<stem>/` (see :func:`figures_root`) and
    show the PNG inline when running in a notebook.

    The files are rendered in memory with fixed metadata (`fitclip.gallery.figure_bytes`: no creation date,
    no software version), so the same figure gives the same bytes and a re-run leaves committed figures
    unchanged; each is written atomically, so a killed run never leaves half a figure.

    Args:
        show: display the PNG (`IPython.display.Image`); None: when in a Jupyter kernel.
    """
    from fitclip.gallery import figure_bytes

    folder = figure_dir(stem, data_root=data_root)
    png, pdf = figure_bytes(fig, "png", dpi=150), figure_bytes(fig, "pdf")
    paths = SavedFigure([atomic_write_bytes(folder / f"{name}.png", png), atomic_write_bytes(folder / f"{name}.pdf", pdf)])
    import matplotlib.pyplot as plt
    plt.close(fig)  # notebooks make many figures; the saved files are what is kept
    if in_kernel() if show is None else show:
        from IPython.display import Image, display
        display(Image(data=png))
    return paths
