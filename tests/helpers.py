"""Shared test utilities: small synthetic videos in the benchmarks' REAL on-disk layouts.

Each ``make_<dataset>(data_root, source, ...)`` copies a few annotation rows from `source`, a data root
with the benchmark's files in its official layout (the ``toy_benchmarks`` fixture: the toy world's writers'
files, present on any clone), into ``<data_root>/<dataset>/`` exactly as the official archives lay them out,
and renders a tiny video (PyAV/x264, 64x48 by default) for every referenced file, so ``fitclip.annotations.load_annotations(name, data_root)`` and everything built on it
(evaluate, doctor, trainers) run end to end on them. Videos are mp4 bytes whatever the file's
extension (UCF101's ``.avi``, DiDeMo's ``.mov``/``.3gp``): FFmpeg, hence decord and PyAV, detect the
container from the content.

Video content is deterministic: a seeded moving pattern by default, or a flat grey ``level`` (so a
test can recognise a decoded frame from its mean). Breakage helpers (:func:`make_zero_byte`,
:func:`truncate_file`, :func:`remove_file`) turn a rendered video into the broken files real
downloads produce.

Usage (pytest puts ``tests/`` on ``sys.path``, as the folder has no ``__init__.py``)::

    from helpers import make_msrvtt, truncate_file

    layout = make_msrvtt(tmp_path, toy_benchmarks, n=6)
    truncate_file(layout.videos[layout.video_ids[2]])
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "GreyStub",
    "Layout",
    "add_youcook2_clip",
    "fill_disk",
    "make_didemo",
    "make_mit",
    "make_msrvtt",
    "make_ucf101",
    "make_youcook2",
    "make_zero_byte",
    "mount_tmpfs",
    "remove_file",
    "render_video",
    "small_tmpfs",
    "synthetic_frames",
    "truncate_file",
    "unmount",
]


@dataclass
class Layout:
    """A rendered benchmark.

    Attributes:
        name: dataset name for ``load_annotations``.
        data_root: pass this as ``data_root`` (the dataset lives in ``data_root / name``).
        videos: video id -> rendered file (several annotation items may share one file).
        keys: the annotation item keys ``load_annotations`` will produce, in order.
        info: dataset-specific extras (e.g. YouCook2's ``past_end_keys``, per-video durations).
    """

    name: str
    data_root: Path
    videos: dict[str, Path]
    keys: list[str]
    info: dict = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.data_root / self.name

    @property
    def video_ids(self) -> list[str]:
        """The rendered videos' ids in annotation order."""
        return list(self.videos)


# ----------------------------------------------------------------------------------------------------
# Videos
# ----------------------------------------------------------------------------------------------------


def synthetic_frames(num_frames: int = 16, height: int = 48, width: int = 64, seed: int = 0,
                     level: int | None = None) -> np.ndarray:
    """Deterministic uint8 RGB frames ``[T, H, W, 3]``.

    Args:
        level: if given, every pixel of every frame is this grey level (0-255); else a seeded colour
            blob that moves across a seeded gradient, different per frame and per seed.
    """
    if level is not None:
        return np.full((num_frames, height, width, 3), int(level), np.uint8)
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 216, size=3)
    yy, xx = np.mgrid[0:height, 0:width]
    background = (np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                            (xx + yy) * 255 // max(width + height - 2, 1)], -1) // 2 + base // 2)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    colour = rng.integers(0, 256, size=3)
    for t in range(num_frames):
        frame = background.copy()
        cx = (t * 3 + seed * 7) % width
        cy = height // 2 + int(height / 4 * np.sin(t / 3 + seed))
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= (min(height, width) // 6) ** 2
        frame[mask] = colour
        frames[t] = frame
    return frames


def render_video(path: str | os.PathLike, num_frames: int = 16, height: int = 48, width: int = 64,
                 fps: float = 10.0, seed: int = 0, level: int | None = None,
                 options: dict[str, str] | None = None) -> Path:
    """Write a small h264 video (mp4 bytes, whatever `path`'s extension) with ``fitclip.video.write_video``.

    Returns:
        The path written. Duration is ``num_frames / fps`` seconds.
    """
    from fitclip.video import write_video

    return write_video(path, synthetic_frames(num_frames, height, width, seed=seed, level=level), fps=fps,
                       options=options)


def make_zero_byte(path: str | os.PathLike) -> Path:
    """Replace `path` with a 0-byte file (an interrupted download)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def truncate_file(path: str | os.PathLike, keep: float = 0.5) -> Path:
    """Keep only the first `keep` fraction of `path`'s bytes (a cut download: an mp4 written by PyAV
    has its index at the end, so neither decoder can open it)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def remove_file(path: str | os.PathLike) -> Path:
    """Delete `path` (a video the annotations list but the download lacks)."""
    path = Path(path)
    path.unlink()
    return path


# ----------------------------------------------------------------------------------------------------
# Layouts
# ----------------------------------------------------------------------------------------------------


def _render_all(paths: dict[str, Path], render: bool | Callable[[str, Path, int], None], **video_kw) -> None:
    for i, (video_id, path) in enumerate(paths.items()):
        if render is True:
            render_video(path, seed=i, **video_kw)
        elif callable(render):
            render(video_id, path, i)


def make_msrvtt(data_root: str | os.PathLike, source: Path, n: int = 6,
                render: bool | Callable[[str, Path, int], None] = True, **video_kw) -> Layout:
    """MSR-VTT 1k-A: the header and first `n` rows of `source`'s ``MSRVTT_JSFUSION_test.csv`` and
    ``videos/all/<video_id>.mp4``.

    Args:
        render: True renders every video (seed = row index; `video_kw` go to :func:`render_video`),
            False renders none, or a callable ``render(video_id, path, i)`` does it.
    """
    data_root = Path(data_root)
    root = data_root / "msrvtt"
    lines = (source / "msrvtt" / "MSRVTT_JSFUSION_test.csv").read_text().splitlines()[: n + 1]
    root.mkdir(parents=True, exist_ok=True)
    (root / "MSRVTT_JSFUSION_test.csv").write_text("\n".join(lines) + "\n")
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    videos = {r["video_id"]: root / "videos" / "all" / f"{r['video_id']}.mp4" for r in rows}
    _render_all(videos, render, **video_kw)
    return Layout("msrvtt", data_root, videos, [r["key"] for r in rows],
                  info={"texts": [r["sentence"] for r in rows]})


def make_youcook2(data_root: str | os.PathLike, source: Path, n_videos: int = 2, rows_per_video: int = 3,
                  fps: float = 1.0, past_end: bool = True, **video_kw) -> Layout:
    """YouCook2: the rows of `source`'s ``validation_youcook.csv`` (MIL-NCE's format) for its first `n_videos`
    videos (`rows_per_video` clips each, their start/end seconds) and ``validation/<task>/<video_id>.mp4``.

    Each video lasts 2 s past its last clip's end (at `fps`, default 1 fps, so long timings stay cheap),
    except, with ``past_end``, the LAST video, which stops in the middle of its last
    clip: that clip's end lies past the video's end (``info["past_end_keys"]``).
    """
    data_root = Path(data_root)
    root = data_root / "youcook2"
    src = (source / "youcook2" / "validation_youcook.csv").read_text().splitlines()
    header, body = src[0], src[1:]
    chosen: dict[str, list[dict]] = {}
    for row in csv.DictReader(io.StringIO("\n".join([header, *body]))):
        if row["video_id"] not in chosen and len(chosen) == n_videos:
            break
        rows = chosen.setdefault(row["video_id"], [])
        if len(rows) < rows_per_video:
            rows.append(row)
    out_rows = [r for rows in chosen.values() for r in rows]
    root.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header.split(","), lineterminator="\n")
    writer.writeheader()
    writer.writerows(out_rows)
    (root / "validation_youcook.csv").write_text(buf.getvalue())
    videos, durations, past_end_keys = {}, {}, []
    for i, (video_id, rows) in enumerate(chosen.items()):
        last = max(rows, key=lambda r: float(r["end"]))
        end = float(last["end"])
        if past_end and i == len(chosen) - 1:
            seconds = (float(last["start"]) + end) / 2  # mid-clip: the start is inside, the end is not
            past_end_keys = [f"{video_id}_{r['start']}_{r['end']}" for r in rows if float(r["end"]) > seconds]
        else:
            seconds = end + 2
        n_frames = max(2, int(round(seconds * fps)))
        path = root / "validation" / rows[0]["task"] / f"{video_id}.mp4"
        render_video(path, num_frames=n_frames, fps=fps, seed=i, **video_kw)
        videos[video_id] = path
        durations[video_id] = n_frames / fps
    keys = [f"{r['video_id']}_{r['start']}_{r['end']}" for r in out_rows]
    return Layout("youcook2", data_root, videos, keys,
                  info={"past_end_keys": past_end_keys, "durations": durations, "texts": [r["text"] for r in out_rows]})


