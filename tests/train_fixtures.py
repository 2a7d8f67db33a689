"""Test data for the trainer: a tiny WebVid-format corpus whose captions name each video's colour.

``make_webvid_corpus(root)`` writes ``<root>/webvid/results_2M_{train,val}.csv`` (the official header
``videoid,name,page_idx,page_dir,duration,contentUrl``), the videos at
``<root>/webvid/videos/<page_dir>/<videoid>.mp4`` (16 frames, sizes from 32x32 to 64x48, a coloured square
moving over a noisy grey background, the colour named in the caption) and a seeded labeled subset
``<root>/labeled.csv`` (``fitclip.annotations.sample_labeled_subset``). A random-init teacher knows nothing
about colours; the captions do — the labeled loss must go down.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 50, 230), "yellow": (230, 220, 30),
           "white": (245, 245, 245), "black": (10, 10, 10)}
SIZES = [(32, 32), (64, 32), (32, 48), (64, 48)]  # (width, height); decord 0.6 fails on 48x32 h264
REPO = Path(__file__).resolve().parents[1]
#: The trainer with a fault injected through its step hook (``FITCLIP_TEST_FAULT=KIND:STEP[:RANK]``): a script, so
#: torchrun can run it too.
FAULTY_TRAIN = str(REPO / "tests" / "faulty_train.py")


def _clip(colour: str, size: tuple[int, int], rng: np.random.Generator, frames: int = 16) -> np.ndarray:
    w, h = size
    base = rng.integers(90, 160)
    video = np.clip(base + rng.normal(0, 12, (frames, h, w, 3)), 0, 255)
    side = max(12, min(w, h) * 3 // 5)
    x0, y0 = rng.integers(0, w - side + 1), rng.integers(0, h - side + 1)
    dx, dy = rng.choice([-1, 1]), rng.choice([-1, 1])
    for t in range(frames):
        x = int(np.clip(x0 + dx * t, 0, w - side))
        y = int(np.clip(y0 + dy * t, 0, h - side))
        video[t, y:y + side, x:x + side] = COLOURS[colour]
    return video.astype(np.uint8)


def make_webvid_corpus(root: str | os.PathLike, n_train: int = 24, n_val: int = 8, n_labeled: int = 8,
                       seed: int = 0) -> dict[str, Any]:
    """Write the corpus (idempotent for a fresh root); returns {"data_root", "labeled_csv", "train", "val"}."""
    from fitclip.annotations import load_annotations, sample_labeled_subset
    from fitclip.video import write_video

    root = Path(root)
    webvid = root / "webvid"
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    rows: dict[str, list[list[Any]]] = {"train": [], "val": []}
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            colour = names[i % len(names)]
            vid = f"{(1000 if split == 'train' else 9000) + i}"
            page_dir = f"{(i // 10) * 10 + 1:06d}_{(i // 10) * 10 + 10:06d}"
            write_video(webvid / "videos" / page_dir / f"{vid}.mp4", _clip(colour, SIZES[i % len(SIZES)], rng), fps=8)
            caption = f"a {colour} square moving, with a {colour} colour"
            rows[split].append([vid, caption, i // 10, page_dir, "PT00H00M02S", f"https://example.invalid/{vid}.mp4"])
    for split, name in (("train", "results_2M_train.csv"), ("val", "results_2M_val.csv")):
        with open(webvid / name, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["videoid", "name", "page_idx", "page_dir", "duration", "contentUrl"])
            w.writerows(rows[split])
    labeled_csv = root / "labeled.csv"
    sample_labeled_subset(load_annotations("webvid", root, split="train"), n=n_labeled, seed=seed, out_csv=labeled_csv)
    return {"data_root": str(root), "labeled_csv": str(labeled_csv), "train": n_train, "val": n_val}


def tiny_config(corpus: dict[str, Any], out_dir: str | os.PathLike, **overrides: Any) -> dict[str, Any]:
    """A config dict for the tiny model on the corpus: 4 labeled + 4 unlabeled clips per process."""
    cfg = {"arch": "fitclip-tiny", "pretrained": "none", "data_root": corpus["data_root"],
           "labeled_csv": corpus["labeled_csv"], "batch_size_labeled": 4, "batch_size_unlabeled": 4,
           "batch_size_eval": 8, "num_frames": 4, "max_steps": 4, "val_every": 2, "save_every": 2,
           "num_workers": 0, "out_dir": str(out_dir), "teacher_mode": "online", "lam": 0.5, "lr": 1e-3,
           "collective_timeout_s": 60}
    cfg.update(overrides)
    return cfg


def write_config(path: str | os.PathLike, cfg: dict[str, Any]) -> Path:
    path = Path(path)
    path.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return path


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("FITCLIP_TEST_FAULT", None)
    env.update(extra)
    return env


def torchrun_cmd(module: str, *args: str, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", module, *args]


def run_module(module: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None,
               check: bool = True) -> subprocess.CompletedProcess:
    """python -m MODULE ARGS in a subprocess (1 BLAS thread)."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env or subprocess_env(),
                          capture_output=True, text=True, timeout=timeout, check=check)


