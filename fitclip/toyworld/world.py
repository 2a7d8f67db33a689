"""A deterministic toy video world, rendered with numpy into the real benchmarks' on-disk formats.

With no GPU, weights or datasets on hand, the demo runs the whole FitCLIP study on this world, through
the very same loaders, trainer and notebooks as the real recipe. ``render_world(root)`` writes:

============  ===========================================================  ===========================
folder        files (the real layout, see ``fitclip.annotations``)         plays the role of
============  ===========================================================  ===========================
``stills``    ``images.npy`` uint8 ``[N,64,64,3]``, ``captions.csv``       CLIP's image-text corpus
``webvid``    ``results_2M_{train,val}.csv``, ``videos/<page_dir>/<id>.mp4``  WebVid (labeled + pool)
``ucf101``    ``ucfTrainTestlist/{classInd,testlist01}.txt``,              UCF101 (motion classes)
              ``UCF-101/<Class>/v_<Class>_gXX_cYY.avi``
``mit``       ``moments_categories.txt``, ``validationSet.csv``,           Moments in Time
              ``validation/<category>/<file>.mp4``                         (object+motion classes)
``msrvtt``    ``MSRVTT_JSFUSION_test.csv``, ``videos/all/<video_id>.mp4``  MSR-VTT 1k-A (text->video)
``youcook2``  ``validation_youcook.csv``, ``validation/<task>/<id>.mp4``   YouCook2 (clips cut by time)
``didemo``    ``val_data.json``, ``videos/<stem of "video">.mp4``          DiDeMo (paragraph->video)
============  ===========================================================  ===========================

plus ``world.json`` (config, seed, counts, class lists, per-video frame counts and domains) and
``webvid/synthetic_labels.csv`` (the true object/motion of every WebVid-like video, for analyses).

**Objects.** 6 colours x 3 shapes (:data:`COLOURS`, :data:`SHAPES`) = the 18 :data:`STILL_CLASSES`,
drawn anti-aliased (signed distance functions) on muted backgrounds from 5 families
(:data:`BACKGROUNDS`: smooth gradients, sine stripes, value-noise clouds, checkerboards, polka dots).
Objects are saturated and backgrounds are not, so colour stays readable on every background.

**Motions** (:data:`MOTIONS`) and the cue that makes each visible *inside a single frame*. The video
embedding downstream is the mean of per-frame embeddings over 4 sampled frames, which is blind to
frame order, so every class except the negative control differs in something an order-blind mean can
see, as real video cues do (motion blur, moving vs still, flicker):

=================  ===============================================================================
motion             in-frame cue
=================  ===============================================================================
moving left/right  the object translates; a fading trail of ghost copies lies *behind* it (motion
moving up/down     blur), so one frame shows the direction. Speed ("slow"/"fast") sets both the
                   displacement and the trail length (captions may say "slowly"/"quickly").
staying still      crisp object, identical frames.
spinning           the object rotates; an angular trail of ghosts at earlier angles (rotational
                   blur). Squares and triangles only: a spinning circle would look still.
shaking            the object jitters around a point; ghosts at the previous jitter positions (a
                   multi-directional shake blur).
blinking           the object is on 2 frames, off 2 frames, from a random phase (flicker).
growing/shrinking  the radius changes linearly by x1.9-2.2 (from 5-6 px), crisp, no in-frame cue at all.
=================  ===============================================================================

**Negative control** (:data:`ORDER_ONLY_PAIR`): ``("growing", "shrinking")``. With the same seed a
shrinking clip is *exactly* the growing clip played backwards (``render_clip`` guarantees it), so the
two have the same set of frames and an order-blind mean can only tell them apart through a sampler
that is not symmetric in time. Clips have :data:`CLIP_FRAMES` = 21 frames (10 fps, 2.1 s) because
FitCLIP's eval sampler (``fitclip.video.frame_indices``, linspace truncated to int, round-half-even
midpoints) picks time-symmetric indices exactly when the frame count is 1 mod 4 (21 -> 2, 8, 12, 18);
with 20 frames it would pick 2, 6, 12, 16 and leak a small size bias. Report this pair separately.

**Teacher corpus** (stage 00): still frames of the same objects (all 5 background families, random
size 5-13 px radius and rotation, so the frames of growing/spinning clips are in distribution),
with captions that never mention motion (see :data:`STILL_TEMPLATES`; :data:`MOTION_WORDS` lists the
forbidden words). No trails, blur or ghosts: a tiny CLIP trained on them knows objects, not motion.

**Domains and the shift.** :data:`TRAIN_BACKGROUNDS` (gradient, stripes, clouds) are the only
backgrounds in the WebVid-like corpus, and it never shows the :data:`HELDOUT_COMBOS` (one colour per
motion, e.g. a red object moving left). :data:`SHIFTED_BACKGROUNDS` (checker, dots) and the held-out
combos appear in the stills (the teacher saw everything, as CLIP saw the web) and in the shifted
benchmarks, so forgetting by the fine-tuned student is visible there (:data:`BENCHMARK_DOMAINS`):

* ``ucf101``, ``youcook2``: in-domain (training backgrounds, seen combos only);
* ``mit``, ``didemo``: shifted (held-out backgrounds; all combos, held-out ones included);
* ``msrvtt``: mixed, alternating video by video; ``world.json`` records each video's domain.

**Per dataset** (default :class:`WorldConfig`; all short clips are 21 frames at 10 fps, 64x64):

* ``webvid``: 360 train + 60 val rows, one clip each; 10% of captions name the object but not the
  motion (as many real WebVid captions miss the action); the first two rows of each file use a
  caption with a comma and one with double quotes. Suggested labeled subset: 120 of the train rows.
* ``ucf101``: 10 motion classes x 10 videos (groups g01-g07 as in split 1; one group = one scene).
* ``mit``: 174 ``colour+shape+motion`` categories (``red+circle+moving+left``), 2 videos each.
* ``msrvtt``: 100 videos, one sentence each, distinct (colour, shape, motion) per video.
* ``youcook2``: 30 long videos, each one object (``task`` = its class id, "101"-"118") doing 3-4
  different motions; segment ``[start, end]`` (integer seconds, 2 s) covers frames
  ``start*10 .. end*10`` inclusive (21 frames); 0-1 s before the first, 1-2 s between segments and
  0-1 s after the last are empty background. ~108 clips.
* ``didemo``: 60 videos of 3-4 parts (21 frames each, one object+motion per part); one description
  per part, ``num_segments`` = parts and ``times`` in parts (5 s segments in the real data); the
  ``video`` field has a real-looking extension (mov, avi, mp4, m4v, 3gp), the file is ``<stem>.mp4``.

In all: 1,058 videos (~10 MB) and 5,000 stills (59 MB); about 27 s on 2 cores (smoke: ~2 s).
Everything is drawn from ``numpy.random.Generator`` streams keyed by (seed, stream, index), so the
same seed gives byte-identical annotation files and identical frames whatever the number of worker
processes. The mp4 videos are h264 written by ``fitclip.video.write_video`` with x264's C paths
(``asm=0``), whose output, unlike the assembly paths', does not depend on memory layout; the UCF101
``.avi`` files are MPEG-4 Part 2 in AVI, like the real (xvid) ones, because decord reports no
timestamps for h264 in AVI (see ``_write_avi``).
"""

from __future__ import annotations

import colorsys
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from fitclip.checkpoint import atomic_write_text

# --------------------------------------------------------------------------------------------------
# The world's vocabulary (public: tests, notebooks and analyses read these)
# --------------------------------------------------------------------------------------------------

