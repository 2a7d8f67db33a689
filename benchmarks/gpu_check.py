"""One GPU check (issue 12, item 5): eval throughput, train step time and the paper recipe's cost on one GPU.

    benchmarks/gpu_check.sh [--dry-run] [--out PATH]        # the wrapper: venv python, HF_HUB_OFFLINE=1
    python benchmarks/gpu_check.py [--dry-run] [--out PATH]

Real mode (a CUDA GPU; sized to finish within 8 minutes on one H200): ViT-B-16 with RANDOM weights
(``pretrained="none"``: timing only, nothing is downloaded), synthetic h264 videos (320x240, 32 frames at
8 fps, a panned block texture with a moving square) written by ``fitclip.video.write_video`` into a temp dir
in the real on-disk layouts (MSR-VTT 1k-A for evaluation, WebVid-2.5M for training). What is measured:

(a) **Evaluation throughput**, frames/s (4 frames per clip):

    * ``forward_only``: ``model.encode_video`` on a pre-made on-device batch ``[B, 4, 3, 224, 224]`` under
      bf16 autocast, after warm-up, timed with ``torch.cuda.synchronize()``: the model's own ceiling;
    * ``decode_only``: the harness's decode pass without the model (``VideoDataset``, eval sampler + eval
      transform, the same DataLoader workers and batch size): what the CPUs can feed;
    * ``end_to_end``: wall time of ``fitclip.evaluate.evaluate`` (decode + transform + encode + text side +
      scoring + writing its files), precision bf16; the best of the repeats;
    * ``ratio = end_to_end / forward_only`` and ``goal_met = ratio >= 0.8``;
    * ``grid``: ``evaluate`` of a ``FusionGrid`` of 2 students x 11 α (22 models, 21 distinct forwards: α=0 is
      the teacher in both) on the same clips: the α grid as the study runs it.

(b) **Train step time** of ``fitclip.train.train`` (ViT-B-16, 8 labeled + 8 unlabeled clips, bf16, λ=1e-4,
    no validation), ``teacher_mode`` "cached" (pseudo labels from ``fitclip.pseudo_labels``) vs "online": the
    median of the trainer's own per-step time (``metrics.jsonl``: step time = clips per step / clips_per_s,
    data wait included) after the warm-up steps, and the ratio cached / online. The pseudo-label run's time
    per clip comes from its shard files' mtimes (shard k's time = mtime(k) - mtime(k-1); shard 0, which pays
    the model load, is not counted).

(c) **Estimate of the paper's full recipe on one GPU**: ``max_steps`` (``fitclip.config`` paper preset)
    x cached step time, + the labeled validations (every ``val_every`` steps over WebVid val), + pseudo labels
    of the whole unlabeled pool, + the 22-model α grid on the five benchmarks at their real sizes. Every
    formula is written in the JSON next to its number, and every number that is not measured here (pool
    size, benchmark sizes, ...) is listed under ``assumptions``.

Dry mode (``--dry-run``): the same code path and JSON schema on the CPU with the tiny ``fitclip-tiny`` model,
a few 64x48 clips and fp32, in well under a minute; ``"mode": "dry-run"``. Its numbers only show that the
path runs; they say nothing about a GPU. Without ``--dry-run`` and without a visible CUDA GPU the script
exits 2 with a one-line ``error:``.

Writes ``benchmarks/results/gpu.json`` (``--dry-run``: ``benchmarks/results/gpu-dry-run.json``, so a dry run
never replaces a GPU result) atomically with ``fitclip.files.write_json`` and prints a short summary.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import gc
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SCHEMA = "fitclip-gpu-check-v1"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "gpu.json"
DEFAULT_DRY_OUT = REPO / "benchmarks" / "results" / "gpu-dry-run.json"
FRAMES_PER_CLIP = 4  # FitCLIP's num_frames, for evaluation and training
EVAL_GOAL = 0.8  # end-to-end frames/s over forward-only frames/s (issue 12)
ALPHAS = [i / 10 for i in range(11)]  # the paper's α grid (supp. Sec. 6)
GRID_STUDENTS = ("fitclip", "lambda0")  # FitCLIP and the λ=0 baseline: 2 x 11 α = 22 models

#: Item counts of the five zero-shot benchmarks as this project evaluates them (its default splits). Inputs of
#: the estimate, not measurements; the source of each is in the JSON's "assumptions".
BENCHMARK_ITEMS = {"ucf101": 3783, "mit": 33900, "msrvtt": 1000, "youcook2": 3350, "didemo": 1094}
BENCHMARK_SOURCES = {
    "ucf101": "testlist01.txt: 3,783 videos (counted in shared/benchmarks; FitCLIP evaluates every line)",
    "mit": "Moments in Time v1 val: 33,900 videos (the paper's Table 1a note; not counted here)",
    "msrvtt": "MSR-VTT 1k-A: 1,000 text->video queries (MSRVTT_JSFUSION_test.csv, counted)",
    "youcook2": "YouCook2 val: 3,350 clips, the MIL-NCE validation_youcook.csv FitCLIP and this project load "
                "(VideoCLIP's 3,305 is a subset of it, depending on which videos were available)",
    "didemo": "DiDeMo val_data.json: 1,094 paragraph queries, the split FitCLIP and this project's loader use by "
              "default (test_data.json would be 1,037 videos)",
}
#: WebVid-2.5M train minus the 4,500-video labeled subset: the pool `compute_pseudo_labels` labels whole.
UNLABELED_POOL = 2_500_000 - 4_500
#: WebVid-2.5M val (results_2M_val.csv): what validation reads when val_csv is not set.
WEBVID_VAL_ITEMS = 5_000


@dataclass(frozen=True)
class Sizes:
    """Everything a mode fixes: model, device, precision and how much work each measurement does."""

    arch: str
    device: str
    precision: str
    video_width: int
    video_height: int
    video_frames: int
    video_fps: float
    video_gop: int
    eval_clips: int
    eval_batch: int
    eval_workers: int
    eval_repeats: int
    forward_warmup: int
    forward_iters: int
    train_labeled: int  # videos in the labeled subset
    train_pool: int  # videos in the unlabeled pool (pseudo-labelled whole: large enough to time a shard)
    batch_labeled: int
    batch_unlabeled: int
    train_steps: int
    train_warmup: int  # first steps left out of the median (DataLoader start, kernel selection)
    train_workers: int
    shard_size: int  # pseudo-label shard size (>= 2 shards, to time shards after the first)


def sizes_for(dry_run: bool) -> Sizes:
    cpus = os.cpu_count() or 1
    if dry_run:
        return Sizes(arch="fitclip-tiny", device="cpu", precision="fp32", video_width=64, video_height=48,
                     video_frames=16, video_fps=8.0, video_gop=8, eval_clips=4, eval_batch=4, eval_workers=0,
                     eval_repeats=1, forward_warmup=1, forward_iters=3, train_labeled=4, train_pool=8,
                     batch_labeled=4, batch_unlabeled=4, train_steps=3, train_warmup=1, train_workers=0,
                     shard_size=4)
    return Sizes(arch="ViT-B-16", device="cuda", precision="bf16", video_width=320, video_height=240,
                 video_frames=32, video_fps=8.0, video_gop=16, eval_clips=1024, eval_batch=64,
                 eval_workers=min(8, cpus), eval_repeats=2, forward_warmup=5, forward_iters=20, train_labeled=32,
                 train_pool=2048, batch_labeled=8, batch_unlabeled=8, train_steps=30, train_warmup=5,
                 train_workers=max(1, min(4, cpus // 2)), shard_size=1024)


class CheckError(Exception):
    """A problem the user can fix; printed as one `error:` line, exit code 2."""


# ----------------------------------------------------------------------------------------------------
# Synthetic videos in the real layouts
# ----------------------------------------------------------------------------------------------------


def _render_one(job: tuple[str, int, tuple[int, int, int, float, int]]) -> None:
    """One synthetic clip: a panned 8x8-block texture (compressible like real footage), a moving square and
    mild noise, h264 with a keyframe every `gop` frames."""
    import numpy as np

    from fitclip.video import write_video

    path, seed, (width, height, frames, fps, gop) = job
    rng = np.random.default_rng(seed)
    canvas = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2 + frames, 3), dtype=np.uint8)
    canvas = np.kron(canvas, np.ones((8, 8, 1), np.uint8))
    video = np.stack([canvas[:height, 2 * t: 2 * t + width] for t in range(frames)]).astype(np.int16)
    side = max(8, height // 3)
    for t in range(frames):
        x = (seed * 7 + 3 * t) % (width - side)
        video[t, height // 3: height // 3 + side, x: x + side] = (200, 40 + 20 * (seed % 8), 60)
    video += rng.integers(-4, 5, video.shape, dtype=np.int16)
    write_video(path, np.clip(video, 0, 255).astype(np.uint8), fps=fps, options={"g": str(gop)})


def render_videos(folder: Path, n: int, sizes: Sizes) -> list[Path]:
    """`n` synthetic mp4s ``folder/clip<i>.mp4`` (in parallel on a real run)."""
    spec = (sizes.video_width, sizes.video_height, sizes.video_frames, sizes.video_fps, sizes.video_gop)
    jobs = [(str(folder / f"clip{i}.mp4"), i, spec) for i in range(n)]
    procs = min(os.cpu_count() or 1, 16)
    if procs > 1 and n > 8:
        with mp.get_context("fork").Pool(procs) as pool:  # before any CUDA work in this process
            pool.map(_render_one, jobs, chunksize=4)
    else:
        for job in jobs:
            _render_one(job)
    return [Path(j[0]) for j in jobs]


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.link(src, dst)  # same temp dir, same file system: a hard link, no copy


def write_msrvtt(data_root: Path, videos: list[Path]) -> None:
    """MSR-VTT 1k-A layout: ``msrvtt/MSRVTT_JSFUSION_test.csv`` (key,vid_key,video_id,sentence) and
    ``msrvtt/videos/all/<video_id>.mp4``."""
    root = data_root / "msrvtt"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "MSRVTT_JSFUSION_test.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["key", "vid_key", "video_id", "sentence"])
        for i, src in enumerate(videos):
            w.writerow([f"ret{i}", f"msr{i}", f"video{i}", f"a coloured square moving over a texture number {i}"])
            _link(src, root / "videos" / "all" / f"video{i}.mp4")


def write_webvid(data_root: Path, videos: list[Path], n_labeled: int) -> Path:
    """WebVid-2.5M layout: ``webvid/results_2M_train.csv`` (the official header) and
    ``webvid/videos/<page_dir>/<videoid>.mp4``; the seeded labeled subset of `n_labeled` videos
    (``fitclip.annotations.sample_labeled_subset``) is written to ``labeled.csv``; returns its path."""
    from fitclip.annotations import load_annotations, sample_labeled_subset

    webvid = data_root / "webvid"
    webvid.mkdir(parents=True, exist_ok=True)
    with open(webvid / "results_2M_train.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["videoid", "name", "page_idx", "page_dir", "duration", "contentUrl"])
        for i, src in enumerate(videos):
            vid, page = str(1_000_000 + i), i // 50
            page_dir = f"{page * 50 + 1:06d}_{page * 50 + 50:06d}"
            w.writerow([vid, f"a coloured square moving over a texture, clip {i}", page, page_dir, "PT00H00M04S",
                        f"https://example.invalid/{vid}.mp4"])
            _link(src, webvid / "videos" / page_dir / f"{vid}.mp4")
    labeled_csv = data_root / "labeled.csv"
    sample_labeled_subset(load_annotations("webvid", data_root, split="train"), n=n_labeled, seed=0,
                          out_csv=labeled_csv)
    return labeled_csv


# ----------------------------------------------------------------------------------------------------
# (a) evaluation throughput
# ----------------------------------------------------------------------------------------------------


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(precision: str, device: Any):
    from fitclip.encoding import autocast

    return autocast(precision, device)


def forward_only(model: Any, sizes: Sizes, device: Any) -> dict[str, Any]:
    """frames/s of ``encode_video`` alone on a pre-made on-device batch (no decoding, no copies)."""
    import torch

    g = torch.Generator().manual_seed(0)
    s = model.image_size
    frames = torch.randn(sizes.eval_batch, FRAMES_PER_CLIP, 3, s, s, generator=g).to(device)
    with torch.inference_mode(), _autocast(sizes.precision, device):
        for _ in range(sizes.forward_warmup):
            model.encode_video(frames)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(sizes.forward_iters):
            model.encode_video(frames)
        _sync(device)
        seconds = time.perf_counter() - t0
    n_frames = sizes.forward_iters * sizes.eval_batch * FRAMES_PER_CLIP
    return {"what": "model.encode_video on a pre-made on-device batch [B, 4, 3, S, S], after warm-up; "
                    "torch.cuda.synchronize() around the timed loop on CUDA",
            "batch_size": sizes.eval_batch, "image_size": s, "warmup_iters": sizes.forward_warmup,
            "iters": sizes.forward_iters, "precision": sizes.precision, "seconds": seconds,
            "frames_per_s": n_frames / seconds}


def decode_only(annotations: Any, transform: Any, sizes: Sizes) -> dict[str, Any]:
    """frames/s of the harness's decode pass without a model: VideoDataset (eval sampler + eval transform)
    through a DataLoader with the evaluation's workers and batch size."""
    from torch.utils.data import DataLoader

    from fitclip.datasets import VideoDataset, collate_clips

    dataset = VideoDataset(annotations, num_frames=FRAMES_PER_CLIP, mode="eval", transform=transform,
                           backend="decord")
    loader = DataLoader(dataset, batch_size=sizes.eval_batch, shuffle=False, num_workers=sizes.eval_workers,
                        collate_fn=collate_clips)
    t0 = time.perf_counter()
    clips = sum(len(batch["keys"]) for batch in loader)
    seconds = time.perf_counter() - t0
    return {"what": "DataLoader(VideoDataset(eval sampler + eval transform)) over the eval clips, no model; "
                    "worker start-up included",
            "clips": clips, "num_workers": sizes.eval_workers, "seconds": seconds,
            "frames_per_s": clips * FRAMES_PER_CLIP / seconds}


