"""Weight-space ensembling of teacher and student (FitCLIP step 2; WiSE-FT, Wortsman et al. 2022): the
fusion of two state dicts (:func:`fuse`), an α grid of fused models ready for evaluation
(:func:`fused_models`) and the one name an α-grid model gets (:func:`grid_model`)."""

from __future__ import annotations

import math
import os
from typing import Iterable, Mapping

import torch

from fitclip.models import EvalModel, VideoCLIP, clone_model, load_clip

_SAME_MODEL = ("they are not one architecture: fuse a student with the teacher it was fine-tuned from "
               "(same arch, same weights file)")


def fuse(teacher_state: Mapping[str, torch.Tensor], student_state: Mapping[str, torch.Tensor],
         alpha: float) -> dict[str, torch.Tensor]:
    """θ = α·θ_student + (1−α)·θ_teacher, key by key.

    Floating-point tensors are mixed in float32 and cast back to their dtype; other tensors (integer
    buffers) are copied from the teacher. α=0 gives the teacher's tensors and α=1 the student's, exactly.
    Only one fused tensor is alive per key besides the output (no extra full copies of the model).

    Args:
        teacher_state: state dict of the frozen pretrained model.
        student_state: state dict of the fine-tuned model (same keys and shapes).
        alpha: α in [0, 1].

    Returns:
        A new state dict on the teacher's devices.

    Raises:
        ValueError: α outside [0, 1], or key sets / shapes that differ (naming the first offending key).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] (0 = teacher, 1 = student), got {alpha}")
    missing = [k for k in teacher_state if k not in student_state]
    extra = [k for k in student_state if k not in teacher_state]
    if missing or extra:
        first = missing[0] if missing else extra[0]
        where = "student" if missing else "teacher"
        raise ValueError(f"teacher and student state dicts have different keys: {first!r} is missing from the "
                         f"{where} ({len(missing)} missing from student, {len(extra)} missing from teacher); "
                         f"{_SAME_MODEL}")
    fused: dict[str, torch.Tensor] = {}
    for key, t in teacher_state.items():
        s = student_state[key]
        if t.shape != s.shape:
            raise ValueError(f"shape mismatch at {key!r}: teacher {tuple(t.shape)} vs student {tuple(s.shape)}; "
                             f"{_SAME_MODEL}")
        if not t.is_floating_point():
            fused[key] = t.clone()
        elif alpha == 0.0:
            fused[key] = t.clone()
        elif alpha == 1.0:
            fused[key] = s.to(device=t.device, dtype=t.dtype, copy=True)
        else:
            work = torch.promote_types(t.dtype, torch.float32)  # float32, or float64 for float64 weights
            mixed = torch.lerp(t.to(work), s.to(device=t.device, dtype=work), alpha)  # t + α(s − t)
            fused[key] = mixed.to(t.dtype)
    return fused


def grid_model(student: str, alpha: float) -> str:
    """The model name of `student` fused with the teacher at `alpha`: ``"<student>-alpha<α:g>"`` (e.g.
    ``fitclip-alpha0.4``). The results rows also carry ``student`` and ``alpha`` as columns: read those,
    never parse this name."""
    return f"{student}-alpha{float(alpha):g}"


def fused_models(teacher: VideoCLIP, student: VideoCLIP | Mapping[str, torch.Tensor] | str | os.PathLike,
                 alphas: Iterable[float], name: str = "fused",
                 weights: Mapping[str, str] | None = None) -> dict[str, EvalModel]:
    """Build the weight-space ensembles θ_α = α·θ_student + (1−α)·θ_teacher for an α grid.

    Args:
        teacher: the pretrained model (α=0 returns this very object, not a copy).
        student: the fine-tuned model: a ``VideoCLIP``, an open_clip state dict with the teacher's keys,
            or a checkpoint file (loaded with ``load_clip(teacher.arch, path)``, so every format
            ``load_clip`` reads works, including the released FitCLIP student).
        alphas: α values in [0, 1]; each gives one model (a copy of the teacher holding the fused
            weights, :func:`fitclip.models.clone_model`, so memory grows by one model per α ≠ 0: ~0.6 GB
            each for ViT-B/16 in float32).
        name: the student's name: models are named :func:`grid_model` ``(name, α)`` (e.g.
            ``fused-alpha0.3``) and their rows carry ``student=name``.
        weights: provenance for the protocol record; default ``{"student": <path>}`` when `student`
            is a path.

    Returns:
        ``{grid_model(name, α): EvalModel(model, alpha=α, weights, student=name)}`` in the order of
        `alphas`, ready for :func:`fitclip.evaluate.evaluate`.

    Raises:
        ValueError: an α outside [0, 1], a repeated α, or student weights that do not match the teacher.
    """
    alphas = [float(a) for a in alphas]
    bad = [a for a in alphas if not 0.0 <= a <= 1.0 or math.isnan(a)]
    if bad:
        raise ValueError(f"alpha must be in [0, 1] (0 = teacher, 1 = student), got {bad}")
    if len(set(alphas)) != len(alphas):
        raise ValueError(f"repeated alpha values in {alphas}")
    if not alphas:
        raise ValueError("alphas is empty; pass at least one value in [0, 1]")
    provenance = dict(weights or {})
    if isinstance(student, (str, os.PathLike)):
        provenance.setdefault("student", str(student))
        student = load_clip(teacher.arch, student, device="cpu")
    student_state = student.clip.state_dict() if isinstance(student, VideoCLIP) else dict(student)
    teacher_state = {k: v.detach() for k, v in teacher.clip.state_dict().items()}
    out: dict[str, EvalModel] = {}
    for alpha in alphas:
        if alpha == 0.0:
            model = teacher
        else:
            fused = fuse(teacher_state, student_state, alpha)
            model = clone_model(teacher)
            model.clip.load_state_dict(fused, strict=True)
            del fused
            model.eval()
        out[grid_model(name, alpha)] = EvalModel(model, alpha=alpha, weights=dict(provenance), student=name)
    return out
