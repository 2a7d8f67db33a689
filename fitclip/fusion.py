"""Weight-space ensembling of teacher and student (FitCLIP step 2; WiSE-FT, Wortsman et al. 2022): the
fusion of two state dicts (:func:`fuse`), an α grid of fused models ready for evaluation
(:class:`FusionGrid`, the one way to build them: bounded memory, one working copy fused in place), the one
name an α-grid model gets (:func:`grid_model`), and the uniform average of several
checkpoints of one run (:func:`average_states`: stochastic weight averaging, as Open-VCLIP's and FROSTER's
``weight_average_tool.py``)."""

from __future__ import annotations

import math
import os
from typing import Any, Iterable, Iterator, Mapping, Sequence

import torch

from fitclip.models import EvalModel, VideoCLIP, clone_model, load_clip, non_finite_tensors

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
        ValueError: α outside [0, 1], key sets / shapes that differ (naming the first offending key), or
            fused weights that hold NaN or infinity (never returned: a NaN model must not be written).
    """
    [alpha] = check_alphas([alpha])
    _check_same_model(teacher_state, student_state)
    fused: dict[str, torch.Tensor] = {}
    for key, t in teacher_state.items():
        fused[key] = torch.empty_like(t)
        _lerp_into(fused[key], t, student_state[key], alpha)
    broken = non_finite_tensors(fused)
    if broken:
        key = broken[0]
        source = [name for name, state in (("teacher", teacher_state), ("student", student_state))
                  if key in non_finite_tensors({key: state[key]})]
        raise ValueError(f"the fused weights at alpha={alpha:g} hold NaN or infinity in {len(broken)} tensor(s) "
                         f"(first: {key!r}, from the {' and the '.join(source) or 'mixing'}); a model with such "
                         f"weights scores nothing — use a checkpoint whose weights are finite")
    return fused


def _check_same_model(teacher_state: Mapping[str, torch.Tensor], student_state: Mapping[str, torch.Tensor],
                      names: tuple[str, str] = ("teacher", "student"), advice: str = _SAME_MODEL) -> None:
    """The same keys and shapes, else a ValueError naming the first offending key (`names`: what the two
    states are called in the message; `advice`: what to do)."""
    a, b = names
    missing = [k for k in teacher_state if k not in student_state]
    extra = [k for k in student_state if k not in teacher_state]
    if missing or extra:
        first = missing[0] if missing else extra[0]
        where = b if missing else a
        raise ValueError(f"{a} and {b} state dicts have different keys: {first!r} is missing from the "
                         f"{where} ({len(missing)} missing from {b}, {len(extra)} missing from {a}); "
                         f"{advice}")
    for key, t in teacher_state.items():
        s = student_state[key]
        if t.shape != s.shape:
            raise ValueError(f"shape mismatch at {key!r}: {a} {tuple(t.shape)} vs {b} {tuple(s.shape)}; {advice}")


def _lerp_into(out: torch.Tensor, t: torch.Tensor, s: torch.Tensor, alpha: float) -> None:
    """`out` ← θ_α for one tensor: the teacher's for α=0 and for integer buffers, the student's for α=1, else
    ``lerp(t, s, α)`` (t + α(s − t)) computed in float32 (float64 for float64 weights) and cast to `out`'s
    dtype. :func:`fuse` and :meth:`FusionGrid.select` both write through here, so they agree bit for bit."""
    if not t.is_floating_point() or alpha == 0.0:
        out.copy_(t)
    elif alpha == 1.0:
        out.copy_(s)
    elif t.dtype == s.dtype == out.dtype == torch.float32 and s.device == t.device == out.device:
        torch.lerp(t, s, alpha, out=out)  # written in place: no temporary
    else:
        work = torch.promote_types(t.dtype, torch.float32)
        out.copy_(torch.lerp(t.to(work), s.to(device=t.device, dtype=work), alpha).to(out.dtype))


def average_checkpoints(paths: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """The uniform average of checkpoints of one model (:func:`average_states`), read one at a time, as a fitclip
    model file (``format``, ``state_dict``, ``averaged``: the paths, ``arch``/``quick_gelu`` when recorded):
    save it with `fitclip.files.save_state` and load it with `load_clip(arch, path)`.

    Raises:
        ValueError: a checkpoint that cannot be read as a model (named), checkpoints of two architectures, or
            what :func:`average_states` refuses.
    """
    from fitclip.files import load_state
    from fitclip.models import clip_state_dict

    metas: list[dict] = []

    def states():  # read one at a time: the average holds a running sum, never every checkpoint at once
        for path in paths:
            try:
                state, meta = clip_state_dict(load_state(path))
            except (ValueError, FileNotFoundError) as e:
                raise ValueError(f"{path}: {e}") from None
            archs = {m.get("arch") for m in metas + [meta] if m.get("arch")}
            if len(archs) > 1:
                raise ValueError(f"{path} is {meta.get('arch')!r} but an earlier checkpoint is "
                                 f"{sorted(archs - {meta.get('arch')})[0]!r}; average checkpoints of one architecture")
            metas.append(meta)
            yield state

    out: dict[str, Any] = {"format": "fitclip-clip", "state_dict": average_states(states()),
                           "averaged": [str(p) for p in paths]}
    for key in ("arch", "quick_gelu"):
        value = next((m[key] for m in metas if key in m), None)
        if value is not None:
            out[key] = value
    return out


def average_states(states: Iterable[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """θ = (1/n)·Σ θ_i over checkpoints of one model (uniform weight averaging), key by key.

    Floating-point tensors are summed in float32 (float64 for float64 weights), one state at a time: only the
    running sum, the first state's integer buffers and the state being read are alive. Then each sum is
    divided and cast back to the first state's dtype; other tensors (integer buffers) are the first state's.
    One state gives itself back exactly.

    Raises:
        ValueError: no states, key sets or shapes that differ from the first state's (naming the first
            offending key and the state's position), or an average that holds NaN or infinity.
    """
    total: dict[str, torch.Tensor] = {}
    layout: dict[str, torch.Tensor] = {}  # the first state's shapes and dtypes, on the meta device (no memory)
    n = 0
    for i, state in enumerate(states):
        if not layout:
            layout = {key: t.to("meta") for key, t in state.items()}
            for key, t in state.items():
                total[key] = t.to(torch.promote_types(t.dtype, torch.float32)).clone() if t.is_floating_point() else t
        else:
            _check_same_model(layout, state, ("checkpoint 1", f"checkpoint {i + 1}"),
                              "average checkpoints of one model (the same architecture and run)")
            for key, t in state.items():
                if t.is_floating_point():
                    total[key].add_(t.to(device=total[key].device, dtype=total[key].dtype))
        n += 1
    if not n:
        raise ValueError("no checkpoints to average; pass at least one")
    out = {key: (t / n).to(layout[key].dtype) if layout[key].is_floating_point() else t for key, t in total.items()}
    broken = non_finite_tensors(out)
    if broken:
        raise ValueError(f"the average holds NaN or infinity in {len(broken)} tensor(s) (first: {broken[0]!r}); "
                         f"a checkpoint with such weights scores nothing — leave it out")
    return out


def grid_model(student: str, alpha: float) -> str:
    """The model name of `student` fused with the teacher at `alpha`: ``"<student>-alpha<α:g>"`` (e.g.
    ``fitclip-alpha0.4``). The results rows also carry ``student`` and ``alpha`` as columns: read those,
    never parse this name."""
    return f"{student}-alpha{float(alpha):g}"


def check_alphas(alphas: Iterable[float]) -> list[float]:
    """The α values as floats, each in [0, 1] (0 = the teacher, 1 = the student), none repeated, at least one: the
    one α check of the package (fusion, grids, the command line, search, notebook 08). ValueError otherwise."""
    alphas = [float(a) for a in alphas]
    bad = [a for a in alphas if not 0.0 <= a <= 1.0 or math.isnan(a)]
    if bad:
        raise ValueError(f"alpha must be in [0, 1] (0 = teacher, 1 = student), got {bad[0] if len(bad) == 1 else bad}")
    if len(set(alphas)) != len(alphas):
        raise ValueError(f"alpha values repeated: {alphas}; give each once")
    if not alphas:
        raise ValueError("alpha: none given; pass at least one value in [0, 1]")
    return alphas


def _student_state(teacher: VideoCLIP, student: Any) -> dict[str, torch.Tensor]:
    """The student's open_clip state dict on the teacher's device, checked against the teacher's keys and shapes."""
    if isinstance(student, (str, os.PathLike)):
        student = load_clip(teacher.arch, student, device="cpu")
    state = student.clip.state_dict() if isinstance(student, VideoCLIP) else dict(student)
    teacher_state = teacher.clip.state_dict()
    _check_same_model(teacher_state, state)
    broken = non_finite_tensors(state)
    if broken:  # (a checkpoint file was already refused by load_clip, with its name)
        raise ValueError(f"the student's weights hold NaN or infinity in {len(broken)} tensor(s) (first: "
                         f"{broken[0]!r}); every fused model would score nothing — use a checkpoint whose weights "
                         f"are finite")
    return {key: state[key].detach().to(t.device) for key, t in teacher_state.items()}