def timed_evaluate(models: Any, data_root: Path, out: Path, sizes: Sizes, device: Any) -> float:
    """Wall seconds of one ``fitclip.evaluate.evaluate`` run (its results appended to `out`)."""
    from fitclip.evaluate import evaluate

    _sync(device)
    t0 = time.perf_counter()
    rows = evaluate(models, "msrvtt", data_root, "test", batch_size=sizes.eval_batch,
                    num_workers=sizes.eval_workers, device=device, progress=False, precision=sizes.precision,
                    out=out)
    _sync(device)
    seconds = time.perf_counter() - t0
    bad = {r["n_evaluated"] for r in rows} - {sizes.eval_clips}
    if bad:
        raise RuntimeError(f"evaluate scored {sorted(bad)} clips instead of {sizes.eval_clips}: the synthetic "
                           f"videos did not all decode")
    return seconds


def measure_eval(data_root: Path, work: Path, sizes: Sizes, device: Any, log: Any) -> dict[str, Any]:
    import torch

    from fitclip.annotations import load_annotations
    from fitclip.fusion import FusionGrid
    from fitclip.models import load_clip
    from fitclip.transforms import transforms_for

    torch.manual_seed(0)
    model = load_clip(sizes.arch, None, device=device).eval()
    fwd = forward_only(model, sizes, device)
    log(f"  forward-only: {fwd['frames_per_s']:,.0f} frames/s")
    annotations = load_annotations("msrvtt", data_root, "test")
    _, eval_tf = transforms_for(model)
    dec = decode_only(annotations, eval_tf, sizes)
    log(f"  decode-only:  {dec['frames_per_s']:,.0f} frames/s ({sizes.eval_workers} workers)")
    n_frames = sizes.eval_clips * FRAMES_PER_CLIP
    runs = [timed_evaluate(model, data_root, work / "eval.jsonl", sizes, device) for _ in range(sizes.eval_repeats)]
    e2e_fps = n_frames / min(runs)
    log(f"  end-to-end:   {e2e_fps:,.0f} frames/s (evaluate, best of {len(runs)})")

    # The α grid as the study runs it: two students' 11 α each, three model copies (FusionGrid).
    students = {}
    for k, name in enumerate(GRID_STUDENTS):
        torch.manual_seed(k + 1)
        students[name] = load_clip(sizes.arch, None, device="cpu")
    grid = FusionGrid(model, students, ALPHAS)
    del students
    names = list(grid)
    distinct = len({grid.identity(name) for name in names})
    grid_s = timed_evaluate(grid, data_root, work / "grid.jsonl", sizes, device)
    log(f"  grid:         {len(names)} models ({distinct} distinct forwards), {sizes.eval_clips / grid_s:,.1f} "
        f"clips/s end to end")
    del grid, model
    _free(device)
    ratio = e2e_fps / fwd["frames_per_s"]
    return {
        "arch": sizes.arch, "weights": "random (pretrained=none): timing only",
        "clips": sizes.eval_clips, "frames_per_clip": FRAMES_PER_CLIP, "batch_size": sizes.eval_batch,
        "num_workers": sizes.eval_workers, "precision": sizes.precision, "dataset": "msrvtt layout, synthetic videos",
        "forward_only": fwd,
        "decode_only": dec,
        "end_to_end": {"what": "wall time of fitclip.evaluate.evaluate (decode + transform + encode + text side + "
                               "scoring + result files); best of the repeats",
                       "precision": sizes.precision, "seconds": min(runs), "all_seconds": runs,
                       "frames_per_s": e2e_fps, "clips_per_s": sizes.eval_clips / min(runs)},
        "ratio": ratio, "ratio_formula": "end_to_end.frames_per_s / forward_only.frames_per_s",
        "goal": EVAL_GOAL, "goal_met": bool(ratio >= EVAL_GOAL),
        "grid": {"what": "wall time of evaluate on a FusionGrid (2 students x 11 alphas, one decode pass, each "
                         "batch encoded by every distinct model, fused in place)",
                 "models": len(names), "distinct_forwards": distinct, "seconds": grid_s,
                 "clips_per_s": sizes.eval_clips / grid_s, "model_names": names},
    }


