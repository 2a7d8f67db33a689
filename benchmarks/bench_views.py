"""What multi-view testing costs: seconds per video of `evaluate`'s decode + encode pass for each `views` option
(frames x clips x crops), as ratios to FitCLIP's 4 x 1 x 1 within one run.

Renders 320x240 h264 clips (UCF101/MSR-VTT size, 5 s at 25 fps) in a folder benchmark, then times
`fitclip.encoding.encode_videos` (the pass `evaluate` runs before scoring: decode once per video, every view's
frames through the model) with ViT-B-16 (random weights) in this process, for 4x1x1, 8x1x1, 8x3x1 and 8x3x3.
Usage: python benchmarks/bench_views.py
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _common import write_result
from fitclip.annotations import load_annotations
from fitclip.encoding import encode_videos
from fitclip.models import load_clip
from fitclip.video import write_video

N_CLIPS = 6
VIEWS = ((4, 1, 1), (8, 1, 1), (8, 3, 1), (8, 3, 3))
torch.set_num_threads(2)
rng = np.random.default_rng(0)
model = load_clip("ViT-B-16", None)
seconds = {}
with tempfile.TemporaryDirectory() as tmp:
    for i in range(N_CLIPS):
        base = rng.integers(0, 255, size=(1, 240, 320, 3), dtype=np.uint8)
        frames = np.roll(np.repeat(base, 125, axis=0), shift=i, axis=2)
        for t in range(125):
            frames[t] = np.roll(frames[t], t * 2, axis=1)
        write_video(Path(tmp) / f"{i}.mp4", frames, fps=25)
    annotations = load_annotations("folder", tmp)
    encode_videos(model, annotations, [0], num_frames=4, num_workers=0, progress=False)  # warm-up
    for f, c, k in VIEWS:
        t0 = time.perf_counter()
        encode_videos(model, annotations, num_frames=f, num_clips=c, num_crops=k, batch_size=2, num_workers=0,
                      progress=False)
        seconds[f"{f}x{c}x{k}"] = (time.perf_counter() - t0) / N_CLIPS
base = seconds["4x1x1"]
path = write_result("views", {"clip": "320x240, 125 frames, h264", "model": "ViT-B-16 (random weights), CPU, 2 threads",
                              "seconds_per_video": seconds, "ratio_to_4x1x1": {v: s / base for v, s in seconds.items()},
                              "frames_encoded": {f"{f}x{c}x{k}": f * c * k for f, c, k in VIEWS}})
print("| views (frames x clips x crops) | frames encoded | s / video | x 4x1x1 |\n|---|---:|---:|---:|")
for (f, c, k), (name, s) in zip(VIEWS, seconds.items()):
    print(f"| {name} | {f * c * k} | {s:.2f} | {s / base:.1f} |")
print(f"wrote {path}")