def add_youcook2_clip(layout: Layout, video_id: str, start: float, end: float, text: str = "an extra clip") -> str:
    """Append a clip of an existing video to ``validation_youcook.csv``; returns its item key."""
    task = layout.videos[video_id].parent.name
    with open(layout.root / "validation_youcook.csv", "a", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow([f"{end:g}", f"{start:g}", task, text, video_id])
    key = f"{video_id}_{start:g}_{end:g}"
    layout.keys.append(key)
    return key


def make_didemo(data_root: str | os.PathLike, source: Path, n_videos: int = 2, split: str = "val",
                **video_kw) -> Layout:
    """DiDeMo: every record of the first `n_videos` videos of `source`'s ``<split>_data.json``, and
    ``videos/<stem>.<original extension>`` (mp4 bytes under Flickr's .mov/.3gp/... names)."""
    data_root = Path(data_root)
    root = data_root / "didemo"
    records = json.loads((source / "didemo" / f"{split}_data.json").read_text())
    wanted: list[str] = []
    for record in records:
        if record["video"] not in wanted:
            if len(wanted) == n_videos:
                continue
            wanted.append(record["video"])
    kept = [r for r in records if r["video"] in wanted]
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{split}_data.json").write_text(json.dumps(kept))
    videos = {os.path.splitext(v)[0]: root / "videos" / v for v in wanted}
    _render_all(videos, True, **video_kw)
    texts = [" ".join(r["description"].strip() for r in kept if r["video"] == v) for v in wanted]
    return Layout("didemo", data_root, videos, list(wanted), info={"texts": texts})


def make_ucf101(data_root: str | os.PathLike, source: Path, n_classes: int = 3, per_class: int = 2,
                **video_kw) -> Layout:
    """UCF101 split 1: the first `n_classes` lines of `source`'s ``classInd.txt``, the first `per_class`
    ``testlist01.txt`` lines of each, and ``UCF-101/<Class>/v_*.avi`` (mp4 bytes under .avi names)."""
    data_root = Path(data_root)
    root = data_root / "ucf101"
    lists = root / "ucfTrainTestlist"
    classes = (source / "ucf101" / "ucfTrainTestlist" / "classInd.txt").read_text().splitlines()[:n_classes]
    folders = [line.split()[1] for line in classes]
    lines: list[str] = []
    for folder in folders:
        lines += [line for line in (source / "ucf101" / "ucfTrainTestlist" / "testlist01.txt").read_text().splitlines()
                  if line.startswith(folder + "/")][:per_class]
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text("\n".join(classes) + "\n")
    (lists / "testlist01.txt").write_text("\n".join(lines) + "\n")
    videos = {Path(line).stem: root / "UCF-101" / line for line in lines}
    _render_all(videos, True, **video_kw)
    targets = [folders.index(line.split("/")[0]) for line in lines]
    return Layout("ucf101", data_root, videos, list(videos), info={"folders": folders, "targets": targets})


def make_mit(data_root: str | os.PathLike, source: Path, n: int = 4, **video_kw) -> Layout:
    """Moments in Time v1: `source`'s ``moments_categories.txt`` (``name,index`` lines), the first `n` rows of
    its ``validationSet.csv`` (no header: path, category, agree, disagree) and ``validation/<category>/<file>``."""
    data_root = Path(data_root)
    root = data_root / "mit"
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "mit" / "moments_categories.txt", root / "moments_categories.txt")
    names = [line.rsplit(",", 1)[0] for line in (root / "moments_categories.txt").read_text().splitlines()]
    csv_lines = (source / "mit" / "validationSet.csv").read_text().splitlines()[:n]
    (root / "validationSet.csv").write_text("\n".join(csv_lines) + "\n")
    rows = [line.split(",")[:2] for line in csv_lines]
    videos = {path: root / "validation" / path for path, _ in rows}
    _render_all(videos, True, **video_kw)
    return Layout("mit", data_root, videos, list(videos), info={"targets": [names.index(c) for _, c in rows]})


