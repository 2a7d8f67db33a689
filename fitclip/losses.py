"""FitCLIP's training objective (Castro & Caba Heilbron, BMVC 2022, Sec. 3, Eq. 1–5).

Embeddings come in L2-normalised per frame (videos are frame means, see `VideoCLIP.encode_video`).
The temperature τ is fixed, not CLIP's learned `logit_scale`. Under `torch.distributed` with more than
one rank, embeddings are all-gathered (with gradients for the student side) before the similarity, so
the negatives span all ranks and every rank computes the loss of the global batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fitclip.distributed import all_gather_no_grad, all_gather_with_grad

DISTILLATION_SCALES = ("inverse_temperature_squared", "none")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def similarity(video_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float) -> torch.Tensor:
    """S = V·Tᵀ/τ: video `[n, D]`, text `[m, D]` → logits `[n, m]` (Eq. 1)."""
    _check_temperature(temperature)
    return video_emb @ text_emb.t() / temperature


def labeled_loss(video_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE on paired video–text batches (Eq. 1–2).

    With S = V·Tᵀ/τ and the i-th video paired to the i-th text, returns the mean cross-entropy over
    rows (video→text, target i) PLUS the mean cross-entropy over columns (text→video) — the sum of both
    directions, as in the original code (not their average).

    Args:
        video_emb: `[n, D]` video embeddings (this rank's part).
        text_emb: `[n, D]` text embeddings, row i describes video i.
        temperature: τ > 0.

    Returns:
        Scalar loss.
    """
    if video_emb.shape != text_emb.shape:
        raise ValueError(f"labeled_loss needs paired batches of equal shape, got video {tuple(video_emb.shape)} "
                         f"and text {tuple(text_emb.shape)}")
    video_emb, text_emb = all_gather_with_grad(video_emb), all_gather_with_grad(text_emb)
    logits = similarity(video_emb, text_emb, temperature)
    target = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)


def _kl_rows(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(softmax(teacher row) ‖ softmax(student row))."""
    return F.kl_div(F.log_softmax(student_logits, dim=1), F.log_softmax(teacher_logits, dim=1),
                    reduction="batchmean", log_target=True)


def gather_pairs(student_video: torch.Tensor, student_text: torch.Tensor, teacher_video: torch.Tensor,
                 teacher_text: torch.Tensor, shared_text: bool = False) -> tuple[torch.Tensor, ...]:
    """The global batch of a distillation term on every rank: the student's embeddings all-gathered with
    gradients, the teacher's without (detached); with `shared_text` the texts (the same prompts on every rank)
    are left as they are. Returns (student_video, student_text, teacher_video, teacher_text)."""
    student_video = all_gather_with_grad(student_video)
    teacher_video = all_gather_no_grad(teacher_video.detach())
    if not shared_text:
        student_text = all_gather_with_grad(student_text)
        teacher_text = all_gather_no_grad(teacher_text.detach())
    return student_video, student_text, teacher_video, teacher_text.detach()


def distillation_loss(student_video: torch.Tensor, student_text: torch.Tensor,
                      teacher_video: torch.Tensor, teacher_text: torch.Tensor, temperature: float,
                      scale: str = "inverse_temperature_squared", *, shared_text: bool = False) -> torch.Tensor:
    """Teacher-to-student distillation on unlabeled videos (Eq. 3–4).

    S_s = V_s·T_sᵀ/τ and S_t = V_t·T_tᵀ/τ (teacher side detached). K_row is the mean over rows of
    KL(softmax(S_t row) ‖ softmax(S_s row)), K_col the same over columns. Returns c·(K_row + K_col) with
    c = 1/τ² for `scale="inverse_temperature_squared"` (the original code) and c = 1 for `"none"`.

    Args:
        student_video: `[n, D]` student video embeddings.
        student_text: `[m, D]` student text embeddings (the videos' own captions, n == m, or a fixed
            prompt list of any length m).
        teacher_video: `[n, D]` teacher video embeddings of the same videos.
        teacher_text: `[m, D]` teacher embeddings of the same texts.
        temperature: τ > 0.
        scale: "inverse_temperature_squared" or "none".
        shared_text: True when the text side is the same prompt list on every rank (then it is not
            gathered); False (default) when each rank holds its own captions (gathered like videos).

    Returns:
        Scalar loss.
    """
    if scale not in DISTILLATION_SCALES:
        raise ValueError(f"scale must be one of {DISTILLATION_SCALES}, got {scale!r}")
    if student_video.shape[0] != teacher_video.shape[0] or student_text.shape[0] != teacher_text.shape[0]:
        raise ValueError(f"student and teacher must embed the same items: videos {student_video.shape[0]} vs "
                         f"{teacher_video.shape[0]}, texts {student_text.shape[0]} vs {teacher_text.shape[0]}")
    student_video, student_text, teacher_video, teacher_text = gather_pairs(
        student_video, student_text, teacher_video, teacher_text, shared_text)
    s_student = similarity(student_video, student_text, temperature)
    s_teacher = similarity(teacher_video, teacher_text.detach(), temperature).detach()
    k_row = _kl_rows(s_teacher, s_student)
    k_col = _kl_rows(s_teacher.t(), s_student.t())
    c = 1.0 / temperature ** 2 if scale == "inverse_temperature_squared" else 1.0
    return c * (k_row + k_col)


def fitclip_loss(labeled: torch.Tensor, distill: torch.Tensor, lam: float) -> dict[str, torch.Tensor]:
    """Total FitCLIP loss (Eq. 5): λ·distill + (1−λ)·labeled.

    Args:
        labeled: scalar labeled loss (Eq. 2).
        distill: scalar distillation loss (Eq. 4).
        lam: λ in [0, 1], the weight of distillation.

    Returns:
        `{"total", "labeled", "distill"}`.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam (λ) must be in [0, 1], got {lam}")
    return {"total": lam * distill + (1.0 - lam) * labeled, "labeled": labeled, "distill": distill}


def weight_penalty_loss(params: "list[torch.Tensor]", start: "list[torch.Tensor]") -> torch.Tensor:
    """The anchor to the start weights: Σ (θ − θ₀)² / 2 over the trainable weights (L2-SP, Li et al. 2018; EWC
    with an identity Fisher, as Open-VCLIP's ``TRAIN.EWC_SET``). The trainer adds it times ``weight_penalty``
    to Eq. 5's total; its gradient is θ − θ₀.

    Args:
        params: the student's trainable tensors.
        start: their start values θ₀ (detached; same order and shapes).
    """
    if len(params) != len(start):
        raise ValueError(f"{len(params)} weights but {len(start)} start values")
    total = params[0].new_zeros((), dtype=torch.float32) if params else torch.zeros(())
    for p, p0 in zip(params, start):
        total = total + ((p.float() - p0.float()) ** 2).sum()
    return total / 2