#: Bumped whenever rendering changes, so an old rendered world is never mistaken for a current one.
RENDERER_VERSION = 2
FRAME_SIZE = 64
FPS = 10.0
#: 1 mod 4, so FitCLIP's 4-frame eval sampler picks time-symmetric frames (see the module docstring).
CLIP_FRAMES = 21

#: Saturated object colours (RGB), jittered by a few levels per video.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 215, 30),
    "purple": (150, 60, 200),
    "orange": (250, 135, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
STILL_CLASSES: tuple[str, ...] = tuple(f"{c} {s}" for c in COLOURS for s in SHAPES)

MOTIONS: tuple[str, ...] = (
    "moving left", "moving right", "moving up", "moving down", "staying still",
    "spinning", "shaking", "blinking", "growing", "shrinking",
)
#: Negative control: these two differ only in frame order (shrinking == growing reversed).
ORDER_ONLY_PAIR: tuple[str, str] = ("growing", "shrinking")
#: Unit direction (dx, dy) in image coordinates (y points down) of the translations.
TRANSLATIONS: dict[str, tuple[int, int]] = {
    "moving left": (-1, 0), "moving right": (1, 0), "moving up": (0, -1), "moving down": (0, 1),
}
#: UCF101-style CamelCase folder per motion; the UCF loader's regex split gives back "Moving Left".
UCF_FOLDERS: dict[str, str] = {m: "".join(w.capitalize() for w in m.split()) for m in MOTIONS}

BACKGROUNDS: tuple[str, ...] = ("gradient", "stripes", "clouds", "checker", "dots")
TRAIN_BACKGROUNDS: tuple[str, ...] = ("gradient", "stripes", "clouds")
SHIFTED_BACKGROUNDS: tuple[str, ...] = ("checker", "dots")
#: How captions name each background family.
BACKGROUND_WORDS: dict[str, str] = {
    "gradient": "gradient", "stripes": "striped", "clouds": "cloudy", "checker": "checkered", "dots": "dotted",
}
#: (colour, motion) pairs never shown in the WebVid-like corpus: one colour per motion, rotating.
HELDOUT_COMBOS: frozenset[tuple[str, str]] = frozenset(
    (list(COLOURS)[i % len(COLOURS)], m) for i, m in enumerate(MOTIONS))
BENCHMARK_DOMAINS: dict[str, str] = {
    "ucf101": "in-domain", "mit": "shifted", "msrvtt": "mixed", "youcook2": "in-domain", "didemo": "shifted",
}
BENCHMARKS: tuple[str, ...] = tuple(BENCHMARK_DOMAINS)

#: Varied phrasings per motion (video captions); the first one is the canonical name.
MOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "moving left": ("moving left", "moving to the left", "sliding left", "drifting to the left", "travelling left"),
    "moving right": ("moving right", "moving to the right", "sliding right", "drifting to the right",
                     "travelling right"),
    "moving up": ("moving up", "moving upward", "rising", "sliding up", "drifting upward"),
    "moving down": ("moving down", "moving downward", "falling", "sliding down", "drifting downward"),
    "staying still": ("staying still", "standing still", "not moving", "motionless", "resting in place"),
    "spinning": ("spinning", "rotating", "turning around", "spinning in place", "twirling"),
    "shaking": ("shaking", "jittering", "trembling", "vibrating", "wobbling"),
    "blinking": ("blinking", "flashing on and off", "flickering", "blinking on and off",
                 "appearing and disappearing"),
    "growing": ("growing", "getting bigger", "expanding", "growing in size", "swelling"),
    "shrinking": ("shrinking", "getting smaller", "contracting", "shrinking in size", "dwindling"),
}
SPEED_ADVERBS: dict[str, tuple[str, ...]] = {"slow": ("slowly",), "fast": ("quickly", "rapidly")}
_STOPWORDS = frozenset({"a", "an", "the", "to", "in", "on", "and", "of"})
#: Every content word a motion caption can use; still captions must use none of them.
MOTION_WORDS: frozenset[str] = frozenset(
    w for phrases in (*MOTION_PHRASES.values(), *SPEED_ADVERBS.values()) for p in phrases for w in p.split()
    if w not in _STOPWORDS)

#: Teacher-corpus captions: object, size and background words only, never motion.
STILL_TEMPLATES: tuple[str, ...] = (
    "a photo of a {colour} {shape}.",
    "a {colour} {shape}",
    "a photo of a {size} {colour} {shape}.",
    "a {colour} {shape} on a {bg} background",
    "an image of a {colour} {shape}",
    "a picture of the {colour} {shape}",
    "a {shape} that is {colour}",
    "{colour} {shape}, {bg} background",
    "a drawing of a {colour} {shape} over a {bg} pattern",
)
#: WebVid-like captions; index 3 has a comma and index 6 has double quotes (CSV quoting is exercised).
WEBVID_TEMPLATES: tuple[str, ...] = (
    "a {colour} {shape} {motion}",
    "{colour} {shape} {motion} on a {bg} background",
    "close-up of a {colour} {shape} {motion}",
    "a {colour} {shape}, {motion}",
    "animation of a {colour} {shape} {motion}, {bg} background",
    "Abstract {colour} {shape} {motion}. Stock footage",
    'seamless "loop": a {colour} {shape} {motion}',
)
#: A share of WebVid-like captions name only the object, as many real WebVid captions miss the action.
WEBVID_OBJECT_ONLY_TEMPLATES: tuple[str, ...] = (
    "a {colour} {shape} on a {bg} background",
    "{colour} {shape} animation",
)
#: MSR-VTT-like sentences: lowercase, no commas or quotes (as in the real JSFusion csv).
MSRVTT_TEMPLATES: tuple[str, ...] = (
    "a {colour} {shape} is {motion}",
    "a {colour} {shape} {motion} on a {bg} background",
    "there is a {colour} {shape} {motion}",
    "the {colour} {shape} is {motion}",
    "a {shape} colored {colour} is {motion}",
)
YOUCOOK2_TEMPLATES: tuple[str, ...] = (
    "the {colour} {shape} is {motion}",
    "{colour} {shape} {motion}",
    "now the {shape} is {motion}",
    "watch the {colour} {shape} {motion}",
)
DIDEMO_TEMPLATES: tuple[str, ...] = (
    "the {colour} {shape} is {motion}",
    "a {colour} {shape} {motion}",
    "we see a {colour} {shape} {motion}",
    "then a {colour} {shape} is {motion}",
    "{colour} {shape} {motion}.",
)

#: The literal header lines of the real files (tests compare against these).
WEBVID_HEADER = "videoid,name,page_idx,page_dir,duration,contentUrl"
MSRVTT_HEADER = "key,vid_key,video_id,sentence"
YOUCOOK2_HEADER = "end,start,task,text,video_id"

_STREAMS = {"stills": 1, "webvid_train": 2, "webvid_val": 3, "ucf101": 4, "mit": 5, "msrvtt": 6,
            "youcook2": 7, "didemo": 8}
_MARKER = ".fitclip_synthetic"  # in every folder this module owns; only those are ever deleted
_MANIFEST = "world.json"
_WORLD_DIRS = ("stills", "webvid", *BENCHMARKS)


def valid_combo(colour: str, shape: str, motion: str) -> bool:
    """Whether the world ever renders this object doing this motion (a spinning circle looks still)."""
    return not (shape == "circle" and motion == "spinning")


def seen_in_training(colour: str, motion: str) -> bool:
    """Whether the WebVid-like corpus shows this colour doing this motion (see :data:`HELDOUT_COMBOS`)."""
    return (colour, motion) not in HELDOUT_COMBOS


def ucf101_class_folders() -> list[str]:
    """UCF101-like class folders in ``classInd.txt`` order (alphabetical, like the real file)."""
    return sorted(UCF_FOLDERS.values())


