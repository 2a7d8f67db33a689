"""Each dataset in its official format: the per-benchmark planners (every annotation file's text and every
video job at its official path: WebVid, UCF101, MiT, MSR-VTT, YouCook2, DiDeMo), the stills' files, and the
deterministic video writers (h264 mp4; Motion JPEG in AVI for UCF101; both with full-resolution chroma).

The sizes come from :class:`fitclip.toyworld.world.WorldConfig`; :func:`fitclip.toyworld.world.plan_world`
runs every planner and :func:`fitclip.toyworld.world.render_world` writes the plan.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from fitclip.files import atomic_write_text
from fitclip.toyworld.render import STREAMS, ClipSpec, VideoJob, render_stills_chunk, render_video
from fitclip.toyworld.vocabulary import (BACKGROUND_WORDS, CLIP_FRAMES, COLOURS, CONCEPTS, DIDEMO_TEMPLATES, FPS,
                                         LABELED_CONCEPTS,
                                         FRAME_SIZE, MOTIONS, MSRVTT_TEMPLATES, SHAPES, SHIFTED_BACKGROUNDS,
                                         STILL_CLASSES, TRAIN_BACKGROUNDS, UCF_FOLDERS, WEBVID_OBJECT_ONLY_TEMPLATES,
                                         WEBVID_TEMPLATES, YOUCOOK2_TEMPLATES, mit_categories, motion_caption, pick_one,
                                         ucf101_class_folders, valid_combo, with_articles)

if TYPE_CHECKING:  # the planners only read its sizes; world.py imports this module
    from fitclip.toyworld.world import WorldConfig

#: The literal header lines of the real files (tests compare against these).
WEBVID_HEADER = "videoid,name,page_idx,page_dir,duration,contentUrl"
MSRVTT_HEADER = "key,vid_key,video_id,sentence"
YOUCOOK2_HEADER = "end,start,task,text,video_id"


# --------------------------------------------------------------------------------------------------
# Ids and small file helpers
# --------------------------------------------------------------------------------------------------


_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def _youtube_id(rng: np.random.Generator, used: set[str]) -> str:
    """An 11-character YouTube-like id; it starts with a letter other than e/E, so pandas never reads
    it as a number, and it holds no glob metacharacters (the YouCook2 loader globs ``<id>.*``)."""
    letters = [c for c in _ID_CHARS[:52] if c not in "eE"]
    while True:
        s = pick_one(rng, letters) + "".join(_ID_CHARS[int(i)] for i in rng.integers(len(_ID_CHARS), size=10))
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


class _ComboPicker:
    """Draws (colour, shape, motion) triples without repetition until every allowed one is used, then again."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.all = [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS if valid_combo(c, s, m)]
        self.used: set[tuple[str, str, str]] = set()

    def __call__(self) -> tuple[str, str, str]:
        fresh = [x for x in self.all if x not in self.used]
        if not fresh:  # every triple used: start another round
            self.used.clear()
            fresh = self.all
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


def _triple(rng: np.random.Generator, motion: str | None = None, concept: str | None = None) -> tuple[str, str, str]:
    """A uniformly drawn valid (colour, shape, motion), optionally of a given motion or object concept."""
    pool = [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS
            if valid_combo(c, s, m) and (motion is None or m == motion) and (concept is None or f"{c} {s}" == concept)]
    return pool[int(rng.integers(len(pool)))]


