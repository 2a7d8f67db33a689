"""Stage 08_your_videos: the notebook's side of :mod:`fitclip.search` (the demo's folder of videos, the
students and α grids of stages 03/04, the gallery as a stage figure and inline image).

The search itself, its outputs and its protocol are the core's (:mod:`fitclip.search`, also
``python -m fitclip search``); these helpers only know the study's stage folders.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Sequence

from fitclip.files import atomic_write_bytes
from fitclip.search import SearchResult

DEMO_STAGE = "08_your_videos"


def save_gallery_figure(result: SearchResult, stem: str = DEMO_STAGE,
                        data_root: str | os.PathLike | None = None) -> list[Path]:
    """The gallery as a stage figure: ``<figures root>/<stem>/gallery.{png,pdf}`` (atomic writes)."""
    from fitclip.gallery import figure_bytes, gallery_figure
    from fitclip.study.project import figure_dir

    folder = figure_dir(stem, data_root=data_root)
    fig = gallery_figure(result)
    png = result.files.get("gallery.png")  # search() already rendered it
    return [atomic_write_bytes(folder / "gallery.png", png.read_bytes() if png else figure_bytes(fig, "png")),
            atomic_write_bytes(folder / "gallery.pdf", figure_bytes(fig, "pdf"))]


def gallery_image(result: SearchResult):
    """The gallery PNG for inline display in a notebook (``IPython.display.Image``)."""
    from IPython.display import Image

    from fitclip.gallery import figure_bytes, gallery_figure

    path = result.files.get("gallery.png")
    return Image(data=path.read_bytes() if path is not None else figure_bytes(gallery_figure(result), "png"))


def demo_folder(data_root: str | os.PathLike, n_videos: int = 36, seed: int = 0) -> Path:
    """A small "your videos" folder for the demo: `n_videos` drawn (seeded) from the synthetic world's
    UCF101-like (``.avi``, one folder per class) and MSR-VTT-like (``.mp4``) videos, half each, copied to
    ``<data_root>/08_your_videos/videos/{ucf101/<Class>,msrvtt}/``. Nothing is rendered; files of an earlier
    selection are removed."""
    from fitclip.study.project import require, stage_dir

    world = require(stage_dir(data_root, "01_data_prep", create=False) / "world", "01_data_prep")
    pools = {"ucf101": sorted((world / "ucf101" / "UCF-101").glob("*/*.avi")),
             "msrvtt": sorted((world / "msrvtt" / "videos" / "all").glob("*.mp4"))}
    rng = random.Random(seed)
    dest = stage_dir(data_root, DEMO_STAGE) / "videos"
    wanted: dict[Path, Path] = {}
    share = {"ucf101": n_videos - n_videos // 2, "msrvtt": n_videos // 2}
    for name, files in pools.items():
        for src in sorted(rng.sample(files, min(share[name], len(files)))):
            relative = src.relative_to(world / "ucf101" / "UCF-101") if name == "ucf101" else Path(src.name)
            wanted[dest / name / relative] = src
    if not wanted:
        raise FileNotFoundError(f"no UCF101-like or MSR-VTT-like video under {world}; rerun 01_data_prep")
    for old in sorted(dest.rglob("*"), reverse=True):
        if old.is_file() and old not in wanted:
            old.unlink()
        elif old.is_dir() and not any(old.iterdir()):
            old.rmdir()
    for target, src in wanted.items():
        if not (target.is_file() and target.stat().st_size == src.stat().st_size):
            atomic_write_bytes(target, src.read_bytes())
    return dest


def stage_students(data_root: str | os.PathLike, students: Sequence[str], checkpoint: str = "best_labeled",
                   alpha: float = 0.5) -> tuple[dict[str, Path], dict[str, list[float]]]:
    """The students and α grids of stage 08: each name 03 trained (``<data_root>/03_train/<name>/<checkpoint>.pt``)
    or a checkpoint file; its fused α is the one 04 chose (``04_fusion/chosen_alpha.json``), else `alpha`.

    Prints one line per student (its checkpoint and α, and where the α comes from); when that α is 1 (or 0)
    FitCLIP *is* the student (or the teacher), so the grid is ``[0, 1]``: two models, not three, and the
    movers compare the teacher with the student; the line says so.

    Returns:
        (``{student: checkpoint}``, ``{student: [0, α, 1]}``; ``[0, 1]`` when α is 0 or 1).
    """
    from fitclip.fusion import check_alphas
    from fitclip.models import is_weights_file
    from fitclip.study.project import resolve, stage_dir
    from fitclip.study.recipes import trained_students

    check_alphas([alpha])
    train_dir = stage_dir(data_root, "03_train", create=False)
    trained = trained_students(train_dir, checkpoint) if train_dir.is_dir() else {}
    chosen_file = stage_dir(data_root, "04_fusion", create=False) / "chosen_alpha.json"
    chosen = json.loads(chosen_file.read_text())["chosen"] if chosen_file.is_file() else {}
    paths: dict[str, Path] = {}
    grids: dict[str, list[float]] = {}
    for student in students:
        if student in trained:
            name, path = student, trained[student]
        elif is_weights_file(student) and resolve(student).is_file():
            name, path = Path(student).stem, resolve(student)
        else:
            raise FileNotFoundError(f"student {student!r}: neither {train_dir / student / f'{checkpoint}.pt'} (run "
                                    "python -m fitclip.pipeline 03_train) nor a checkpoint file")
        a = float(chosen.get(student, alpha))
        paths[name], grids[name] = path, list(dict.fromkeys([0.0, a, 1.0]))
        print(f"{name}: {path} (α={a:g}, {'chosen by 04_fusion' if student in chosen else 'the alpha parameter'})")
        if a in (0.0, 1.0):
            where = "04 chose" if student in chosen else "the alpha parameter is"
            print(f"{where} α = {a:g}: FitCLIP is the {'student' if a == 1.0 else 'teacher'} here, so two models are "
                  f"shown (the teacher and the {name} student), and the movers compare the teacher with the student")
    return paths, grids
