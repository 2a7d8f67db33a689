"""The weights a training run starts from, shared by `fitclip.train` and `fitclip.pseudo_labels`: loading them
(:func:`load_start_weights`, the teacher's and the student's at step 0, through `fitclip.models.load_clip`) and
what identifies them (:func:`teacher_fingerprint`, compared with :func:`same_teacher`): pseudo labels and
training checkpoints record it, so neither is reused or resumed with other weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fitclip.config import TrainConfig
from fitclip.files import sha256_file
from fitclip.models import VideoCLIP, is_weights_file, load_clip


def load_start_weights(cfg: TrainConfig, device: torch.device | str = "cpu") -> VideoCLIP:
    """The weights teacher and student start from (random ones are drawn from torch.manual_seed(seed))."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return load_clip(cfg.arch, cfg.pretrained, device=device)


_SHA256_CACHE: dict[tuple[str, int, int, int, int], str] = {}  # a file read twice in one process: hashed once


def teacher_fingerprint(cfg: TrainConfig) -> dict[str, Any]:
    """What identifies the start weights (the teacher's, and the student's at step 0): pseudo labels and
    training checkpoints record it, so neither is reused with other weights. It holds arch + tag, + the init seed for random weights, + the
    sha256 of a weights file."""
    fp: dict[str, Any] = {"arch": cfg.arch, "pretrained": cfg.pretrained}
    if cfg.pretrained.lower() == "none":
        fp["init_seed"] = cfg.seed
    elif is_weights_file(cfg.pretrained):
        path = Path(cfg.pretrained).expanduser()
        stat = path.stat()
        key = (str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
        if key not in _SHA256_CACHE:
            _SHA256_CACHE[key] = sha256_file(path)
        fp["pretrained_sha256"] = _SHA256_CACHE[key]
    return fp


def same_teacher(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two fingerprints name the same weights. A weights file is identified by its sha256, not its path,
    so moving or copying the data folder keeps the cache valid."""
    if "pretrained_sha256" in a or "pretrained_sha256" in b:
        return a.get("arch") == b.get("arch") and a.get("pretrained_sha256") == b.get("pretrained_sha256")
    return a == b