def plan_webvid(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    """WebVid-like train and val. Every third train row (i % 3 == 0) shows one of the 20 labeled concepts, the
    others one of the 40 others, each group cycled in a shuffled order: so train shows every concept equally
    often, its labeled-concept rows are the labeled subset's candidates (a third of train, whatever its size)
    and what the subset leaves is a pool over all 60. Val draws each row's (colour, shape, motion) uniformly
    from the valid triples, so every concept appears (circles and rings, which never spin, slightly less often):
    WebVid's validation videos are not drawn from the labeled sample."""
    used: set[str] = set()
    labels = []
    inside = list(LABELED_CONCEPTS)
    outside = [c for c in CONCEPTS if c not in LABELED_CONCEPTS]
    for split, n in (("train", cfg.webvid_train), ("val", cfg.webvid_val)):
        code = STREAMS[f"webvid_{split}"]
        rng = np.random.default_rng([seed, code])
        order_in, order_out = rng.permutation(len(inside)), rng.permutation(len(outside))
        rows = []
        for i in range(n):
            concept = None
            if split == "train":
                concept = (inside[int(order_in[i // 3 % len(inside)])] if i % 3 == 0 else
                           outside[int(order_out[(i - i // 3 - 1) % len(outside)])])
            colour, shape, motion = _triple(rng, concept=concept)
            speed = pick_one(rng, ("slow", "fast"))
            bg = pick_one(rng, TRAIN_BACKGROUNDS)
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
                name = motion_caption(WEBVID_TEMPLATES, colour, shape, motion, speed, bg, rng, template=3 if i == 0 else 6)
            elif rng.random() < cfg.webvid_object_only:
                name = with_articles(pick_one(rng, WEBVID_OBJECT_ONLY_TEMPLATES).format(
                    colour=colour, shape=shape, bg=BACKGROUND_WORDS[bg]))
            else:
                name = motion_caption(WEBVID_TEMPLATES, colour, shape, motion, speed, bg, rng)
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


def plan_ucf101(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    code = STREAMS["ucf101"]
    rng = np.random.default_rng([seed, code])
    folders = ucf101_class_folders()
    motion_of = {f: m for m, f in UCF_FOLDERS.items()}
    plan.files["ucf101/ucfTrainTestlist/classInd.txt"] = "".join(f"{i + 1} {f}\n" for i, f in enumerate(folders))
    lines = []
    for ci, folder in enumerate(folders):
        motion = motion_of[folder]
        # Split 1 of the real UCF101 tests groups 1-7; the clips of one group share a scene (background).
        group_bg = {g: pick_one(rng, TRAIN_BACKGROUNDS) for g in range(1, 8)}
        names = []
        for j in range(cfg.ucf101_per_class):
            g, c = j % 7 + 1, j // 7 + 1
            colour, shape, _ = _triple(rng, motion)
            speed = pick_one(rng, ("slow", "fast"))
            name = f"v_{folder}_g{g:02d}_c{c:02d}.avi"
            names.append((g, c, name))
            plan.jobs.append(VideoJob(f"ucf101/UCF-101/{folder}/{name}", group_bg[g],
                                      (ClipSpec(colour, shape, motion, speed),),
                                      seed=(seed, code, ci, j), bg_seed=(seed, code, ci, g, 1)))
        lines += [f"{folder}/{name}\n" for _, _, name in sorted(names)]
    plan.files["ucf101/ucfTrainTestlist/testlist01.txt"] = "".join(lines)
    plan.counts["ucf101"] = len(lines)
    _plan_ucf101_peer_lists(seed, cfg, plan, folders, lines)


def _plan_ucf101_peer_lists(seed: int, cfg: WorldConfig, plan: WorldPlan, folders: list[str],
                            testlist01: list[str]) -> None:
    """The later peers' three UCF101 test lists (``ucf_splits_val{1,2,3}.txt``, ``<file> <0-based index>``) and
    their label file: split 1 lists exactly testlist01's videos, as the real one does; splits 2 and 3 test
    groups 8-14 and 15-21 as the real splits do, :attr:`WorldConfig.ucf101_other_splits_per_class` videos per
    class each, rendered from their own random stream (the split-1 videos above stay byte-identical)."""
    code = STREAMS["ucf101_splits"]
    rng = np.random.default_rng([seed, code])
    index = {f: i for i, f in enumerate(folders)}
    plan.files["ucf101/labels_ucf_101_labels.csv"] = _csv_text(("id", "name"), enumerate(folders))
    plan.files["ucf101/ucf_splits_val1.txt"] = "".join(
        f"{line.split('/')[1].strip()} {index[line.split('/')[0]]}\n" for line in testlist01)
    motion_of = {f: m for m, f in UCF_FOLDERS.items()}
    for split, first_group in (("2", 8), ("3", 15)):
        lines = []
        for ci, folder in enumerate(folders):
            group_bg = {g: pick_one(rng, TRAIN_BACKGROUNDS) for g in range(first_group, first_group + 7)}
            for j in range(cfg.ucf101_other_splits_per_class):
                g, c = first_group + j % 7, j // 7 + 1
                colour, shape, _ = _triple(rng, motion_of[folder])
                name = f"v_{folder}_g{g:02d}_c{c:02d}.avi"
                plan.jobs.append(VideoJob(f"ucf101/UCF-101/{folder}/{name}", group_bg[g],
                                          (ClipSpec(colour, shape, motion_of[folder], pick_one(rng, ("slow", "fast"))),),
                                          seed=(seed, code, int(split), ci, j), bg_seed=(seed, code, ci, g, 1)))
                lines.append(f"{name} {ci}\n")
        plan.files[f"ucf101/ucf_splits_val{split}.txt"] = "".join(lines)
    plan.counts["ucf101_splits"] = [len(testlist01), *(len(folders) * cfg.ucf101_other_splits_per_class,) * 2]


def plan_hmdb51(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    """HMDB51-like, in the peers' format: the 10 motions as classes (``labels_hmdb_51_labels.csv``: "moving
    left", ...), :attr:`WorldConfig.hmdb51_per_class` videos per class at ``videos/<class_name>/<title>_<class>_
    <tags>_<n>.avi`` (the official archive's layout) on the shifted backgrounds (films, not web video), and three
    test lists (``hmdb_splits_val{k}.txt``) of :attr:`WorldConfig.hmdb51_test_per_class` videos per class each,
    drawn per split, so the splits overlap as the real ones do (each real split tests 30 of ~100 per class)."""
    code = STREAMS["hmdb51"]
    rng = np.random.default_rng([seed, code])
    plan.files["hmdb51/labels_hmdb_51_labels.csv"] = _csv_text(("id", "name"), enumerate(MOTIONS))
    files: list[list[str]] = []
    for ci, motion in enumerate(MOTIONS):
        folder = motion.replace(" ", "_")
        names = []
        for j in range(cfg.hmdb51_per_class):
            colour, shape, _ = _triple(rng, motion)
            name = f"Scene{int(rng.integers(1000)):03d}_{folder}_u_nm_np1_fr_med_{j}.avi"
            names.append(name)
            plan.jobs.append(VideoJob(f"hmdb51/videos/{folder}/{name}", pick_one(rng, SHIFTED_BACKGROUNDS),
                                      (ClipSpec(colour, shape, motion, pick_one(rng, ("slow", "fast"))),),
                                      seed=(seed, code, ci, j), bg_seed=(seed, code, ci, j, 1), domain="shifted"))
        files.append(names)
    for split in ("1", "2", "3"):
        lines = []
        for ci, names in enumerate(files):
            chosen = sorted(rng.choice(len(names), size=min(cfg.hmdb51_test_per_class, len(names)), replace=False))
            lines += [f"{names[int(k)]} {ci}\n" for k in chosen]
        plan.files[f"hmdb51/hmdb_splits_val{split}.txt"] = "".join(lines)
    plan.counts["hmdb51"] = len(MOTIONS) * cfg.hmdb51_per_class


def plan_k600_zs(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    """Kinetics-600-zero-shot-like, in the peers' format: the novel classes are the 40 object concepts outside
    the labeled subset's (as K600's zero-shot classes are those outside the training set, Kinetics-400);
    :attr:`WorldConfig.k600_zs_per_class` videos each at ``videos/train/<id>_<start>_<end>.mp4``; each of the
    three splits draws :attr:`WorldConfig.k600_zs_classes_per_split` of them (``labels_ZS_split{k}_K600.csv``,
    indices 0.. within the split) and lists all their videos (``k600_splits_ZS_split{k}_K600_eval.txt``)."""
    code = STREAMS["k600_zs"]
    rng = np.random.default_rng([seed, code])
    novel = [c for c in CONCEPTS if c not in LABELED_CONCEPTS]
    used: set[str] = set()
    videos: dict[str, list[str]] = {}
    for ci, concept in enumerate(novel):
        videos[concept] = []
        for j in range(cfg.k600_zs_per_class):
            colour, shape, motion = _triple(rng, concept=concept)
            start = int(rng.integers(0, 300))
            rel = f"train/{_youtube_id(rng, used)}_{start:06d}_{start + 10:06d}.mp4"
            videos[concept].append(rel)
            plan.jobs.append(VideoJob(f"k600_zs/videos/{rel}", pick_one(rng, TRAIN_BACKGROUNDS),
                                      (ClipSpec(colour, shape, motion, pick_one(rng, ("slow", "fast"))),),
                                      seed=(seed, code, ci, j), bg_seed=(seed, code, ci, j, 1)))
    n_classes = min(cfg.k600_zs_classes_per_split, len(novel))
    named: set[str] = set()
    for split in ("1", "2", "3"):
        classes = sorted(novel[int(k)] for k in rng.choice(len(novel), size=n_classes, replace=False))
        named.update(classes)
        plan.files[f"k600_zs/labels_ZS_split{split}_K600.csv"] = _csv_text(("id", "name"), enumerate(classes))
        plan.files[f"k600_zs/k600_splits_ZS_split{split}_K600_eval.txt"] = "".join(
            f"{rel} {i}\n" for i, concept in enumerate(classes) for rel in videos[concept])
    plan.counts["k600_zs"] = len(novel) * cfg.k600_zs_per_class
    plan.counts["k600_zs_names_over_splits"] = len(named)


def plan_mit(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    code = STREAMS["mit"]
    rng = np.random.default_rng([seed, code])
    cats = mit_categories()
    plan.files["mit/moments_categories.txt"] = "".join(f"{c},{i}\n" for i, c in enumerate(cats))
    order = rng.permutation(len(cats))  # spread the videos evenly over the categories
    used: set[str] = set()
    rows = []
    for i in range(cfg.mit_videos):
        cat = cats[int(order[i % len(cats)])]
        shape, *words = cat.split("+")
        motion = " ".join(words)
        colour = pick_one(rng, list(COLOURS))
        file = f"yt-{_youtube_id(rng, used)}_{int(rng.integers(0, 300))}.mp4"
        bg = pick_one(rng, SHIFTED_BACKGROUNDS)
        rows.append((f"{cat}/{file}", cat, int(rng.integers(2, 4)), int(rng.integers(0, 2))))
        plan.jobs.append(VideoJob(f"mit/validation/{cat}/{file}", bg,
                                  (ClipSpec(colour, shape, motion, pick_one(rng, ("slow", "fast"))),),
                                  seed=(seed, code, i), bg_seed=(seed, code, i, 1), domain="shifted"))
    plan.files["mit/validationSet.csv"] = _csv_text(None, sorted(rows))
    plan.counts["mit"] = len(rows)
    plan.counts["mit_categories"] = len(cats)


def plan_msrvtt(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    code = STREAMS["msrvtt"]
    rng = np.random.default_rng([seed, code])
    picker = _ComboPicker(rng)
    nums = rng.choice(np.arange(7010, 10000), size=cfg.msrvtt_videos, replace=False)
    rows = []
    for i, num in enumerate(nums):
        domain = "in-domain" if i % 2 == 0 else "shifted"  # mixed: alternate, recorded per video
        colour, shape, motion = picker()
        speed = pick_one(rng, ("slow", "fast"))
        bg = pick_one(rng, TRAIN_BACKGROUNDS if domain == "in-domain" else SHIFTED_BACKGROUNDS)
        sentence = motion_caption(MSRVTT_TEMPLATES, colour, shape, motion, speed, bg, rng).lower()
        rows.append((f"ret{i}", f"msr{num}", f"video{num}", sentence))
        plan.jobs.append(VideoJob(f"msrvtt/videos/all/video{num}.mp4", bg, (ClipSpec(colour, shape, motion, speed),),
                                  seed=(seed, code, i), bg_seed=(seed, code, i, 1), domain=domain))
    plan.files["msrvtt/MSRVTT_JSFUSION_test.csv"] = _csv_text(MSRVTT_HEADER.split(","), rows)
    plan.counts["msrvtt"] = len(rows)


def plan_youcook2(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    code = STREAMS["youcook2"]
    rng = np.random.default_rng([seed, code])
    fps = int(FPS)
    seg_seconds = round((CLIP_FRAMES - 1) / FPS)  # a segment [start, end] s spans frames start*fps..end*fps
    used: set[str] = set()
    rows = []
    order = rng.permutation(len(STILL_CLASSES))
    for v in range(cfg.youcook2_videos):
        # One object per video (its "recipe", cycling through every concept), doing 3-4 different motions
        # with empty gaps between.
        colour, shape = STILL_CLASSES[int(order[v % len(STILL_CLASSES)])].split()
        task = str(101 + STILL_CLASSES.index(f"{colour} {shape}"))
        allowed = [m for m in MOTIONS if valid_combo(colour, shape, m)]
        n_seg = int(rng.integers(3, 5))
        motions = [allowed[int(k)] for k in rng.choice(len(allowed), size=n_seg, replace=False)]
        video_id = _youtube_id(rng, used)
        bg = pick_one(rng, TRAIN_BACKGROUNDS)
        clips: list[ClipSpec] = []
        frame = 0  # next frame to fill
        t = int(rng.integers(0, 2))  # the first segment starts at 0 or 1 s
        for motion in motions:
            start, end = t, t + seg_seconds
            if start * fps > frame:
                clips.append(ClipSpec(None, None, None, n_frames=start * fps - frame))
            speed = pick_one(rng, ("slow", "fast"))
            clips.append(ClipSpec(colour, shape, motion, speed, n_frames=CLIP_FRAMES))
            frame = end * fps + 1
            text = motion_caption(YOUCOOK2_TEMPLATES, colour, shape, motion, speed, bg, rng).lower()
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


def plan_didemo(seed: int, cfg: WorldConfig, plan: WorldPlan) -> None:
    code = STREAMS["didemo"]
    rng = np.random.default_rng([seed, code])
    ann_ids = rng.choice(np.arange(1, 60000), size=4 * cfg.didemo_videos, replace=False)
    flickr_ids: list[int] = []
    while len(flickr_ids) < cfg.didemo_videos:  # unique 10-digit flickr ids
        fid = int(rng.integers(10 ** 9, 10 ** 10))
        if fid not in flickr_ids:
            flickr_ids.append(fid)
    records = []
    for v in range(cfg.didemo_videos):
        n_parts = int(rng.integers(3, 5))
        bg = pick_one(rng, SHIFTED_BACKGROUNDS)
        # One object per video (one scene), doing 3-4 different motions, as YouCook2's videos do.
        colour, shape = pick_one(rng, STILL_CLASSES).split()
        allowed = [m for m in MOTIONS if valid_combo(colour, shape, m)]
        parts = [(colour, shape, allowed[int(k)]) for k in rng.choice(len(allowed), size=n_parts, replace=False)]
        speeds = [pick_one(rng, ("slow", "fast")) for _ in range(n_parts)]
        owner = f"{int(rng.integers(10 ** 6, 10 ** 8))}@N{int(rng.integers(0, 10)):02d}"
        secret = "".join(pick_one(rng, "0123456789abcdef") for _ in range(10))
        stem = f"{owner}_{int(flickr_ids[v])}_{secret}"
        ext = pick_one(rng, ("mov", "avi", "mp4", "m4v", "3gp"))  # as in the real file; files are <stem>.mp4
        for k, ((colour, shape, motion), speed) in enumerate(zip(parts, speeds)):
            # 4 annotators mark the part (one "segment" = one 2.1 s part here, 5 s in the real data).
            times = [[k, k] for _ in range(4)]
            if rng.random() < 0.3:
                times[int(rng.integers(4))] = [max(k - 1, 0), k] if rng.random() < 0.5 else [k, min(k + 1, n_parts - 1)]
            records.append({
                "num_segments": n_parts,
                "description": motion_caption(DIDEMO_TEMPLATES, colour, shape, motion, speed, bg, rng).lower(),
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


# --------------------------------------------------------------------------------------------------
# Writing the stills and the videos
# --------------------------------------------------------------------------------------------------


def write_stills_files(folder: Path, images: np.ndarray, captions: list[str],
                        labels: list[tuple[str, str, str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", images)
    rows = [(i, cap, *lab) for i, (cap, lab) in enumerate(zip(captions, labels))]
    atomic_write_text(folder / "captions.csv", _csv_text(("index", "caption", "colour", "shape", "background",
                                                          "motion"), rows))


def write_stills(root: str | os.PathLike, n: int, seed: int = 0, progress: bool = True) -> Path:
    """Write ``<root>/stills/images.npy`` (uint8 ``[n,64,64,3]``) and ``<root>/stills/captions.csv``.

    ``captions.csv`` has the header ``index,caption,colour,shape,background,motion``; row ``i`` describes
    image ``i`` (``motion`` is the motion its caption names, empty when it names the object only). Read them back with :func:`load_stills`.

    Args:
        root: world root.
        n: number of images.
        seed: random seed.
        progress: a progress bar over chunks of 500 stills (tqdm: the notebook's bar in Jupyter); the
            chunks give the same bytes as one call.

    Returns:
        The ``stills`` folder.
    """
    from tqdm.auto import tqdm

    folder = Path(root) / "stills"
    chunks = [render_stills_chunk(start, min(start + 500, n), n, seed)
              for start in tqdm(range(0, n, 500), desc=f"render {n} stills", unit="chunk", disable=not progress)]
    write_stills_files(folder, np.concatenate([c[0] for c in chunks]) if chunks else
                       np.zeros((0, FRAME_SIZE, FRAME_SIZE, 3), np.uint8),
                       [c for chunk in chunks for c in chunk[1]], [lab for chunk in chunks for lab in chunk[2]])
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


# Deterministic h264: x264's assembly paths made the same frames encode to one of two bitstreams
# depending on the process's heap layout (seen with PyAV 18 / 64x64 frames: 2-4 of 41 smoke videos
# varied over 8 repeats; decoded pixels differed by up to 30 levels). ``asm=0`` (C paths only) was
# stable in every repeat; "veryfast" halves the C encoder's time at the same decoded error on these
# tiny clips; one thread keeps the bytes independent of the core count.
_X264 = {"threads": "1", "preset": "veryfast", "x264-params": "asm=0"}


def write_clip(path: str | os.PathLike, frames: np.ndarray, intra_only: bool = False,
               full_chroma: bool = True) -> Path:
    """Write a world video the way the world writes it, atomically: the suffix picks the codec. Both keep the
    chroma at full resolution (4:4:4): at 64x64 a 4:2:0 chroma sample covers 2x2 pixels of objects 10-16 px wide
    and of their 1-px trail ghosts, which costs what it never costs real frames of 224 px and more (measured: the
    stage-00 teacher read the UCF101-like motions at 31.5 % top-1 from 4:2:0 decoded frames against 40.8 % from
    the rendered ones; README, "Stage 00").

    * ``.avi``: Motion JPEG in an AVI container (``yuvj444p``, quantizer 2), as camera AVIs are; every frame is
      coded on its own whatever `intra_only` says. Not h264: decord reads h264-in-AVI frames fine but reports
      every frame timestamp as AV_NOPTS_VALUE (-9.2e17 s), which breaks anything that maps seconds to frames;
      with Motion JPEG both decord and PyAV report 0.0, 0.1, ... and a 2.1 s duration. (UCF101's real files are
      MPEG-4 Part 2, which has no 4:4:4; the loaders read either.)
    * anything else: deterministic h264 (``_X264``), crf 18, ``yuv444p``.

    Args:
        intra_only: code every frame on its own (h264 ``keyint=1`` with a constant quantizer, ``qp=18``), so a
            frame decodes to the same pixels whatever the order of the clip. h264's default coding predicts each
            frame from the previous ones, so a clip and its time-reversed twin decode to slightly different
            pixels (the order leak measured by :func:`order_leak`).
        full_chroma: False codes the chroma at half resolution (4:2:0, ``yuv420p`` / ``yuvj420p``), as most real
            video is; for measuring what that costs (:func:`fitclip.toyworld.pretrain.chroma_probe`).
    """
    from fitclip.video import write_video

    path = Path(path)
    if path.suffix == ".avi":
        # threads=1: slices per thread would change the bytes with the core count; dct=int: the C integer DCT on
        # every CPU (the default picks a SIMD one by CPU).
        return write_video(path, frames, fps=FPS, codec="mjpeg", container="avi", bit_rate=50_000_000,
                           pix_fmt="yuvj444p" if full_chroma else "yuvj420p",
                           options={"threads": "1", "dct": "int", "qmin": "2", "qmax": "2"})
    options = dict(_X264)
    if intra_only:
        options["x264-params"] += ":keyint=1:qp=18"
    return write_video(path, frames, fps=FPS, crf=18, options=options,
                       pix_fmt="yuv444p" if full_chroma else "yuv420p")


def order_leak(folder: str | os.PathLike, suffix: str = ".mp4", n_clips: int = 12, intra_only: bool = False,
               seed: int = 0) -> dict[str, Any]:
    """Measure whether coding leaks frame order into the frames the models see (the order control's check).

    For `n_clips` growing clips and their exact time-reversed twins (the shrinking clips of the same seed:
    ``render_clip`` guarantees ``shrinking == growing[::-1]``), both are written with :func:`write_clip`
    into `folder` and decoded at the eval sampler's frames (``frame_indices``; for the world's 21-frame
    clips the eval frames of the twin are exactly the mirrored ones). With no leak, each decoded frame of a
    clip equals the twin's decoded copy of the same rendered frame, and an order-blind model (mean of frame
    embeddings) cannot tell the two apart.

    Returns:
        ``{"suffix", "intra_only", "n_clips", "sampler_symmetric", "frame_diff_mean", "frame_diff_max",
        "identical", "coding_error_mean"}``: per-pixel mean |decoded clip − decoded twin| over the sampled
        frames, in grey levels (0 = no leak), its max over clips, how many clips decode identically, and the
        mean coding error (|decoded − rendered|) for scale.
    """
    from fitclip.toyworld.render import render_clip
    from fitclip.toyworld.vocabulary import COLOURS, SHAPES
    from fitclip.video import frame_indices, read_frames

    folder = Path(folder)
    diffs, errors, symmetric = [], [], True
    colours = list(COLOURS)
    for k in range(n_clips):
        colour, shape = colours[k % len(colours)], SHAPES[k % len(SHAPES)]
        growing = render_clip(colour, shape, "growing", seed=seed + k)
        twin = render_clip(colour, shape, "shrinking", seed=seed + k)
        n = len(growing)
        idx = frame_indices(0, n, 4, "eval")
        symmetric &= sorted(n - 1 - i for i in idx) == idx
        a = write_clip(folder / f"growing{k}{suffix}", growing, intra_only)
        b = write_clip(folder / f"shrinking{k}{suffix}", twin, intra_only)
        decoded = np.asarray(read_frames(str(a), idx, backend="pyav"), dtype=np.float64)
        mirrored = np.asarray(read_frames(str(b), [n - 1 - i for i in idx], backend="pyav"), dtype=np.float64)
        diffs.append(float(np.abs(decoded - mirrored).mean()))
        errors.append(float(np.abs(decoded - growing[idx]).mean()))
    return {"suffix": suffix, "intra_only": intra_only, "n_clips": n_clips, "sampler_symmetric": bool(symmetric),
            "frame_diff_mean": float(np.mean(diffs)), "frame_diff_max": float(np.max(diffs)),
            "identical": int(sum(d == 0 for d in diffs)), "coding_error_mean": float(np.mean(errors))}


def write_job(root: str | os.PathLike, job: VideoJob) -> Path:
    """Render one job and write it under `root` (:func:`write_clip`: its suffix picks the codec), every frame
    coded on its own: predictive coding made a clip and its time-reversed twin decode to different pixels
    (0.8–0.9 grey levels per pixel, :func:`order_leak`), an order cue the order-only control must not have."""
    return write_clip(Path(root) / job.relpath, render_video(job), intra_only=True)
