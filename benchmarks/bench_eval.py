"""Evaluation throughput: does the decode pipeline keep the model busy?

For each scenario (a model + a synthetic video format), on a synthetic MSR-VTT-layout dataset rendered
to a temp dir:

* **forward-only**: the clips are decoded and transformed beforehand; only ``model.encode_video`` runs
  over the same batches (same batch size) -> the model's own throughput;
* **end-to-end**: the video pass of ``fitclip.evaluate`` (DataLoader with N decode workers + the model,
  what ``evaluate`` does before scoring) -> clips/s as a user sees it;
* **busy ratio** = forward-only time / end-to-end time (1.0: decoding is fully hidden behind the model;
  target >= 0.8);
* a per-item decode profile (main process): ``video_info`` + ``read_frames`` (two opens, the old
  ``VideoDataset`` path), the single-open path, and the eval transform;
* "before" runs: the same end-to-end pass with ``VideoDataset`` forced back to the two-open path.

On a 2-core CPU the decode workers and the model compete for the same cores, so "busy" there means
"the model is not waiting for data", not "the cores are idle". The models run with torch's default
intra-op threads in the main process; workers use 1 thread each (PyTorch sets that in workers).

Usage::

    .venv/bin/python benchmarks/bench_eval.py --threads 1          # all scenarios (~15 min on 2 cores)
    .venv/bin/python benchmarks/bench_eval.py --scenarios toy-64px --workers 0 2

Writes ``benchmarks/results/eval_throughput.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fitclip import video as V  # noqa: E402
from fitclip.annotations import Annotations, load_annotations  # noqa: E402
from fitclip.datasets import VideoDataset, collate_clips  # noqa: E402
from fitclip.provenance import library_versions  # noqa: E402
from fitclip.encoding import encode_pass, shared_transform  # noqa: E402
from fitclip.evaluate import EvalModel, evaluate  # noqa: E402
from fitclip.models import load_clip  # noqa: E402


@dataclass(frozen=True)
class VideoSpec:
    """Synthetic video format: size, length, rate and keyframe interval (x264 `g`)."""

    name: str
    width: int
    height: int
    frames: int
    fps: float
    gop: int


VIDEO_SPECS = {
    # The synthetic demo world's format (fitclip.toyworld: 64x64, 21 frames at 10 fps).
    "64px": VideoSpec("64px", 64, 64, 21, 10.0, 21),
    # Benchmark-like: UCF101/MSR-VTT-sized 320x240, 4 s at 25 fps, a keyframe every 2 s.
    "240p": VideoSpec("240p", 320, 240, 100, 25.0, 50),
}

# scenario -> (model, video format, clips, repeats). Each timing is the best of `repeats` interleaved runs:
# the machine may be shared, and the minimum is the least disturbed measurement.
SCENARIOS = {
    "toy-64px": ("fitclip-toy", "64px", 512, 3),
    "toy-240p": ("fitclip-toy", "240p", 128, 3),
    "vitb16-240p": ("ViT-B-16", "240p", 32, 1),
}


def _render_one(args: tuple[str, int, VideoSpec]) -> None:
    path, seed, spec = args
    if os.path.isfile(path):
        return
    rng = np.random.default_rng(seed)
    canvas = rng.integers(0, 256, (spec.height // 8 + 2, spec.width // 8 + 2 + spec.frames, 3), dtype=np.uint8)
    canvas = np.kron(canvas, np.ones((8, 8, 1), np.uint8))  # 8x8 blocks: compressible, like real content
    frames = np.stack([canvas[:spec.height, 8 * t // 4: 8 * t // 4 + spec.width] for t in range(spec.frames)])
    V.write_video(path, np.ascontiguousarray(frames), fps=spec.fps, options={"g": str(spec.gop)})


def render_dataset(root: Path, spec: VideoSpec, n: int) -> Annotations:
    """An MSR-VTT-layout dataset of `n` synthetic videos under ``root/<spec>/msrvtt`` (reused if present)."""
    data_root = root / spec.name
    ds_root = data_root / "msrvtt"
    (ds_root / "videos" / "all").mkdir(parents=True, exist_ok=True)
    with open(ds_root / "MSRVTT_JSFUSION_test.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["key", "vid_key", "video_id", "sentence"])
        for i in range(n):
            writer.writerow([f"ret{i}", f"msr{i}", f"video{i}", f"synthetic clip number {i}"])
    jobs = [(str(ds_root / "videos" / "all" / f"video{i}.mp4"), i, spec) for i in range(n)]
    with mp.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        pool.map(_render_one, jobs, chunksize=4)
    return load_annotations("msrvtt", data_root)


def _two_open_plan_and_read(self: VideoDataset, index: int, backend: str | None = None):
    """The pre-change VideoDataset path: video_info (open + decode frame 0), then read_frames (open again)."""
    plan = self.plan(index)
    return plan, V.read_frames(self.items[index].path, plan["frame_indices"], backend=backend or self.backend)


def decode_profile(annotations: Annotations, transform, n: int = 32, rounds: int = 3) -> dict[str, float]:
    """Mean milliseconds per item, in this process, over the first `n` items: the best of `rounds`
    interleaved rounds (after one warm-up), so outside load hits each path alike."""
    ds = VideoDataset(annotations, transform=None)
    items = range(min(n, len(ds)))
    _, frames = ds._plan_and_read(0)
    frames = torch.as_tensor(frames)
    paths = {
        "two_open_ms": lambda i: _two_open_plan_and_read(ds, i),
        "single_open_ms": lambda i: ds._plan_and_read(i),
        "video_info_only_ms": lambda i: V.video_info(ds.items[i].path),
        "transform_ms": lambda i: transform(frames),
    }
    best = {name: float("inf") for name in paths}
    for _ in range(rounds):
        for name, fn in paths.items():
            t = time.perf_counter()
            for i in items:
                fn(i)
            best[name] = min(best[name], (time.perf_counter() - t) / len(items) * 1e3)
    return best


def forward_only(model, annotations: Annotations, transform, batch_size: int) -> float:
    """Seconds for encode_video over pre-decoded batches (one warm-up batch not counted)."""
    ds = VideoDataset(annotations, transform=transform)
    batches = []
    for lo in range(0, len(ds), batch_size):
        batch = collate_clips([ds[i] for i in range(lo, min(lo + batch_size, len(ds)))])
        batches.append((batch["frames"], batch["lengths"]))
    with torch.inference_mode():
        model.encode_video(*batches[0])
        t = time.perf_counter()
        for frames, lengths in batches:
            model.encode_video(frames, lengths)
        return time.perf_counter() - t


def end_to_end(model, annotations: Annotations, transform, batch_size: int, workers: int,
               two_open: bool = False) -> float:
    """Seconds for evaluate's video pass (DataLoader + model), worker start-up included."""
    original = VideoDataset._read
    if two_open:
        VideoDataset._read = _two_open_plan_and_read  # forked workers inherit the patch
    try:
        t = time.perf_counter()
        encode_pass({"m": EvalModel(model)}, annotations, range(len(annotations)), num_frames=4,
                       batch_size=batch_size, num_workers=workers, backend="decord", device=torch.device("cpu"),
                       transform=transform, progress=False)
        return time.perf_counter() - t
    finally:
        VideoDataset._read = original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--before-workers", type=int, nargs="*", default=[2],
                        help="worker counts to also run with the old two-open decode path")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=None, help="override each scenario's number of repeats")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads of the model process (default: torch's default, one per core)")
    parser.add_argument("--data-dir", type=Path, default=None, help="render/reuse videos here (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "eval_throughput.json")
    args = parser.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    tmp = None
    if args.data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="fitclip-bench-")
        args.data_dir = Path(tmp.name)
    results = []
    for scenario in args.scenarios:
        arch, spec_name, n, repeats = SCENARIOS[scenario]
        repeats = args.repeats or repeats
        spec = VIDEO_SPECS[spec_name]
        t = time.perf_counter()
        annotations = render_dataset(args.data_dir, spec, n)
        render_s = time.perf_counter() - t
        torch.manual_seed(0)
        model = load_clip(arch, None)
        transform, _ = shared_transform({"m": EvalModel(model)})
        load_before = os.getloadavg()
        print(f"[{scenario}] {n} clips of {spec.width}x{spec.height}x{spec.frames} (rendered in {render_s:.0f} s), "
              f"model {arch}, torch threads {torch.get_num_threads()}, best of {repeats}, "
              f"load average {load_before[0]:.1f}", flush=True)
        profile = decode_profile(annotations, transform)
        configs = [(w, False) for w in args.workers] + [(w, True) for w in args.before_workers]
        fwd_times: list[float] = []
        e2e_times: dict[tuple[int, bool], list[float]] = {c: [] for c in configs}
        for rep in range(repeats):  # interleaved, so a burst of outside load hits every config alike
            fwd_times.append(forward_only(model, annotations, transform, args.batch_size))
            for workers, two_open in configs:
                e2e_times[(workers, two_open)].append(
                    end_to_end(model, annotations, transform, args.batch_size, workers, two_open))
            print(f"  repeat {rep}: forward-only {fwd_times[-1]:.2f} s, end-to-end "
                  f"{ {f'{w}w' + ('-before' if b else ''): round(v[-1], 2) for (w, b), v in e2e_times.items()} }",
                  flush=True)
        fwd = min(fwd_times)
        runs = []
        for (workers, two_open), times in e2e_times.items():
            e2e = min(times)
            runs.append({"workers": workers, "decode_path": "two-open (before)" if two_open else "single-open",
                         "seconds": round(e2e, 3), "all_seconds": [round(x, 3) for x in times],
                         "clips_per_s": round(n / e2e, 2), "busy_ratio": round(fwd / e2e, 3)})
        t = time.perf_counter()
        evaluate(model, annotations, num_workers=max(args.workers), batch_size=args.batch_size, progress=False)
        total = time.perf_counter() - t
        results.append({"scenario": scenario, "model": arch, "video": asdict(spec), "n_clips": n,
                        "batch_size": args.batch_size, "repeats": repeats,
                        "load_average_1min": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
                        "forward_only": {"seconds": round(fwd, 3), "all_seconds": [round(x, 3) for x in fwd_times],
                                         "clips_per_s": round(n / fwd, 2)},
                        "decode_profile_ms_per_item": {k: round(v, 2) for k, v in profile.items()},
                        "end_to_end": runs,
                        "evaluate_total": {"workers": max(args.workers), "seconds": round(total, 3),
                                           "clips_per_s": round(n / total, 2)}})
    cli_args = argv if argv is not None else sys.argv[1:]
    command = " ".join([Path(sys.executable).name, "benchmarks/bench_eval.py", *cli_args])
    for r in results:
        r.update(torch_threads=torch.get_num_threads(), command=command)
    # Merge into an existing report: a run replaces only its own (scenario, threads) entries.
    previous = []
    if args.out.is_file():
        try:
            previous = json.loads(args.out.read_text()).get("results", [])
        except (json.JSONDecodeError, AttributeError):
            previous = []
    done = {(r["scenario"], r["torch_threads"]) for r in results}
    merged = [r for r in previous if (r.get("scenario"), r.get("torch_threads")) not in done] + results
    report = {
        "benchmark": "benchmarks/bench_eval.py",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor(),
                    "device": "cpu"},
        "versions": library_versions(),
        "note": ("busy_ratio = forward-only seconds / end-to-end seconds over the same clips and batch size, "
                 "each the best of `repeats` interleaved runs; end-to-end includes DataLoader worker start-up. "
                 "Decode workers and the model share the machine's cores; load_average_1min shows how busy "
                 "the machine was with other work (before, after). Entries are keyed by (scenario, "
                 "torch_threads); each records the command that produced it."),
        "results": merged,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"wrote {args.out}")
    if tmp is not None:
        tmp.cleanup()
    return 0


def markdown(report: dict) -> str:
    lines = ["| scenario | threads | clips | forward-only clips/s | workers | decode path | end-to-end clips/s "
             "| busy ratio |", "|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        for run in r["end_to_end"]:
            lines.append(f"| {r['scenario']} | {r.get('torch_threads')} | {r['n_clips']} | "
                         f"{r['forward_only']['clips_per_s']:.2f} | {run['workers']} | {run['decode_path']} | "
                         f"{run['clips_per_s']:.2f} | {run['busy_ratio']:.2f} |")
    lines += ["", "| scenario | threads | two-open ms/item | single-open ms/item | video_info ms | transform ms |",
              "|---|---|---|---|---|---|"]
    for r in report["results"]:
        p = r["decode_profile_ms_per_item"]
        lines.append(f"| {r['scenario']} | {r.get('torch_threads')} | {p['two_open_ms']:.1f} | "
                     f"{p['single_open_ms']:.1f} | {p['video_info_only_ms']:.1f} | {p['transform_ms']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
