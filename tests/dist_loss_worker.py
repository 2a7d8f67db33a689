"""Run under torchrun by tests/test_losses.py: losses and DDP gradients on this rank's half of a batch."""

import json
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F

from fitclip.losses import distillation_loss, labeled_loss

N, D, TAU = 8, 6, 0.05


def compute(rank: int, world: int) -> dict:
    g = torch.Generator().manual_seed(0)
    frames, texts = torch.randn(N, 10, generator=g), torch.randn(N, 10, generator=g)
    teacher_v, teacher_t = F.normalize(torch.randn(N, D, generator=g), dim=-1), F.normalize(torch.randn(N, D, generator=g), dim=-1)
    prompts = torch.randn(5, 10, generator=g)
    enc = torch.nn.Linear(10, D)
    with torch.no_grad():
        enc.weight.copy_(torch.randn(D, 10, generator=g))
        enc.bias.zero_()
    model = torch.nn.parallel.DistributedDataParallel(enc) if world > 1 else enc
    part = slice(rank * N // world, (rank + 1) * N // world)
    v, t = F.normalize(model(frames[part]), dim=-1), F.normalize(model(texts[part]), dim=-1)
    lab = labeled_loss(v, t, TAU)
    dis = distillation_loss(v, t, teacher_v[part], teacher_t[part], TAU)
    p = F.normalize(enc(prompts), dim=-1)
    dis_shared = distillation_loss(v, p, teacher_v[part], F.normalize(prompts[:, :D], dim=-1), TAU, shared_text=True)
    (lab + dis).backward()
    return {"labeled": lab.item(), "distill": dis.item(), "distill_shared_prompts": dis_shared.item(),
            "grad": enc.weight.grad.tolist()}


if __name__ == "__main__":
    dist.init_process_group("gloo")
    out = compute(dist.get_rank(), dist.get_world_size())
    with open(os.path.join(os.environ["FITCLIP_OUT"], f"rank{dist.get_rank()}.json"), "w") as f:
        json.dump(out, f)
    dist.barrier()
    dist.destroy_process_group()
