"""Weight-space ensembling of teacher and student (FitCLIP step 2; WiSE-FT, Wortsman et al. 2022)."""

from __future__ import annotations

from typing import Mapping

import torch

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