def ucf101_class_names() -> list[str]:
    """The class names FitCLIP's UCF101 rule derives from the folders (regex ``[a-zA-Z][^A-Z]*``)."""
    return [" ".join(re.findall(r"[a-zA-Z][^A-Z]*", f)) for f in ucf101_class_folders()]


def mit_category(colour: str, shape: str, motion: str) -> str:
    """MiT-style raw category name: words joined by ``+`` (``red+circle+moving+left``)."""
    return "+".join([colour, shape, *motion.split()])


def mit_categories() -> list[str]:
    """All 174 MiT-like categories (colour x shape x motion, minus spinning circles), in index order."""
    return [mit_category(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS if valid_combo(c, s, m)]


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldConfig:
    """How much of the world to render. Frame size (64), fps (10) and clip length (21) are fixed.

    Attributes:
        n_stills: still images in the teacher corpus.
        webvid_train: rows of ``results_2M_train.csv`` (labeled-subset candidates + unlabeled pool).
        webvid_val: rows of ``results_2M_val.csv`` (val retrieval).
        webvid_labeled: suggested size of the labeled subset the seeded sampler draws from train; the
            rest of train is the unlabeled pool. Recorded in ``world.json`` only; nothing is split here.
        webvid_object_only: share of WebVid-like captions that name the object but not the motion.
        ucf101_per_class: test videos per motion class (10 classes).
        mit_videos: MiT validation videos, spread evenly over the 174 categories (2 each by default).
        msrvtt_videos: MSR-VTT queries/videos (one sentence per video).
        youcook2_videos: long videos with 3-4 action segments each (one clip per segment).
        didemo_videos: multi-part videos with 3-4 described parts each (one paragraph per video).
    """

    n_stills: int = 5000
    webvid_train: int = 1000
    webvid_val: int = 300
    webvid_labeled: int = 500
    webvid_object_only: float = 0.1
    ucf101_per_class: int = 60
    mit_videos: int = 600
    msrvtt_videos: int = 600
    youcook2_videos: int = 172
    didemo_videos: int = 600

    @classmethod
    def smoke(cls) -> "WorldConfig":
        """A tiny world (a few videos per benchmark) for CI and tests: renders in about 2 s."""
        return cls(n_stills=256, webvid_train=12, webvid_val=4, webvid_labeled=4, ucf101_per_class=1,
                   mit_videos=6, msrvtt_videos=4, youcook2_videos=2, didemo_videos=3)

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise ValueError(f"WorldConfig.{name} must be >= 0, got {value}")
        if self.webvid_object_only > 1:
            raise ValueError(f"webvid_object_only is a share in [0, 1], got {self.webvid_object_only}")

    def fingerprint(self, seed: int) -> str:
        """A short hash of (renderer version, config, seed): equal fingerprints = identical worlds."""
        blob = json.dumps({"version": RENDERER_VERSION, "config": asdict(self), "seed": int(seed)},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------
# Rendering: backgrounds, shapes, motions (pure numpy, float32 in [0, 1])
# --------------------------------------------------------------------------------------------------

# Pixel-centre coordinates, shared by every mask and background.
_YY, _XX = (np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE].astype(np.float32) + 0.5)
# Trail (motion blur) geometry: ghosts span the distance covered in this many frames.
_TRAIL_FRAMES = 6.0
_N_GHOSTS = 5
_GHOST_ALPHA = 0.55  # nearest ghost; alpha decays linearly to ~0 at the far end of the trail


@dataclass(frozen=True)
class ClipSpec:
    """One segment of a video: an object doing a motion (or nothing, a gap), on the video's background.

    Attributes:
        colour: a key of :data:`COLOURS`, or None for an empty segment (background only).
        shape: one of :data:`SHAPES` (None with `colour` None).
        motion: one of :data:`MOTIONS` (None with `colour` None).
        speed: ``"slow"`` or ``"fast"``; only translations use it.
        n_frames: frames in this segment.
    """

    colour: str | None
    shape: str | None
    motion: str | None
    speed: str = "slow"
    n_frames: int = CLIP_FRAMES


@dataclass(frozen=True)
class VideoJob:
    """Everything needed to render and write one video file; picklable for worker processes.

    Attributes:
        relpath: file path relative to the world root (its suffix picks the container).
        background: background family (one of :data:`BACKGROUNDS`).
        clips: the segments, concatenated in time on one background.
        seed: entropy for the segments' random draws (positions, sizes, jitter, ...).
        bg_seed: entropy for the background (videos of one UCF group share it, like a real scene).
        domain: ``"in-domain"`` or ``"shifted"`` (recorded in the manifest).
    """

    relpath: str
    background: str
    clips: tuple[ClipSpec, ...]
    seed: tuple[int, ...]
    bg_seed: tuple[int, ...]
    domain: str = "in-domain"

    @property
    def n_frames(self) -> int:
        return sum(c.n_frames for c in self.clips)


def _muted_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two low-saturation colours of contrasting brightness, so objects stand out by saturation."""
    h = rng.uniform(0, 1)
    s1, s2 = rng.uniform(0.03, 0.3, size=2)
    v1 = rng.uniform(0.3, 0.6)
    v2 = min(v1 + rng.uniform(0.15, 0.35), 0.95)
    h2 = (h + rng.uniform(-0.12, 0.12)) % 1.0
    c1 = np.array(colorsys.hsv_to_rgb(h, s1, v1), np.float32)
    c2 = np.array(colorsys.hsv_to_rgb(h2, s2, v2), np.float32)
    return (c1, c2) if rng.random() < 0.5 else (c2, c1)


def _upsample(coarse: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a small 2-D grid to ``size x size`` (separable, numpy only)."""
    n = coarse.shape[0]
    pos = (np.arange(size, dtype=np.float32) + 0.5) * (n - 1) / size
    rows = np.stack([np.interp(pos, np.arange(n), coarse[:, j]) for j in range(n)], axis=1)
    return np.stack([np.interp(pos, np.arange(n), rows[i]) for i in range(size)], axis=0).astype(np.float32)


def make_background(family: str, rng: np.random.Generator) -> np.ndarray:
    """Render one background of the given family.

    Args:
        family: one of :data:`BACKGROUNDS`, or ``"flat"`` (one muted colour; used by tests only).
        rng: the random stream (palette, angle, period, ...).

    Returns:
        float32 ``[64, 64, 3]`` in [0, 1].
    """
    c1, c2 = _muted_pair(rng)
    phi = rng.uniform(0, 2 * math.pi)
    u = (_XX - FRAME_SIZE / 2) * math.cos(phi) + (_YY - FRAME_SIZE / 2) * math.sin(phi)
    if family == "flat":  # not in the world; for tests and figures (a background with no texture)
        t = np.zeros_like(u)
    elif family == "gradient":
        t = np.clip(u / FRAME_SIZE + 0.5, 0, 1)
    elif family == "stripes":
        t = 0.5 + 0.5 * np.sin(2 * math.pi * u / rng.uniform(8, 16) + rng.uniform(0, 2 * math.pi))
    elif family == "clouds":
        t = _upsample(rng.random((5, 5)), FRAME_SIZE)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif family == "checker":
        cell = float(rng.integers(6, 13))
        ox, oy = rng.uniform(0, cell, size=2)
        t = ((np.floor((_XX + ox) / cell) + np.floor((_YY + oy) / cell)) % 2).astype(np.float32)
    elif family == "dots":
        spacing = rng.uniform(10, 16)
        radius = spacing * rng.uniform(0.18, 0.32)
        ox, oy = rng.uniform(0, spacing, size=2)
        dx = (_XX + ox) % spacing - spacing / 2
        dy = (_YY + oy) % spacing - spacing / 2
        t = np.clip(radius - np.sqrt(dx * dx + dy * dy) + 0.5, 0, 1)
    else:
        raise ValueError(f"unknown background family {family!r}; use one of {BACKGROUNDS}")
    return (c1 * (1 - t[..., None]) + c2 * t[..., None]).astype(np.float32)


def shape_mask(shape: str, cx: float, cy: float, r: float, theta: float = 0.0,
               window: tuple[slice, slice] | None = None) -> np.ndarray:
    """Anti-aliased coverage mask of a shape (1 inside, 0 outside, a 1-px ramp at the edge).

    Args:
        shape: ``circle``, ``square`` or ``triangle``.
        cx, cy: centre in pixels (x right, y down).
        r: size; shapes are scaled to comparable areas (square half-side 0.85 r, triangle
            circumradius 1.35 r).
        theta: rotation in radians (ignored for circles).
        window: ``(rows, cols)`` slices: compute only that part of the frame (:func:`shape_window`).

    Returns:
        float32 ``[64, 64]`` in [0, 1] (the window's shape when one is given).
    """
    xx, yy = (_XX, _YY) if window is None else (_XX[window], _YY[window])
    x = xx - np.float32(cx)
    y = yy - np.float32(cy)
    if shape == "circle":
        d = np.sqrt(x * x + y * y) - r
    else:
        c, s = math.cos(theta), math.sin(theta)
        xr, yr = c * x + s * y, -s * x + c * y
        if shape == "square":
            d = np.maximum(np.abs(xr), np.abs(yr)) - 0.85 * r
        elif shape == "triangle":
            # Intersection of 3 half-planes; edge normals point down, up-left, up-right (apex up).
            big = 1.35 * r
            d = np.maximum.reduce([xr * math.cos(a) + yr * math.sin(a)
                                   for a in (math.pi / 2, math.pi / 2 + 2 * math.pi / 3,
                                             math.pi / 2 + 4 * math.pi / 3)]) - big / 2
        else:
            raise ValueError(f"unknown shape {shape!r}; use one of {SHAPES}")
    return np.clip(0.5 - d, 0, 1).astype(np.float32)


def shape_window(cx: float, cy: float, r: float) -> tuple[slice, slice]:
    """The pixels a shape of size `r` centred at (cx, cy) can cover (its mask is exactly 0 elsewhere: every
    shape lies within 1.35 r of its centre, plus the 1-px edge ramp)."""
    reach = 1.35 * r + 2
    rows = slice(max(0, math.floor(cy - reach)), min(FRAME_SIZE, math.ceil(cy + reach) + 1))
    cols = slice(max(0, math.floor(cx - reach)), min(FRAME_SIZE, math.ceil(cx + reach) + 1))
    return rows, cols


def _paint(frame: np.ndarray, shape: str, cx: float, cy: float, r: float, theta: float, colour: np.ndarray,
           alpha: float = 1.0) -> None:
    """Alpha-composite a flat-coloured shape onto `frame`, in place, touching only the pixels it can cover
    (the result is identical to compositing the full-frame mask: it is exactly 0 outside the window)."""
    window = shape_window(cx, cy, r)
    a = (alpha * shape_mask(shape, cx, cy, r, theta, window))[..., None]
    part = frame[window]
    part += a * (colour - part)


def _object_colour(colour: str, rng: np.random.Generator) -> np.ndarray:
    """The named colour with a small per-video jitter, so colour names cover a neighbourhood."""
    base = np.array(COLOURS[colour], np.float32)
    return np.clip(base + rng.uniform(-12, 12, size=3), 0, 255).astype(np.float32) / 255.0


def _render_segment(spec: ClipSpec, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render one segment as float32 ``[T, 64, 64, 3]`` on `background` (see the module docstring)."""
    t_n = spec.n_frames
    frames = np.repeat(background[None], t_n, axis=0)
    if spec.colour is None:
        return frames
    if spec.motion not in MOTIONS or spec.shape not in SHAPES or spec.colour not in COLOURS:
        raise ValueError(f"bad clip spec {spec}")
    # Draw every parameter in the same order for every motion, so that e.g. growing and shrinking
    # with the same seed get the same object, place and size range (the order-only control relies on it).
    col = _object_colour(spec.colour, rng)
    theta0 = rng.uniform(0, 2 * math.pi)
    r = rng.uniform(5.0, 8.0)
    u1, u2 = rng.uniform(0, 1, size=2)
    speed = rng.uniform(0.7, 1.0) if spec.speed == "slow" else rng.uniform(1.5, 1.9)  # px / frame
    spin = rng.uniform(0.12, 0.20) * rng.choice([-1.0, 1.0])  # rad / frame
    grow = rng.uniform(1.9, 2.2)
    r0 = rng.uniform(5.0, 6.0)
    jitter = rng.uniform(-3, 3, size=(t_n + 3, 2))  # shaking: offsets for frames -3 .. T-1
    # Blinking: 2 frames on, 2 off (2.5 Hz at 10 fps) from a random phase, so any 4 frames spread
    # over the clip at FitCLIP's eval positions (2, 8, 12, 18 of 21) catch it on twice and off twice.
    visible = (np.arange(t_n) + int(rng.integers(4))) % 4 < 2
    m = spec.motion
    ghost_k = np.arange(_N_GHOSTS, 0, -1)  # farthest ghost first, so nearer ones paint over it
    ghost_alpha = _GHOST_ALPHA * (1 - (ghost_k - 1) / _N_GHOSTS)

    def place(radius: float, extent: float = 0.0) -> float:
        # A coordinate that keeps an object of this radius (plus `extent` of travel) inside the frame.
        lo, hi = radius + 2 + extent / 2, FRAME_SIZE - radius - 2 - extent / 2
        return lo + (hi - lo) * u1 if hi > lo else FRAME_SIZE / 2

    if m in TRANSLATIONS:
        dx, dy = TRANSLATIONS[m]
        travel = speed * (t_n - 1)
        if travel > FRAME_SIZE - 2 * r - 8:  # long segments: slow down rather than leave the frame
            speed = (FRAME_SIZE - 2 * r - 8) / (t_n - 1)
            travel = speed * (t_n - 1)
        along = place(r, travel) - travel / 2  # start of the path along the motion axis
        across = r + 2 + (FRAME_SIZE - 2 * r - 4) * u2
        trail = speed * _TRAIL_FRAMES
        for t in range(t_n):
            a = along + speed * t
            cx, cy = (a, across) if dx else (across, a)
            if dx < 0 or dy < 0:  # moving left/up: mirror the path so it runs the other way
                cx, cy = (FRAME_SIZE - cx, cy) if dx else (cx, FRAME_SIZE - cy)
            for k, alpha in zip(ghost_k, ghost_alpha):  # the trail lies behind the object
                back = trail * k / _N_GHOSTS
                _paint(frames[t], spec.shape, cx - dx * back, cy - dy * back, r, theta0, col, alpha)
            _paint(frames[t], spec.shape, cx, cy, r, theta0, col)
        return frames

    # Static centre for the in-place motions.
    cx = r + 4 + (FRAME_SIZE - 2 * r - 8) * u1
    cy = r + 4 + (FRAME_SIZE - 2 * r - 8) * u2
    for t in range(t_n):
        if m == "staying still" or (m == "blinking" and visible[t]):
            _paint(frames[t], spec.shape, cx, cy, r, theta0, col)
        elif m == "spinning":
            for k, alpha in zip(ghost_k, ghost_alpha):
                back = spin * _TRAIL_FRAMES * k / _N_GHOSTS
                _paint(frames[t], spec.shape, cx, cy, r, theta0 + spin * t - back, col, alpha)
            _paint(frames[t], spec.shape, cx, cy, r, theta0 + spin * t, col)
        elif m == "shaking":
            for lag, alpha in ((3, 0.15), (2, 0.3), (1, 0.45)):  # where it was in the previous frames
                jx, jy = jitter[t + 3 - lag]
                _paint(frames[t], spec.shape, cx + jx, cy + jy, r, theta0, col, alpha)
            jx, jy = jitter[t + 3]
            _paint(frames[t], spec.shape, cx + jx, cy + jy, r, theta0, col)
        elif m in ORDER_ONLY_PAIR:
            # Linear radius ramp; shrinking is the same ramp reversed, and nothing else varies in time.
            tt = t if m == "growing" else t_n - 1 - t
            radius = r0 * (1 + (grow - 1) * tt / max(t_n - 1, 1))
            big = r0 * grow
            gx = big + 3 + (FRAME_SIZE - 2 * big - 6) * u1
            gy = big + 3 + (FRAME_SIZE - 2 * big - 6) * u2
            _paint(frames[t], spec.shape, gx, gy, radius, theta0, col)
    return frames


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def render_video(job: VideoJob) -> np.ndarray:
    """Render a whole video job.

    Args:
        job: the video's background and segments.

    Returns:
        uint8 ``[job.n_frames, 64, 64, 3]`` RGB frames.
    """
    background = make_background(job.background, np.random.default_rng(list(job.bg_seed)))
    parts = [_render_segment(spec, background, np.random.default_rng([*job.seed, k]))
             for k, spec in enumerate(job.clips)]
    return _to_uint8(np.concatenate(parts, axis=0))


def render_clip(colour: str, shape: str, motion: str, background: str = "gradient", speed: str = "slow",
                seed: int = 0, n_frames: int = CLIP_FRAMES) -> np.ndarray:
    """Render one clip (the building block of every video), for tests and figures.

    With the same arguments except ``motion``, ``render_clip(..., "shrinking")`` equals
    ``render_clip(..., "growing")[::-1]`` exactly: the order-only negative control.

    Args:
        colour: a key of :data:`COLOURS`.
        shape: one of :data:`SHAPES`.
        motion: one of :data:`MOTIONS`.
        background: one of :data:`BACKGROUNDS`.
        speed: ``"slow"`` or ``"fast"`` (translations only).
        seed: random seed (background and object parameters).
        n_frames: clip length.

    Returns:
        uint8 ``[n_frames, 64, 64, 3]``.
    """
    job = VideoJob("", background, (ClipSpec(colour, shape, motion, speed, n_frames),),
                   seed=(int(seed), 0), bg_seed=(int(seed), 1))
    return render_video(job)


# --------------------------------------------------------------------------------------------------
# Teacher corpus: stills without motion
# --------------------------------------------------------------------------------------------------


def _still_caption(colour: str, shape: str, bg: str, r: float, rng: np.random.Generator) -> str:
    template = STILL_TEMPLATES[int(rng.integers(len(STILL_TEMPLATES)))]
    size = "small" if r < 5.5 else "large" if r > 8.5 else None
    if "{size}" in template and size is None:
        template = STILL_TEMPLATES[0]
    return _articles(template.format(colour=colour, shape=shape, bg=BACKGROUND_WORDS[bg], size=size))


def _stills(start: int, stop: int, n: int, seed: int,
            backgrounds: Sequence[str] = BACKGROUNDS) -> tuple[np.ndarray, list[str], list[tuple[str, str, str]]]:
    """Stills ``start..stop-1`` of a corpus of `n` (chunks can be rendered in any process, same bytes)."""
    # Balanced classes: image i shows class perm[i] % 18; the permutation depends on (seed, n) only.
    classes = np.random.default_rng([seed, _STREAMS["stills"]]).permutation(n) % len(STILL_CLASSES)
    images = np.empty((stop - start, FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    captions, labels = [], []
    for j, i in enumerate(range(start, stop)):
        rng = np.random.default_rng([seed, _STREAMS["stills"], i])
        colour, shape = STILL_CLASSES[int(classes[i])].split()
        bg = backgrounds[int(rng.integers(len(backgrounds)))]
        frame = make_background(bg, rng)
        r = rng.uniform(5.0, 13.0)  # covers the whole range of sizes seen in growing/shrinking clips
        cx, cy = r + 3 + (FRAME_SIZE - 2 * r - 6) * rng.uniform(0, 1, size=2)
        _paint(frame, shape, cx, cy, r, rng.uniform(0, 2 * math.pi), _object_colour(colour, rng))
        images[j] = _to_uint8(frame)
        captions.append(_still_caption(colour, shape, bg, r, rng))
        labels.append((colour, shape, bg))
    return images, captions, labels


def render_stills(n: int, seed: int = 0,
                  backgrounds: Sequence[str] = BACKGROUNDS) -> tuple[np.ndarray, list[str]]:
    """Render the teacher's image-text corpus: still objects, captions without any motion word.

    Args:
        n: number of images (classes are balanced over the 18 :data:`STILL_CLASSES`).
        seed: random seed.
        backgrounds: background families to draw from (default: all five, shifted ones included).

    Returns:
        ``(images, captions)``: uint8 ``[n, 64, 64, 3]`` and ``n`` strings.
    """
    images, captions, _ = _stills(0, n, n, seed, backgrounds)
    return images, captions


def _write_stills_files(folder: Path, images: np.ndarray, captions: list[str],
                        labels: list[tuple[str, str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", images)
    rows = [(i, cap, *lab) for i, (cap, lab) in enumerate(zip(captions, labels))]
    _write_text(folder / "captions.csv", _csv_text(("index", "caption", "colour", "shape", "background"), rows))


def write_stills(root: str | os.PathLike, n: int, seed: int = 0) -> Path:
    """Write ``<root>/stills/images.npy`` (uint8 ``[n,64,64,3]``) and ``<root>/stills/captions.csv``.

    ``captions.csv`` has the header ``index,caption,colour,shape,background``; row ``i`` describes
    image ``i``. Read them back with :func:`load_stills`.

    Args:
        root: world root.
        n: number of images.
        seed: random seed.

    Returns:
        The ``stills`` folder.
    """
    folder = Path(root) / "stills"
    _write_stills_files(folder, *_stills(0, n, n, seed))
    return folder


def load_stills(root: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Read the teacher corpus written by :func:`write_stills` / :func:`render_world`.

    Returns:
        ``(images, captions)``: uint8 ``[N, 64, 64, 3]`` and ``N`` strings.
    """
    folder = Path(root) / "stills"
    with open(folder / "captions.csv", newline="", encoding="utf-8") as f:
        captions = [row["caption"] for row in csv.DictReader(f)]
    return np.load(folder / "images.npy"), captions


# --------------------------------------------------------------------------------------------------
# Captions, ids and small file helpers
# --------------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _motion_phrase(motion: str, speed: str, rng: np.random.Generator) -> str:
    """A varied phrasing of the motion; translations mention their speed half of the time."""
    phrase = _pick(rng, MOTION_PHRASES[motion])
    if motion in TRANSLATIONS and rng.random() < 0.5:
        phrase = f"{_pick(rng, SPEED_ADVERBS[speed])} {phrase}"
    return phrase


def _articles(text: str) -> str:
    """'a orange square' -> 'an orange square' (templates are written with 'a')."""
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", text)


def _caption(templates: Sequence[str], colour: str, shape: str, motion: str, speed: str, bg: str,
             rng: np.random.Generator, template: int | None = None) -> str:
    t = templates[int(rng.integers(len(templates)))] if template is None else templates[template]
    return _articles(t.format(colour=colour, shape=shape, motion=_motion_phrase(motion, speed, rng),
                              bg=BACKGROUND_WORDS[bg]))


_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def _youtube_id(rng: np.random.Generator, used: set[str]) -> str:
    """An 11-character YouTube-like id; it starts with a letter other than e/E, so pandas never reads
    it as a number, and it holds no glob metacharacters (the YouCook2 loader globs ``<id>.*``)."""
    letters = [c for c in _ID_CHARS[:52] if c not in "eE"]
    while True:
        s = _pick(rng, letters) + "".join(_ID_CHARS[int(i)] for i in rng.integers(len(_ID_CHARS), size=10))
        if s not in used:
            used.add(s)
            return s


def _csv_text(header: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> str:
    """CSV with LF line endings and minimal quoting (quotes only captions with commas or quotes)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


class _ComboPicker:
    """Draws (colour, shape, motion) triples without repetition until the allowed pool is used up."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.all = [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS if valid_combo(c, s, m)]
        self.used: set[tuple[str, str, str]] = set()

    def __call__(self, in_domain: bool) -> tuple[str, str, str]:
        pool = [x for x in self.all if (not in_domain or seen_in_training(x[0], x[2]))]
        fresh = [x for x in pool if x not in self.used]
        if not fresh:  # pool exhausted: start another round
            self.used -= set(pool)
            fresh = pool
        choice = fresh[int(self.rng.integers(len(fresh)))]
        self.used.add(choice)
        return choice


# --------------------------------------------------------------------------------------------------
# Planning: annotation files + video jobs, per dataset (all in the main process, cheap)
# --------------------------------------------------------------------------------------------------


@dataclass
class WorldPlan:
    files: dict[str, str] = field(default_factory=dict)  # relpath -> text
    jobs: list[VideoJob] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _in_domain_triple(rng: np.random.Generator, motion: str | None = None) -> tuple[str, str, str]:
    """A uniformly drawn (colour, shape, motion) the WebVid-like corpus can show."""
    pool = [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS
            if valid_combo(c, s, m) and seen_in_training(c, m) and (motion is None or m == motion)]
    return pool[int(rng.integers(len(pool)))]


def _plan_webvid(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    used: set[str] = set()
    labels = []
    for split, n in (("train", cfg.webvid_train), ("val", cfg.webvid_val)):
        code = _STREAMS[f"webvid_{split}"]
        rng = np.random.default_rng([seed, code])
        rows = []
        for i in range(n):
            colour, shape, motion = _in_domain_triple(rng)
            speed = _pick(rng, ("slow", "fast"))
            bg = _pick(rng, TRAIN_BACKGROUNDS)
            while True:  # Shutterstock-like integer ids, 6 to 10 digits, unique over both splits
                digits = int(rng.integers(6, 11))
                videoid = str(int(rng.integers(10 ** (digits - 1), 10 ** digits)))
                if videoid not in used:
                    used.add(videoid)
                    break
            page_idx = int(rng.integers(1, 60000))
            lo = (page_idx - 1) // 50 * 50 + 1
            if split == "val" and i == 2:
                lo += 50 * 900  # as in one genuine row, page_dir need not be page_idx's bucket
            page_dir = f"{lo:06d}_{lo + 49:06d}"
            if i < 2:  # the first two rows of each file exercise CSV quoting (a comma; double quotes)
                name = _caption(WEBVID_TEMPLATES, colour, shape, motion, speed, bg, rng, template=3 if i == 0 else 6)
            elif rng.random() < cfg.webvid_object_only:
                name = _articles(_pick(rng, WEBVID_OBJECT_ONLY_TEMPLATES).format(
                    colour=colour, shape=shape, bg=BACKGROUND_WORDS[bg]))
            else:
                name = _caption(WEBVID_TEMPLATES, colour, shape, motion, speed, bg, rng)
            seconds = round(CLIP_FRAMES / FPS)
            rows.append((videoid, name, page_idx, page_dir, f"PT00H00M{seconds:02d}S",
                         f"https://example.invalid/webvid/{videoid}.mp4"))
            labels.append((videoid, split, colour, shape, motion, speed, bg))
            plan.jobs.append(VideoJob(f"webvid/videos/{page_dir}/{videoid}.mp4", bg,
                                      (ClipSpec(colour, shape, motion, speed),),
                                      seed=(seed, code, i), bg_seed=(seed, code, i, 1)))
        plan.files[f"webvid/results_2M_{split}.csv"] = _csv_text(WEBVID_HEADER.split(","), rows)
        plan.counts[f"webvid_{split}"] = n
    plan.files["webvid/synthetic_labels.csv"] = _csv_text(
        ("videoid", "split", "colour", "shape", "motion", "speed", "background"), labels)


def _plan_ucf101(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    code = _STREAMS["ucf101"]
    rng = np.random.default_rng([seed, code])
    folders = ucf101_class_folders()
    motion_of = {f: m for m, f in UCF_FOLDERS.items()}
    plan.files["ucf101/ucfTrainTestlist/classInd.txt"] = "".join(f"{i + 1} {f}\n" for i, f in enumerate(folders))
    lines = []
    for ci, folder in enumerate(folders):
        motion = motion_of[folder]
        # Split 1 of the real UCF101 tests groups 1-7; the clips of one group share a scene (background).
        group_bg = {g: _pick(rng, TRAIN_BACKGROUNDS) for g in range(1, 8)}
        names = []
        for j in range(cfg.ucf101_per_class):
            g, c = j % 7 + 1, j // 7 + 1
            colour, shape, _ = _in_domain_triple(rng, motion)
            speed = _pick(rng, ("slow", "fast"))
            name = f"v_{folder}_g{g:02d}_c{c:02d}.avi"
            names.append((g, c, name))
            plan.jobs.append(VideoJob(f"ucf101/UCF-101/{folder}/{name}", group_bg[g],
                                      (ClipSpec(colour, shape, motion, speed),),
                                      seed=(seed, code, ci, j), bg_seed=(seed, code, ci, g, 1)))
        lines += [f"{folder}/{name}\n" for _, _, name in sorted(names)]
    plan.files["ucf101/ucfTrainTestlist/testlist01.txt"] = "".join(lines)
    plan.counts["ucf101"] = len(lines)


def _plan_mit(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    code = _STREAMS["mit"]
    rng = np.random.default_rng([seed, code])
    cats = mit_categories()
    plan.files["mit/moments_categories.txt"] = "".join(f"{c},{i}\n" for i, c in enumerate(cats))
    order = rng.permutation(len(cats))  # spread the videos evenly over the categories
    used: set[str] = set()
    rows = []
    for i in range(cfg.mit_videos):
        cat = cats[int(order[i % len(cats)])]
        colour, shape, *words = cat.split("+")
        motion = " ".join(words)
        file = f"yt-{_youtube_id(rng, used)}_{int(rng.integers(0, 300))}.mp4"
        bg = _pick(rng, SHIFTED_BACKGROUNDS)
        rows.append((f"{cat}/{file}", cat, int(rng.integers(2, 4)), int(rng.integers(0, 2))))
        plan.jobs.append(VideoJob(f"mit/validation/{cat}/{file}", bg,
                                  (ClipSpec(colour, shape, motion, _pick(rng, ("slow", "fast"))),),
                                  seed=(seed, code, i), bg_seed=(seed, code, i, 1), domain="shifted"))
    plan.files["mit/validationSet.csv"] = _csv_text(None, sorted(rows))
    plan.counts["mit"] = len(rows)
    plan.counts["mit_categories"] = len(cats)


def _plan_msrvtt(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    code = _STREAMS["msrvtt"]
    rng = np.random.default_rng([seed, code])
    picker = _ComboPicker(rng)
    nums = rng.choice(np.arange(7010, 10000), size=cfg.msrvtt_videos, replace=False)
    rows = []
    for i, num in enumerate(nums):
        domain = "in-domain" if i % 2 == 0 else "shifted"  # mixed: alternate, recorded per video
        colour, shape, motion = picker(in_domain=domain == "in-domain")
        speed = _pick(rng, ("slow", "fast"))
        bg = _pick(rng, TRAIN_BACKGROUNDS if domain == "in-domain" else SHIFTED_BACKGROUNDS)
        sentence = _caption(MSRVTT_TEMPLATES, colour, shape, motion, speed, bg, rng).lower()
        rows.append((f"ret{i}", f"msr{num}", f"video{num}", sentence))
        plan.jobs.append(VideoJob(f"msrvtt/videos/all/video{num}.mp4", bg, (ClipSpec(colour, shape, motion, speed),),
                                  seed=(seed, code, i), bg_seed=(seed, code, i, 1), domain=domain))
    plan.files["msrvtt/MSRVTT_JSFUSION_test.csv"] = _csv_text(MSRVTT_HEADER.split(","), rows)
    plan.counts["msrvtt"] = len(rows)


def _plan_youcook2(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    code = _STREAMS["youcook2"]
    rng = np.random.default_rng([seed, code])
    fps = int(FPS)
    seg_seconds = round((CLIP_FRAMES - 1) / FPS)  # a segment [start, end] s spans frames start*fps..end*fps
    used: set[str] = set()
    rows = []
    for v in range(cfg.youcook2_videos):
        # One object per video (its "recipe"), doing 3-4 different motions with empty gaps between.
        colour, shape = _pick(rng, STILL_CLASSES).split()
        task = str(101 + STILL_CLASSES.index(f"{colour} {shape}"))
        allowed = [m for m in MOTIONS if valid_combo(colour, shape, m) and seen_in_training(colour, m)]
        n_seg = int(rng.integers(3, 5))
        motions = [allowed[int(k)] for k in rng.choice(len(allowed), size=n_seg, replace=False)]
        video_id = _youtube_id(rng, used)
        bg = _pick(rng, TRAIN_BACKGROUNDS)
        clips: list[ClipSpec] = []
        frame = 0  # next frame to fill
        t = int(rng.integers(0, 2))  # the first segment starts at 0 or 1 s
        for motion in motions:
            start, end = t, t + seg_seconds
            if start * fps > frame:
                clips.append(ClipSpec(None, None, None, n_frames=start * fps - frame))
            speed = _pick(rng, ("slow", "fast"))
            clips.append(ClipSpec(colour, shape, motion, speed, n_frames=CLIP_FRAMES))
            frame = end * fps + 1
            text = _caption(YOUCOOK2_TEMPLATES, colour, shape, motion, speed, bg, rng).lower()
            rows.append((end, start, task, text, video_id))
            t = end + int(rng.integers(1, 3))  # a 1-2 s gap before the next action
        tail = int(rng.integers(0, 2)) * fps
        if tail:
            clips.append(ClipSpec(None, None, None, n_frames=tail))
        plan.jobs.append(VideoJob(f"youcook2/validation/{task}/{video_id}.mp4", bg, tuple(clips),
                                  seed=(seed, code, v), bg_seed=(seed, code, v, 1)))
    plan.files["youcook2/validation_youcook.csv"] = _csv_text(YOUCOOK2_HEADER.split(","), rows)
    plan.counts["youcook2"] = len(rows)
    plan.counts["youcook2_videos"] = cfg.youcook2_videos


def _plan_didemo(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    code = _STREAMS["didemo"]
    rng = np.random.default_rng([seed, code])
    picker = _ComboPicker(rng)
    ann_ids = rng.choice(np.arange(1, 60000), size=4 * cfg.didemo_videos, replace=False)
    flickr_ids: list[int] = []
    while len(flickr_ids) < cfg.didemo_videos:  # unique 10-digit flickr ids
        fid = int(rng.integers(10 ** 9, 10 ** 10))
        if fid not in flickr_ids:
            flickr_ids.append(fid)
    records = []
    for v in range(cfg.didemo_videos):
        n_parts = int(rng.integers(3, 5))
        bg = _pick(rng, SHIFTED_BACKGROUNDS)
        parts = [picker(in_domain=False) for _ in range(n_parts)]
        speeds = [_pick(rng, ("slow", "fast")) for _ in range(n_parts)]
        owner = f"{int(rng.integers(10 ** 6, 10 ** 8))}@N{int(rng.integers(0, 10)):02d}"
        secret = "".join(_pick(rng, "0123456789abcdef") for _ in range(10))
        stem = f"{owner}_{int(flickr_ids[v])}_{secret}"
        ext = _pick(rng, ("mov", "avi", "mp4", "m4v", "3gp"))  # as in the real file; files are <stem>.mp4
        for k, ((colour, shape, motion), speed) in enumerate(zip(parts, speeds)):
            # 4 annotators mark the part (one "segment" = one 2.1 s part here, 5 s in the real data).
            times = [[k, k] for _ in range(4)]
            if rng.random() < 0.3:
                times[int(rng.integers(4))] = [max(k - 1, 0), k] if rng.random() < 0.5 else [k, min(k + 1, n_parts - 1)]
            records.append({
                "num_segments": n_parts,
                "description": _caption(DIDEMO_TEMPLATES, colour, shape, motion, speed, bg, rng).lower(),
                "dl_link": f"https://example.invalid/video_download.gne?id={int(flickr_ids[v])}",
                "times": times,
                "video": f"{stem}.{ext}",
                "annotation_id": int(ann_ids[len(records)]),
            })
        plan.jobs.append(VideoJob(f"didemo/videos/{stem}.mp4", bg,
                                  tuple(ClipSpec(c, s, m, sp) for (c, s, m), sp in zip(parts, speeds)),
                                  seed=(seed, code, v), bg_seed=(seed, code, v, 1), domain="shifted"))
    # The real file interleaves videos; a video's descriptions keep their relative (temporal) order.
    order = rng.permutation(len(records))
    by_video: dict[str, list[dict]] = {}
    for rec in records:
        by_video.setdefault(rec["video"], []).append(rec)
    queue = {k: iter(v) for k, v in by_video.items()}
    shuffled = [next(queue[records[int(i)]["video"]]) for i in order]
    plan.files["didemo/val_data.json"] = json.dumps(shuffled)
    plan.counts["didemo"] = cfg.didemo_videos
    plan.counts["didemo_descriptions"] = len(records)


def plan_world(seed: int = 0, config: WorldConfig | None = None) -> WorldPlan:
    """Plan the world: every annotation file's text and every video job, without rendering anything.

    Args:
        seed: world seed.
        config: sizes (default :class:`WorldConfig`).

    Returns:
        A plan with ``files`` (relpath -> text), ``jobs`` (:class:`VideoJob`) and ``counts``.
    """
    cfg = config or WorldConfig()
    plan = WorldPlan()
    for planner in (_plan_webvid, _plan_ucf101, _plan_mit, _plan_msrvtt, _plan_youcook2, _plan_didemo):
        planner(int(seed), cfg, plan)
    plan.counts["stills"] = cfg.n_stills
    return plan


# --------------------------------------------------------------------------------------------------
# Writing videos and the whole world
# --------------------------------------------------------------------------------------------------

# Deterministic h264: x264's assembly paths made the same frames encode to one of two bitstreams
# depending on the process's heap layout (seen with PyAV 18 / 64x64 frames: 2-4 of 41 smoke videos
# varied over 8 repeats; decoded pixels differed by up to 30 levels). ``asm=0`` (C paths only) was
# stable in every repeat; "veryfast" halves the C encoder's time at the same decoded error on these
# tiny clips; one thread keeps the bytes independent of the core count.
_X264 = {"threads": "1", "preset": "veryfast", "x264-params": "asm=0"}


def _write_avi(path: Path, frames: np.ndarray, fps: float = FPS) -> Path:
    """MPEG-4 Part 2 in an AVI container, like the real UCF101 files (xvid), atomically.

    Not h264: decord reads h264-in-AVI frames fine but reports every frame timestamp as
    AV_NOPTS_VALUE (-9.2e17 s), which breaks anything that maps seconds to frames; with MPEG-4 Part 2
    both decord and PyAV report 0.0, 0.1, ... and a 2.1 s duration. The quantizer bottoms out at its
    minimum with this bit rate (~10 KB per clip, ~2.4 grey levels mean error vs ~1.6 for h264).
    """
    from fitclip.video import write_video

    # threads=1: slices per thread would change the bytes with the core count.
    return write_video(path, frames, fps=fps, codec="mpeg4", container="avi", bit_rate=1_000_000,
                       options={"threads": "1"})


def write_job(root: str | os.PathLike, job: VideoJob) -> Path:
    """Render one job and write it under `root` (its suffix picks the writer: .avi or h264 mp4)."""
    path = Path(root) / job.relpath
    frames = render_video(job)
    if path.suffix == ".avi":
        return _write_avi(path, frames)
    from fitclip.video import write_video

    return write_video(path, frames, fps=FPS, crf=18, options=_X264)


def _run_task(task: tuple) -> tuple[str, Any]:
    """Worker entry point: ``("video", root, job)`` or ``("stills", start, stop, n, seed)``."""
    if task[0] == "video":
        write_job(task[1], task[2])
        return "video", None
    return "stills", (task[1], _stills(*task[1:]))


def _prepare_dirs(root: Path) -> None:
    """Remove a previous synthetic world (only folders carrying our marker); never touch real data."""
    (root / _MANIFEST).unlink(missing_ok=True)  # a half-rendered world must never look complete
    for name in _WORLD_DIRS:
        folder = root / name
        if folder.exists():
            if (folder / _MARKER).is_file():
                shutil.rmtree(folder)
            elif any(folder.iterdir()):
                raise FileExistsError(
                    f"{folder} exists and was not written by fitclip.toyworld (no {_MARKER} marker); "
                    f"refusing to overwrite what may be real data. Render the synthetic world into another root.")
        folder.mkdir(parents=True, exist_ok=True)
        # The marker's text still names the module's former path (fitclip.synthetic), so a re-rendered world
        # stays byte-identical to earlier ones; only the marker's presence is ever checked.
        (folder / _MARKER).write_text("written by fitclip.synthetic.render_world; deleted on re-render\n")


def _manifest(seed: int, cfg: WorldConfig, plan: WorldPlan) -> dict[str, Any]:
    return {
        "format": "fitclip-synthetic-world",
        "renderer_version": RENDERER_VERSION,
        "fingerprint": cfg.fingerprint(seed),
        "seed": int(seed),
        "config": asdict(cfg),
        "frame_size": FRAME_SIZE, "fps": FPS, "clip_frames": CLIP_FRAMES,
        "colours": list(COLOURS), "shapes": list(SHAPES), "still_classes": list(STILL_CLASSES),
        "motions": list(MOTIONS),
        "order_only_pair": {"motions": list(ORDER_ONLY_PAIR),
                            "ucf101": [UCF_FOLDERS[m] for m in ORDER_ONLY_PAIR],
                            "mit_suffix": ["+" + "+".join(m.split()) for m in ORDER_ONLY_PAIR]},
        "heldout_combos": sorted([c, m] for c, m in HELDOUT_COMBOS),
        "train_backgrounds": list(TRAIN_BACKGROUNDS), "shifted_backgrounds": list(SHIFTED_BACKGROUNDS),
        "benchmark_domains": BENCHMARK_DOMAINS,
        "classes": {"ucf101": {"folders": ucf101_class_folders(), "names": ucf101_class_names()},
                    "mit": mit_categories()},
        "counts": plan.counts,
        "videos": {j.relpath: {"frames": j.n_frames, "domain": j.domain} for j in plan.jobs},
    }


def render_world(root: str | os.PathLike, seed: int = 0, smoke: bool = False, config: WorldConfig | None = None,
                 workers: int | None = None, progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Render the whole synthetic world (stills, WebVid-like corpus, 5 benchmarks) under `root`.

    Idempotent: when ``<root>/world.json`` already describes the same (renderer version, config, seed),
    nothing is rendered. Otherwise the folders of a previous synthetic world are replaced (only those
    carrying the module's marker file; a folder of real data makes this raise instead).

    Args:
        root: the data root; datasets land in ``<root>/<name>/`` as the loaders expect.
        seed: world seed (same seed -> byte-identical annotations, identical frames).
        smoke: use :meth:`WorldConfig.smoke` (ignored when `config` is given).
        config: explicit sizes.
        workers: worker processes (default: the CPU count, at most 4; 1 renders in-process).
        progress: show a tqdm progress bar.
        force: re-render even when an identical world is present.

    Returns:
        The manifest (the content of ``world.json``) plus ``root``, ``skipped`` (True when an
        identical world was already there) and ``seconds`` (wall time of this call).
    """
    t0 = time.perf_counter()
    cfg = config or (WorldConfig.smoke() if smoke else WorldConfig())
    root = Path(root)
    manifest_path = root / _MANIFEST
    if not force and manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("fingerprint") == cfg.fingerprint(seed) and all((root / d / _MARKER).is_file()
                                                                     for d in _WORLD_DIRS):
            return {**old, "root": str(root), "skipped": True, "seconds": time.perf_counter() - t0}

    root.mkdir(parents=True, exist_ok=True)
    _prepare_dirs(root)
    plan = plan_world(seed, cfg)
    for rel, text in plan.files.items():
        _write_text(root / rel, text)

    # Long videos first so the workers finish together; stills in chunks so they render in parallel too.
    tasks: list[tuple] = [("video", str(root), j) for j in sorted(plan.jobs, key=lambda j: -j.n_frames)]
    chunk = 500
    tasks += [("stills", s, min(s + chunk, cfg.n_stills), cfg.n_stills, int(seed))
              for s in range(0, cfg.n_stills, chunk)]
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    n_workers = max(1, min(n_workers, len(tasks)))
    stills_parts: dict[int, tuple] = {}

    if n_workers == 1:
        results = map(_run_task, tasks)
        pool = None
    else:
        import multiprocessing as mp

        # fork where available: workers start instantly and inherit imports (they never touch torch).
        # The pool is made before the progress bar, so no tqdm monitor thread exists at fork time.
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        pool = mp.get_context(method).Pool(n_workers)
        results = pool.imap_unordered(_run_task, tasks, chunksize=4)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc=f"synthetic world ({len(plan.jobs)} videos, {cfg.n_stills} stills)",
               unit="task", disable=not progress)
    try:
        for kind, payload in results:
            if kind == "stills":
                start, part = payload
                stills_parts[start] = part
            bar.update(1)
    except BaseException:
        if pool is not None:
            pool.terminate()  # a failed render stops at once; world.json is not written
        raise
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()

    starts = sorted(stills_parts)
    _write_stills_files(root / "stills",
                        np.concatenate([stills_parts[s][0] for s in starts]) if starts
                        else np.zeros((0, FRAME_SIZE, FRAME_SIZE, 3), np.uint8),
                        [c for s in starts for c in stills_parts[s][1]],
                        [lab for s in starts for lab in stills_parts[s][2]])
    manifest = _manifest(seed, cfg, plan)
    # Written last, atomically: its presence means the world is complete.
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")
    return {**manifest, "root": str(root), "skipped": False, "seconds": time.perf_counter() - t0}
