"""fitclip: FitCLIP (Castro & Caba Heilbron, BMVC 2022) for CLIP-family models on zero-shot video.

Start here (each name is imported on first use, so ``import fitclip`` stays cheap)::

    import fitclip
    teacher = fitclip.load_clip("ViT-B-16", "openai")               # an open_clip model + encode_video
    student = fitclip.load_clip("ViT-B-16", "runs/fitclip/best_labeled.pt")
    fused = fitclip.fuse(teacher.clip.state_dict(), student.clip.state_dict(), alpha=0.4)   # WiSE-FT / FitCLIP step 2
    from fitclip.evaluate import evaluate                           # the module of the same name shadows a re-export
    rows = evaluate(teacher, "ucf101", "data/raw")                   # zero-shot metrics with bootstrap CIs

* ``load_clip`` (:mod:`fitclip.models`): an open_clip architecture and weights (a tag, a file, or ``None`` for
  random ones) as a :class:`~fitclip.models.VideoCLIP`, whose ``encode_video`` is the mean of the L2-normalised
  frame embeddings.
* ``fuse``, ``FusionGrid`` (:mod:`fitclip.fusion`): θ = α·θ_student + (1−α)·θ_teacher, for one α or a grid of them
  in bounded memory.
* :func:`fitclip.evaluate.evaluate`: one or many models on one benchmark split, each video decoded once (not
  re-exported: ``fitclip.evaluate`` is its module, which Python binds on the package when it is imported).
* ``load_annotations`` (:mod:`fitclip.annotations`): the benchmarks' official files, WebVid and your own folders.
* ``labeled_loss``, ``distillation_loss``, ``fitclip_loss`` (:mod:`fitclip.losses`): Eq. 1–2, Eq. 3–4, Eq. 5.
* ``TrainConfig``, ``config_from_dict`` (:mod:`fitclip.config`): the trainer's parameters and presets; train with
  ``fitclip train`` (or ``torchrun -m fitclip.train``).

The command line is ``fitclip <command>`` (train, pseudo-labels, fuse, average, evaluate, doctor, search,
pipeline), the same as ``python -m fitclip <command>``.

The method core is the flat modules of this package (models, transforms, losses, fusion, metrics, video,
distributed, files, provenance, prompts, the annotation readers and the video dataset) and the pipelines
built on it (evaluate, doctor, config, train with resume, run_data, start_weights and runtime, pseudo_labels,
search, gallery; ``python -m fitclip``).
Two wings build on the core and are never imported by it: :mod:`fitclip.study` (the notebooks'
helpers and their runner) and :mod:`fitclip.toyworld` (the demo's synthetic world and toy teacher).
The library never imports the trainer (`fitclip.train`) or the notebooks (tests/test_layout.py checks it).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: The names a user starts from, and the module each lives in.
_EXPORTS: dict[str, str] = {
    "load_clip": "fitclip.models",
    "VideoCLIP": "fitclip.models",
    "fuse": "fitclip.fusion",
    "FusionGrid": "fitclip.fusion",
    "load_annotations": "fitclip.annotations",
    "labeled_loss": "fitclip.losses",
    "distillation_loss": "fitclip.losses",
    "fitclip_loss": "fitclip.losses",
    "TrainConfig": "fitclip.config",
    "config_from_dict": "fitclip.config",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'fitclip' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