class FusionGrid(Mapping[str, EvalModel]):
    """Every student's α grid in bounded memory: the teacher, each student's weights and ONE working copy
    that :meth:`select` fuses in place, so k models cost two model copies plus one per student, not k + 1.
    The one way the package builds fused models for evaluation (``evaluate``, ``search``, the study's grid).

    A read-only mapping ``{grid_model(student, α): EvalModel}`` in grid order (students, then α), which
    :func:`fitclip.evaluate.evaluate` takes like any dict of models: it decodes each video once and, per
    decoded batch, calls :meth:`select` for each model before encoding (fusing costs one pass over the
    weights, small next to encoding a batch: ``benchmarks/bench_grid.py``). The weights :meth:`select`
    gives are :func:`fuse`'s, bit for bit, so the metrics equal those of evaluating each fused model alone.
    With `teacher_name`, the teacher comes first, once, under that name (``alpha=0``, ``student=None``), and
    no student has an α=0 entry of its own (what ``fitclip.search`` shows).

    An entry's ``model`` is the teacher (α=0) or the working copy, whose weights are those of the LAST
    model selected: ask :meth:`select` for a model's weights, never ``grid[name].model``. ``alphas`` is
    ``{student: its α values}``.

    Args:
        teacher: the pretrained model (α=0 is this very object; it is never modified).
        students: ``{name: student}``, each a ``VideoCLIP``, an open_clip state dict with the teacher's keys,
            or a checkpoint file (read with ``load_clip(teacher.arch, path)``).
        alphas: α values in [0, 1] shared by every student, or ``{student: its α values}`` naming every student.
        weights: provenance for the protocol record (default: ``{"student": <path>}`` for a path); the
            teacher entry's is the same without ``"student"``.
        teacher_name: the name of a single teacher entry (e.g. ``"teacher"``); None (default): α=0 is
            ``grid_model(student, 0)`` in each student's grid, as any other α.

    Raises:
        ValueError: an α outside [0, 1], a repeated α, no students, `alphas` per student that do not name
            exactly the students, `teacher_name` equal to a grid model's name, student weights that hold NaN
            or inf, or student weights that do not match the teacher.
    """

    def __init__(self, teacher: VideoCLIP, students: Mapping[str, Any],
                 alphas: Iterable[float] | Mapping[str, Iterable[float]],
                 weights: Mapping[str, str] | None = None, teacher_name: str | None = None) -> None:
        shared = None if isinstance(alphas, Mapping) else check_alphas(alphas)
        if not students:
            raise ValueError("students is empty; pass {name: checkpoint}")
        if shared is None:
            missing = [s for s in students if s not in alphas]
            extra = [s for s in alphas if s not in students]
            if missing or extra:
                what = f"no alphas for {missing[0]!r}" if missing else f"alphas for {extra[0]!r}, which is no student"
                raise ValueError(f"alphas per student: {what}; give {{student: alphas}} for each of {list(students)}, "
                                 f"or one list of alphas for all")
            self.alphas = {s: check_alphas(alphas[s]) for s in students}
        else:
            self.alphas = {s: shared for s in students}
        self.teacher = teacher
        self._teacher_state = {k: v.detach() for k, v in teacher.clip.state_dict().items()}
        self._students: dict[str, dict[str, torch.Tensor]] = {}
        self._entries: dict[str, EvalModel] = {}
        self._working: VideoCLIP | None = None
        self._active: tuple[str, float] | None = None
        if teacher_name is not None:
            self._entries[teacher_name] = EvalModel(
                teacher, alpha=0.0, weights={k: v for k, v in (weights or {}).items() if k != "student"})
        for name, student in students.items():
            provenance = dict(weights or {})
            if isinstance(student, (str, os.PathLike)):
                provenance.setdefault("student", str(student))
            self._students[name] = _student_state(teacher, student)
            for alpha in self.alphas[name]:
                if alpha == 0.0 and teacher_name is not None:
                    continue  # the teacher entry, once
                model_name = grid_model(name, alpha)
                if model_name in self._entries:
                    raise ValueError(f"teacher_name {model_name!r} is also a grid model's name; pick another")
                model = teacher if alpha == 0.0 else self._working_copy()
                self._entries[model_name] = EvalModel(model, alpha=alpha, weights=provenance, student=name)

    def _working_copy(self) -> VideoCLIP:
        if self._working is None:
            self._working = clone_model(self.teacher)
            self._working.eval()
        return self._working

    def __getitem__(self, name: str) -> EvalModel:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def identity(self, name: str) -> Any:
        """What tells two names' weights apart: ``"teacher"`` for every α=0, else ``(student, α)``."""
        entry = self._entries[name]
        return "teacher" if entry.alpha == 0.0 else (entry.student, entry.alpha)

    @torch.no_grad()
    def select(self, name: str) -> VideoCLIP:
        """The model `name` with its weights: the teacher for α=0, else the working copy fused in place
        (nothing is done when it already holds them)."""
        entry = self._entries[name]
        if entry.alpha == 0.0:
            return self.teacher
        key = (entry.student, entry.alpha)
        if self._active != key:
            self._active = None  # a failure half-way leaves no stale claim
            student = self._students[entry.student]
            target = self._working.clip.state_dict(keep_vars=True)  # the live parameters and buffers
            for k, t in self._teacher_state.items():
                _lerp_into(target[k].data, t, student[k], entry.alpha)
            self._active = key
        return self._working

    def to(self, device: Any) -> "FusionGrid":
        """Move the teacher, the working copy and the students' weights to `device` (returns self)."""
        self.teacher.to(device)
        if self._working is not None:
            self._working.to(device)
        self._teacher_state = {k: v.detach() for k, v in self.teacher.clip.state_dict().items()}
        self._students = {n: {k: v.to(device) for k, v in s.items()} for n, s in self._students.items()}
        self._active = None
        return self

