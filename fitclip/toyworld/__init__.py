"""The demo's synthetic world (demo-only: the method core never imports this package).

A deterministic toy video world rendered with numpy into the real benchmarks' on-disk formats, so the
demo runs the whole FitCLIP study through the very same loaders, trainer and notebooks as the real
recipe (see :mod:`fitclip.toyworld.world` for what it holds and why).

==============  ======================================================================================
module          what
==============  ======================================================================================
``vocabulary``  colours, shapes, motions, backgrounds; valid combinations, the labeled concepts; class names;
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
from fitclip.toyworld.vocabulary import (BACKGROUNDS, BENCHMARK_DOMAINS, CLIP_FRAMES, COLOURS, CONCEPTS, FPS,
                                         FRAME_SIZE, LABELED_CONCEPTS, MOTION_WORDS, MOTIONS, ORDER_ONLY_PAIR, SHAPES,
                                         SHIFTED_BACKGROUNDS, SINGLE_FRAME_MOTIONS, STILL_CLASSES, TRAIN_BACKGROUNDS,
                                         UNSEEN_MOTION_WORDS, is_labeled_concept, mit_categories,
                                         ucf101_class_folders, ucf101_class_names, valid_combo, video_look_towards,
                                         video_swap_partner)
from fitclip.toyworld.world import WorldConfig, plan_world, render_world
from fitclip.toyworld.writers import MSRVTT_HEADER, WEBVID_HEADER, YOUCOOK2_HEADER, load_stills, write_job, write_stills

__all__ = [
    "BACKGROUNDS", "BENCHMARK_DOMAINS", "CLIP_FRAMES", "COLOURS", "CONCEPTS", "FPS", "FRAME_SIZE",
    "LABELED_CONCEPTS", "MOTION_WORDS", "MOTIONS", "MSRVTT_HEADER", "ORDER_ONLY_PAIR", "SHAPES", "SHIFTED_BACKGROUNDS",
    "SINGLE_FRAME_MOTIONS", "STILL_CLASSES", "TRAIN_BACKGROUNDS", "UNSEEN_MOTION_WORDS", "WEBVID_HEADER",
    "video_look_towards",
    "video_swap_partner",
    "YOUCOOK2_HEADER", "ClipSpec", "VideoJob", "WorldConfig", "is_labeled_concept", "load_stills", "mit_categories",
    "plan_world", "render_clip", "render_stills", "render_video", "render_world", "ucf101_class_folders",
    "ucf101_class_names", "valid_combo", "write_job", "write_stills",
]
