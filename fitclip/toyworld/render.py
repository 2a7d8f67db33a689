"""The numpy renderer: backgrounds, anti-aliased shapes, each motion's in-frame cue, whole videos from
:class:`VideoJob` specs, and the teacher's still images (pure numpy, float32 in [0, 1], then uint8 frames).

What each motion looks like and why: :mod:`fitclip.toyworld.world`.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from fitclip.toyworld.vocabulary import (BACKGROUNDS, CLIP_FRAMES, COLOURS, FRAME_SIZE, MOTIONS, ORDER_ONLY_PAIR,
                                         SHAPES, SINGLE_FRAME_MOTIONS, STILL_CLASSES, TRANSLATIONS, still_caption,
                                         valid_combo, video_look_towards, video_swap_partner)

#: Bumped whenever rendering changes, so an old rendered world is never mistaken for a current one.
RENDERER_VERSION = 6  # 3: every video intra-coded; 4: 60 concepts, stills are frames of clips (motion cues);
# 5: the stills-to-video gap (VideoJob.look); 6: every video keeps full-resolution chroma (writers.write_clip)

#: The random stream of each corpus: every draw is keyed by (seed, stream, index).
STREAMS = {"stills": 1, "webvid_train": 2, "webvid_val": 3, "ucf101": 4, "mit": 5, "msrvtt": 6,
            "youcook2": 7, "didemo": 8, "ucf101_splits": 9, "hmdb51": 10, "k600_zs": 11}


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
        look: the stills-to-video gap's share (0: every object looks as in the stills).
        gap: its kind: ``"mix"``, each object's colour drawn `look` of the way towards
            :func:`~fitclip.toyworld.vocabulary.video_look_towards` of its concept; ``"swap"``, half the concepts
            moved `look` of the way to their partner's palette colour
            (:func:`~fitclip.toyworld.vocabulary.video_swap_partner`).
    """

    relpath: str
    background: str
    clips: tuple[ClipSpec, ...]
    seed: tuple[int, ...]
    bg_seed: tuple[int, ...]
    domain: str = "in-domain"
    look: float = 0.0
    gap: str = "mix"

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
        shape: one of :data:`SHAPES` (circle, square, triangle, cross, ring, bar).
        cx, cy: centre in pixels (x right, y down).
        r: size; shapes are scaled to comparable extents (square half-side 0.85 r, triangle
            circumradius 1.35 r, cross arms 1.15 r long and 0.4 r wide, ring outer radius 1.1 r with a hole
            of 0.55 r, bar 2.7 r long and 0.9 r wide).
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
    elif shape == "ring":
        d = np.abs(np.sqrt(x * x + y * y) - 0.825 * r) - 0.275 * r
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
        elif shape == "cross":
            ax, ay = np.abs(xr), np.abs(yr)
            arm, half = 1.15 * r, 0.4 * r
            d = np.minimum(np.maximum(ax - half, ay - arm), np.maximum(ax - arm, ay - half))
        elif shape == "bar":
            d = np.maximum(np.abs(xr) - 1.35 * r, np.abs(yr) - 0.45 * r)
        else:
            raise ValueError(f"unknown shape {shape!r}; use one of {SHAPES}")
    return np.clip(0.5 - d, 0, 1).astype(np.float32)


def shape_window(cx: float, cy: float, r: float) -> tuple[slice, slice]:
    """The pixels a shape of size `r` centred at (cx, cy) can cover (its mask is exactly 0 elsewhere: every
    shape lies within 1.43 r of its centre (the bar's corners), plus the 1-px edge ramp)."""
    reach = 1.45 * r + 2
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


def _object_colour(colour: str, rng: np.random.Generator, shape: str | None = None, look: float = 0.0,
                   gap: str = "mix") -> np.ndarray:
    """The named colour with a small per-video jitter, so colour names cover a neighbourhood; with `look`, the
    stills-to-video gap `gap`: ``"mix"``, drawn that share of the way towards the concept's video look
    (:func:`video_look_towards`); ``"swap"``, a swapped concept's colour moved that share of the way to its
    partner's palette colour, jitter kept (:func:`video_swap_partner`; the others unchanged)."""
    base = np.array(COLOURS[colour], np.float32)
    col = np.clip(base + rng.uniform(-12, 12, size=3), 0, 255).astype(np.float32) / 255.0
    if look and gap == "mix":
        col = (1 - look) * col + look * np.array(COLOURS[video_look_towards(colour, shape)], np.float32) / 255.0
    elif look and gap == "swap" and (partner := video_swap_partner(colour, shape)) is not None:
        col = np.clip(look * np.array(COLOURS[partner], np.float32) / 255.0 + (col - look * base / 255.0), 0, 1
                      ).astype(np.float32)
    elif look and gap not in ("mix", "swap"):
        raise ValueError(f"unknown stills-to-video gap {gap!r}; use 'mix' or 'swap'")
    return col


