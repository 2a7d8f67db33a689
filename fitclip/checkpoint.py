"""Checkpoint files: state dicts only (never pickled modules), written atomically, read with
`weights_only=True`."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import torch


class CheckpointDamaged(ValueError):
    """A checkpoint file exists but cannot be read: truncated (a copy or a disk that filled up) or corrupt."""


def save_state(obj: dict[str, Any], path: str | os.PathLike) -> Path:
    """`torch.save` to a temp file in the same folder, then rename: a crash never leaves half a file.

    Args:
        obj: a dict of tensors / plain Python values (what `weights_only=True` can read back).
        path: destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint with `weights_only=True` (no arbitrary code runs). Safetensors files work too.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file holds pickled Python objects (a saved module, not a state dict).
        CheckpointDamaged: the file cannot be read at all (truncated or corrupt); a ``ValueError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path), device=str(map_location))
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # a pickled module (refused on purpose) or a damaged file (truncated, corrupt)
        text = str(e).strip()
        first_line = f"{type(e).__name__}: {text.splitlines()[0].split('. ')[0] if text else ''}".rstrip(": ")
        if isinstance(e, pickle.UnpicklingError) and "GLOBAL" in str(e):
            raise ValueError(f"could not load checkpoint {str(path)!r} with weights_only=True: it holds pickled "
                             f"Python objects ({_refused_global(e)}); fitclip reads state dicts only — re-save "
                             f"it as a state dict") from e
        raise CheckpointDamaged(f"checkpoint {str(path)!r} is damaged (truncated or corrupt: {first_line}); "
                                f"it cannot be read — use another copy or an earlier checkpoint") from e


def _refused_global(error: BaseException) -> str:
    """The 'unsupported GLOBAL x.y' sentence of torch's weights_only refusal, on one line."""
    for line in str(error).splitlines():
        if "GLOBAL" in line:
            return line.strip().rstrip(".")
    return "a class or function the safe loader refuses"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes via a temp file unique to this process in the same folder, fsync, then rename: a crash
    never leaves half a file (PNG figures rendered to a buffer, copied videos)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically (:func:`atomic_write_bytes`).

    Newlines are written as given (CSV and JSON-lines files stay LF on every platform).
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomic, indented JSON (values JSON cannot hold are written as strings)."""
    import json
    return atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_csv(df: Any, path: str | os.PathLike) -> Path:
    """A pandas DataFrame as CSV (no index, LF line ends), atomically (:func:`atomic_write_text`)."""
    return atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))
