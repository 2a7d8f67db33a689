"""Stage 00 of the synthetic world: pretrain a tiny CLIP teacher from scratch on still images.

Each still is one frame of a clip of the world (``fitclip.toyworld.render.render_stills_chunk``): the teacher
learns the 60 object concepts and the motion a single frame shows (trails, blur; named in 70 % of those
captions), never blinking or the order-only pair — the toy counterpart of CLIP, which does well zero-shot on
video from single frames but knows nothing of frame order. The real recipe skips this stage and uses
OpenAI's ViT-B/16 as the teacher.

Training is plain symmetric InfoNCE (`fitclip.losses.labeled_loss`) on image–caption pairs, each image
being a one-frame video; AdamW with a linear warm-up and cosine decay. Zero-shot accuracy on held-out
stills over the 60 colour×shape classes is measured at the end.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from fitclip.files import atomic_write_text, save_state, write_json
from fitclip.losses import labeled_loss
from fitclip.metrics import (bootstrap_ci, class_rank_counts, classification_metrics, hits, ranks_from_counts,
                             top1_hits)
from fitclip.models import RANDOM_INIT_WARNING, VideoCLIP, load_clip, model_file_state, quiet_open_clip
from fitclip.toyworld.vocabulary import SINGLE_FRAME_MOTIONS, valid_combo
from fitclip.transforms import transforms_for


@dataclass(frozen=True)
class PretrainConfig:
    """Parameters of the toy teacher's pretraining (all recorded next to the checkpoint)."""

    arch: str = "fitclip-toy"
    pretrained: str | None = None  # None: from scratch; or weights to continue from
    steps: int = 900  # README "Stage 00": how steps, lr and the motion groups were chosen on held-out stills
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 20
    temperature: float = 0.07
    holdout: int = 500
    seed: int = 0
    motion_groups: int = 16  # same-object groups per batch, each of `group_size` stills naming different motions
    group_size: int = 4

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "holdout", "group_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.motion_groups * self.group_size <= self.batch_size:
            raise ValueError(f"motion_groups × group_size = {self.motion_groups} × {self.group_size} must be "
                             f"between 0 and batch_size = {self.batch_size}")
        if not self.lr > 0 or not self.temperature > 0:
            raise ValueError(f"lr and temperature must be > 0, got lr={self.lr}, temperature={self.temperature}")


