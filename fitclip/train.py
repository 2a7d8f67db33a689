"""FitCLIP step (1): teacher–student fine-tuning of a CLIP model on videos, 1 CPU to N GPUs on M nodes.

Each step the student (the whole CLIP model, trainable) sees 8 labeled clips (the seeded WebVid subset,
cycled and reshuffled each pass) and 8 unlabeled clips (one epoch = one pass over the unlabeled pool);
the loss is λ·distill + (1−λ)·labeled (`fitclip.losses`), with the frozen teacher's similarities as the
distillation target. Teacher and student start from the same weights (`arch`, `pretrained`).

Launch (the same module everywhere; see `fitclip/config.py` for every key and the two presets)::

    # one process (CPU or one GPU), no process group
    python -m fitclip.train --config run.json [--key value ...]
    # N GPUs on one machine (nccl; gloo on CPU-only machines)
    torchrun --nproc_per_node=N -m fitclip.train --config run.json
    # two nodes with 8 GPUs each: run on both machines, node_rank 0 on HOST
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 --rdzv_backend=c10d \
        --rdzv_endpoint=HOST:29500 --rdzv_id=fitclip1 -m fitclip.train --config run.json
    torchrun --nnodes=2 --node_rank=1 --nproc_per_node=8 --rdzv_backend=c10d \
        --rdzv_endpoint=HOST:29500 --rdzv_id=fitclip1 -m fitclip.train --config run.json
    # continue a run exactly where its last checkpoint left it (out_dir/last.pt, or a given file)
    python -m fitclip.train --config run.json --resume [PATH]

Batch sizes are per process (global batch = 8+8 × world size); losses all-gather across ranks, so every
rank computes the loss of the global batch and DDP's gradient average equals one process on it.
BatchNorm layers (the toy convnet's; ViTs have none) keep the start weights' running statistics
(`fitclip.models.freeze_batchnorm`): their affine parameters train, their statistics never update, so
every rank and a single process compute the same thing.

Teacher (`teacher_mode`):

* ``cached`` (default): the teacher's video and text embeddings are computed ONCE with
  ``python -m fitclip.pseudo_labels --config run.json`` (eval frames + eval transform, fp16 shards keyed
  by video id, resumable, sharded across ranks under torchrun) and read each step; no teacher forward.
* ``online``: the frozen teacher runs on the unlabeled half each step on its OWN independently sampled
  frames and crops (train sampler + transform on another seed stream), as in the original code.

The λ=0 baseline (plain fine-tuning on the labeled subset, the WiSE-FT / ViFi-CLIP-style baseline): pass
``--lam 0``. Then no teacher is built, no pseudo labels are read and no unlabeled clip is loaded; only
the labeled loss is trained (metrics log ``distill: null``). Fuse it with the teacher afterwards with
``python -m fitclip fuse`` like any FitCLIP student.

Outputs in ``out_dir`` (rank 0): ``config.json`` (the resolved config, itself a valid ``--config``),
``run_info.json`` (versions, world size, device, command), ``metrics.jsonl`` (one line per step: step,
epoch, the loss terms total / labeled / distill, lr, clips_per_s, time; plus val_labeled at validation
steps), ``last.pt`` (every ``save_every`` steps and at the end) and ``best_labeled.pt`` (lowest labeled
val loss). A checkpoint is a dict of state dicts and plain values, written atomically and read with
``weights_only=True``: ``student`` (open_clip keys; ``fitclip.models.load_clip(arch, "best_labeled.pt")``
loads it), ``optimizer``, ``step``, ``rng`` (python / numpy / torch / CUDA states of every rank, as
tensors), ``data`` (epoch and batch position of the labeled and unlabeled streams), ``best`` (best val
loss and its step), ``config``, ``world_size``, ``format``, ``videos`` (what the labeled, pool and val videos are:
:func:`fitclip.run_data.data_identity`, also in ``videos.json``; a resume on changed videos is refused, as is one
from other start weights). ``--resume`` restores all of it: on CPU a run
killed mid-way and resumed ends with the same weights as an uninterrupted one (tests/test_train.py).
Only operational keys (max_steps, val_every, save_every, num_workers, ...) may change on resume.
A step's ``metrics.jsonl`` line is on disk before its checkpoint, and resume keeps the lines up to the
checkpoint's step (a torn final line is dropped), so after any kill and resume the log holds every step
exactly once. An ``out_dir`` without a checkpoint (a run that died before its first one) is a fresh start,
with or without ``--resume``. A ``--resume`` whose checkpoint is at ``max_steps`` (a finished run: notebook
03's re-runs) reports the run's end and writes nothing; one past ``max_steps`` is an error (exit 2), as a run
cannot go back, and nothing is written either.

One run per folder: rank 0 holds an exclusive ``fcntl.flock`` on ``out_dir/.lock`` for the whole run (the
OS releases it when the process dies, so there are no stale locks); a second writer, plain or ``--resume``,
is refused with a message naming the holder's PID (from ``out_dir/.lock.json``). A start that fails removes
what its lock created (``.lock``, and ``out_dir`` itself if it made it and nothing else was written there).

Failures: a non-finite loss stops the run with a message naming the step (exit code 3) before any weight
changes, so ``last.pt`` stays the last good checkpoint (a checkpoint is also never written from
non-finite weights); the message names the newest checkpoint, if any, and what to do. A bad config or
data set is exit code 2; a folder in use or not writable, a damaged checkpoint or log, a full disk, or a
training video that does not decode (named, with the doctor command that checks them all) is a one-line
error, exit code 1. A full disk (a checkpoint, the step's metrics line, config.json or run_info.json that
does not fit) names the file, the device and its free space, and the last checkpoint, which is kept whole
(every write is atomic; a torn last metrics line is dropped on resume): ``--resume`` continues from it once
space is freed. A dead or hung rank makes the others' next collective fail after ``collective_timeout_s``
and the job exits non-zero (torchrun then stops the remaining workers).

Layout: this module is the step (`compute_losses`, `optimizer_groups`), validation, the run (`_train` reads as
its steps: checkpoint and log, data, models, streams, teacher targets (`TeacherTargets`), state, then the loop,
whose validation, metrics line and checkpoints are `_RunState`'s) and the command line. Issue 19's other
objectives (FROSTER's feature distillation, Open-VCLIP's interpolated steps, the EMA) are `fitclip.objectives`
(`TrainingSwitches` holds their state), called from the loop in a few lines. What a checkpoint holds and
everything `--resume` does with it (its checks, the restore, the trimmed log, a finished run) is
`fitclip.resume`; the data streams and RNG states `fitclip.streams`; the data sets and what their videos are
`fitclip.run_data`; the start weights and their fingerprint `fitclip.start_weights`; the process setup, the run
folder's lock and the one-line failures of the run's writes (a full disk) `fitclip.runtime`.

A step hook (:data:`step_hook`, None in use) is called at two points of every step, ``"loss"`` (the step's losses
computed, before the finite check and backward) and ``"update"`` (after backward, before the optimizer step):
the tests inject their faults through it (a NaN loss, a process that exits or hangs mid-step:
``tests/faulty_train.py``); nothing in the package sets it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch.utils.data import DataLoader

from fitclip.annotations import AnnotationError
from fitclip.files import save_state, write_json
from fitclip.provenance import run_environment
from fitclip.config import ConfigError, TrainConfig, parse_cli, validate
from fitclip.datasets import VideoDataset, collate_clips
from fitclip.encoding import GuardedCollate, GuardedDataset, autocast
from fitclip.losses import distillation_loss, fitclip_loss, labeled_loss, weight_penalty_loss
from fitclip.objectives import (INTERPOLATION_WEIGHT, TrainingSwitches, feature_cosine_loss, interpolate,
                                interpolation_ratio, swapped)
from fitclip.models import VideoCLIP, WeightsUnavailable, clone_model, freeze_batchnorm
from fitclip.resume import (check_resume_videos, checkpoint_state, default_resume, finished_run, prepare_log,
                            read_resume_checkpoint, restore_checkpoint)
from fitclip.run_data import (VIDEOS_RECORD, data_identity, doctor_command, load_labeled, load_unlabeled, load_val,
                              read_prompts)
from fitclip.runtime import (Dist, RunError, RunFolderLock, resume_flag, setup_distributed, teardown_distributed,
                             writing)
from fitclip.start_weights import load_start_weights, teacher_fingerprint
from fitclip.streams import (Stream, UnlabeledViews, all_rng_states, check_batch, collate_views, derive_seed,
                             seed_everything)
from fitclip.transforms import transforms_for


class NonFiniteLoss(RuntimeError):
    """The loss of a step was NaN/inf; the run stops without touching the weights or last.pt."""


# ----------------------------------------------------------------------------------------------------
# The step
# ----------------------------------------------------------------------------------------------------


def _pad_cat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Concatenate two clip batches [B, T, ...] along B, zero-padding the shorter T."""
    t = max(a.shape[1], b.shape[1])
    pad = lambda x: x if x.shape[1] == t else torch.cat([x, x.new_zeros((x.shape[0], t - x.shape[1], *x.shape[2:]))], 1)  # noqa: E731
    return torch.cat([pad(a), pad(b)], 0)