def _free(device: Any) -> None:
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------------------------------
# (b) train step time, cached vs online teacher
# ----------------------------------------------------------------------------------------------------


def train_config(sizes: Sizes, data_root: Path, labeled_csv: Path, work: Path, teacher_mode: str,
                 **overrides: Any) -> Any:
    from fitclip.config import config_from_dict

    values = {"arch": sizes.arch, "pretrained": "none", "lam": 1e-4, "teacher_mode": teacher_mode,
              "batch_size_labeled": sizes.batch_labeled, "batch_size_unlabeled": sizes.batch_unlabeled,
              "batch_size_eval": sizes.eval_batch, "num_frames": FRAMES_PER_CLIP, "max_steps": sizes.train_steps,
              "val_every": 0, "save_every": 0, "precision": sizes.precision, "device": sizes.device,
              "data_root": str(data_root), "labeled_csv": str(labeled_csv),
              "unlabeled": {"name": "webvid", "split": "train", "exclude_labeled": True},
              "pseudo_labels": str(work / "pseudo_labels"), "pseudo_label_shard_size": sizes.shard_size,
              "out_dir": str(work / f"run-{teacher_mode}"), "num_workers": sizes.train_workers, "seed": 0}
    values.update(overrides)
    return config_from_dict(values)  # the paper preset underneath: lr 3e-5, temperature 0.05


