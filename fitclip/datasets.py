"""The generic torch dataset over benchmark annotations: which frames each item uses, their decoding, batching.

:func:`fitclip.annotations.load_annotations` reads a benchmark into :class:`~fitclip.annotations.Annotations`
(a list of :class:`~fitclip.annotations.VideoItem`); :class:`VideoDataset` decodes the sampled frames of each
item with :mod:`fitclip.video` (FitCLIP's sampler over the item's clip window, :func:`clip_plan`), and
:func:`collate_clips` pads clips of different lengths into one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from fitclip.annotations import Annotations, VideoItem

__all__ = ["VideoDataset", "clip_plan", "collate_clips"]


def _item_seed(seed: int, epoch: int, index: int) -> int:
    """A per-(seed, epoch, index) seed without the collisions of a plain sum."""
    return ((seed * 1_000_003 + epoch) * 1_000_000_007 + index) % (2**63 - 1)


def clip_plan(item: VideoItem, info: Mapping[str, Any], num_frames: int = 4, mode: str = "eval",
              generator: torch.Generator | None = None, num_clips: int = 1) -> dict[str, Any]:
    """Which frames of a video an item uses, given the video's metadata (no file access).

    The clip window (``item.start``/``item.end`` seconds, or the whole video) is mapped to frames with
    ``fitclip.video.time_to_frame`` (nearest frame centre) and clamped to the video, then FitCLIP's
    sampler ``fitclip.video.frame_indices`` picks up to ``num_frames`` frames inside it.

    Args:
        item: the item (its ``start``/``end``).
        info: ``fitclip.video.video_info(path)`` (``num_frames``, ``frame_times``, ``duration``, ``fps``).
        num_frames: frames to pick at most.
        mode: ``"eval"`` (deterministic) or ``"train"`` (random, drawn with `generator`).
        generator: torch RNG for ``"train"``.
        num_clips: temporal clips of the window (multi-view testing, :func:`fitclip.video.multi_clip_indices`):
            up to ``num_frames`` frames from each, in time order.

    Returns:
        ``{"frame_indices", "start_frame", "end_frame", "num_frames", "fps", "duration",
        "clip_end_past_video", "clip_start_past_video"}``; the two flags say the window's end (start)
        lies past the video's duration, in which case the window was clamped to the last frame.

    Raises:
        fitclip.video.VideoDecodeError: the video has no frames.
    """
    from fitclip import video as V

    n = int(info["num_frames"])
    if n <= 0:
        raise V.VideoDecodeError(f"{item.path}: the video has no frames (item {item.key!r})")
    duration = float(info.get("duration") or 0.0)
    last = n - 1
    start_frame = 0 if item.start is None else min(max(V.time_to_frame(info["frame_times"], item.start), 0), last)
    end_frame = last if item.end is None else min(max(V.time_to_frame(info["frame_times"], item.end), 0), last)
    end_frame = max(end_frame, start_frame)
    indices = [int(i) for i in V.multi_clip_indices(start_frame, end_frame, num_frames=num_frames,
                                                    num_clips=num_clips, mode=mode, generator=generator)]
    return {
        "frame_indices": indices,
        "start_frame": start_frame,
        "end_frame": end_frame,
        "num_frames": n,
        "fps": info.get("fps"),
        "duration": duration,
        "clip_end_past_video": item.end is not None and item.end > duration,
        "clip_start_past_video": item.start is not None and item.start >= duration,
    }


class VideoDataset(Dataset):
    """One generic dataset over an :class:`Annotations` (or a list of :class:`VideoItem`).

    ``dataset[i]`` decodes only the sampled frames of item ``i`` (of each of its ``num_clips`` clips) and returns
    ``{"index": i, "key": str, "frames": Tensor, "length": T, "frame_indices": list[int],
    "clip_end_past_video": bool}``; ``frames`` is uint8 ``[T, H, W, 3]``, or whatever ``transform``
    returns for it (the model's clip transform gives float ``[T, 3, H, W]``).

    Clip windows (``start``/``end`` seconds) are mapped to frames with ``fitclip.video.time_to_frame``
    and clamped to the video; ``clip_end_past_video`` records an end past the video's duration. In
    ``mode="train"`` frame picks are random with a generator seeded from ``(seed, epoch, index)``
    (call :meth:`set_epoch` each epoch), so runs are reproducible. A file that is missing or does not
    decode, or a clip that starts at or after the video's end (none of its frames exists), raises
    ``fitclip.video.VideoDecodeError``: frames are never replaced by black ones or by the last frame.

    With ``fallback="pyav"``, a file that ``backend`` cannot open or decode is read again with PyAV (decord
    0.6 rejects some small widths, e.g. 48x32 H.264, that PyAV reads; both backends give the same frames);
    the sample then says so: ``"decoded_by": "pyav"`` and ``"fallback_reason"`` (the first backend's error).
    Every sample carries ``decoded_by``. A missing file or a clip past the video's end never falls back.
    """

    def __init__(
        self,
        annotations: Annotations | Sequence[VideoItem],
        num_frames: int = 4,
        mode: str = "eval",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        seed: int = 0,
        backend: str = "decord",
        fallback: str | None = None,
        num_clips: int = 1,
    ) -> None:
        if mode not in ("eval", "train"):
            raise ValueError(f"mode must be 'eval' or 'train', got {mode!r}")
        if num_frames < 1 or num_clips < 1:
            raise ValueError(f"num_frames and num_clips must be >= 1, got {num_frames} and {num_clips}")
        self.annotations = annotations if isinstance(annotations, Annotations) else None
        self.items: list[VideoItem] = list(annotations.items if isinstance(annotations, Annotations)
                                           else annotations)
        self.num_frames = num_frames
        self.num_clips = num_clips
        self.mode = mode
        self.transform = transform
        self.seed = seed
        self.backend = backend
        self.fallback = fallback if fallback != backend else None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def plan(self, index: int) -> dict[str, Any]:
        """Which frames item ``index`` uses (reads only the video's metadata).

        Returns ``{"frame_indices", "start_frame", "end_frame", "num_frames", "fps", "duration",
        "clip_end_past_video", "clip_start_past_video"}`` (see :func:`clip_plan`).
        """
        from fitclip import video as V

        item = self.items[index]
        if not item.path.is_file():
            raise V.VideoDecodeError(f"{item.path}: video file not found (item {item.key!r})")
        return self._plan_from_info(index, V.video_info(item.path, backend=self.backend))

    def _plan_from_info(self, index: int, info: Mapping[str, Any]) -> dict[str, Any]:
        generator = None
        if self.mode == "train":
            generator = torch.Generator().manual_seed(_item_seed(self.seed, self.epoch, index))
        return clip_plan(self.items[index], info, num_frames=self.num_frames, mode=self.mode, generator=generator,
                         num_clips=self.num_clips)

    def _plan_and_read(self, index: int) -> tuple[dict[str, Any], Any]:
        """:meth:`_read` with the first backend, then (when set and the file itself failed) the fallback's;
        the plan records ``decoded_by`` and ``fallback_reason``."""
        from fitclip import video as V

        try:
            plan, frames = self._read(index, self.backend)
            return {**plan, "decoded_by": self.backend, "fallback_reason": None}, frames
        except V.VideoDecodeError as first:
            if self.fallback is None or getattr(first, "no_fallback", False):
                raise
            try:
                plan, frames = self._read(index, self.fallback)
            except V.VideoDecodeError as second:
                raise V.VideoDecodeError(f"{first} (the {self.fallback} fallback failed too: {second})") from None
            return {**plan, "decoded_by": self.fallback, "fallback_reason": str(first)}, frames

    def _read(self, index: int, backend: str) -> tuple[dict[str, Any], Any]:
        """(plan, uint8 frames ``[T, H, W, 3]``), opening the video once (``fitclip.video.read_planned``).

        ``plan`` + ``read_frames`` would open the file twice (decord demuxes every packet on open); one
        open cuts the per-item decode time by 25-40% (benchmarks/bench_eval.py: 16.0 -> 11.9 ms for a
        320x240 clip, 12.5 -> 7.7 ms for a 64x64 one), with exactly the same plan and frames
        (tests/test_evaluate.py).
        """
        from fitclip import video as V

        item = self.items[index]
        if not item.path.is_file():
            raise _final(V.VideoDecodeError(f"{item.path}: video file not found (item {item.key!r})"))
        plan: dict[str, Any] = {}

        def choose(info: Mapping[str, Any]) -> list[int]:
            plan.update(self._plan_from_info(index, info))
            if plan["clip_start_past_video"]:  # refused before any frame is decoded
                raise _final(V.VideoDecodeError(
                    f"{item.path}: clip {item.key!r} starts at {item.start:g} s, at or after the video's end "
                    f"({plan['duration']:.3f} s): no frame of it exists (a shorter download or re-encode?)"))
            return plan["frame_indices"]

        _, frames = V.read_planned(item.path, choose, backend=backend)
        return plan, frames

    def __getitem__(self, index: int) -> dict[str, Any]:
        from fitclip import video as V

        item = self.items[index]
        plan, frames = self._plan_and_read(index)
        if frames is None or len(frames) == 0:
            raise V.VideoDecodeError(f"{item.path}: no frames decoded (item {item.key!r})")
        tensor = torch.as_tensor(frames)
        if tensor.dtype != torch.uint8 or tensor.ndim != 4 or tensor.shape[-1] != 3:
            raise V.VideoDecodeError(f"{item.path}: decoder returned {tensor.dtype} {tuple(tensor.shape)}, "
                                     "expected uint8 [T, H, W, 3]")
        length = int(tensor.shape[0])
        if self.transform is not None and self.mode == "train":
            # Random crops/flips draw from torch's global RNG; seed it per (seed, epoch, index) so a
            # resumed or re-run training sees the same augmentations, whatever the worker layout.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_item_seed(self.seed + 1, self.epoch, index))
                tensor = self.transform(tensor)
        elif self.transform is not None:
            tensor = self.transform(tensor)
            length = int(tensor.shape[0])  # a multi-crop transform returns crops x frames
        return {
            "index": index,
            "key": item.key,
            "frames": tensor,
            "length": length,
            "frame_indices": plan["frame_indices"],
            "clip_end_past_video": plan["clip_end_past_video"],
            "decoded_by": plan["decoded_by"],
            "fallback_reason": plan["fallback_reason"],
        }


def _final(error: Exception) -> Exception:
    """Mark a decode error that another backend cannot fix (a missing file, a clip past the video's end)."""
    error.no_fallback = True
    return error


def collate_clips(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch ``VideoDataset`` samples: pad ``frames`` along time to the longest clip.

    Returns ``{"frames": [B, T_max, ...], "lengths": LongTensor[B], "keys": list[str],
    "indices": LongTensor[B]}`` plus any other per-sample field as a list. Padded steps are zeros
    and must be masked with ``lengths`` (they are padding, not substituted video).
    """
    if not batch:
        raise ValueError("collate_clips got an empty batch")
    frames = [sample["frames"] for sample in batch]
    shapes = {tuple(f.shape[1:]) for f in frames}
    if len(shapes) != 1:
        raise ValueError(f"cannot batch clips of different frame shapes {sorted(shapes)}; "
                         "pass a transform that resizes them to one size")
    t_max = max(f.shape[0] for f in frames)
    out = frames[0].new_zeros((len(frames), t_max, *frames[0].shape[1:]))
    for i, f in enumerate(frames):
        out[i, : f.shape[0]] = f
    result: dict[str, Any] = {
        "frames": out,
        "lengths": torch.tensor([int(sample["length"]) for sample in batch], dtype=torch.long),
        "keys": [sample["key"] for sample in batch],
        "indices": torch.tensor([int(sample["index"]) for sample in batch], dtype=torch.long),
    }
    for name in batch[0]:
        if name not in ("frames", "length", "key", "index"):
            result[name] = [sample[name] for sample in batch]
    return result