def compute_losses(model: torch.nn.Module, cfg: TrainConfig, labeled: dict[str, torch.Tensor],
                   unlabeled: dict[str, torch.Tensor] | None, teacher_video: torch.Tensor | None,
                   teacher_text: torch.Tensor | None, shared_text: bool = False,
                   projectors: torch.nn.Module | None = None) -> dict[str, torch.Tensor]:
    """One forward of the student (DDP-wrapped or not) on the labeled + unlabeled halves → the losses.

    Args:
        labeled / unlabeled: {"frames" [B,T,3,H,W], "lengths" [B], "tokens" [B or m, L]} on the device;
            `unlabeled=None` for λ=0 (no unlabeled work). With `shared_text`, unlabeled["tokens"] are the
            m prompts.
        teacher_video, teacher_text: the teacher's embeddings of the unlabeled videos / texts.
        projectors: FROSTER's (`fitclip.objectives.FeatureProjectors`) when ``distill = "feature_cosine"``.
    """
    device = labeled["frames"].device
    if unlabeled is None:
        frames, lengths, tokens = labeled["frames"], labeled["lengths"], labeled["tokens"]
    else:
        frames = _pad_cat(labeled["frames"], unlabeled["frames"])
        lengths = torch.cat([labeled["lengths"], unlabeled["lengths"]])
        tokens = torch.cat([labeled["tokens"], unlabeled["tokens"]])
    with autocast(cfg.precision, device):
        video, text = model(frames, tokens, lengths)  # one DDP forward for the whole step
    video, text = video.float(), text.float()
    n = labeled["frames"].shape[0]
    lab = labeled_loss(video[:n], text[:n], cfg.temperature)
    if unlabeled is None:
        distill = torch.zeros((), device=device)
    elif cfg.distill == "feature_cosine":
        distill = feature_cosine_loss(video[n:], text[n:], teacher_video, teacher_text, projectors,
                                      shared_text=shared_text)
    else:
        distill = distillation_loss(video[n:], text[n:], teacher_video, teacher_text, cfg.temperature,
                                    scale=cfg.distill_scale, shared_text=shared_text)
    return fitclip_loss(lab, distill, cfg.lam)


