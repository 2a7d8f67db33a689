"""Time `fitclip.fusion.fuse` on two ViT-B-16 state dicts (random weights) at α=0.5.

Reference point within the same run: one plain `torch.lerp` over all tensors (the arithmetic alone),
so the ratio says how much the key-by-key loop, dtype handling and checks cost.
Usage: python benchmarks/bench_fusion.py
"""

import torch

from _common import best_of, write_result
from fitclip.fusion import fuse
from fitclip.models import load_clip

torch.manual_seed(0)
teacher = load_clip("ViT-B-16", None).clip.state_dict()
torch.manual_seed(1)
student = load_clip("ViT-B-16", None).clip.state_dict()
n_params = sum(v.numel() for v in teacher.values())

fuse_s = best_of(lambda: fuse(teacher, student, 0.5))
lerp_s = best_of(lambda: [torch.lerp(teacher[k], student[k], 0.5) for k in teacher])
result = {"state_dict_params": n_params, "tensors": len(teacher), "fuse_seconds": fuse_s,
          "plain_lerp_seconds": lerp_s, "fuse_over_lerp": fuse_s / lerp_s}
path = write_result("fusion", result)
print(f"| ViT-B-16 fuse (α=0.5) | {fuse_s:.3f} s | plain lerp {lerp_s:.3f} s | ratio {fuse_s / lerp_s:.2f} |")
print(f"wrote {path}")
