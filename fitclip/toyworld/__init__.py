"""The demo's synthetic world (demo-only: the method core never imports this package).

A deterministic toy video world rendered with numpy into the real benchmarks' on-disk formats, so the
demo runs the whole FitCLIP study through the very same loaders, trainer and notebooks as the real
recipe (see :mod:`fitclip.toyworld.world` for what it holds and why). Stage 00's toy teacher is
pretrained on its stills by :mod:`fitclip.toyworld.pretrain` (imported on its own: it needs torch).

This package re-exports the names the notebooks and tests use: ``from fitclip.toyworld import
WorldConfig, render_world``.
"""

from fitclip.toyworld.world import (
    BACKGROUNDS,
    BENCHMARK_DOMAINS,
    CLIP_FRAMES,
    COLOURS,
    FPS,
    FRAME_SIZE,
    HELDOUT_COMBOS,
    MOTION_WORDS,
    MOTIONS,
    MSRVTT_HEADER,
    ORDER_ONLY_PAIR,
    SHAPES,
    SHIFTED_BACKGROUNDS,
    STILL_CLASSES,
    TRAIN_BACKGROUNDS,
    WEBVID_HEADER,
    YOUCOOK2_HEADER,
    ClipSpec,
    VideoJob,
    WorldConfig,
    load_stills,
    mit_categories,
    plan_world,
    render_clip,
    render_stills,
    render_video,
    render_world,
    seen_in_training,
    ucf101_class_folders,
    ucf101_class_names,
    valid_combo,
    write_job,
    write_stills,
)

__all__ = [
    "BACKGROUNDS", "BENCHMARK_DOMAINS", "CLIP_FRAMES", "COLOURS", "FPS", "FRAME_SIZE", "HELDOUT_COMBOS",
    "MOTION_WORDS", "MOTIONS", "MSRVTT_HEADER", "ORDER_ONLY_PAIR", "SHAPES", "SHIFTED_BACKGROUNDS",
    "STILL_CLASSES", "TRAIN_BACKGROUNDS", "WEBVID_HEADER", "YOUCOOK2_HEADER", "ClipSpec", "VideoJob",
    "WorldConfig", "load_stills", "mit_categories", "plan_world", "render_clip", "render_stills", "render_video",
    "render_world", "seen_in_training", "ucf101_class_folders", "ucf101_class_names", "valid_combo", "write_job",
    "write_stills",
]