# A `python -m fitclip.train` that SIGKILLs itself at an exact point of checkpoint writing:
# KILL_AT=before:STEP (just before last.pt of STEP is written) or after:STEP (right after its rename).
_KILL_WRAPPER = """
import os, signal, sys
import fitclip.train as T
when, step = os.environ["KILL_AT"].split(":")
real_save = T.save_state
def save_state(obj, path):
    at = obj["step"] == int(step) and path.name == "last.pt"
    if at and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real_save(obj, path)
    if at and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
T.save_state = save_state
sys.exit(T.main(sys.argv[1:]))
"""


def killed_train_cmd(*args: str) -> list[str]:
    """The trainer's command line, run under the KILL_AT wrapper (set KILL_AT in the env)."""
    return [sys.executable, "-c", _KILL_WRAPPER, *args]


def wait_for_checkpoint(path: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Poll until `path` holds a checkpoint of `step` or later (a condition, not a guess at timing)."""
    import time

    import torch

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc={proc.returncode}) before writing step {step}")
        if path.exists() and torch.load(path, weights_only=True, map_location="cpu")["step"] >= step:
            return  # written by os.replace: never half a file
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint of step {step} at {path} after {timeout}s")


# ----------------------------------------------------------------------------------------------------
# A full disk at an exact write
# ----------------------------------------------------------------------------------------------------


class FullDiskFile:
    """A file whose writes fail as on a full disk: the first write that `armed(data)` accepts writes only its
    first `torn` bytes (a torn write, as a filling disk leaves), then raises OSError(ENOSPC), as does every
    write after it."""

    def __init__(self, f: Any, torn: int, armed: Any) -> None:
        self.f, self.torn, self.armed = f, torn, armed

    def write(self, data: Any) -> int:
        if self.armed(data):
            if self.torn > 0:
                self.f.write(data[:self.torn])
                self.f.flush()
                self.torn = 0
            self.armed = lambda _: True  # full from now on
            import errno
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.f.write(data)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, close, ...
        return getattr(self.f, name)

    def __enter__(self) -> "FullDiskFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.f.close()


def fill_disk_at(monkeypatch: Any, module: Any, name: str, nth: int = 1, torn: int = 100,
                 armed: Any = lambda data: True) -> None:
    """The `nth` file named `name` (or an atomic write's temp file for it, `.NAME.tmp...`) that `module`
    opens fails as on a full disk (:class:`FullDiskFile`); `module`'s other opens are untouched."""
    import builtins
    seen = [0]

    def open_(path: Any, *args: Any, **kwargs: Any) -> Any:
        f = builtins.open(path, *args, **kwargs)
        base = Path(path).name if isinstance(path, (str, os.PathLike)) else ""
        if base == name or base.startswith(f".{name}.tmp"):
            seen[0] += 1
            if seen[0] == nth:
                return FullDiskFile(f, torn, armed)
        return f

    monkeypatch.setattr(module, "open", open_, raising=False)
