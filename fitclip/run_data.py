"""The videos a training run reads, shared by `fitclip.train` and `fitclip.pseudo_labels`: the labeled,
validation and unlabeled sets (WebVid's format, or your own folder of captioned videos), checked before any
training work (missing videos or captions are one-line errors naming the doctor command that lists them), a
prompts file (the unlabeled text when it is not the captions), and what the videos ARE
(:func:`videos_fingerprint`, :func:`data_identity`: reuse and resume checks compare them).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

from fitclip.annotations import VideoItem, load_annotations
from fitclip.config import ConfigError, TrainConfig, resolve_path


def load_labeled(cfg: TrainConfig) -> list[VideoItem]:
    """The labeled set: the seeded WebVid subset (`labeled_csv`, WebVid columns), or with `video_folder` the
    rows of its captions file `labeled_csv`."""
    if cfg.video_folder:
        ann = load_annotations("folder", Path(cfg.video_folder).expanduser(),
                               captions=str(resolve_path(cfg, cfg.labeled_csv)))
    else:
        ann = load_annotations("webvid", cfg.data_root, split="train", csv=str(resolve_path(cfg, cfg.labeled_csv)))
    return _usable(ann, "labeled_csv", need_text=True, doctor=doctor_command(cfg, "labeled"))


def load_val(cfg: TrainConfig, labeled: Sequence[VideoItem] | None = None) -> list[VideoItem]:
    """The labeled validation set: WebVid val (or the `val_csv` subset of it), or with `video_folder` the rows
    of its captions file `val_csv`; with `video_folder` no validation video may be a labeled one."""
    if cfg.video_folder:
        ann = load_annotations("folder", Path(cfg.video_folder).expanduser(),
                               captions=str(resolve_path(cfg, cfg.val_csv)))
        items = _usable(ann, "val_csv", need_text=True, doctor=doctor_command(cfg, "val"))
        shared = sorted({i.video_id for i in items} & {i.video_id for i in (labeled or load_labeled(cfg))})
        if shared:
            raise ConfigError(f"val_csv={cfg.val_csv!r} and labeled_csv={cfg.labeled_csv!r} share {len(shared)} "
                              f"video(s) (first: {shared[:3]}); validation must be held out: split the videos, not the "
                              "captions, between the two files")
        return items
    options = {"csv": str(resolve_path(cfg, cfg.val_csv))} if cfg.val_csv else {}
    return _usable(load_annotations("webvid", cfg.data_root, split="val", **options), "val", need_text=True,
                   doctor=doctor_command(cfg, "val"))


def load_unlabeled(cfg: TrainConfig, labeled: Sequence[VideoItem] | None = None) -> list[VideoItem]:
    """The unlabeled pool (`unlabeled`), without the labeled subset's video files if `exclude_labeled` (and,
    with `video_folder`, without the validation files: α is chosen on them)."""
    options = dict(cfg.unlabeled)
    name, exclude = options.pop("name"), options.pop("exclude_labeled", True)
    if name == "webvid":
        ann = load_annotations("webvid", cfg.data_root, split=options.pop("split", "train"), **options)
    else:
        ann = load_annotations("folder", Path(options.pop("path")).expanduser(), **options)
    items = _usable(ann, "unlabeled", need_text=cfg.unlabeled_text == "captions",
                    doctor=doctor_command(cfg, "unlabeled"))
    if exclude:
        if labeled is None:
            labeled = load_labeled(cfg)
        held = load_val(cfg, labeled) if cfg.video_folder and cfg.val_csv else []  # your validation videos stay unseen too
        taken = {Path(item.path).resolve() for item in [*labeled, *held]}  # the same file, whichever folder listed it
        items = [item for item in items if Path(item.path).resolve() not in taken]
    return items


def doctor_command(cfg: TrainConfig, stream: str) -> str:
    """The `python -m fitclip doctor` command that checks every video of a stream (labeled, unlabeled, val)."""
    if stream == "unlabeled" and cfg.unlabeled.get("name") == "folder":
        captions = cfg.unlabeled.get("captions")
        return (f"python -m fitclip doctor --dataset folder --data-root {cfg.unlabeled['path']}"
                + (f" --dataset-option captions={captions}" if captions else ""))
    csv = {"labeled": cfg.labeled_csv, "val": cfg.val_csv}.get(stream, cfg.unlabeled.get("csv"))
    if cfg.video_folder and stream in ("labeled", "val"):
        return (f"python -m fitclip doctor --dataset folder --data-root {cfg.video_folder} "
                f"--dataset-option captions={resolve_path(cfg, csv)}")
    split = {"labeled": "train", "val": "val"}.get(stream, cfg.unlabeled.get("split", "train"))
    option = f" --dataset-option csv={resolve_path(cfg, csv)}" if csv else ""
    return f"python -m fitclip doctor --dataset webvid --data-root {cfg.data_root} --split {split}{option}"


def _usable(ann: Any, what: str, need_text: bool, doctor: str) -> list[VideoItem]:
    """The items, or a one-line ConfigError (missing videos, missing captions) before any training work."""
    if ann.missing:
        raise ConfigError(f"{what}: {len(ann.missing)} of {len(ann.items)} videos are missing (first: "
                          f"{ann.missing[:3]}); download them or drop them from the csv (`{doctor}` lists them)")
    if need_text and any(item.text is None for item in ann.items):
        bad = [item.key for item in ann.items if item.text is None]
        raise ConfigError(f"{what}: {len(bad)} videos have no caption (first: {bad[:3]}); every {what} video "
                          f"needs one" + (" (or set unlabeled_text to a prompts file)" if what == "unlabeled" else ""))
    return list(ann.items)


def read_prompts(path: str | os.PathLike) -> list[str]:
    """A prompts file: one prompt per line, blank lines ignored."""
    prompts = [line.strip() for line in Path(path).expanduser().read_text(encoding="utf-8").splitlines() if line.strip()]
    if not prompts:
        raise ValueError(f"prompts file {str(path)!r} has no prompts (one per line)")
    return prompts


# ----------------------------------------------------------------------------------------------------
# What the videos are
# ----------------------------------------------------------------------------------------------------

#: ``<out_dir>/videos.json``: a training run's :func:`data_identity`, written when it starts or resumes.
VIDEOS_RECORD = "videos.json"


def videos_fingerprint(items: Sequence[VideoItem]) -> str:
    """What the videos of a set ARE, cheaply: sha256 over each item's key, clip window and its file's size and
    modification time (``stat``, nothing read). A re-rendered, re-encoded or re-downloaded video changes it; the
    same files give the same value wherever the folder lies (keys, not paths). Reuse checks compare it, so a
    stage never reuses labels, students or a grid computed from other videos under the same annotation files
    (the synthetic world re-rendered with another look keeps every caption)."""
    h = hashlib.sha256()
    for item in items:
        try:
            st = os.stat(item.path)
            state = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            state = "missing"
        h.update(f"{item.key}\t{item.start}\t{item.end}\t{state}\n".encode())
    return h.hexdigest()


def data_identity(cfg: TrainConfig, labeled: Sequence[VideoItem], pool: Sequence[VideoItem],
                  val: Sequence[VideoItem]) -> dict[str, str]:
    """A training run's videos (:func:`videos_fingerprint` of the labeled set, the unlabeled pool and the
    validation set), recorded in every checkpoint and in ``<out_dir>/videos.json``; a resume must match it."""
    return {"labeled": videos_fingerprint(labeled), "pool": videos_fingerprint(pool), "val": videos_fingerprint(val)}


def run_data_identity(cfg: TrainConfig) -> dict[str, str]:
    """:func:`data_identity` of the sets `cfg` trains on, loaded as the trainer loads them (annotations only)."""
    labeled = load_labeled(cfg)
    pool = load_unlabeled(cfg, labeled) if cfg.lam > 0 else []
    val = load_val(cfg) if cfg.val_every > 0 else []
    return data_identity(cfg, labeled, pool, val)