def mount_tmpfs(path: str | os.PathLike, size: str | int, *, read_only: bool = False, remount: bool = False) -> Path:
    """Mount a real, small file system at `path` (``mount -t tmpfs -o size=…``; `remount` changes the size of
    one already there, e.g. to free space) for full-disk and read-only tests. Mounting needs root and a
    kernel that allows it: where it is refused, the test is skipped with the reason (the same writes are
    also covered by tests that inject ENOSPC at the write)."""
    import pytest

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    options = ",".join([*(["remount"] if remount else []), *(["ro"] if read_only else []), f"size={size}"])
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command here to make a small tmpfs; the injected-ENOSPC tests cover the same writes")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        if remount:
            raise AssertionError(f"remounting the tmpfs at {path} failed: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN; mount said: "
                    f"{done.stderr.strip() or done.returncode}); the injected-ENOSPC tests cover the same writes")
    return path


def unmount(path: str | os.PathLike) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def small_tmpfs(path: str | os.PathLike, size: str | int = "256k", read_only: bool = False) -> Iterator[Path]:
    """:func:`mount_tmpfs` for the duration of a ``with`` block, unmounted afterwards."""
    mounted = mount_tmpfs(path, size, read_only=read_only)
    try:
        yield mounted
    finally:
        unmount(mounted)