def _read_stills(stills_dir: Path) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    """images uint8 `[N, H, W, 3]`, captions, the "colour shape" class of each image and the motion its
    caption names ("" when it names none)."""
    images_path, captions_path = stills_dir / "images.npy", stills_dir / "captions.csv"
    for p in (images_path, captions_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found; render the stills first (fitclip.toyworld.write_stills)")
    with open(captions_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    images = np.load(images_path)
    if len(rows) != len(images):
        raise ValueError(f"{captions_path} has {len(rows)} rows but {images_path} has {len(images)} images")
    return (images, [r["caption"] for r in rows], [f"{r['colour']} {r['shape']}" for r in rows],
            [r["motion"] for r in rows])


@torch.no_grad()
def zero_shot_still_accuracy(model: VideoCLIP, images: torch.Tensor, labels: list[str],
                             classes: list[str]) -> dict[str, float]:
    """Zero-shot accuracy of "a photo of a {class}." prompts on normalised images `[N, 3, S, S]`.

    Returns `top1`, `top5` and `top1_ci_low`/`top1_ci_high` (95 % bootstrap CI over the images), plus
    `colour` and `shape`: the share of images whose top-1 class has the right colour (resp. shape),
    whatever its other half; each in percent.
    """
    model.eval()
    text = model.encode_text(model.tokenize([f"a photo of a {c}." for c in classes]))
    image = torch.cat([model.encode_image(images[i:i + 256]) for i in range(0, len(images), 256)])
    targets = torch.tensor([classes.index(label) for label in labels])
    scores = image @ text.t()
    out = classification_metrics(scores, targets)
    better, tied = class_rank_counts(scores, targets)
    out["top1_ci_low"], out["top1_ci_high"] = bootstrap_ci(hits(ranks_from_counts(better, tied), "top1", tied))
    predicted = [classes[i].split() for i in scores.argmax(dim=1).tolist()]
    truth = [label.split() for label in labels]
    for part, name in ((0, "colour"), (1, "shape")):
        out[name] = 100.0 * sum(p[part] == t[part] for p, t in zip(predicted, truth)) / len(truth)
    return out


@torch.no_grad()
def still_motion_accuracy(model: VideoCLIP, images: torch.Tensor, labels: list[str],
                          motions: list[str]) -> dict[str, float]:
    """How well the model reads the motion a single still shows, on the stills whose caption names it.

    Returns `motion_given_object`: top-1 among the single-frame motions the still's object can do, each
    prompted with its object ("a photo of a red circle moving left."); `motion_only`: top-1 among the seven
    single-frame motions prompted by the motion phrase alone ("moving left"), as a UCF101 class name asks
    with no object; each in percent with its 95 % bootstrap CI, and `n` (the stills that name a motion).
    """
    model.eval()
    keep = [i for i, m in enumerate(motions) if m]
    out: dict[str, float] = {"n": len(keep)}
    if not keep:
        return out
    image = torch.cat([model.encode_image(images[keep][i:i + 256]) for i in range(0, len(keep), 256)])

    def strict_top1(scores: torch.Tensor, options: list[str], truth: str) -> float:
        """1 when the true motion scores above every other option (a tie is a miss: a degenerate model earns nothing)."""
        t = options.index(truth)
        return float(bool((scores[t] > torch.cat([scores[:t], scores[t + 1:]])).all()))

    only = image @ model.encode_text(model.tokenize(list(SINGLE_FRAME_MOTIONS))).t()
    only_hits = torch.tensor([strict_top1(only[row], list(SINGLE_FRAME_MOTIONS), motions[i]) for row, i in enumerate(keep)])
    given_hits = []
    for row, i in enumerate(keep):
        colour, shape = labels[i].split()
        options = [m for m in SINGLE_FRAME_MOTIONS if valid_combo(colour, shape, m)]
        text = model.encode_text(model.tokenize([f"a photo of a {labels[i]} {m}." for m in options]))
        given_hits.append(strict_top1(image[row] @ text.t(), options, motions[i]))
    given_hits = torch.tensor(given_hits)
    for name, h in (("motion_given_object", given_hits), ("motion_only", only_hits)):
        out[name] = 100.0 * float(h.mean())
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = (100.0 * v for v in bootstrap_ci(h))
    return out


@torch.no_grad()
def look_probe(model: VideoCLIP, looks: Sequence[float] = (0.0, 0.2, 0.4), n: int = 1000, seed: int = 1,
               transform: Callable[[torch.Tensor], torch.Tensor] | None = None, gap: str = "mix") -> list[dict]:
    """What the stills-to-video gap alone does to the teacher's reading of single-frame motion: the same `n`
    stills (:func:`~fitclip.toyworld.render.render_stills_chunk`, a seed other than the corpus's) rendered with
    each `look` of the gap `gap` (0: as the teacher's stills; the world's videos use ``WorldConfig.video_look``
    and ``video_gap``), each measured
    as :func:`still_motion_accuracy` does, with how often each motion is the top guess by the motion phrase
    alone (``guesses``, over the stills whose caption names a motion). `transform`: uint8 ``[N, H, W, 3]`` to
    the model's input (default: its eval transform).

    Returns:
        One record per look: ``look``, :func:`still_motion_accuracy`'s keys and ``guesses`` ``{motion: count}``.
    """
    from fitclip.toyworld.render import render_stills_chunk

    tf = transform or transforms_for(model)[1]
    model.eval()
    text = model.encode_text(model.tokenize(list(SINGLE_FRAME_MOTIONS)))
    rows = []
    for look in looks:
        images_np, _, labels = render_stills_chunk(0, n, n, seed, look=float(look), gap=gap)
        images = tf(torch.from_numpy(images_np))
        named = [i for i, lab in enumerate(labels) if lab[3]]
        classes, motions = [f"{lab[0]} {lab[1]}" for lab in labels], [lab[3] for lab in labels]
        record: dict[str, Any] = {"look": float(look), **still_motion_accuracy(model, images, classes, motions)}
        guesses = (model.encode_image(images[named]) @ text.t()).argmax(1).tolist() if named else []
        record["guesses"] = {m: guesses.count(k) for k, m in enumerate(SINGLE_FRAME_MOTIONS)}
        rows.append(record)
    return rows


@torch.no_grad()
def chroma_probe(model: VideoCLIP, seed: int = 0, config: Any = None, limit: int | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> list[dict]:
    """What coding the chroma at half resolution does to the teacher's reading of the UCF101-like videos.

    The world's UCF101-like test videos (``testlist01`` of the plan of `seed` and `config`, default
    :class:`WorldConfig`; with `limit`, that many, every k-th so that each class is in) are rendered and read at the
    eval sampler's 4 frames three ways: as rendered, and decoded after the world's intra-only coding (:func:`~fitclip.toyworld.writers.write_clip`, h264) with full-resolution
    chroma (4:4:4, the world's) and with half-resolution chroma (4:2:0, most real video's). Each is scored as the
    benchmark scores it: the model's video embedding (``encode_video``: the mean of the 4 L2-normalised frame
    embeddings) against the 10 class names with the 48 CLIP templates, top-1 (ties shared, as :func:`fitclip.metrics.classification_metrics`).

    Returns:
        One record per reading (``coding``: ``"rendered"``, ``"4:4:4"``, ``"4:2:0"``) with ``top1`` (percent) and
        its 95 % bootstrap CI, ``top1_single_frame`` (the 7 single-frame motions' videos), ``diff_vs_444`` with its
        paired CI (``diff_ci_low``, ``diff_ci_high``: the same videos read with 4:4:4 coding) and ``n``.
    """
    import tempfile

    from fitclip.evaluate import class_embeddings
    from fitclip.prompts import UCF101_TEMPLATES, format_prompts
    from fitclip.toyworld.render import render_video
    from fitclip.toyworld.vocabulary import UCF_FOLDERS, ucf101_class_folders, ucf101_class_names
    from fitclip.toyworld.world import WorldConfig, plan_world
    from fitclip.toyworld.writers import write_clip
    from fitclip.video import frame_indices, read_frames

    tf = transform or transforms_for(model)[1]
    model.eval()
    plan = plan_world(seed, config or WorldConfig())
    test = {f"ucf101/UCF-101/{line}" for line in plan.files["ucf101/ucfTrainTestlist/testlist01.txt"].split()}
    jobs = [j for j in plan.jobs if j.relpath in test]  # the benchmark's test list (not the peers' splits 2, 3)
    jobs = jobs[::max(1, len(jobs) // limit)][:limit] if limit else jobs  # spread over the classes
    folders = ucf101_class_folders()
    targets = torch.tensor([folders.index(UCF_FOLDERS[j.clips[0].motion]) for j in jobs])
    single = torch.tensor([j.clips[0].motion in SINGLE_FRAME_MOTIONS for j in jobs])
    classes = class_embeddings(model, [format_prompts(UCF101_TEMPLATES, name) for name in ucf101_class_names()])
    readings: dict[str, list[np.ndarray]] = {"rendered": [], "4:4:4": [], "4:2:0": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k, job in enumerate(jobs):
            frames = render_video(job)
            idx = frame_indices(0, len(frames) - 1, 4, "eval")
            readings["rendered"].append(frames[idx])
            for coding, full in (("4:4:4", True), ("4:2:0", False)):
                path = write_clip(Path(tmp) / f"{k}-{full}.mp4", frames, intra_only=True, full_chroma=full)
                readings[coding].append(read_frames(path, idx, backend="pyav"))
    per_item = {}
    for coding, clips in readings.items():
        x = tf(torch.from_numpy(np.concatenate(clips)))
        x = x.view(len(jobs), -1, *x.shape[1:])  # [videos, 4, C, H, W]
        video = torch.cat([model.encode_video(x[i:i + 64]) for i in range(0, len(x), 64)])
        per_item[coding] = top1_hits(video @ classes.t(), targets)
    rows = []
    for coding, hit in per_item.items():
        row = {"coding": coding, "top1": float(hit.mean()), "top1_single_frame": float(hit[single].mean()),
               "n": len(jobs)}
        row["top1_ci_low"], row["top1_ci_high"] = bootstrap_ci(hit)
        diff = hit - per_item["4:4:4"]  # paired: the same videos
        row["diff_vs_444"] = float(diff.mean())
        row["diff_ci_low"], row["diff_ci_high"] = bootstrap_ci(diff)
        rows.append(row)
    return rows


class MotionGroups:
    """Hard negatives for motion: groups of `group_size` training stills of one object whose captions name
    different motions, so that within a group only the motion tells the captions apart (the 60 objects of a
    random batch of 128 otherwise differ mostly by the object, and CLIP's loss teaches motion weakly)."""

    def __init__(self, labels: list[str], motions: list[str], n_train: int, group_size: int) -> None:
        by_object: dict[str, dict[str, list[int]]] = {}
        for i in range(n_train):
            if motions[i]:
                by_object.setdefault(labels[i], {}).setdefault(motions[i], []).append(i)
        self.groups = [sorted(named.items()) for _, named in sorted(by_object.items()) if len(named) >= group_size]
        self.group_size = group_size
        if not self.groups:
            raise ValueError(f"no object has stills naming {group_size} different motions; lower group_size")

    def draw(self, n_groups: int, gen: torch.Generator) -> torch.Tensor:
        """`n_groups × group_size` still indices (seeded by `gen`)."""
        picks = []
        for o in torch.randint(0, len(self.groups), (n_groups,), generator=gen).tolist():
            named = self.groups[o]
            for k in torch.randperm(len(named), generator=gen)[:self.group_size].tolist():
                pool = named[k][1]
                picks.append(pool[int(torch.randint(0, len(pool), (1,), generator=gen))])
        return torch.tensor(picks, dtype=torch.long)


def pretrain_teacher(stills_dir: str | os.PathLike, out_dir: str | os.PathLike,
                     config: PretrainConfig = PretrainConfig(), progress: bool = True) -> dict:
    """Train a CLIP of `config.arch` from scratch on `<stills_dir>/{images.npy,captions.csv}`.

    Writes `<out_dir>/teacher.pt` (a fitclip model file: load with
    `load_clip(config.arch, out_dir / "teacher.pt")`), `metrics.jsonl` (loss per step) and
    `pretrain.json` (config, held-out zero-shot accuracy before/after: deterministic from the seed on one
    machine) and `timing.json` (wall time of the training loop).

    Returns:
        The `pretrain.json` record with `train_seconds`.
    """
    stills_dir, out_dir = Path(stills_dir), Path(out_dir)
    images_np, captions, labels, motions = _read_stills(stills_dir)
    if config.holdout >= len(images_np):
        raise ValueError(f"holdout={config.holdout} leaves no training images out of {len(images_np)}")
    torch.manual_seed(config.seed)
    with quiet_open_clip(RANDOM_INIT_WARNING):  # training from scratch: random weights are the point
        model = load_clip(config.arch, pretrained=config.pretrained)
    _, eval_tf = transforms_for(model)
    # Stills are already at the model's size; the eval transform only converts and normalises.
    images = torch.cat([eval_tf(torch.from_numpy(images_np[i:i + 512])) for i in range(0, len(images_np), 512)])
    tokens = model.tokenize(captions)
    n_train = len(images) - config.holdout
    classes = sorted(set(labels))
    before = zero_shot_still_accuracy(model, images[n_train:], labels[n_train:], classes)
    before.update(still_motion_accuracy(model, images[n_train:], labels[n_train:], motions[n_train:]))

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / config.warmup_steps)
                                              * 0.5 * (1 + math.cos(math.pi * s / config.steps)))
    gen = torch.Generator().manual_seed(config.seed)
    groups = MotionGroups(labels, motions, n_train, config.group_size) if config.motion_groups else None
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log: list[str] = []  # the loss log, written atomically once training is done
    for step in tqdm(range(config.steps), desc="pretrain teacher", disable=not progress, mininterval=5):
        idx = torch.randint(0, n_train, (config.batch_size - config.motion_groups * config.group_size,), generator=gen)
        if config.motion_groups:
            idx = torch.cat([idx, groups.draw(config.motion_groups, gen)])
        # No flip augmentation: captions say "moving left" of what a trail shows.
        loss = labeled_loss(model.encode_image(images[idx]), model.encode_text(tokens[idx]), config.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        log.append(json.dumps({"step": step + 1, "loss": loss.item(), "lr": sched.get_last_lr()[0]}) + "\n")
    seconds = time.perf_counter() - t0
    atomic_write_text(out_dir / "metrics.jsonl", "".join(log))
    after = zero_shot_still_accuracy(model, images[n_train:], labels[n_train:], classes)
    after.update(still_motion_accuracy(model, images[n_train:], labels[n_train:], motions[n_train:]))
    save_state(model_file_state(model), out_dir / "teacher.pt")
    record = {"config": asdict(config), "n_train": n_train, "n_holdout": config.holdout, "classes": classes,
              "zero_shot_before": before, "zero_shot_after": after}
    write_json(out_dir / "pretrain.json", record)  # the same bytes from the same seed: the demo commits it
    write_json(out_dir / "timing.json", {"train_seconds": seconds})
    return {**record, "train_seconds": seconds}