def measure_pseudo_labels(cfg: Any, log: Any) -> dict[str, Any]:
    """Run ``compute_pseudo_labels`` and time it per clip from its shard files' mtimes (shards after the
    first: the first also pays the teacher's construction)."""
    from fitclip.config import validate
    from fitclip.pseudo_labels import compute_pseudo_labels

    validate(cfg, for_pseudo_labels=True)
    t0 = time.perf_counter()
    out = compute_pseudo_labels(cfg)
    wall = time.perf_counter() - t0
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    shards = index["shards"]
    if len(shards) < 2:
        raise RuntimeError(f"the pseudo-label run wrote {len(shards)} shard(s); 2 or more are needed to time one")
    mtimes = [(out / s["file"]).stat().st_mtime_ns / 1e9 for s in shards]
    timed = sum(s["count"] for s in shards[1:])
    seconds = mtimes[-1] - mtimes[0]
    if not seconds > 0:
        raise RuntimeError(f"the shard files' mtimes do not increase ({mtimes}): cannot time the shards")
    log(f"  pseudo labels: {timed / seconds:,.1f} clips/s ({len(shards)} shards of {cfg.pseudo_label_shard_size})")
    return {"what": "fitclip.pseudo_labels.compute_pseudo_labels (teacher on eval frames + captions, fp16 shards); "
                    "seconds per clip = (mtime of the last shard - mtime of the first) / clips in shards 2..n",
            "pool_clips": index["num_items"], "shards": len(shards), "shard_size": cfg.pseudo_label_shard_size,
            "num_workers": cfg.num_workers, "batch_size": cfg.batch_size_eval, "precision": cfg.precision,
            "timed_clips": timed, "timed_seconds": seconds, "seconds_per_clip": seconds / timed,
            "clips_per_s": timed / seconds, "wall_s": wall}


