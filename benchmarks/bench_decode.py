"""4-frame decode rate vs forward-only rate, so we know which one bounds evaluation.

Renders 320x240 h264 clips (UCF101/MSR-VTT size, 5 s at 25 fps), then measures in one run:
  * decode: clips/s for `read_frames` of the 4 eval frames (decord and PyAV) + eval transform;
  * forward: clips/s for `encode_video` of pre-decoded [B, 4, 3, S, S] batches (fitclip-toy and ViT-B-16).
Usage: python benchmarks/bench_decode.py
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _common import write_result
from fitclip.models import load_clip
from fitclip.transforms import transforms_for
from fitclip.video import frame_indices, read_frames, video_info, write_video

N_CLIPS = 12
rng = np.random.default_rng(0)
with tempfile.TemporaryDirectory() as tmp:
    paths = []
    for i in range(N_CLIPS):
        base = rng.integers(0, 255, size=(1, 240, 320, 3), dtype=np.uint8)
        frames = np.roll(np.repeat(base, 125, axis=0), shift=i, axis=2)
        for t in range(125):
            frames[t] = np.roll(frames[t], t * 2, axis=1)
        paths.append(write_video(Path(tmp) / f"{i}.mp4", frames, fps=25))
    model_b16 = load_clip("ViT-B-16", None)
    _, eval_b16 = transforms_for(model_b16)
    decode = {}
    for backend in ("decord", "pyav"):
        t0 = time.perf_counter()
        for p in paths:
            n = video_info(p, backend=backend)["num_frames"]
            eval_b16(torch.from_numpy(read_frames(p, frame_indices(0, n - 1), backend=backend)))
        decode[backend] = N_CLIPS / (time.perf_counter() - t0)

forward = {}
for arch, batch, reps in (("fitclip-toy", 16, 5), ("ViT-B-16", 2, 1)):
    model = load_clip(arch, None)
    x = torch.randn(batch, 4, 3, model.image_size, model.image_size)
    with torch.no_grad():
        model.encode_video(x)  # warm-up
        t0 = time.perf_counter()
        for _ in range(reps):
            model.encode_video(x)
    forward[arch] = batch * reps / (time.perf_counter() - t0)

path = write_result("decode", {"clip": "320x240, 125 frames, h264", "decode_clips_per_s": decode,
                               "forward_clips_per_s": forward,
                               "decode_over_forward_vit_b16": decode["decord"] / forward["ViT-B-16"]})
print("| what | clips/s (4 frames) |\n|---|---|")
for k, v in decode.items():
    print(f"| decode + eval transform, {k} | {v:.1f} |")
for k, v in forward.items():
    print(f"| forward only, {k} | {v:.2f} |")
print(f"wrote {path}")
