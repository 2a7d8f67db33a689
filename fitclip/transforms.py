"""Clip transforms (torchvision v2 on whole clips).

A clip tensor `[T, 3, H, W]` is one "image" with a leading batch dimension for torchvision v2, so every
random parameter (crop box, interpolation, flip) is drawn ONCE per clip and shared by all its frames,
which keeps the motion inside the clip intact.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2

from fitclip.models import VideoCLIP


class ClipTransform:
    """uint8 frames `[T, H, W, 3]` (as decoded) → normalised float frames `[T, 3, S, S]`."""

    def __init__(self, pipeline: Callable[[torch.Tensor], torch.Tensor], train: bool) -> None:
        self.pipeline = pipeline
        self.train = train

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        frames = torch.as_tensor(frames)
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames [T, H, W, 3], got {frames.dtype} {tuple(frames.shape)}")
        return self.pipeline(frames.permute(0, 3, 1, 2).contiguous())

    def __repr__(self) -> str:
        return f"ClipTransform(train={self.train}, {self.pipeline})"


class _Crops:
    """Eval crops of a resized clip ``[T, 3, H, W]`` (shorter side = `size`): 1 = the centre square; 3 = the
    squares at the start, centre and end of the longer side (the usual three-crop test), stacked crop-major
    as ``[3T, 3, size, size]``."""

    def __init__(self, size: int, crops: int) -> None:
        if crops not in (1, 3):
            raise ValueError(f"crops must be 1 or 3, got {crops}")
        self.size, self.crops = size, crops

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        h, w = clip.shape[-2:]
        s = self.size
        if self.crops == 1:
            return v2.functional.center_crop(clip, [s, s])
        long_side, centre = (w, (h - s) // 2) if w >= h else (h, (w - s) // 2)
        starts = (0, (long_side - s) // 2, long_side - s)
        boxes = [(centre, a) if w >= h else (a, centre) for a in starts]  # (top, left)
        return torch.cat([v2.functional.crop(clip, top, left, s, s) for top, left in boxes])

    def __repr__(self) -> str:
        return f"Crops(size={self.size}, crops={self.crops})"


def clip_transform(image_size: int, mean: Sequence[float], std: Sequence[float], train: bool = False,
                   hflip: bool = True, crops: int = 1) -> ClipTransform:
    """The FitCLIP frame transforms.

    Eval: bicubic resize of the shorter side to `image_size`, center crop, CLIP mean/std.
    Train: one RandomResizedCrop (scale 0.5–1, ratio 3/4–4/3, interpolation drawn from
    bilinear/bicubic) and one horizontal flip (p=0.5), both shared by all frames of the clip.

    Args:
        image_size: the model's square input size.
        mean, std: per-channel normalisation of the pretrained weights.
        train: which of the two pipelines.
        hflip: the train pipeline's horizontal flip (off where captions name a direction).
        crops: eval only: 1 (centre crop, FitCLIP's) or 3 (start, centre and end of the longer side; the clip
            comes out as ``[3T, 3, S, S]``, so its embedding averages the three crops' frames).
    """
    finish = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]
    if train:
        crop = v2.RandomChoice([
            v2.RandomResizedCrop(image_size, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3),
                                 interpolation=mode, antialias=True)
            for mode in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)])
        steps = [crop, v2.RandomHorizontalFlip(p=0.5)] if hflip else [crop]
    elif crops == 1:
        steps = [v2.Resize(image_size, interpolation=InterpolationMode.BICUBIC, antialias=True),
                 v2.CenterCrop(image_size)]
    else:
        steps = [v2.Resize(image_size, interpolation=InterpolationMode.BICUBIC, antialias=True),
                 _Crops(image_size, crops)]
    return ClipTransform(v2.Compose(steps + finish), train=train)


def transforms_for(model: VideoCLIP, hflip: bool = True) -> tuple[ClipTransform, ClipTransform]:
    """(train, eval) clip transforms matching a model's input size and normalisation (`hflip`: the train
    pipeline's horizontal flip)."""
    return (clip_transform(model.image_size, model.mean, model.std, train=True, hflip=hflip),
            clip_transform(model.image_size, model.mean, model.std, train=False))
