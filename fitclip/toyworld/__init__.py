"""The demo's synthetic world (demo-only: the method core never imports this package).

A deterministic toy video world rendered with numpy into the real benchmarks' on-disk formats, so the
demo runs the whole FitCLIP study through the very same loaders, trainer and notebooks as the real
recipe (see :mod:`fitclip.toyworld.world` for what it holds and why).

==============  ======================================================================================
module          what
==============  ======================================================================================
``vocabulary``  colours, shapes, motions, backgrounds; valid and held-out combinations; class names;
                caption templates and phrasings
``render``      the numpy renderer: backgrounds, shape masks, each motion's cue, videos, stills
``writers``     each dataset's files in its official format (per-benchmark planners), the stills'
                files, the deterministic h264/AVI video writers
``world``       :class:`WorldConfig`, :func:`plan_world`, :func:`render_world` (the parallel writer and
                ``world.json``)
``pretrain``    stage 00: the toy CLIP teacher pretrained on the stills (imported on its own: it needs
                torch and open_clip)
==============  ======================================================================================

This package re-exports the names the notebooks and tests use: ``from fitclip.toyworld import
WorldConfig, render_world``.
"""

from fitclip.toyworld.render import ClipSpec, VideoJob, render_clip, render_stills, render_video
from fitclip.toyworld.vocabulary import (BACKGROUNDS, BENCHMARK_DOMAINS, CLIP_FRAMES, COLOURS, FPS, FRAME_SIZE,
                                         HELDOUT_COMBOS, MOTION_WORDS, MOTIONS, ORDER_ONLY_PAIR, SHAPES,
                                         SHIFTED_BACKGROUNDS, STILL_CLASSES, TRAIN_BACKGROUNDS, mit_categories,
                                         seen_in_training, ucf101_class_folders, ucf101_class_names, valid_combo)
from fitclip.toyworld.world import WorldConfig, plan_world, render_world
from fitclip.toyworld.writers import MSRVTT_HEADER, WEBVID_HEADER, YOUCOOK2_HEADER, load_stills, write_job, write_stills

__all__ = [
    "BACKGROUNDS", "BENCHMARK_DOMAINS", "CLIP_FRAMES", "COLOURS", "FPS", "FRAME_SIZE", "HELDOUT_COMBOS",
    "MOTION_WORDS", "MOTIONS", "MSRVTT_HEADER", "ORDER_ONLY_PAIR", "SHAPES", "SHIFTED_BACKGROUNDS",
    "STILL_CLASSES", "TRAIN_BACKGROUNDS", "WEBVID_HEADER", "YOUCOOK2_HEADER", "ClipSpec", "VideoJob",
    "WorldConfig", "load_stills", "mit_categories", "plan_world", "render_clip", "render_stills", "render_video",
    "render_world", "seen_in_training", "ucf101_class_folders", "ucf101_class_names", "valid_combo", "write_job",
    "write_stills",
]