def fill_disk(folder: str | os.PathLike, leave: int = 0) -> Path:
    """Fill the file system of `folder` with one filler file, leaving about `leave` bytes free."""
    filler = Path(folder) / "filler.bin"
    with open(filler, "wb") as f:
        block = b"\0" * 4096
        try:
            while shutil.disk_usage(folder).free > leave + len(block):
                f.write(block)
                f.flush()
        except OSError:
            pass
    return filler


class GreyStub(torch.nn.Module):
    """The VideoCLIP interface with embeddings that agree by construction (test_evaluate, test_search): a video's
    embedding is the unit vector at the angle of its mean normalised pixel value, a text's the one at the angle of
    the grey level `levels[text]` the test rendered for it. So text i is closest to the clip rendered at its level,
    whatever the pipeline does, as long as it pairs them correctly."""

    arch = "grey-stub"
    image_size = 32  # fitclip-tiny's
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)

    def __init__(self, levels: dict[str, int]) -> None:
        super().__init__()
        self.texts = list(levels)
        self.levels = torch.tensor([levels[t] for t in self.texts], dtype=torch.float32)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def tokenize(self, texts):
        return torch.tensor([[self.texts.index(t)] for t in texts])

    @staticmethod
    def _unit(angle: torch.Tensor) -> torch.Tensor:
        return torch.stack([angle.cos(), angle.sin()], dim=-1)

    def encode_video(self, frames, lengths=None):
        per_frame = frames.mean(dim=(2, 3, 4))  # [B, T]
        mask = torch.arange(frames.shape[1])[None] < lengths[:, None]
        return self._unit((per_frame * mask).sum(1) / mask.sum(1))

    def encode_text(self, tokens):
        return self._unit((self.levels[tokens[:, 0]] / 255 - 0.5) / 0.5)


def fused_model(teacher: torch.nn.Module, student: object, alpha: float) -> torch.nn.Module:
    """`teacher` fused with `student` (a VideoCLIP, an open_clip state dict or a checkpoint file) at `alpha` by
    ``fitclip.fusion.fuse``, as a model of its own (a full copy): what each model of a ``FusionGrid`` must equal."""
    from fitclip.fusion import fuse
    from fitclip.models import clone_model, load_clip

    if isinstance(student, (str, os.PathLike)):
        student = load_clip(teacher.arch, student)
    state = student.clip.state_dict() if hasattr(student, "clip") else student
    model = clone_model(teacher)
    model.clip.load_state_dict(fuse(teacher.clip.state_dict(), state, alpha), strict=True)
    return model.eval()
