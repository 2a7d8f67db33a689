"""The field's anti-forgetting objectives beside FitCLIP's distillation (issue 19), one small piece each.

FitCLIP's own terms (Eq. 1–5) and the L2-SP anchor live in :mod:`fitclip.losses`; the trainer
(:mod:`fitclip.train`) switches these on from its config:

* ``distill = "feature_cosine"`` — FROSTER (Huang et al., ICLR 2024): :class:`FeatureProjectors` and
  :func:`feature_cosine_loss`, in place of Eq. 3–4 on the same unlabeled batch and teacher embeddings.
* ``interpolation_max`` — Open-VCLIP's interpolated weight optimisation (Weng et al., ICML 2023):
  :func:`interpolation_ratio` draws r, :func:`swapped` / :func:`interpolate` put θ_r = r·θ₀ + (1 − r)·θ in
  place for a second forward/backward whose gradient (times :data:`INTERPOLATION_WEIGHT`) is added to θ's.
* ``ema_decay`` — :class:`WeightEMA`, an exponential moving average of the trainable weights, the weights
  that are validated and evaluated.

Each piece is a plain function or a small class on tensors, so the tests check it against a hand computation.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F

from fitclip.losses import gather_pairs

#: FROSTER's residual scale: f̃ = f + 0.1·P(f).
PROJECTOR_SCALE = 0.1
#: Open-VCLIP's weight of the gradient taken at the interpolated weights θ_r (added to the gradient at θ).
INTERPOLATION_WEIGHT = 0.5


class FeatureProjectors(torch.nn.Module):
    """FROSTER's residual projectors of the student's video and text embeddings: f̃ = f + 0.1·P_v(f),
    g̃ = g + 0.1·P_t(g), each P a two-layer MLP without biases (Linear → GELU → Linear), the first layer
    Kaiming-normal (from `seed`, so every rank and every restart builds the same ones), the last
    zero-initialised, so that f̃ = f at the start.

    They exist only for the distillation loss: the student's checkpoint holds the CLIP weights alone and
    evaluation uses the raw embeddings, as FROSTER's model computes its test logits from the unprojected
    features (``TemporalClipVideo.forward`` in eval mode). The trainer keeps them, and their AdamW state,
    in its checkpoints (``projectors``) so that a resumed run continues them.
    """

    def __init__(self, dim: int, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.video = self._mlp(dim, gen)
        self.text = self._mlp(dim, gen)

    @staticmethod
    def _mlp(dim: int, gen: torch.Generator) -> torch.nn.Sequential:
        mlp = torch.nn.Sequential(torch.nn.Linear(dim, dim, bias=False), torch.nn.GELU(),
                                  torch.nn.Linear(dim, dim, bias=False))
        torch.nn.init.kaiming_normal_(mlp[0].weight, generator=gen)
        torch.nn.init.zeros_(mlp[2].weight)
        return mlp

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return video + PROJECTOR_SCALE * self.video(video), text + PROJECTOR_SCALE * self.text(text)


def feature_cosine_loss(student_video: torch.Tensor, student_text: torch.Tensor, teacher_video: torch.Tensor,
                        teacher_text: torch.Tensor, projectors: FeatureProjectors, *,
                        shared_text: bool = False) -> torch.Tensor:
    """FROSTER's residual feature distillation: mean (1 − cos(f̃, f_θ₀)) + mean (1 − cos(g̃, g_θ₀)), with
    f̃, g̃ the projected student embeddings (:class:`FeatureProjectors`) and f_θ₀, g_θ₀ the frozen teacher's
    embeddings of the same videos and texts (detached).

    Under `torch.distributed` the student side is all-gathered with gradients (and the teacher's without)
    before the projectors, so every rank computes the loss of the global batch, as
    :func:`fitclip.losses.distillation_loss` does; the projectors (outside DDP) then get the same gradient
    on every rank.

    Args:
        student_video, teacher_video: `[n, D]`.
        student_text, teacher_text: `[m, D]` (captions, or with `shared_text` the same prompts on every rank).
    """
    if student_video.shape != teacher_video.shape or student_text.shape != teacher_text.shape:
        raise ValueError(f"student and teacher must embed the same items: videos {tuple(student_video.shape)} vs "
                         f"{tuple(teacher_video.shape)}, texts {tuple(student_text.shape)} vs "
                         f"{tuple(teacher_text.shape)}")
    student_video, student_text, teacher_video, teacher_text = gather_pairs(
        student_video, student_text, teacher_video, teacher_text, shared_text)
    video, text = projectors(student_video, student_text)
    return ((1 - F.cosine_similarity(video, teacher_video.detach(), dim=-1)).mean()
            + (1 - F.cosine_similarity(text, teacher_text.detach(), dim=-1)).mean())


def interpolation_ratio(seed: int, step: int, interpolation_max: float) -> float:
    """Open-VCLIP's r ~ U(0, interpolation_max) for one step, drawn from its own generator seeded by
    (seed, step): every rank draws the same r, and a resumed run draws the same r as an uninterrupted one
    without any state to save."""
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))
    return float(torch.rand((), generator=gen, dtype=torch.float64)) * interpolation_max


@contextlib.contextmanager
def swapped(params: Sequence[torch.Tensor], values: Sequence[torch.Tensor]) -> Iterator[None]:
    """Put `values` into `params` (in place, no autograd) for the duration of the block, then restore them.
    Gradients accumulated inside the block stay in ``p.grad``."""
    if len(params) != len(values):
        raise ValueError(f"{len(params)} weights but {len(values)} values")
    with torch.no_grad():
        saved = [p.detach().clone() for p in params]
        for p, v in zip(params, values):
            p.copy_(v)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)


def interpolate(params: Sequence[torch.Tensor], start: Sequence[torch.Tensor], r: float) -> list[torch.Tensor]:
    """θ_r = r·θ₀ + (1 − r)·θ (Open-VCLIP's interpolated weights; r = 0 is θ, r = 1 the start weights)."""
    return [(r * p0.to(p.dtype) + (1 - r) * p).detach() for p, p0 in zip(params, start)]


class WeightEMA:
    """An exponential moving average of the trainable weights: after each optimizer step,
    θ_ema ← d·θ_ema + (1 − d)·θ (d = `decay`), starting from the start weights. The trainer validates and
    saves θ_ema as the student (what is evaluated, fused and averaged) and keeps θ, the weights it trains,
    beside it in the checkpoint for resuming."""

    def __init__(self, params: Sequence[torch.Tensor], decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay={decay!r} must be in (0, 1)")
        self.decay = decay
        self.shadow = [p.detach().clone().float() for p in params]

    @torch.no_grad()
    def update(self, params: Sequence[torch.Tensor]) -> None:
        for s, p in zip(self.shadow, params):
            s.mul_(self.decay).add_(p.detach().float(), alpha=1.0 - self.decay)

    def values(self, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The averages in each weight's dtype, for :func:`swapped`."""
        return [s.to(p.dtype) for s, p in zip(self.shadow, params)]

    def state_dict(self) -> dict[str, object]:
        return {"decay": self.decay, "shadow": [s.cpu() for s in self.shadow]}

    def load_state_dict(self, state: dict[str, object]) -> None:
        shadow = state["shadow"]
        if len(shadow) != len(self.shadow) or any(a.shape != b.shape for a, b in zip(shadow, self.shadow)):
            raise ValueError("the checkpoint's EMA does not match this model's trainable weights")
        self.shadow = [s.to(t.device).float() for s, t in zip(shadow, self.shadow)]


class TrainingSwitches:
    """What the trainer keeps for the switches of a run that are on: θ₀ (for ``weight_penalty`` and
    ``interpolation_max``), the FROSTER projectors (``distill = "feature_cosine"``) and the EMA
    (``ema_decay``); their checkpoint entries; and which weights are the student (the EMA when it is on).

    Args:
        cfg: the run's `fitclip.config.TrainConfig`.
        student: the `VideoCLIP` being trained (on its device).
        params: its trainable weights, in the optimizer's order.
        dim: the embedding dimension (for the projectors).
    """

    def __init__(self, cfg: object, student: torch.nn.Module, params: Sequence[torch.Tensor], dim: int) -> None:
        self.cfg, self.params = cfg, list(params)
        wants_start = cfg.weight_penalty > 0 or cfg.interpolation_max > 0
        self.start = [p.detach().clone() for p in self.params] if wants_start else None
        self.projectors = None
        if cfg.distill == "feature_cosine":
            self.projectors = FeatureProjectors(dim, seed=cfg.seed).to(self.params[0].device)
        self.ema = WeightEMA(self.params, cfg.ema_decay) if cfg.ema_decay > 0 else None
        names = {id(p): name for name, p in student.clip.named_parameters()}
        self.names = [names[id(p)] for p in self.params]

    def param_groups(self) -> list[dict[str, object]]:
        """Extra AdamW groups (the projectors, at the run's lr)."""
        return [] if self.projectors is None else [{"params": list(self.projectors.parameters())}]

    def after_step(self) -> None:
        if self.ema is not None:
            self.ema.update(self.params)

    def evaluated(self) -> contextlib.AbstractContextManager:
        """A block in which the student holds the weights that are validated and saved (the EMA when on)."""
        return contextlib.nullcontext() if self.ema is None else swapped(self.params, self.ema.values(self.params))

    def checkpoint_entries(self, clip_state: dict[str, torch.Tensor]) -> dict[str, object]:
        """`{"student": the evaluated weights, ...}`: with the EMA on, ``student`` holds θ_ema (what
        evaluation, fusion and averaging read) and ``train_weights`` θ; plus ``projectors`` and ``ema``."""
        out: dict[str, object] = {"student": clip_state}
        if self.ema is not None:
            evaluated = dict(clip_state)
            for name, value, p in zip(self.names, self.ema.shadow, self.params):
                evaluated[name] = value.to(p.dtype).cpu()
            out.update(student=evaluated, train_weights=clip_state, ema=self.ema.state_dict())
        if self.projectors is not None:
            out["projectors"] = {k: v.detach().cpu() for k, v in self.projectors.state_dict().items()}
        return out

    def restore(self, ckpt: dict[str, object]) -> dict[str, torch.Tensor]:
        """Load the projectors and the EMA from a checkpoint; returns the weights to train on (θ)."""
        if self.projectors is not None:
            self.projectors.load_state_dict(ckpt["projectors"])
        if self.ema is not None:
            self.ema.load_state_dict(ckpt["ema"])
            return ckpt["train_weights"]
        return ckpt["student"]