def optimizer_groups(student: VideoCLIP, cfg: TrainConfig) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """The trainable weights and AdamW's parameter groups. ``text_lr_scale`` = 1: one group at `lr` (as before
    the key existed, so older checkpoints resume); in (0, 1): the text tower (every CLIP weight outside
    ``visual``) in a second group at ``lr × text_lr_scale``; 0: the text tower is frozen (no gradients)."""
    text = [p for name, p in student.clip.named_parameters() if not name.startswith("visual.") and p.requires_grad]
    if cfg.text_lr_scale == 0.0:
        for p in text:
            p.requires_grad_(False)
    params = [p for p in student.parameters() if p.requires_grad]
    if cfg.text_lr_scale in (0.0, 1.0):
        return params, [{"params": params}]
    in_text = {id(p) for p in text}
    return params, [{"params": [p for p in params if id(p) not in in_text]},
                    {"params": [p for p in params if id(p) in in_text], "lr": cfg.lr * cfg.text_lr_scale}]


#: ``step_hook(point, step, losses)``, called at ``"loss"`` and ``"update"`` of every step (module docstring);
#: None in use. A hook may change ``losses`` in place.
step_hook: Callable[[str, int, dict[str, torch.Tensor]], None] | None = None


# ----------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write a :func:`fitclip.resume.checkpoint_state` to `path` atomically; never from non-finite weights."""
    bad = [k for k, v in state["student"].items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:  # never replace a good checkpoint with broken weights
        raise NonFiniteLoss(f"step {state['step']}: non-finite student weights ({bad[:3]}); not writing {path}, "
                            f"the previous checkpoint is kept")
    save_state(state, path)


def nonfinite_advice(cfg: TrainConfig, out: Path, saved: tuple[Path, int] | None) -> str:
    """What to do after a non-finite loss, true for this folder: a resumed run keeps its recipe (lr
    included), and a folder without a checkpoint is a fresh start."""
    if saved is None:
        return (f"No checkpoint was written before it, so {out} holds none: run the same command again with a "
                f"lower lr (e.g. --lr {cfg.lr / 10:g}); a folder without a checkpoint is a fresh start")
    path, step = saved
    flag = resume_flag(out, path)
    return (f"The last good checkpoint, {path} (step {step}), is kept: `{flag}` continues from it with the same "
            f"recipe and data (the loss will diverge again unless the cause was transient); for a lower lr, "
            f"start a new out_dir (a resumed run cannot change lr)")


# ----------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------


#: Validation clips are decoded once and kept in memory (eval frames and the eval transform are
#: deterministic) when they take at most this many bytes; larger validation sets are decoded each time.
VAL_CACHE_BYTES = 512 * 2 ** 20


@torch.no_grad()
def validate_labeled(student: VideoCLIP, val_ds: VideoDataset, cfg: TrainConfig, d: Dist,
                     cache: list[dict[str, torch.Tensor]] | None = None) -> float:
    """Mean labeled loss over full global batches of the val set (eval frames/transform; the leftover
    len % (batch × world) videos are skipped so every batch has the training batch's negatives).

    `cache`: a list owned by the caller; the first call fills it with this rank's decoded batches when they
    fit in `VAL_CACHE_BYTES`, later calls read it instead of decoding the videos again.
    """
    n, world = len(val_ds), d.world
    b = min(cfg.batch_size_labeled, n // world)
    g = b * world
    batches = [list(range(j * g + d.rank * b, j * g + (d.rank + 1) * b)) for j in range(n // g)]
    keep = cache is not None and not cache and \
        len(batches) * b * cfg.num_frames * 3 * student.image_size ** 2 * 4 <= VAL_CACHE_BYTES
    if cache:
        source = cache
    else:
        source = DataLoader(GuardedDataset(val_ds), batch_sampler=batches, num_workers=cfg.num_workers,
                            collate_fn=GuardedCollate(collate_clips))
    was_training = student.training
    student.eval()
    total, count = 0.0, 0
    for batch in source:
        if "tokens" not in batch:
            batch = check_batch(batch, "val", doctor_command(cfg, "val"))
            batch = {"frames": batch["frames"], "lengths": batch["lengths"],
                     "tokens": student.tokenize([val_ds.items[i].text for i in batch["indices"].tolist()])}
            if keep:
                cache.append(batch)
        with autocast(cfg.precision, d.device):
            video, text = student(batch["frames"].to(d.device), batch["tokens"].to(d.device),
                                  batch["lengths"].to(d.device))
        total += float(labeled_loss(video.float(), text.float(), cfg.temperature))
        count += 1
    if was_training:
        freeze_batchnorm(student.train())
    return total / count


# ----------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------


def build_teacher(student: VideoCLIP) -> VideoCLIP:
    """The frozen teacher: a copy of the starting weights (never trained)."""
    teacher = clone_model(student).eval()
    teacher.requires_grad_(False)
    return teacher


def train(cfg: TrainConfig, resume: str | os.PathLike | None = None, d: Dist | None = None) -> dict[str, Any]:
    """Run (or resume) training. Call `validate(cfg)` first (`main` does). Returns a summary dict.

    Rank 0 holds the run folder's lock (`RunFolderLock`) from before anything is read until the end, so
    a second writer into the same `out_dir` is refused before it does any work.
    """
    d = d or setup_distributed(cfg)
    out = Path(cfg.out_dir).expanduser()
    with RunFolderLock(out) if d.main else contextlib.nullcontext():
        return _train(cfg, resume, d, out)


def _train(cfg: TrainConfig, resume: str | os.PathLike | None, d: Dist, out: Path) -> dict[str, Any]:
    use_unlabeled = cfg.lam > 0  # λ = 0: plain fine-tuning, no teacher, no pseudo labels, no unlabeled clips
    prompts = None if cfg.unlabeled_text == "captions" else read_prompts(cfg.unlabeled_text)
    # The start weights' identity, once: every checkpoint records it, and a resume must match it.
    start_weights = teacher_fingerprint(cfg)
    # Read and check the checkpoint first: a mismatching config fails before any other work.
    ckpt = None if resume is None else read_resume_checkpoint(resume, cfg, out, start_weights)
    metrics_path = out / "metrics.jsonl"
    saved = None if ckpt is None else (Path(resume), int(ckpt["step"]))

    # Data (annotations only; clips are decoded by the loaders), and what its videos are: a resume must match.
    labeled_items = load_labeled(cfg)
    pool = load_unlabeled(cfg, labeled_items) if use_unlabeled else []
    val_items = load_val(cfg) if cfg.val_every > 0 else []
    videos = data_identity(cfg, labeled_items, pool, val_items)
    if ckpt is not None:
        check_resume_videos(ckpt, videos, Path(resume), out)
    if saved is not None and saved[1] >= cfg.max_steps:  # nothing to train: nothing is written either
        return finished_run(cfg, d, out, saved, ckpt)
    if d.main:  # the log next, so a damaged one is refused before any heavy work (the lock is held)
        with writing(metrics_path, out, saved):
            prepare_log(metrics_path, ckpt)
    if cfg.val_every > 0 and len(val_items) < d.world:
        raise ValueError(f"the val set has {len(val_items)} videos, fewer than the {d.world} ranks")
    store = None
    if use_unlabeled and cfg.teacher_mode == "cached":
        from fitclip.pseudo_labels import PseudoLabels
        store = PseudoLabels(cfg.pseudo_labels)
        store.check(cfg, [item.key for item in pool], prompts, videos["pool"])

    # Models: the same start weights on every rank; the teacher is a frozen copy (online mode only).
    student = load_start_weights(cfg)
    if store is not None:  # the labels' embeddings must be this model's size (another teacher's are not)
        from fitclip.pseudo_labels import embedding_dim
        store.check_dim(embedding_dim(student))
    teacher = build_teacher(student).to(d.device) if use_unlabeled and cfg.teacher_mode == "online" else None
    student.clip.logit_scale.requires_grad_(False)  # unused: losses use the fixed τ
    freeze_batchnorm(student.to(d.device).train())  # BatchNorm keeps the start weights' statistics
    train_tf, eval_tf = transforms_for(student, hflip=cfg.hflip)
    params, groups = optimizer_groups(student, cfg)
    dim = 0
    if cfg.distill == "feature_cosine":
        from fitclip.pseudo_labels import embedding_dim
        dim = embedding_dim(student)
    switches = TrainingSwitches(cfg, student, params, dim)  # θ₀, FROSTER's projectors, the EMA (those on)
    optimizer = torch.optim.AdamW(groups + switches.param_groups(), lr=cfg.lr, betas=cfg.betas,
                                  weight_decay=cfg.weight_decay)
    model: torch.nn.Module = student
    if d.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            student, device_ids=[d.device.index] if d.device.type == "cuda" else None)
    streams = build_streams(cfg, d, labeled_items, pool, train_tf, online_teacher=teacher is not None)
    val_ds = VideoDataset(val_items, cfg.num_frames, "eval", eval_tf) if val_items else None
    targets = TeacherTargets(cfg, d, student, teacher, store, prompts, pool)

    # State: fresh, or everything from the checkpoint.
    seed_everything(cfg.seed + d.rank)
    step, best = 0, {"val_labeled": None, "step": None}
    if ckpt is not None:
        step, best = restore_checkpoint(ckpt, student, optimizer, streams, d, switches)
        del ckpt
    if d.main:
        _write_run_files(out, cfg, d, step if resume else None, saved, videos)
    run = _RunState(cfg, d, out, student, optimizer, streams, best, val_ds, saved, start_weights, switches, videos)

    metrics = None
    if d.main:  # append-only: see _RunState.end_step
        with writing(metrics_path, out, run.saved):
            metrics = open(metrics_path, "a", encoding="utf-8")
    from tqdm import tqdm
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not d.main, desc="fitclip", dynamic_ncols=True)
    last_losses: dict[str, float] = {}
    try:
        while step < cfg.max_steps:
            step += 1
            t0 = time.perf_counter()
            lab = streams["labeled"].next()
            lab_in = {"frames": lab["frames"].to(d.device, non_blocking=True), "lengths": lab["lengths"].to(d.device),
                      "tokens": student.tokenize([labeled_items[i].text for i in lab["indices"].tolist()]).to(d.device)}
            unl_in = teacher_video = teacher_text = None
            if use_unlabeled:
                unl_in, teacher_video, teacher_text = targets.unlabeled_inputs(streams["unlabeled"].next())
            losses = compute_losses(model, cfg, lab_in, unl_in, teacher_video, teacher_text,
                                    shared_text=prompts is not None, projectors=switches.projectors)
            if cfg.weight_penalty > 0:
                losses["weight_penalty"] = weight_penalty_loss(params, switches.start)
                losses["total"] = losses["total"] + cfg.weight_penalty * losses["weight_penalty"]
            if step_hook is not None:
                step_hook("loss", step, losses)
            run.check_finite(losses, step)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            if cfg.interpolation_max > 0:  # Open-VCLIP: add the gradient at θ_r, times 0.5, to the one at θ
                r = interpolation_ratio(cfg.seed, step, cfg.interpolation_max)
                with swapped(params, interpolate(params, switches.start, r)):
                    at_r = compute_losses(model, cfg, lab_in, unl_in, teacher_video, teacher_text,
                                          shared_text=prompts is not None, projectors=switches.projectors)
                    run.check_finite(at_r, step)
                    (INTERPOLATION_WEIGHT * at_r["total"]).backward()
                losses["interpolated"] = at_r["total"]
            if step_hook is not None:
                step_hook("update", step, losses)
            optimizer.step()
            switches.after_step()
            last_losses = {k: float(v.detach()) for k, v in losses.items()}
            run.end_step(step, last_losses, time.perf_counter() - t0, metrics)
            bar.set_postfix(loss=f"{last_losses['total']:.4f}", refresh=False)
            bar.update(1)
    except BaseException:
        if metrics is not None:
            with contextlib.suppress(OSError):  # the full disk that failed a line fails its flush again
                metrics.close()
        raise
    finally:
        bar.close()
        if metrics is not None:
            metrics.close()
    del model
    return {"step": step, "best": run.best, "losses": last_losses, "out_dir": str(out)}


def build_streams(cfg: TrainConfig, d: Dist, labeled_items: Sequence[Any], pool: Sequence[Any], train_tf: Any,
                  online_teacher: bool) -> dict[str, Stream]:
    """The labeled stream and (λ > 0) the unlabeled one, whose clips carry the online teacher's own view."""
    streams: dict[str, Stream] = {"labeled": Stream(
        "labeled", VideoDataset(labeled_items, cfg.num_frames, "train", train_tf, derive_seed(cfg.seed, "labeled")),
        cfg.batch_size_labeled, cfg.seed, d, cfg.num_workers, doctor=doctor_command(cfg, "labeled"))}
    if pool:
        views = UnlabeledViews(
            VideoDataset(pool, cfg.num_frames, "train", train_tf, derive_seed(cfg.seed, "unlabeled")),
            VideoDataset(pool, cfg.num_frames, "train", train_tf, derive_seed(cfg.seed, "teacher"))
            if online_teacher else None)
        streams["unlabeled"] = Stream("unlabeled", views, cfg.batch_size_unlabeled, cfg.seed, d, cfg.num_workers,
                                      collate_views, doctor=doctor_command(cfg, "unlabeled"))
    return streams


class TeacherTargets:
    """The unlabeled half of a step and the teacher's embeddings it is distilled towards: read from the
    cached pseudo labels (`store`) or computed by the frozen online teacher on its own view of the clips.
    With prompts (n videos x m prompts) the text side is the m prompts, fixed for the whole run."""

    def __init__(self, cfg: TrainConfig, d: Dist, student: VideoCLIP, teacher: VideoCLIP | None, store: Any,
                 prompts: Sequence[str] | None, pool: Sequence[Any]) -> None:
        self.cfg, self.d, self.student, self.teacher, self.store = cfg, d, student, teacher, store
        self.prompts, self.pool = prompts, pool
        self.prompt_tokens = self.prompt_text = None
        if cfg.lam > 0 and prompts is not None:
            self.prompt_tokens = student.tokenize(prompts).to(d.device)
            if store is not None:
                self.prompt_text = store.prompt_text().to(d.device)
            else:
                with torch.no_grad(), autocast(cfg.precision, d.device):
                    self.prompt_text = teacher.encode_text(self.prompt_tokens).float()

    def unlabeled_inputs(self, unl: dict[str, Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """(the student's unlabeled inputs, the teacher's video embeddings, its text embeddings)."""
        device, shared = self.d.device, self.prompts is not None
        tokens = self.prompt_tokens if shared else \
            self.student.tokenize([self.pool[i].text for i in unl["indices"].tolist()]).to(device)
        inputs = {"frames": unl["frames"].to(device, non_blocking=True), "lengths": unl["lengths"].to(device),
                  "tokens": tokens}
        if self.store is not None:
            video, text = self.store.get(unl["keys"], text=not shared)
            return inputs, video.to(device), self.prompt_text if shared else text.to(device)
        with torch.no_grad(), autocast(self.cfg.precision, device):
            video = self.teacher.encode_video(unl["teacher_frames"].to(device),
                                              unl["teacher_lengths"].to(device)).float()
            text = self.prompt_text if shared else self.teacher.encode_text(tokens).float()
        return inputs, video, text


def _write_run_files(out: Path, cfg: TrainConfig, d: Dist, resumed_from_step: int | None,
                     saved: tuple[Path, int] | None = None, videos: dict[str, str] | None = None) -> None:
    with writing(out, out, saved):
        out.mkdir(parents=True, exist_ok=True)
    with writing(out / "config.json", out, saved):
        write_json(out / "config.json", cfg.to_dict())
    if videos is not None:
        with writing(out / VIDEOS_RECORD, out, saved):
            write_json(out / VIDEOS_RECORD, videos)
    with writing(out / "run_info.json", out, saved):
        write_json(out / "run_info.json", {**run_environment(), "world_size": d.world, "device": str(d.device),
                                            "argv": sys.argv, "resumed_from_step": resumed_from_step,
                                            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


class _RunState:
    """What happens around each optimizer step: the non-finite check, validation, the metrics line and the
    checkpoints; holds the best validation loss and the newest checkpoint."""

    def __init__(self, cfg: TrainConfig, d: Dist, out: Path, student: VideoCLIP, optimizer: torch.optim.Optimizer,
                 streams: dict[str, Stream], best: dict[str, Any], val_ds: VideoDataset | None,
                 saved: tuple[Path, int] | None, start_weights: dict[str, Any], switches: TrainingSwitches,
                 videos: dict[str, str] | None = None) -> None:
        self.cfg, self.d, self.out, self.student, self.optimizer = cfg, d, out, student, optimizer
        self.switches = switches
        self.streams, self.best, self.val_ds, self.saved = streams, best, val_ds, saved
        self.start_weights = start_weights  # teacher_fingerprint at the start, recorded in every checkpoint
        self.videos = videos  # data_identity of the run's videos, recorded in every checkpoint
        self.val_cache: list[dict[str, torch.Tensor]] = []  # val clips decoded once (see VAL_CACHE_BYTES)

    def check_finite(self, losses: dict[str, torch.Tensor], step: int) -> None:
        if not bool(torch.isfinite(losses["total"])):
            values = {k: float(v.detach()) for k, v in losses.items()}
            raise NonFiniteLoss(f"non-finite loss at step {step} (total={values['total']}, labeled="
                                f"{values['labeled']}, distill={values['distill']}); stopping without "
                                f"updating the weights (check the data of this step). "
                                f"{nonfinite_advice(self.cfg, self.out, self.saved)}")

    def end_step(self, step: int, losses: dict[str, float], dt: float, metrics: Any) -> None:
        """Validate when due, write the step's metrics line, then the checkpoints that are due."""
        cfg, use_unlabeled = self.cfg, "unlabeled" in self.streams
        record: dict[str, Any] = {
            "step": step, "epoch": self.streams["unlabeled" if use_unlabeled else "labeled"].epoch_float,
            "total": losses["total"], "labeled": losses["labeled"],
            "distill": losses["distill"] if use_unlabeled else None, "lr": self.optimizer.param_groups[0]["lr"],
            "clips_per_s": self.d.world * (cfg.batch_size_labeled + (cfg.batch_size_unlabeled if use_unlabeled
                                                                     else 0)) / dt,
            "time": time.time()}
        for key in ("weight_penalty", "interpolated"):  # the anchor's Σ (θ − θ₀)² / 2 (unweighted); the loss at θ_r
            if key in losses:
                record[key] = losses[key]
        improved = False
        if self.val_ds is not None and (step % cfg.val_every == 0 or step == cfg.max_steps):
            with self.switches.evaluated():  # the EMA's weights when it is on
                record["val_labeled"] = validate_labeled(self.student, self.val_ds, cfg, self.d, self.val_cache)
            improved = self.best["val_labeled"] is None or record["val_labeled"] < self.best["val_labeled"]
            if improved:
                self.best = {"val_labeled": record["val_labeled"], "step": step}
        save_last = step == cfg.max_steps or (cfg.save_every > 0 and step % cfg.save_every == 0)
        keep = cfg.keep_every > 0 and step % cfg.keep_every == 0  # step<N>.pt, for checkpoint averaging
        if metrics is not None:
            # The step's line reaches the disk BEFORE its checkpoint: a kill between the two leaves a line
            # past the checkpoint, which resume drops and redoes (written after it, the line was lost for
            # good). Appending is safe here (no atomic rewrite of the whole log each step): a torn line
            # can only be the last one, past the checkpoint, and `fitclip.resume.trim_metrics` drops it. The
            # fsync before a checkpoint also covers the lines of the steps since the previous one.
            with writing(self.out / "metrics.jsonl", self.out, self.saved):
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                if save_last or improved or keep:
                    os.fsync(metrics.fileno())
        if save_last or improved or keep:
            self.checkpoint(step, improved, save_last, keep)

    def checkpoint(self, step: int, best: bool, last: bool, keep: bool = False) -> None:
        """Every rank's RNG states are gathered (a collective); rank 0 writes best_labeled.pt, last.pt and/or the
        kept copy step<N>.pt."""
        state = checkpoint_state(self.student, self.optimizer, step, all_rng_states(self.d), self.streams,
                                 self.best, self.cfg, self.d.world, self.start_weights, self.switches, self.videos)
        if self.d.main:
            for name, due in (("best_labeled.pt", best), ("last.pt", last), (f"step{step}.pt", keep)):
                if due:  # a failed write (a full disk) keeps the previous file whole: it is `saved` still
                    with writing(self.out / name, self.out, self.saved):
                        save_checkpoint(state, self.out / name)
        self.saved = (self.out / ("last.pt" if last else "best_labeled.pt" if best else f"step{step}.pt"), step)


HELP = """usage: python -m fitclip.train [--config run.json] [--preset paper|reference-code] [--KEY VALUE ...] [--resume [PATH]]
       torchrun --nproc_per_node=N -m fitclip.train ...   (same arguments)

Config keys (each is described under "options" below; the presets are in fitclip/config.py):
  {keys}
--resume [PATH]: continue from PATH (default: <out_dir>/last.pt) exactly where it stopped.
"""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        from fitclip.config import KEYS, cli_parser
        print(__doc__)
        print(HELP.format(keys=", ".join(KEYS)))
        print(cli_parser().format_help().split("\n\n", 1)[-1])  # every key with its meaning (TrainConfig's docstring)
        return 0
    d: Dist | None = None
    try:
        cfg, flags = parse_cli(argv, extra_flags=("resume",))
        resume = flags.get("resume")
        if resume is True:
            resume = default_resume(cfg)
        validate(cfg, resume=resume is not None)
        if resume is not None and not Path(resume).is_file():
            raise ConfigError(f"--resume: no checkpoint at {resume}; drop --resume to start a new run")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    code = 0
    try:
        d = setup_distributed(cfg)
        summary = train(cfg, resume, d)
        if d.main:
            print(json.dumps({"done": summary}))
    except NonFiniteLoss as e:
        print(f"error (rank {d.rank if d else 0}): {e}", file=sys.stderr)
        code = 3
    except (ConfigError, AnnotationError) as e:  # found once the data / pseudo labels are read
        print(f"error: {e}", file=sys.stderr)
        code = 2
    except (RunError, WeightsUnavailable) as e:  # folder in use or not writable, damaged checkpoint or log, a
        print(f"error: {e}", file=sys.stderr)      # broken video; an open_clip tag's weights not downloadable
        code = 1
    except Exception:  # noqa: BLE001 - report, then exit non-zero promptly (never hang in shutdown)
        import traceback
        traceback.print_exc()
        code = 1
    if code and d is not None and d.world > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code == 0:
        teardown_distributed()
    return code


if __name__ == "__main__":
    from fitclip.train import main as _main  # run the importable module, not a second __main__ copy

    sys.exit(_main())
