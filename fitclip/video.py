"""Video frames: which frames to sample, how to map seconds to frames, how to decode, how to write.

Two decoders are supported and return bit-identical frames on ordinary files:

* ``"decord"`` (default, what FitCLIP used): fast random access via ``VideoReader.get_batch``.
* ``"pyav"`` (fallback): seeks to the keyframe before each wanted frame and decodes forward.

Both number frames the same way: frame ``i`` is the ``i``-th frame in *presentation* order, i.e. the
``i``-th smallest packet pts of the video stream (decode order differs when there are B-frames).

torch is imported before decord on purpose: decord bundles its own libs and importing it first can
break torch's import on some builds. decord and av are imported lazily inside the functions so that
importing this module stays cheap.

One file (about 600 lines) because the two backends must agree frame for frame: their readers, the sampler
and the seconds-to-frame mapping they share are read and tested together (tests/test_video.py).
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch  # (must be imported before decord)

BACKENDS = ("decord", "pyav")
_MODES = ("train", "eval")


class VideoDecodeError(RuntimeError):
    """A video file could not be opened or decoded. The message names the path and the reason."""


# --------------------------------------------------------------------------------------------------
# Which frames to sample
# --------------------------------------------------------------------------------------------------


def frame_indices(start: int, end: int, num_frames: int = 4, mode: str = "eval",
                  generator: torch.Generator | None = None) -> list[int]:
    """Pick up to `num_frames` frame indices spread over the inclusive range ``[start, end]``.

    This is FitCLIP's sampler: the range is cut into ``k = min(num_frames, end - start + 1)`` bins
    whose edges are ``torch.linspace(start, end, k + 1, dtype=torch.int)`` (linspace *truncated* to
    integers). Neighbouring bins share their edge frame, as in the original.

    * ``"eval"``: the middle of each bin, ``round((t_i + t_{i+1}) / 2)`` with round-half-to-even
      (Python's ``round`` / ``torch.round``). E.g. 100 frames (0..99) give ``[12, 36, 62, 86]``.
    * ``"train"``: a uniform random integer in each inclusive bin ``[t_i, t_{i+1}]``, drawn with
      `generator` (the global torch RNG when None).

    Very short ranges can give repeated indices (a 2-frame range in eval gives ``[0, 0]`` relative to
    `start`); that is the original behaviour and is kept so that results are comparable.

    Args:
        start: first frame of the range (>= 0).
        end: last frame of the range, inclusive (>= start).
        num_frames: how many frames to pick at most (>= 1).
        mode: ``"eval"`` (deterministic) or ``"train"`` (random).
        generator: torch RNG for ``"train"``; ignored in ``"eval"``.

    Returns:
        ``k`` non-decreasing frame indices, each in ``[start, end]``.

    Raises:
        ValueError: negative `start`, ``end < start``, ``num_frames < 1`` or an unknown `mode`.
    """
    for name, value in (("start", start), ("end", end), ("num_frames", num_frames)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if start < 0:
        raise ValueError(f"start must be >= 0, got start={start}; frame indices start at 0")
    if end < start:
        raise ValueError(f"end must be >= start, got start={start}, end={end}; end is the last frame "
                         f"of the range, inclusive (use end = num_video_frames - 1 for a whole video)")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got num_frames={num_frames}")
    if mode not in _MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {_MODES}")

    k = min(int(num_frames), int(end) - int(start) + 1)
    # dtype=torch.int truncates the evenly spaced edges, exactly as the original FitCLIP sampler did.
    ticks = torch.linspace(int(start), int(end), k + 1, dtype=torch.int).tolist()
    bins = list(zip(ticks[:-1], ticks[1:]))
    if mode == "eval":
        # Python's round is round-half-to-even, like torch.round on the original's float midpoints.
        return [round((a + b) / 2) for a, b in bins]
    # One draw per bin with its own bounds; k is small (a handful of frames), so the loop is cheap.
    return [int(torch.randint(a, b + 1, (), generator=generator)) for a, b in bins]


def multi_clip_indices(start: int, end: int, num_frames: int = 4, num_clips: int = 1, mode: str = "eval",
                       generator: torch.Generator | None = None) -> list[int]:
    """Frames of `num_clips` temporal clips of the inclusive range ``[start, end]`` (multi-view testing).

    The range is cut into `num_clips` equal windows with the sampler's own rule (edges
    ``torch.linspace(start, end, num_clips + 1, dtype=torch.int)``, truncated; neighbours share their edge
    frame), and :func:`frame_indices` picks up to `num_frames` frames in each; the clips' indices are
    concatenated in time order. ``num_clips=1`` is :func:`frame_indices` itself. E.g. 100 frames (0..99),
    4 frames x 2 clips: windows [0, 49] and [49, 99] give ``[6, 18, 30, 42, 55, 68, 80, 92]``.
    """
    if isinstance(num_clips, bool) or not isinstance(num_clips, (int, np.integer)) or num_clips < 1:
        raise ValueError(f"num_clips must be an int >= 1, got {num_clips!r}")
    if num_clips == 1:
        return frame_indices(start, end, num_frames, mode, generator)
    if end < start:
        raise ValueError(f"end must be >= start, got start={start}, end={end}")
    edges = torch.linspace(int(start), int(end), int(num_clips) + 1, dtype=torch.int).tolist()
    return [i for a, b in zip(edges[:-1], edges[1:]) for i in frame_indices(a, b, num_frames, mode, generator)]


# --------------------------------------------------------------------------------------------------
# Seconds -> frames
# --------------------------------------------------------------------------------------------------


def time_to_frame(frame_times: Sequence[float] | np.ndarray, seconds: float) -> int:
    """Index of the frame whose centre timestamp is nearest to `seconds`, clamped inside the video.

    Works for any frame timing (29.97 fps, variable frame rate) because it uses the container's own
    per-frame timestamps instead of ``seconds * fps``.

    Args:
        frame_times: per-frame timestamps in seconds, in presentation order, either
            * 1-D ``[N]``: frame *centres*, as in ``video_info(path)["frame_times"]``; or
            * 2-D ``[N, 2]``: ``(start, end)`` pairs, as returned by decord's
              ``VideoReader.get_frame_timestamp(range(N))``; their midpoints are used as centres.
        seconds: the time to look up. Times before the first centre give frame 0 and times after
            the last centre give frame ``N - 1``.

    Returns:
        A frame index in ``[0, N - 1]``. A time exactly halfway between two centres (a frame
        boundary) maps to the later frame, the one that starts there. At a constant rate the nearest
        centre is the frame whose interval contains the time; at a variable rate it can be the
        neighbour (0.6 s inside a long frame spanning 0.54-0.9 s is nearer the previous centre 0.53).

    Raises:
        ValueError: empty or unsorted `frame_times`, a wrong shape, or a non-finite `seconds`.
    """
    times = np.asarray(frame_times, dtype=np.float64)
    if times.ndim == 2 and times.shape[1] == 2:
        centres = times.mean(axis=1)
    elif times.ndim == 1:
        centres = times
    else:
        raise ValueError(f"frame_times must be [N] frame centres or [N, 2] (start, end) pairs in seconds, "
                         f"got shape {times.shape}")
    if centres.size == 0:
        raise ValueError("frame_times is empty: a video with no frames has no frame to return")
    if not math.isfinite(seconds):
        raise ValueError(f"seconds must be a finite number, got {seconds!r}")
    if np.any(np.diff(centres) < 0):
        raise ValueError("frame_times must be in presentation order (non-decreasing); pass the timestamps "
                         "of frames 0..N-1 in order")
    i = int(np.searchsorted(centres, seconds, side="left"))  # first centre >= seconds
    if i == 0:
        return 0
    if i == len(centres):
        return len(centres) - 1
    # Nearest of the two neighbouring centres; ties go to the later frame (see Returns).
    # Nearest of the two neighbouring centres; ties go to the later frame (see Returns). The 1 µs
    # tolerance keeps exact boundaries (8.0 s between centres 7.95 and 8.05) from being decided by
    # floating-point error in the timestamps.
    return i if (centres[i] - seconds) - (seconds - centres[i - 1]) <= 1e-6 else i - 1


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------


def _check_file(path: str | os.PathLike) -> str:
    """Fail early, with a clear reason, on what both decoders report only as "invalid data"."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoDecodeError(f"{path}: file does not exist")
    if not os.path.isfile(path):
        raise VideoDecodeError(f"{path}: not a regular file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(f"{path}: file is empty (0 bytes)")
    return path


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; use one of {BACKENDS}")


def _check_indices(indices: Sequence[int] | np.ndarray | torch.Tensor, num_frames: int, path: str) -> np.ndarray:
    """Indices as int64 `[T]`, all inside ``[0, num_frames - 1]`` (IndexError otherwise)."""
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    idx = np.asarray(indices)
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    if idx.ndim != 1 or idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices must be a 1-D sequence of ints, got dtype {idx.dtype} shape {idx.shape}")
    idx = idx.astype(np.int64)
    bad = idx[(idx < 0) | (idx >= num_frames)]
    if bad.size:
        # No Python-style negative indexing: a negative index here is almost always a bug upstream.
        raise IndexError(f"{path}: frame indices {bad.tolist()[:8]} out of range; the video has {num_frames} "
                         f"frames, valid indices are 0..{num_frames - 1}")
    return idx


def _frame_ends(starts: np.ndarray, fps: float) -> np.ndarray:
    """Each frame ends where the next one starts (presentation order); the last lasts 1 / fps.

    Packet durations are not used: in mp4 they are decode-order time deltas (stts), which differ
    from a frame's display time with B-frames at a variable rate, and decord sometimes reports them
    as 0. Using only start times also makes both backends agree exactly.
    """
    starts = np.asarray(starts, dtype=np.float64)
    if fps > 0:
        last = 1.0 / fps
    else:  # no usable average rate: the typical frame step, or nothing for a 1-frame video
        last = float(np.median(np.diff(starts))) if len(starts) > 1 else 0.0
    return np.append(starts[1:], starts[-1] + last)


def _ffmpeg_reason(path: str) -> str | None:
    """FFmpeg's own reason for failing to open `path`, via PyAV (decord only logs it to stderr)."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                return "no video stream"
    except av.error.FFmpegError as e:
        return str(e)
    return None


# --------------------------------------------------------------------------------------------------
# decord backend
# --------------------------------------------------------------------------------------------------

# decord's errors read "[12:03:11] /github/workspace/src/video/...cc:218: Check failed: ... (-1094995529
# vs. 0) ..."; keep the message, drop the log prefixes and name FFmpeg's AVERROR_INVALIDDATA code.
_DECORD_LOG_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] \S+?:\d+: ")
_AVERROR_INVALIDDATA = "1094995529"


def _decord_reason(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    text = _DECORD_LOG_PREFIX.sub("", lines[-1]).strip() if lines else ""
    if _AVERROR_INVALIDDATA in text:
        text += " [FFmpeg: invalid data found when processing input]"
    return text or type(error).__name__


def _decord_open(path: str) -> Any:
    import decord

    try:
        # One thread per reader: data-loader workers already parallelise across videos.
        return decord.VideoReader(path, num_threads=1)
    except (RuntimeError, decord.DECORDError, AssertionError) as e:
        # decord's exception says only "Error reading <path>..." (the reason goes to stderr), and a
        # truncated file fails here too: decord demuxes every packet when it opens a file.
        # It raises AssertionError ("Invalid frame count") for a video stream without frames.
        reason = _ffmpeg_reason(path) or _decord_reason(e)
        raise VideoDecodeError(f"{path}: decord could not open the video ({reason})") from e


def _decord_to_numpy(batch: Any) -> np.ndarray:
    # decord.bridge.set_bridge("torch") (which the original FitCLIP calls at import) is process-global
    # and makes get_batch return torch tensors instead of decord NDArrays.
    if isinstance(batch, torch.Tensor):
        return batch.cpu().numpy()
    return batch.asnumpy()


def _decord_get(vr: Any, path: str, indices: np.ndarray) -> np.ndarray:
    import decord

    # Decode each distinct frame once, in increasing order, so decord only ever seeks forward; then
    # scatter back into the asked order (which may repeat or be unsorted).
    unique, inverse = np.unique(indices, return_inverse=True)
    try:
        frames = _decord_to_numpy(vr.get_batch(unique.tolist()))
    except (RuntimeError, decord.DECORDError) as e:
        raise VideoDecodeError(f"{path}: decord failed to decode frames {unique.tolist()[:8]} "
                               f"({_decord_reason(e)})") from e
    return np.ascontiguousarray(frames[inverse])


def _decord_timing(vr: Any) -> tuple[int, float, np.ndarray]:
    """(frame count, average fps, per-frame start times in seconds) of an open decord reader."""
    n = len(vr)
    # Never pass a slice to get_frame_timestamp: decord 0.6 then decodes the whole video.
    bounds = np.asarray(vr.get_frame_timestamp(np.arange(n)), dtype=np.float64)
    fps = float(vr.get_avg_fps())
    fps = fps if math.isfinite(fps) and fps > 0 else 0.0
    starts = bounds[:, 0] if n else bounds.reshape(-1)
    if n and fps > 0 and (not np.all(np.isfinite(starts)) or starts.min() < 0 or np.any(np.diff(starts) < 0)):
        # decord reports garbage timestamps for some containers (h264 in AVI: about -9.2e17 s for
        # every frame); fall back to index / fps, which is what such constant-rate files mean.
        starts = np.arange(n, dtype=np.float64) / fps
    return n, fps, starts


def _decord_info(path: str) -> dict[str, Any]:
    vr = _decord_open(path)
    n, fps, starts = _decord_timing(vr)
    # decord has no width/height API; the decoded frame shape is also what read_frames returns
    # (decord applies a rotation tag, so this can be the transposed coded size).
    height, width = _decord_get(vr, path, np.zeros(1, dtype=np.int64)).shape[1:3]
    return _info_dict(n, fps, starts, width, height)


def _info_dict(n: int, fps: float, starts: np.ndarray, width: int, height: int) -> dict[str, Any]:
    starts = np.asarray(starts, dtype=np.float64)
    ends = _frame_ends(starts, fps)
    centres = (starts + ends) / 2
    duration = float(ends[-1])
    if fps <= 0:  # no usable average rate in the header: derive it from the timestamps
        fps = n / duration if duration > 0 else 0.0
    return {"num_frames": int(n), "fps": float(fps), "duration": duration, "frame_times": centres,
            "width": int(width), "height": int(height)}


# --------------------------------------------------------------------------------------------------
# PyAV backend
# --------------------------------------------------------------------------------------------------


@dataclass
class _PyAVIndex:
    """What one demux pass (no decoding) tells about a video stream, in presentation order."""

    pts: np.ndarray  # [N] int64, frame i's pts (stream time base), strictly increasing
    key_pts: np.ndarray  # [N] int64, per frame: pts of the keyframe to start decoding it from
    key_dts: np.ndarray  # [N] int64, per frame: dts of that keyframe
    first_ts: int  # a timestamp at or before every packet: seeking there decodes from the very start
    starts: np.ndarray  # [N] float64 seconds from the stream start
    fps: float
    width: int
    height: int


def _pyav_open(path: str) -> Any:
    import av

    try:
        container = av.open(path)
    except av.error.FFmpegError as e:
        raise VideoDecodeError(f"{path}: PyAV could not open the video ({e})") from e
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"{path}: no video stream")
    return container


def _pyav_index(container: Any, path: str) -> _PyAVIndex:
    """Demux every packet of the video stream (cheap: no decoding) to number frames like decord does."""
    import av

    stream = container.streams.video[0]
    pts, dts, key = [], [], []
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:  # the flush packet at EOF / packets with no pts
                continue
            pts.append(packet.pts)
            dts.append(packet.pts if packet.dts is None else packet.dts)
            key.append(packet.is_keyframe)
    except av.error.FFmpegError as e:
        raise VideoDecodeError(f"{path}: PyAV could not read the packets ({e})") from e
    n = len(pts)
    if n == 0:
        raise VideoDecodeError(f"{path}: the video stream has no frames")
    # PyAV's demuxer stops quietly at a cut-off mdat ("partial file"); the header's frame count
    # exposes it (decord fails on such files when it opens them).
    if stream.frames and n < stream.frames:
        raise VideoDecodeError(f"{path}: truncated file: the header declares {stream.frames} frames but only "
                               f"{n} packets could be read")

    pts_a, dts_a = np.asarray(pts, np.int64), np.asarray(dts, np.int64)
    key_a = np.asarray(key, bool)
    # Presentation order = sorted pts (decode order differs with B-frames); this is decord's numbering.
    order = np.argsort(pts_a, kind="stable")
    if np.any(np.diff(pts_a[order]) == 0):
        raise VideoDecodeError(f"{path}: several packets share a pts, so frames cannot be told apart")

    # For each packet (decode position j): the last keyframe at or before it in decode order whose pts
    # is not after the frame's pts. The pts check steps back one GOP for the leading B-frames of an
    # open GOP, which reference the previous GOP.
    key_pos = np.flatnonzero(key_a)
    first_ts = int(min(dts_a.min(), pts_a.min()))
    k = np.searchsorted(key_pos, np.arange(n), side="right") - 1  # [N] keyframe slot per decode position
    if key_pos.size:
        leading = np.flatnonzero((k >= 0) & (pts_a[key_pos[np.maximum(k, 0)]] > pts_a))
        for j in leading:  # rare: only the leading B-frames of open GOPs step back
            while k[j] >= 0 and pts_a[key_pos[k[j]]] > pts_a[j]:
                k[j] -= 1
        # Frames before any keyframe (a stream cut mid-GOP) can only be tried from the very start.
        kp = np.where(k >= 0, pts_a[key_pos[np.maximum(k, 0)]], first_ts)
        kd = np.where(k >= 0, dts_a[key_pos[np.maximum(k, 0)]], first_ts)
    else:
        kp = kd = np.full(n, first_ts, np.int64)

    tb = float(stream.time_base)
    start = stream.start_time if stream.start_time is not None else 0
    pts_sorted = pts_a[order]
    rate = stream.average_rate
    fps = float(rate) if rate else 0.0
    return _PyAVIndex(pts=pts_sorted, key_pts=kp[order], key_dts=kd[order], first_ts=first_ts,
                      starts=(pts_sorted - start) * tb,
                      fps=fps, width=stream.codec_context.width, height=stream.codec_context.height)


def _pyav_decode(container: Any, index: _PyAVIndex, path: str, wanted: np.ndarray,
                 stats: dict[str, int] | None = None) -> dict[int, np.ndarray]:
    """Decode the sorted unique frame indices `wanted`; returns {index: uint8 [H, W, 3]}.

    Wanted frames that share a seek point are decoded in one forward pass, so a clip costs about one
    GOP of decoding per distinct keyframe instead of one decode from the start per frame.
    """
    import av

    stream = container.streams.video[0]
    # Leave the codec's default slice threading off: data-loader workers parallelise across videos.
    stream.codec_context.thread_count = 1
    out: dict[int, np.ndarray] = {}
    stats = stats if stats is not None else {}
    stats.setdefault("seeks", 0)
    stats.setdefault("decoded", 0)

    def forward(seek_ts: int, group: list[int]) -> bool:
        """Seek to `seek_ts` and decode forward until every frame of `group` is out; False if landed late."""
        todo = {int(index.pts[i]): i for i in group}
        last_pts = int(index.pts[group[-1]])
        container.seek(seek_ts, stream=stream, backward=True, any_frame=False)  # also flushes the decoder
        stats["seeks"] += 1
        first = True
        for frame in container.decode(stream):
            stats["decoded"] += 1
            if frame.pts is None:
                continue
            if first and frame.pts > index.pts[group[0]]:
                return False  # the demuxer put us after the frame we want
            first = False
            if frame.pts in todo:
                out[todo.pop(frame.pts)] = frame.to_ndarray(format="rgb24")
            # Decoded frames come out in presentation order, so nothing wanted can follow.
            if not todo or frame.pts >= last_pts:
                break
        return not todo

    try:
        for _, grp in itertools.groupby(wanted.tolist(), key=lambda i: int(index.key_pts[i])):
            group = list(grp)
            # Seek to the keyframe's pts first: FFmpeg's mp4 demuxer lands exactly on it. Demuxers whose
            # seek index differs may land after it; then retry at its dts, then from the very start.
            tries = dict.fromkeys([int(index.key_pts[group[0]]), int(index.key_dts[group[0]]), index.first_ts])
            if not any(forward(ts, group) for ts in tries):
                missing = [i for i in group if i not in out]
                raise VideoDecodeError(f"{path}: PyAV's decoder produced no frame for indices {missing[:8]} "
                                       f"(pts {[int(index.pts[i]) for i in missing[:8]]})")
    except av.error.FFmpegError as e:
        raise VideoDecodeError(f"{path}: PyAV failed to decode ({e})") from e
    return out


def _pyav_read(path: str, indices: Sequence[int] | np.ndarray | torch.Tensor,
               stats: dict[str, int] | None = None) -> np.ndarray:
    with _pyav_open(path) as container:
        index = _pyav_index(container, path)
        idx = _check_indices(indices, len(index.pts), path)
        if idx.size == 0:
            return np.zeros((0, index.height, index.width, 3), np.uint8)
        frames = _pyav_decode(container, index, path, np.unique(idx), stats)
    return np.stack([frames[i] for i in idx.tolist()])


# --------------------------------------------------------------------------------------------------
# Public reading API
# --------------------------------------------------------------------------------------------------


def video_info(path: str | os.PathLike, backend: str = "decord") -> dict[str, Any]:
    """Frame count, rate, duration, per-frame timestamps and size of a video, without decoding it all.

    Args:
        path: video file.
        backend: ``"decord"`` or ``"pyav"``; both number frames in presentation order and give the
            same timestamps (decord's are float32, so they agree to ~1e-6 s).

    Returns:
        A dict with
            * ``num_frames`` (int): frames in the video stream (packets, as decord counts them);
            * ``fps`` (float): the stream's average frame rate (e.g. 29.97002997);
            * ``duration`` (float): seconds from the stream start to the end of the last frame;
            * ``frame_times`` (float64 ndarray ``[num_frames]``): each frame's *centre* in seconds from
              the stream start, for `time_to_frame`;
            * ``width``, ``height`` (int): the size of the frames `read_frames` returns.

    Raises:
        VideoDecodeError: missing, empty, truncated, corrupt or not-a-video file.
        ValueError: an unknown backend.
    """
    _check_backend(backend)
    path = _check_file(path)
    if backend == "decord":
        return _decord_info(path)
    with _pyav_open(path) as container:
        index = _pyav_index(container, path)
    return _info_dict(len(index.pts), index.fps, index.starts, index.width, index.height)


def read_frames(path: str | os.PathLike, indices: Sequence[int] | np.ndarray | torch.Tensor,
                backend: str = "decord") -> np.ndarray:
    """Decode the frames at `indices` (presentation order, 0-based), in the order asked for.

    Indices may repeat and be unsorted; each distinct frame is decoded once and frames are decoded in
    increasing order. Neither backend decodes the whole video, though both demux every packet once
    to number the frames.

    * ``"decord"``: ``decord.VideoReader(path, num_threads=1).get_batch(...)``.
    * ``"pyav"``: per group of wanted frames sharing a keyframe, seek to that keyframe and decode
      forward. Returns exactly the same pixels as decord on ordinary (closed-GOP) h264/mp4 files.
      Differences: on open-GOP streams (non-IDR keyframes, x264 ``open-gop=1``) decord 0.6's random
      access can return a neighbouring frame while PyAV stays exact; decord applies a rotation tag
      (transposed frames for 90/270 degrees), PyAV returns the coded orientation.

    Args:
        path: video file.
        indices: frame indices, ``[T]`` ints in ``[0, num_frames - 1]``.
        backend: ``"decord"`` or ``"pyav"``.

    Returns:
        uint8 RGB frames ``[T, H, W, 3]``; ``[0, H, W, 3]`` for empty `indices`.

    Raises:
        VideoDecodeError: the file is missing, empty, truncated, corrupt or not a video, or a frame
            could not be decoded. The message names the path and the reason. (decord conceals some
            damage inside a frame, as FFmpeg's h264 decoder does, instead of raising.)
        IndexError: an index is negative or ``>= num_frames`` (the message gives the valid range).
        TypeError: `indices` is not a 1-D sequence of ints.
        ValueError: an unknown backend.
    """
    _check_backend(backend)
    path = _check_file(path)
    if backend == "pyav":
        return _pyav_read(path, indices)
    vr = _decord_open(path)
    idx = _check_indices(indices, len(vr), path)
    if idx.size == 0:
        height, width = _decord_get(vr, path, np.zeros(1, dtype=np.int64)).shape[1:3]
        return np.zeros((0, height, width, 3), np.uint8)
    return _decord_get(vr, path, idx)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def read_planned(path: str | os.PathLike, choose: Callable[[dict[str, Any]], Sequence[int]],
                 backend: str = "decord") -> tuple[dict[str, Any], np.ndarray]:
    """Read a video's timing, let `choose` pick frame indices from it, and decode them — one open.

    `video_info` + `read_frames` open the file twice (decord demuxes every packet on open) and
    `video_info` decodes frame 0 for the frame size; this does neither for decord (the info's `width`
    and `height` are then 0). PyAV takes the two-call path.

    Args:
        path: video file.
        choose: `info -> indices`, e.g. a clip plan (see `fitclip.datasets.clip_plan`).
        backend: "decord" or "pyav".

    Returns:
        `(info, frames)`: the `video_info` dict and uint8 `[T, H, W, 3]` frames in the order chosen.
    """
    _check_backend(backend)
    if backend != "decord":
        info = video_info(path, backend=backend)
        return info, read_frames(path, choose(info), backend=backend)
    path = _check_file(path)
    vr = _decord_open(path)
    n, fps, starts = _decord_timing(vr)
    info = _info_dict(n, fps, starts, 0, 0) if n else {"num_frames": 0, "fps": fps, "duration": 0.0,
                                                       "frame_times": starts, "width": 0, "height": 0}
    indices = choose(info)
    return info, _decord_get(vr, path, _check_indices(indices, n, path))


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 25.0, crf: int = 18,
                options: dict[str, str] | None = None, codec: str = "libx264", container: str = "mp4",
                bit_rate: int | None = None, pix_fmt: str = "yuv420p") -> Path:
    """Write uint8 frames to a video with PyAV (h264 in mp4 by default), atomically (tmp file + rename).

    Args:
        path: destination file (parent folders are created).
        frames: uint8 array `[T, H, W, 3]` (RGB), T >= 1; H and W must be even for a 4:2:0 `pix_fmt`.
        fps: frame rate written into the container (29.97 is stored exactly as 30000/1001).
        crf: x264 quality (lower is better).
        options: extra encoder options, applied over ``{"crf": str(crf)}`` for libx264, e.g.
            ``{"bf": "3", "g": "12"}`` for up to 3 B-frames and a keyframe every 12 frames.
        codec: PyAV encoder name (e.g. ``"mpeg4"`` for MPEG-4 Part 2, as in UCF101's xvid AVIs).
        container: PyAV container format (``"mp4"``, ``"avi"``, ...).
        bit_rate: target bit rate for encoders without crf (e.g. mpeg4).
        pix_fmt: the coded pixel format: ``"yuv420p"`` (chroma at half resolution, as most real video) or a
            full-chroma one the codec takes (``"yuv444p"`` for libx264, ``"yuvj444p"`` for mjpeg).

    Returns:
        The path written.
    """
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ValueError(f"frames must be uint8 [T, H, W, 3] with T >= 1, got {frames.dtype} {frames.shape}")
    if "420" in pix_fmt and (frames.shape[1] % 2 or frames.shape[2] % 2):
        raise ValueError(f"frame height and width must be even for {pix_fmt}, got {frames.shape[1:3]}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    try:
        with av.open(str(tmp), mode="w", format=container) as out:
            # limit_denominator(1001) turns 29.97 into 30000/1001, the NTSC rate players expect.
            stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = pix_fmt
            if bit_rate:
                stream.bit_rate = bit_rate
            stream.options = {**({"crf": str(crf)} if codec == "libx264" else {}), **(options or {})}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        os.replace(tmp, path)
    finally:
        # Only left behind when writing failed; never leave half-written files next to real ones.
        tmp.unlink(missing_ok=True)
    return path


def preload_decoder(backend: str) -> None:
    """Import the decoder library here, so forked DataLoader workers inherit it instead of each paying
    the import (1-2 s per worker on a cold disk)."""
    if backend == "decord":
        import decord  # noqa: F401
    elif backend == "pyav":
        import av  # noqa: F401
    else:
        raise ValueError(f"unknown video backend {backend!r}; use 'decord' or 'pyav'")
