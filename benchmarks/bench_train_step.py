"""Training step time: cached teacher pseudo labels vs the online teacher, on the same batch.

    python benchmarks/bench_train_step.py [--models fitclip-toy,ViT-B-16] [--steps 8,1] [--no-data]

For each model (random weights) one student + AdamW is built, and the SAME batch is used for both modes:
8 labeled + 8 unlabeled clips of 4 frames (per process, the paper's batch), plus for the online teacher its
own 8-clip view of the unlabeled videos. A step is what `fitclip.train` does per step:

* cached: look the teacher's video/caption embeddings up (fp16 → fp32), student forward on 16 clips +
  16 captions, losses, backward, AdamW step;
* online: the same, plus the frozen teacher's forward on its own 8 clips and the 8 captions.

Steps alternate cached/online after one untimed warm-up step (which allocates AdamW's state); the median
per mode is reported and the ratio cached/online is computed within the run (target: ≤ 0.7), from wall
time and from process CPU time (steadier when other jobs share the CPU; 1 torch thread by default).
With data (default for every model but ViT-B-16): the step also loads its clips from mp4 files the way
the trainer does (VideoDataset, train sampler + transform, num_workers=0), so the online mode also decodes
and augments the teacher's second view; the data-only and compute-only parts are reported separately
(CPU time), which bracket the cases "data loading hidden by workers" and "data bound". Results: benchmarks/results/train_step.json + a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fitclip.annotations import VideoItem  # noqa: E402
from fitclip.config import config_from_dict  # noqa: E402
from fitclip.datasets import VideoDataset, collate_clips  # noqa: E402
from fitclip.start_weights import load_start_weights  # noqa: E402
from fitclip.streams import UnlabeledViews, collate_views  # noqa: E402
from fitclip.train import build_teacher, compute_losses  # noqa: E402
from fitclip.transforms import transforms_for  # noqa: E402

COLOURS = ["red", "green", "blue", "yellow", "white", "black", "purple", "orange"]


VIDEO_FRAMES, VIDEO_GOP = 100, 25


def make_videos(root: Path, n: int, size: tuple[int, int], frames: int = VIDEO_FRAMES) -> list[VideoItem]:
    """Smooth synthetic clips (a gradient, a moving square, mild noise): 4 s of h264 at 25 fps, a keyframe
    every second (so sampling 4 frames seeks and decodes as in real footage)."""
    from fitclip.video import write_video
    rng = np.random.default_rng(0)
    w, h = size
    items = []
    for i in range(n):
        ramp = np.linspace(40, 200, w)[None, :, None] * np.ones((h, 1, 3))
        video = np.repeat(ramp[None], frames, 0) + rng.normal(0, 4, (frames, h, w, 3))
        side = h // 3
        for t in range(frames):
            x = (t * 4 + i * 7) % (w - side)
            video[t, h // 3:h // 3 + side, x:x + side] = (200, 40 + 20 * (i % 8), 60)
        path = write_video(root / f"{i}.mp4", np.clip(video, 0, 255).astype(np.uint8), fps=25,
                           options={"g": str(VIDEO_GOP)})
        items.append(VideoItem(key=str(i), video_id=str(i), path=path, text=f"a {COLOURS[i % 8]} video number {i}"))
    return items


def bench_model(arch: str, steps: int, with_data: bool, video_size: tuple[int, int], tmp: Path) -> dict:
    cfg = config_from_dict({"arch": arch, "pretrained": "none", "lam": 1e-4, "teacher_mode": "online"})
    student = load_start_weights(cfg).train()
    teacher = build_teacher(student)
    student.clip.logit_scale.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=cfg.lr,
                                  betas=cfg.betas, weight_decay=cfg.weight_decay)
    train_tf, _ = transforms_for(student)
    video_desc = f"mp4 {video_size[0]}x{video_size[1]}, {VIDEO_FRAMES} frames, GOP {VIDEO_GOP}, 0 workers"
    b = cfg.batch_size_labeled
    items = make_videos(tmp / arch, 2 * b, video_size) if with_data else None
    g = torch.Generator().manual_seed(0)
    s = student.image_size

    def clips(n: int) -> dict:
        return {"frames": torch.randn(n, cfg.num_frames, 3, s, s, generator=g), "lengths": torch.full((n,), cfg.num_frames)}

    texts = [f"a {COLOURS[i % 8]} video number {i}" for i in range(2 * b)]
    fixed = {"labeled": clips(b), "unlabeled": clips(b), "teacher": clips(b)}
    with torch.no_grad():  # the cache: fp16 teacher embeddings of the unlabeled videos and captions
        cache_video = teacher.encode_video(fixed["unlabeled"]["frames"]).half()
        cache_text = teacher.encode_text(teacher.tokenize(texts[b:])).half()
    cache = {str(b + i): (cache_video[i], cache_text[i]) for i in range(b)}
    labeled_ds = VideoDataset(items[:b], cfg.num_frames, "train", train_tf, seed=1) if with_data else None
    online_ds = UnlabeledViews(VideoDataset(items[b:], cfg.num_frames, "train", train_tf, seed=2),
                               VideoDataset(items[b:], cfg.num_frames, "train", train_tf, seed=3)) if with_data else None
    cached_ds = UnlabeledViews(VideoDataset(items[b:], cfg.num_frames, "train", train_tf, seed=2)) if with_data else None

    def step(mode: str) -> dict[str, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        if with_data:
            lab = collate_clips([labeled_ds[i] for i in range(b)])
            unl = collate_views([(online_ds if mode == "online" else cached_ds)[i] for i in range(b)])
        else:
            lab, unl = fixed["labeled"], {**fixed["unlabeled"], "teacher_frames": fixed["teacher"]["frames"],
                                          "teacher_lengths": fixed["teacher"]["lengths"]}
        keys = [str(b + i) for i in range(b)]
        t1, c1 = time.perf_counter(), time.process_time()
        lab_in = {"frames": lab["frames"], "lengths": lab["lengths"], "tokens": student.tokenize(texts[:b])}
        unl_tokens = student.tokenize(texts[b:])
        unl_in = {"frames": unl["frames"], "lengths": unl["lengths"], "tokens": unl_tokens}
        if mode == "cached":
            tv = torch.stack([cache[k][0] for k in keys]).float()
            tt = torch.stack([cache[k][1] for k in keys]).float()
        else:
            with torch.no_grad():
                tv = teacher.encode_video(unl["teacher_frames"], unl["teacher_lengths"]).float()
                tt = teacher.encode_text(unl_tokens).float()
        losses = compute_losses(student, cfg, lab_in, unl_in, tv, tt)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        assert torch.isfinite(losses["total"])
        t2, c2 = time.perf_counter(), time.process_time()
        return {"wall": t2 - t0, "cpu": c2 - c0, "data_cpu": c1 - c0, "compute_cpu": c2 - c1}

    step("cached")  # warm-up: allocates AdamW's state
    times: dict[str, dict[str, list[float]]] = {m: {} for m in ("cached", "online")}
    for i in range(steps):
        for mode in (("cached", "online") if i % 2 == 0 else ("online", "cached")):
            for k, v in step(mode).items():
                times[mode].setdefault(k, []).append(v)
    med = {m: {k: statistics.median(v) for k, v in t.items()} for m, t in times.items()}
    ratio = {k: med["cached"][k] / med["online"][k] for k in med["cached"] if med["online"][k] > 0}
    return {"arch": arch, "params_M": round(sum(p.numel() for p in student.parameters()) / 1e6, 2),
            "image_size": s, "with_data": with_data, "video": video_desc if with_data else None,
            "steps_per_mode": steps, "cached_s": med["cached"]["wall"], "online_s": med["online"]["wall"],
            "ratio_wall": ratio["wall"], "cached_cpu_s": med["cached"]["cpu"], "online_cpu_s": med["online"]["cpu"],
            "ratio_cpu": ratio["cpu"], "ratio_compute_cpu": ratio["compute_cpu"],
            "ratio_data_cpu": ratio.get("data_cpu") if with_data else None, "medians": med, "times": times}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="fitclip-toy,ViT-B-16")
    p.add_argument("--steps", default="8,1", help="timed steps per mode, per model")
    p.add_argument("--no-data", action="store_true", help="compute only (in-memory clips) for every model")
    p.add_argument("--video-size", default="320x180", help="WxH of the synthetic mp4s for the with-data rows")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: stable on a shared CPU)")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "train_step.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = args.models.split(",")
    steps = [int(x) for x in args.steps.split(",")]
    steps += [steps[-1]] * (len(models) - len(steps))
    w, h = (int(x) for x in args.video_size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch, n in zip(models, steps):
            rows.append(bench_model(arch, n, False, (w, h), Path(tmp)))
            print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("medians", "times")}), flush=True)
            if not args.no_data and arch != "ViT-B-16":
                rows.append(bench_model(arch, n, True, (w, h), Path(tmp)))
                print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("medians", "times")}), flush=True)
    result = {"benchmark": "train step: cached teacher vs online teacher, same batch (8 labeled + 8 unlabeled, 4 frames)",
              "device": "cpu", "cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
              "torch": torch.__version__, "target_ratio": 0.7, "load_average": list(os.getloadavg()), "rows": rows,
              "command": "python benchmarks/bench_train_step.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| model | params (M) | data loading | steps/mode | cached step (s) | online step (s) | cached / online "
          "wall | cached / online CPU time | compute only (CPU) | data only (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        data = r["video"] if r["with_data"] else "none (in-memory clips)"
        print(f"| {r['arch']} | {r['params_M']} | {data} | {r['steps_per_mode']} | {r['cached_s']:.3f} | "
              f"{r['online_s']:.3f} | {r['ratio_wall']:.2f} | {r['ratio_cpu']:.2f} | {r['ratio_compute_cpu']:.2f} | "
              + (f"{r['ratio_data_cpu']:.2f} |" if r["ratio_data_cpu"] is not None else "– |"))
    print(f"\nCPU, {result['torch_threads']} torch thread(s), torch {torch.__version__}, load average "
          f"{result['load_average'][0]:.1f}; medians; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