def step_times(metrics_path: Path, clips_per_step: int) -> list[float]:
    """Per-step seconds from the trainer's metrics.jsonl (``clips_per_s = clips per step / step time``)."""
    times = []
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            times.append(clips_per_step / record["clips_per_s"])
    return times


def measure_train(cfg: Any, sizes: Sizes, device: Any, log: Any) -> dict[str, Any]:
    """``fitclip.train.train`` for ``max_steps`` steps; the median step time after the warm-up steps."""
    from fitclip.config import validate
    from fitclip.train import train

    validate(cfg)
    t0 = time.perf_counter()
    summary = train(cfg)
    wall = time.perf_counter() - t0
    if summary["step"] != sizes.train_steps:
        raise RuntimeError(f"the {cfg.teacher_mode} run stopped at step {summary['step']} of {sizes.train_steps}")
    times = step_times(Path(cfg.out_dir) / "metrics.jsonl", sizes.batch_labeled + sizes.batch_unlabeled)
    if len(times) != sizes.train_steps:
        raise RuntimeError(f"{cfg.out_dir}/metrics.jsonl has {len(times)} steps, expected {sizes.train_steps}")
    timed = times[sizes.train_warmup:]
    median = statistics.median(timed)
    for name in ("last.pt", "best_labeled.pt"):  # ~1.8 GB for ViT-B-16 + AdamW; not needed
        (Path(cfg.out_dir) / name).unlink(missing_ok=True)
    _free(device)
    log(f"  train {cfg.teacher_mode:>6}: {median * 1e3:,.1f} ms/step (median of {len(timed)})")
    return {"median_step_s": median, "mean_step_s": statistics.fmean(timed), "steps_timed": len(timed),
            "step_s": times, "wall_s": wall, "final_losses": summary["losses"]}