def _render_segment(spec: ClipSpec, background: np.ndarray, rng: np.random.Generator,
                    only: int | None = None, look: float = 0.0, gap: str = "mix") -> np.ndarray:
    """Render one segment as float32 ``[T, 64, 64, 3]`` on `background` (see the module docstring); with
    `only`, paint that frame alone (the others stay background): the teacher's stills are single frames. `look`:
    the stills-to-video gap of :class:`VideoJob` (videos only; the stills keep 0)."""
    t_n = spec.n_frames
    frames = np.repeat(background[None], t_n, axis=0)
    steps = range(t_n) if only is None else (only,)
    if spec.colour is None:
        return frames
    if spec.motion not in MOTIONS or spec.shape not in SHAPES or spec.colour not in COLOURS:
        raise ValueError(f"bad clip spec {spec}")
    # Draw every parameter in the same order for every motion, so that e.g. growing and shrinking
    # with the same seed get the same object, place and size range (the order-only control relies on it).
    col = _object_colour(spec.colour, rng, spec.shape, look, gap)
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
        for t in steps:
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
    for t in steps:
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
    parts = [_render_segment(spec, background, np.random.default_rng([*job.seed, k]), look=job.look, gap=job.gap)
             for k, spec in enumerate(job.clips)]
    return _to_uint8(np.concatenate(parts, axis=0))


def render_clip(colour: str, shape: str, motion: str, background: str = "gradient", speed: str = "slow",
                seed: int = 0, n_frames: int = CLIP_FRAMES, look: float = 0.0, gap: str = "mix") -> np.ndarray:
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
        look, gap: the stills-to-video gap (:class:`VideoJob`; the world's videos use ``WorldConfig.video_look``
            and ``WorldConfig.video_gap``).

    Returns:
        uint8 ``[n_frames, 64, 64, 3]``.
    """
    job = VideoJob("", background, (ClipSpec(colour, shape, motion, speed, n_frames),),
                   seed=(int(seed), 0), bg_seed=(int(seed), 1), look=look, gap=gap)
    return render_video(job)


# --------------------------------------------------------------------------------------------------
# Teacher corpus: stills without motion
# --------------------------------------------------------------------------------------------------


#: Share of the stills of a single-frame motion whose caption names the motion (the rest name the object only).
STILL_MOTION_CAPTION_SHARE = 0.7


def render_stills_chunk(start: int, stop: int, n: int, seed: int, backgrounds: Sequence[str] = BACKGROUNDS,
                        look: float = 0.0, gap: str = "mix"
                        ) -> tuple[np.ndarray, list[str], list[tuple[str, str, str, str]]]:
    """Stills ``start..stop-1`` of a corpus of `n` (chunks can be rendered in any process, same bytes).

    Each still is one frame of a clip of the world (an object doing a motion, its in-frame cue included: a
    trail, rotational or shake blur), as web photos catch an action mid-way. When the motion is one a single
    frame shows (:data:`SINGLE_FRAME_MOTIONS`), :data:`STILL_MOTION_CAPTION_SHARE` of the captions name it;
    blinking (a frame with the object on), growing and shrinking (a crisp object of some size) are captioned by
    the object alone, so no still teaches the order-only pair. Labels: (colour, shape, background, the motion
    the caption names or "").

    `look`, `gap` render the same stills with a stills-to-video gap (:class:`VideoJob`); the
    teacher's corpus never has it (0): it is for measuring what the gap does to the teacher's reading
    (:func:`fitclip.toyworld.pretrain.look_probe`).
    """
    # Balanced concepts: image i shows concept perm[i] % 60; the permutation depends on (seed, n) only.
    classes = np.random.default_rng([seed, STREAMS["stills"]]).permutation(n) % len(STILL_CLASSES)
    images = np.empty((stop - start, FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    captions, labels = [], []
    for j, i in enumerate(range(start, stop)):
        rng = np.random.default_rng([seed, STREAMS["stills"], i])
        colour, shape = STILL_CLASSES[int(classes[i])].split()
        bg = backgrounds[int(rng.integers(len(backgrounds)))]
        motions = [m for m in MOTIONS if valid_combo(colour, shape, m)]
        motion = motions[int(rng.integers(len(motions)))]
        speed = ("slow", "fast")[int(rng.integers(2))]
        spec = ClipSpec(colour, shape, motion, speed)
        background = make_background(bg, rng)
        seg_rng = np.random.default_rng([seed, STREAMS["stills"], i, 1])
        if motion == "blinking":  # a frame with the object on
            probe = _render_segment(spec, background, np.random.default_rng([seed, STREAMS["stills"], i, 1]), look=look,
                                    gap=gap)
            on = [k for k in range(spec.n_frames) if np.abs(probe[k] - background).max() > 0]
            t = on[int(rng.integers(len(on)))]
        else:
            t = int(rng.integers(spec.n_frames))
        frame = _render_segment(spec, background, seg_rng, only=t, look=look, gap=gap)[t]
        images[j] = _to_uint8(frame)
        named = motion in SINGLE_FRAME_MOTIONS and rng.random() < STILL_MOTION_CAPTION_SHARE
        # No size words (r = 7 is neither small nor large): a size would hint at a frame's place in growing clips.
        captions.append(still_caption(colour, shape, bg, 7.0, rng, motion if named else None, speed))
        labels.append((colour, shape, bg, motion if named else ""))
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
    images, captions, _ = render_stills_chunk(0, n, n, seed, backgrounds)
    return images, captions
