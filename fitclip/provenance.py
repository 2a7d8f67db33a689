"""Provenance: what a result was computed with, recorded beside it (evaluation records, training logs,
benchmark results): the versions of the libraries that decide the numbers, and for training runs the platform,
GPU and git commit."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch


def library_versions() -> dict[str, str | None]:
    """Versions of python, fitclip and the libraries that decide the numbers (None: not installed)."""
    from importlib import metadata

    import fitclip

    import torch

    # torch's runtime version keeps the build tag (e.g. +cu130), which the package metadata drops.
    out: dict[str, str | None] = {"python": platform.python_version(), "fitclip": fitclip.__version__}
    for dist in ("torch", "open_clip_torch", "decord", "av", "numpy", "torchvision"):
        try:
            out["open_clip" if dist == "open_clip_torch" else dist] = metadata.version(dist)
            if dist == "torch":
                out["torch"] = torch.__version__
        except metadata.PackageNotFoundError:
            out["open_clip" if dist == "open_clip_torch" else dist] = None
    return out


def run_environment() -> dict[str, Any]:
    """The libraries that decide the numbers (as in evaluation records) plus platform, CUDA and git commit."""
    info: dict[str, Any] = {**library_versions(), "platform": platform.platform(), "cuda": torch.version.cuda,
                            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    try:
        import subprocess
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                            cwd=Path(__file__).parent).stdout.strip() or None
    except Exception:  # noqa: BLE001
        info["git_commit"] = None
    return info