# ----------------------------------------------------------------------------------------------------
# (c) the paper's recipe on one GPU
# ----------------------------------------------------------------------------------------------------


def estimate(measured: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(estimates, assumptions) of the paper's recipe on one GPU from the measurements."""
    from fitclip.config import config_from_dict

    paper = config_from_dict({}, base="paper")
    ev, tr, pl = measured["eval"], measured["train"], measured["pseudo_labels"]
    steps, val_every = paper.max_steps, paper.val_every
    n_val = steps // val_every + (1 if val_every and steps % val_every else 0) if val_every else 0
    e2e_clips_s = ev["end_to_end"]["clips_per_s"]
    grid_clips_s = ev["grid"]["clips_per_s"]
    fwd_fps, dec_fps = ev["forward_only"]["frames_per_s"], ev["decode_only"]["frames_per_s"]
    distinct = ev["grid"]["distinct_forwards"]

    training = {"seconds": steps * tr["cached"]["median_step_s"],
                "seconds_online_teacher": steps * tr["online"]["median_step_s"],
                "formula": "max_steps x train.cached.median_step_s (online: x train.online.median_step_s)",
                "max_steps": steps}
    validation = {"seconds": n_val * WEBVID_VAL_ITEMS / e2e_clips_s, "validations": n_val,
                  "formula": "validations x webvid_val_items / eval.end_to_end.clips_per_s (a labeled-val pass "
                             "decodes and encodes like evaluation; its labeled loss is negligible. The trainer "
                             "validates in batches of batch_size_labeled with its own workers, so this is a low "
                             "estimate)"}
    pseudo = {"seconds": UNLABELED_POOL * pl["seconds_per_clip"],
              "formula": "unlabeled_pool x pseudo_labels.seconds_per_clip",
              "seconds_clips_seen_only": steps * paper.batch_size_unlabeled * pl["seconds_per_clip"],
              "note": "compute_pseudo_labels labels the whole pool; the run itself reads only max_steps x "
                      "batch_size_unlabeled of them (seconds_clips_seen_only). The measured rate includes each "
                      "shard's DataLoader start (shards of parameters.shard_size here, 4,096 in the recipe)"}
    per_benchmark = {}
    for name, items in BENCHMARK_ITEMS.items():
        frames = items * FRAMES_PER_CLIP
        per_benchmark[name] = {
            "items": items,
            "seconds": items / grid_clips_s,
            "seconds_no_overlap": frames / dec_fps + distinct * frames / fwd_fps,
            "seconds_full_overlap": frames * max(1 / dec_fps, distinct / fwd_fps),
        }
    grid = {"seconds": sum(b["seconds"] for b in per_benchmark.values()),
            "seconds_no_overlap": sum(b["seconds_no_overlap"] for b in per_benchmark.values()),
            "seconds_full_overlap": sum(b["seconds_full_overlap"] for b in per_benchmark.values()),
            "models": ev["grid"]["models"], "distinct_forwards": distinct,
            "formula": "sum over benchmarks of items / eval.grid.clips_per_s (the measured grid run, end to end)",
            "formula_no_overlap": "items x 4 / decode_only.frames_per_s + distinct_forwards x items x 4 / "
                                  "forward_only.frames_per_s (decoding and encoding take turns)",
            "formula_full_overlap": "items x 4 x max(1 / decode_only.frames_per_s, distinct_forwards / "
                                    "forward_only.frames_per_s) (the slower of the two hides the other)",
            "note": "the two model figures leave out the fixed costs (worker start, text side, scoring, fusing the "
                    "working copy per batch) that the measured grid rate includes",
            "per_benchmark": per_benchmark}
    total = training["seconds"] + validation["seconds"] + pseudo["seconds"] + grid["seconds"]
    estimates = {"training": training, "validation": validation, "pseudo_labels": pseudo, "grid": grid,
                 "total_seconds": total, "total_hours": total / 3600,
                 "total_formula": "training + validation + pseudo_labels + grid (seconds of each)"}
    assumptions = {
        "one_gpu": "one process on one GPU: batch 8 labeled + 8 unlabeled per step (the paper preset's per-process "
                   "batch), no data parallelism",
        "max_steps": f"{steps}: fitclip.config's paper preset (TrainConfig.max_steps; the paper gives no step count, "
                     f"the config says 'set it for your budget')",
        "val_every": f"{val_every} steps (paper preset), over webvid_val_items videos each time",
        "webvid_val_items": f"{WEBVID_VAL_ITEMS}: WebVid-2.5M results_2M_val.csv (not counted here)",
        "unlabeled_pool": f"{UNLABELED_POOL}: WebVid-2.5M train (~2.5M videos, not counted here) minus the 4,500 "
                          "labeled videos",
        "benchmark_items": dict(BENCHMARK_SOURCES),
        "grid": f"{len(GRID_STUDENTS)} students (FitCLIP, λ=0) x {len(ALPHAS)} alphas = "
                f"{len(GRID_STUDENTS) * len(ALPHAS)} models; alpha=0 is the same teacher in both, so "
                f"{distinct} distinct forwards per decoded batch",
        "videos": "synthetic h264 clips (parameters.video_*): real benchmark videos are longer and larger "
                  "(YouCook2's are minutes long and seeked into; MiT, DiDeMo and WebVid vary), so decoding real "
                  "files is slower; the page cache is warm in these runs",
        "text_side": "each benchmark's text side (captions, UCF101's 4,848 prompts) is inside the grid run's rate "
                     "only as far as the synthetic MSR-VTT set has it (one caption per clip)",
        "weights": "random weights (pretrained=none): the same compute as the pretrained model",
    }
    return estimates, assumptions


# ----------------------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------------------


def run_check(dry_run: bool, command: str) -> dict[str, Any]:
    """Render the synthetic data, take every measurement, estimate the recipe; returns the JSON record."""
    import torch

    from fitclip.provenance import library_versions

    started = time.perf_counter()
    sizes = sizes_for(dry_run)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    mode = "dry-run" if dry_run else "real"
    log(f"gpu_check ({mode}): {sizes.arch} on {sizes.device}, precision {sizes.precision}")
    with tempfile.TemporaryDirectory(prefix="fitclip-gpu-check-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        n_train = sizes.train_labeled + sizes.train_pool
        videos = render_videos(tmp / "videos", max(sizes.eval_clips, n_train), sizes)
        eval_root, train_root = tmp / "eval_data", tmp / "train_data"
        write_msrvtt(eval_root, videos[:sizes.eval_clips])
        labeled_csv = write_webvid(train_root, videos[:n_train], sizes.train_labeled)
        render_s = time.perf_counter() - t0
        log(f"  rendered {len(videos)} synthetic videos in {render_s:.1f} s")
        device = torch.device(sizes.device)
        measured: dict[str, Any] = {"eval": measure_eval(eval_root, tmp, sizes, device, log)}
        cached_cfg = train_config(sizes, train_root, labeled_csv, tmp, "cached")
        measured["pseudo_labels"] = measure_pseudo_labels(
            cached_cfg.replace(num_workers=sizes.eval_workers), log)
        cached = measure_train(cached_cfg, sizes, device, log)
        online = measure_train(train_config(sizes, train_root, labeled_csv, tmp, "online"), sizes, device, log)
        measured["train"] = {
            "what": "fitclip.train.train with val_every=0: per-step seconds from metrics.jsonl (clips per step / "
                    "clips_per_s, data wait included), median after the warm-up steps",
            "arch": sizes.arch, "weights": "random (pretrained=none): timing only", "lam": cached_cfg.lam,
            "batch_size_labeled": sizes.batch_labeled, "batch_size_unlabeled": sizes.batch_unlabeled,
            "frames_per_clip": FRAMES_PER_CLIP, "steps": sizes.train_steps, "warmup_steps": sizes.train_warmup,
            "num_workers": sizes.train_workers, "precision": sizes.precision,
            "labeled_videos": sizes.train_labeled, "unlabeled_pool": sizes.train_pool,
            "cached": cached, "online": online,
            "ratio_cached_over_online": cached["median_step_s"] / online["median_step_s"],
        }
    estimates, assumptions = estimate(measured)
    cuda = sizes.device == "cuda"
    result = {
        "schema": SCHEMA,
        "mode": mode,
        "device": sizes.device,
        "device_name": torch.cuda.get_device_name() if cuda else (platform.processor() or platform.machine()),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "versions": library_versions(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "note": ("dry run: the tiny model on the CPU with a few clips; the numbers show the path runs, not what a "
                 "GPU does" if dry_run else "ViT-B-16 with random weights on one GPU; synthetic videos"),
        "parameters": {**asdict(sizes), "frames_per_clip": FRAMES_PER_CLIP, "alphas": ALPHAS,
                       "grid_students": list(GRID_STUDENTS), "render_seconds": render_s,
                       "video_codec": "h264 (libx264, crf 18, keyframe every video_gop frames) in mp4"},
        "measurements": measured,
        "estimates": estimates,
        "assumptions": assumptions,
    }
    result["total_seconds"] = time.perf_counter() - started
    return result


def summary(result: dict[str, Any], out: Path) -> str:
    m, e = result["measurements"], result["estimates"]
    ev, tr = m["eval"], m["train"]
    return "\n".join([
        f"gpu_check {result['mode']} on {result['device_name']} ({result['device']}), torch {result['torch']}:",
        f"  (a) eval {ev['arch']} {ev['precision']}: end-to-end {ev['end_to_end']['frames_per_s']:,.0f} frames/s, "
        f"forward-only {ev['forward_only']['frames_per_s']:,.0f} frames/s, ratio {ev['ratio']:.2f} "
        f"(goal >= {ev['goal']}: {'met' if ev['goal_met'] else 'NOT met'}); decode-only "
        f"{ev['decode_only']['frames_per_s']:,.0f} frames/s; grid of {ev['grid']['models']} models "
        f"{ev['grid']['clips_per_s']:,.1f} clips/s",
        f"  (b) train step {tr['batch_size_labeled']}+{tr['batch_size_unlabeled']} clips: cached "
        f"{tr['cached']['median_step_s'] * 1e3:,.1f} ms, online {tr['online']['median_step_s'] * 1e3:,.1f} ms "
        f"(cached/online {tr['ratio_cached_over_online']:.2f}); pseudo labels "
        f"{m['pseudo_labels']['clips_per_s']:,.1f} clips/s",
        f"  (c) paper recipe on one GPU: {e['total_hours']:,.2f} h = training {e['training']['seconds'] / 3600:,.2f} h"
        f" + validation {e['validation']['seconds'] / 3600:,.2f} h + pseudo labels "
        f"{e['pseudo_labels']['seconds'] / 3600:,.2f} h + grid {e['grid']['seconds'] / 3600:,.2f} h",
        f"  check took {result['total_seconds']:.0f} s; wrote {out}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="See the module docstring for what is measured.")
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU, the tiny fitclip-tiny model, a few clips: tests the path, measures nothing real")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"result JSON (default: {DEFAULT_OUT.relative_to(REPO)}; with --dry-run "
                             f"{DEFAULT_DRY_OUT.relative_to(REPO)})")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else (DEFAULT_DRY_OUT if args.dry_run else DEFAULT_OUT)
    try:
        if out.is_dir():
            raise CheckError(f"--out {out} is a directory; give a file path such as {out / 'gpu.json'}")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise CheckError("gpu_check measures one process on one GPU; run it with python, not torchrun")
        import torch

        if not args.dry_run and not torch.cuda.is_available():
            raise CheckError("no CUDA GPU is visible (torch.cuda.is_available() is False): this check times "
                             "ViT-B-16 on a GPU; pass --dry-run for the CPU dry mode (tiny model, a few clips)")
    except CheckError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = run_check(args.dry_run, " ".join(["benchmarks/gpu_check.py", *(sys.argv[1:] if argv is None else argv)]))
    from fitclip.files import write_json

    write_json(out, result)
    print(summary(result, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
