"""A deterministic toy video world, rendered with numpy into the real benchmarks' on-disk formats: its sizes
(:class:`WorldConfig`), its plan (:func:`plan_world`) and the parallel writer (:func:`render_world`).

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

plus ``world.json`` (config, seed, counts, class lists, the labeled concepts, per-video frame counts,
domains and objects) and ``webvid/synthetic_labels.csv`` (the true object/motion of every WebVid-like video).

**The regime it models** (FitCLIP's): a teacher that already does well zero-shot on video and knows a long
tail of concepts, of which the labeled videos show a sliver. 10 colours x 6 shapes (:data:`COLOURS`,
:data:`SHAPES`: circle, square, triangle, cross, ring, bar) = 60 object :data:`CONCEPTS`; the teacher's stills
show all 60, and show motion the way web photos show actions (below). The WebVid-like **labeled** subset is
drawn from the rows of the 20 :data:`LABELED_CONCEPTS` (5 colours x 4 shapes, a third); the unlabeled pool,
the validation split and every benchmark draw on all 60, and every benchmark video shows one object, so each
benchmark item is *inside* the labeled concepts or *outside* them (``fitclip.toyworld.regime``).

**The stills-to-video gap** (:attr:`WorldConfig.video_gap`, ``"swap"``): in every video, never in the stills,
half the concepts show the palette colour of another concept's stills — the colours are paired (red-green,
blue-yellow, purple-orange, pink-cyan, lime-brown) and per shape every other pair is swapped
(:func:`~fitclip.toyworld.vocabulary.video_swap_partner`: a red circle looks like the green circle's photos, and
the green circle like the red one's) — and the other half look as in the stills, as some concepts filmed differ
from their photos and others do not. The teacher reads video through its stills, so it names the swapped
concepts' colours wrongly but reads everything else (motion included) as in its stills; the labeled videos
teach the looks of the labeled concepts only (10 of their 20 are swapped), which is what fine-tuning gains there,
and what it may cost elsewhere is the forgetting the study measures. The earlier design (``video_gap="mix"``,
``video_look=0.4``: every colour drawn 40 % of the way towards another,
:func:`~fitclip.toyworld.vocabulary.video_look_towards`) put the world in the regime too, but an in-between colour
reads to the teacher as shake blur, which took its motion reading on video down to 2.1 x chance on UCF101-like
(README, "The regime"). Without a gap every concept looks on video as in the stills, the labeled videos teach
nothing concept-specific, and the students lost on both sides alike.

**Objects** are drawn anti-aliased (signed distance functions) on muted backgrounds from 5 families
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
                   blur). Not circles or rings: a spinning circle or ring would look still.
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

**Teacher corpus** (stage 00): each still is one frame of a clip of the world (any concept, any motion, all 5
background families), in-frame cue included (a trail, rotational or shake blur), as web photos catch an action
mid-way. When a single frame shows the motion (:data:`SINGLE_FRAME_MOTIONS`: the translations, spinning,
shaking, staying still) 70 % of the captions name it (:data:`STILL_MOTION_TEMPLATES`); the others name the
object only. Blinking, growing and shrinking show nothing in one frame and no caption names them
(:data:`UNSEEN_MOTION_WORDS`), so the teacher knows single-frame motion but never the order-only pair.

**Domains and the shift.** :data:`TRAIN_BACKGROUNDS` (gradient, stripes, clouds) are the only
backgrounds in the WebVid-like corpus; :data:`SHIFTED_BACKGROUNDS` (checker, dots) appear in the stills
(the teacher saw everything, as CLIP saw the web) and in the shifted benchmarks (:data:`BENCHMARK_DOMAINS`):

* ``ucf101``, ``youcook2``: in-domain (training backgrounds);
* ``mit``, ``didemo``: shifted (held-out backgrounds);
* ``msrvtt``: mixed, alternating video by video; ``world.json`` records each video's domain.

**Per dataset** (default :class:`WorldConfig`; all short clips are 21 frames at 10 fps, 64x64):

* ``webvid``: 1,800 train + 1,000 val rows, one clip each; every third train row shows a labeled concept (600
  candidates for the labeled subset, 30 rows per concept in all); 10% of captions name the object but not the
  motion (as many real WebVid captions miss the action); the first two rows of each file use a
  caption with a comma and one with double quotes. Suggested labeled subset: 500 of the train rows.
* ``ucf101``: 10 motion classes x 60 videos (groups g01-g07 as in split 1, 8-9 clips each; one group =
  one scene).
* ``mit``: 58 ``shape+motion`` categories (``circle+moving+left``), 600 videos spread
  evenly over them (10-11 each), each of a random colour.
* ``msrvtt``: 600 videos, one sentence each; (colour, shape, motion) triples are drawn without
  repetition until the 580 valid ones are used up, then again.
* ``youcook2``: 172 long videos, each one object (cycling through the concepts; ``task`` = its concept id,
  "101"-"160") doing 3-4
  different motions; segment ``[start, end]`` (integer seconds, 2 s) covers frames
  ``start*10 .. end*10`` inclusive (21 frames); 0-1 s before the first, 1-2 s between segments and
  0-1 s after the last are empty background. 603 clips (seed 0).
* ``didemo``: 600 videos of 3-4 parts (21 frames each, one object doing a different motion per part); one
  description per part (2,094 in all with seed 0), ``num_segments`` = parts and ``times`` in parts (5 s segments in the real
  data); the ``video`` field has a real-looking extension (mov, avi, mp4, m4v, 3gp), the file is
  ``<stem>.mp4``.

The later peers' zero-shot protocol (three test splits in their list format, benchmarks README §8; not in the demo):

* ``ucf101``: also ``labels_ucf_101_labels.csv`` and ``ucf_splits_val{1,2,3}.txt``: split 1 lists testlist01's
  600 videos; splits 2 and 3 test groups 8-14 and 15-21, 200 more videos each.
* ``hmdb51``: the 10 motions as classes, 20 videos each at ``videos/<class_name>/<file>.avi`` on the shifted
  backgrounds; three lists of 12 per class (120 each, overlapping).
* ``k600_zs``: the 40 concepts outside the labeled subset's as novel classes, 6 videos each at
  ``videos/train/<id>_<start>_<end>.mp4``; each split 16 classes and their 96 videos.

In all: 6,212 videos (28 MB of intra-coded 4:4:4 video, ~180 MB on disk in 4 KiB blocks) and 5,000 stills
(``images.npy``, 5000x64x64x3 bytes = 59 MiB); the demo's stage 01 renders the videos in about a minute on
2 cores (smoke: ~2 s).
Everything is drawn from ``numpy.random.Generator`` streams keyed by (seed, stream, index), so the
same seed gives byte-identical annotation files and identical frames whatever the number of worker
processes. The mp4 videos are h264 written by ``fitclip.video.write_video`` with x264's C paths
(``asm=0``), whose output, unlike the assembly paths', does not depend on memory layout; the UCF101
``.avi`` files are Motion JPEG in AVI (the real ones are MPEG-4 Part 2, which has no full-resolution chroma;
h264 in AVI would do, but decord reports no timestamps for it; see ``fitclip.toyworld.writers.write_clip``).
Every video keeps its chroma at full resolution (4:4:4): at 64x64, 4:2:0 chroma smeared the colour of the
objects' 1-px trail ghosts and cost the teacher a quarter of its motion reading (README, "Stage 00"), which real
frames of 224 px and more do not lose. Every frame is coded on its own (h264 ``keyint=1`` at a constant
quantizer; Motion JPEG is intra-only): with h264's usual predictive coding a growing clip and its exact
time-reversed twin decoded to pixels 0.8–0.9 grey levels apart at the same rendered frames
(``fitclip.toyworld.writers.order_leak``), an order cue the order-only control must not offer; intra-coded,
they decode identically.

The package's other modules: :mod:`~fitclip.toyworld.vocabulary` (what exists, class names, caption text),
:mod:`~fitclip.toyworld.render` (the numpy renderer) and :mod:`~fitclip.toyworld.writers` (each dataset's
files in its official format, the video writers).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fitclip.files import atomic_write_text
from fitclip.toyworld.render import RENDERER_VERSION, VideoJob, render_stills_chunk
from fitclip.toyworld.vocabulary import (BENCHMARK_DOMAINS, BENCHMARKS, CLIP_FRAMES, COLOURS, CONCEPTS, FPS,
                                         FRAME_SIZE, LABELED_CONCEPTS, MOTIONS, ORDER_ONLY_PAIR, PEER_BENCHMARKS, SHAPES,
                                         SHIFTED_BACKGROUNDS, SINGLE_FRAME_MOTIONS, TRAIN_BACKGROUNDS, UCF_FOLDERS,
                                         mit_categories, ucf101_class_folders, ucf101_class_names)
from fitclip.toyworld.writers import (WorldPlan, plan_didemo, plan_hmdb51, plan_k600_zs, plan_mit, plan_msrvtt,
                                      plan_ucf101, plan_webvid, plan_youcook2, write_stills_files, write_job)

_MARKER = ".fitclip_synthetic"  # in every folder this module owns; only those are ever deleted
_MANIFEST = "world.json"
_WORLD_DIRS = ("stills", "webvid", *BENCHMARKS, *PEER_BENCHMARKS)


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
        mit_videos: MiT validation videos, spread evenly over the 174 categories (3-4 each by default).
        msrvtt_videos: MSR-VTT queries/videos (one sentence per video).
        youcook2_videos: long videos with 3-4 action segments each (one clip per segment).
        didemo_videos: multi-part videos with 3-4 described parts each (one paragraph per video).
        ucf101_other_splits_per_class: videos per class in each of the peers' UCF101 test splits 2 and 3 (split 1
            is testlist01's videos).
        hmdb51_per_class, hmdb51_test_per_class: HMDB51-like videos per class, and per class in each split's list.
        k600_zs_per_class, k600_zs_classes_per_split: videos per K600-zero-shot-like class (40 novel classes), and
            classes drawn per split.
        video_gap: the stills-to-video gap's kind, in every video (never in the stills). ``"swap"`` (the default
            since issue 18's last try; README "The regime"): half the concepts (per shape every other colour pair,
            :func:`~fitclip.toyworld.vocabulary.video_swap_partner`) show their partner's palette colour, the others
            look as in the stills. ``"mix"`` (the earlier design): every object's colour drawn `video_look` of the
            way towards its concept's own other colour (:func:`~fitclip.toyworld.vocabulary.video_look_towards`).
        video_look: the gap's share: for ``"swap"`` in [0, 1] (1: the partner's colour itself, the default), for
            ``"mix"`` in [0, 1) (1 would paint every object its look's colour; it was run at 0.4).
    """

    n_stills: int = 5000
    webvid_train: int = 1800  # 30 per concept: 600 rows of the 20 labeled concepts, the labeled subset's candidates
    webvid_val: int = 1000  # α is chosen on these (MRR): 300 could not tell α = 0.6 from α = 1
    webvid_labeled: int = 500
    webvid_object_only: float = 0.1
    ucf101_per_class: int = 60
    mit_videos: int = 600
    msrvtt_videos: int = 600
    youcook2_videos: int = 172
    didemo_videos: int = 600
    video_gap: str = "swap"
    video_look: float = 1.0
    ucf101_other_splits_per_class: int = 20
    hmdb51_per_class: int = 20
    hmdb51_test_per_class: int = 12
    k600_zs_per_class: int = 6
    k600_zs_classes_per_split: int = 16

    @classmethod
    def smoke(cls) -> "WorldConfig":
        """A tiny world (a few videos per benchmark) for CI and tests: renders in about 2 s."""
        return cls(n_stills=256, webvid_train=12, webvid_val=4, webvid_labeled=4, ucf101_per_class=1,
                   mit_videos=6, msrvtt_videos=4, youcook2_videos=2, didemo_videos=3, ucf101_other_splits_per_class=1,
                   hmdb51_per_class=2, hmdb51_test_per_class=1, k600_zs_per_class=1, k600_zs_classes_per_split=4)

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, str) and value < 0:
                raise ValueError(f"WorldConfig.{name} must be >= 0, got {value}")
        if self.webvid_object_only > 1:
            raise ValueError(f"webvid_object_only is a share in [0, 1], got {self.webvid_object_only}")
        if self.video_gap not in ("swap", "mix"):
            raise ValueError(f"video_gap must be 'swap' or 'mix', got {self.video_gap!r}")
        if self.video_gap == "swap" and self.video_look > 1:
            raise ValueError(f"video_look is a share in [0, 1] for the swap gap, got {self.video_look}")
        if self.video_gap == "mix" and self.video_look >= 1:
            raise ValueError(f"video_look is a share in [0, 1) for the mix gap (1 would paint every object its "
                             f"look's colour), got {self.video_look}")

    def fingerprint(self, seed: int) -> str:
        """A short hash of (renderer version, config, seed): equal fingerprints = identical worlds."""
        blob = json.dumps({"version": RENDERER_VERSION, "config": asdict(self), "seed": int(seed)},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


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
    for planner in (plan_webvid, plan_ucf101, plan_mit, plan_msrvtt, plan_youcook2, plan_didemo, plan_hmdb51,
                    plan_k600_zs):
        planner(int(seed), cfg, plan)
    plan.jobs = [dataclasses.replace(job, look=cfg.video_look, gap=cfg.video_gap) for job in plan.jobs]  # no still
    plan.counts["stills"] = cfg.n_stills
    return plan


def job_objects(job: VideoJob) -> list[str]:
    """The object concepts ("red circle") a video shows, in order of first appearance."""
    return list(dict.fromkeys(f"{c.colour} {c.shape}" for c in job.clips if c.colour is not None))


def _run_task(task: tuple) -> tuple[str, Any]:
    """Worker entry point: ``("video", root, job)`` or ``("stills", start, stop, n, seed)``."""
    if task[0] == "video":
        write_job(task[1], task[2])
        return "video", None
    return "stills", (task[1], render_stills_chunk(*task[1:]))


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
        atomic_write_text(folder / _MARKER, "written by fitclip.synthetic.render_world; deleted on re-render\n")


def world_manifest(seed: int, cfg: WorldConfig, plan: WorldPlan) -> dict[str, Any]:
    return {
        "format": "fitclip-synthetic-world",
        "renderer_version": RENDERER_VERSION,
        "fingerprint": cfg.fingerprint(seed),
        "seed": int(seed),
        "config": asdict(cfg),
        "frame_size": FRAME_SIZE, "fps": FPS, "clip_frames": CLIP_FRAMES,
        "colours": list(COLOURS), "shapes": list(SHAPES), "concepts": list(CONCEPTS),
        "labeled_concepts": list(LABELED_CONCEPTS), "motions": list(MOTIONS),
        "single_frame_motions": list(SINGLE_FRAME_MOTIONS),
        "coding": "every frame intra-coded, full-resolution chroma (h264 yuv444p keyint=1 qp=18; Motion JPEG "
                  "yuvj444p): a clip and its time-reversed twin decode to the same frames (writers.order_leak)",
        "order_only_pair": {"motions": list(ORDER_ONLY_PAIR),
                            "ucf101": [UCF_FOLDERS[m] for m in ORDER_ONLY_PAIR],
                            "mit_suffix": ["+" + "+".join(m.split()) for m in ORDER_ONLY_PAIR]},
        "train_backgrounds": list(TRAIN_BACKGROUNDS), "shifted_backgrounds": list(SHIFTED_BACKGROUNDS),
        "benchmark_domains": BENCHMARK_DOMAINS,
        "classes": {"ucf101": {"folders": ucf101_class_folders(), "names": ucf101_class_names()},
                    "mit": mit_categories()},
        "counts": plan.counts,
        "videos": {j.relpath: {"frames": j.n_frames, "domain": j.domain, "objects": job_objects(j)} for j in plan.jobs},
    }


def render_world(root: str | os.PathLike, seed: int = 0, smoke: bool = False, config: WorldConfig | None = None,
                 workers: int | None = None, progress: bool = True) -> dict[str, Any]:
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

    Returns:
        The manifest (the content of ``world.json``) plus ``root``, ``skipped`` (True when an
        identical world was already there) and ``seconds`` (wall time of this call).
    """
    t0 = time.perf_counter()
    cfg = config or (WorldConfig.smoke() if smoke else WorldConfig())
    root = Path(root)
    manifest_path = root / _MANIFEST
    if manifest_path.is_file():
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
        atomic_write_text(root / rel, text)

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
    write_stills_files(root / "stills",
                        np.concatenate([stills_parts[s][0] for s in starts]) if starts
                        else np.zeros((0, FRAME_SIZE, FRAME_SIZE, 3), np.uint8),
                        [c for s in starts for c in stills_parts[s][1]],
                        [lab for s in starts for lab in stills_parts[s][2]])
    manifest = world_manifest(seed, cfg, plan)
    # Written last, atomically: its presence means the world is complete.
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")
    return {**manifest, "root": str(root), "skipped": False, "seconds": time.perf_counter() - t0}
