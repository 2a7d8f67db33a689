"""The generic VideoDataset (fitclip.datasets) on tiny synthetic mp4s: FitCLIP's eval sampler, clip windows,
padding in collate_clips, transforms in a DataLoader, seeded train picks and broken files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fitclip.annotations import Annotations, VideoItem
from fitclip.datasets import VideoDataset, collate_clips

FPS = 10.0
N_FRAMES = 20


def _level(i: int) -> int:
    return 10 + 12 * i  # frame i is a flat grey of this level, so decoded frames reveal their index


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory):
    from fitclip.video import write_video

    root = tmp_path_factory.mktemp("videos")
    frames = np.stack([np.full((48, 64, 3), _level(i), np.uint8) for i in range(N_FRAMES)])
    good = write_video(root / "good.mp4", frames, fps=FPS)
    short = write_video(root / "short.mp4", frames[:3], fps=FPS)
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(good.read_bytes()[: 200] + bytes(range(256)) * 8)
    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    return {"good": good, "short": short, "corrupt": corrupt, "empty": empty, "missing": root / "missing.mp4"}


def _frame_ids(frames: torch.Tensor) -> list[int]:
    return [int(round((float(f.float().mean()) - 10) / 12)) for f in frames]


def test_video_dataset_eval_whole_video_and_clip(tiny_videos):
    from fitclip.video import frame_indices

    items = [
        VideoItem(key="whole", video_id="good", path=tiny_videos["good"]),
        VideoItem(key="clip", video_id="good", path=tiny_videos["good"], text="q", start=0.52, end=1.52),
        VideoItem(key="past_end", video_id="good", path=tiny_videos["good"], start=1.0, end=5.0),
        VideoItem(key="short", video_id="short", path=tiny_videos["short"]),
    ]
    ds = VideoDataset(items)
    whole = ds[0]
    assert whole["frames"].dtype == torch.uint8 and tuple(whole["frames"].shape) == (4, 48, 64, 3)
    assert whole["length"] == 4 and whole["key"] == "whole" and whole["index"] == 0
    assert whole["frame_indices"] == frame_indices(0, N_FRAMES - 1) == [2, 6, 12, 16]  # FitCLIP's eval sampler
    assert _frame_ids(whole["frames"]) == whole["frame_indices"]
    assert not whole["clip_end_past_video"]

    clip = ds[1]  # 0.52 s .. 1.52 s at 10 fps (frame centres at 0.05 + 0.1 k) -> frames 5..15
    plan = ds.plan(1)
    assert (plan["start_frame"], plan["end_frame"]) == (5, 15)
    assert all(5 <= i <= 15 for i in clip["frame_indices"])
    assert _frame_ids(clip["frames"]) == clip["frame_indices"]

    past = ds[2]
    assert past["clip_end_past_video"] and ds.plan(2)["end_frame"] == N_FRAMES - 1
    assert all(10 <= i <= 19 for i in past["frame_indices"])

    short = ds[3]  # 3 frames: at most 3 picks
    assert short["length"] == len(short["frame_indices"]) <= 3

    batch = collate_clips([ds[0], short, clip])
    assert tuple(batch["frames"].shape) == (3, 4, 48, 64, 3)
    assert batch["lengths"].tolist() == [4, short["length"], 4]
    assert batch["keys"] == ["whole", "short", "clip"] and batch["indices"].tolist() == [0, 3, 1]
    assert batch["frames"][1, short["length"]:].abs().sum() == 0  # padding, masked by lengths


def test_video_dataset_transform_and_dataloader(tiny_videos):
    def transform(frames: torch.Tensor) -> torch.Tensor:
        assert frames.dtype == torch.uint8 and frames.shape[-1] == 3
        return frames.permute(0, 3, 1, 2).float() / 255

    ann = Annotations(name="folder", split="all", task="unlabeled",
                      items=[VideoItem(key=f"k{i}", video_id="good", path=tiny_videos["good"]) for i in range(3)])
    loader = torch.utils.data.DataLoader(VideoDataset(ann, transform=transform), batch_size=2,
                                         collate_fn=collate_clips)
    batches = list(loader)
    assert [tuple(b["frames"].shape) for b in batches] == [(2, 4, 3, 48, 64), (1, 4, 3, 48, 64)]
    assert batches[0]["frames"].dtype == torch.float32
    assert batches[1]["keys"] == ["k2"]


def test_video_dataset_train_mode_is_seeded(tiny_videos):
    items = [VideoItem(key=f"k{i}", video_id="good", path=tiny_videos["good"]) for i in range(6)]
    a = VideoDataset(items, mode="train", seed=1)
    b = VideoDataset(items, mode="train", seed=1)
    picks_a = [a.plan(i)["frame_indices"] for i in range(6)]
    assert picks_a == [b.plan(i)["frame_indices"] for i in range(6)]
    a.set_epoch(1)
    picks_epoch1 = [a.plan(i)["frame_indices"] for i in range(6)]
    assert picks_epoch1 != picks_a
    assert len({tuple(p) for p in picks_a}) > 1  # items differ from each other
    sample = a[2]
    assert sample["frame_indices"] == picks_epoch1[2] and _frame_ids(sample["frames"]) == picks_epoch1[2]


@pytest.mark.parametrize("which", ["corrupt", "empty", "missing"])
def test_video_dataset_broken_file_raises(tiny_videos, which):
    from fitclip.video import VideoDecodeError

    ds = VideoDataset([VideoItem(key=which, video_id=which, path=tiny_videos[which])])
    with pytest.raises(VideoDecodeError) as e:
        ds[0]
    assert str(tiny_videos[which]) in str(e.value)
