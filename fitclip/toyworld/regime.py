"""The regime the synthetic world models, counted from its own files: what the teacher knows, what the labeled
subset shows, what the unlabeled pool covers, and which benchmark items fall inside or outside the labeled
concepts (the split the forgetting table is read on).

FitCLIP's regime: the teacher (CLIP) knows a long tail of concepts; the 4.5 k labeled WebVid videos show a
sliver of them; the unlabeled pool (WebVid-2.5M) covers far more. Here the teacher's stills show all 60 object
concepts (:data:`~fitclip.toyworld.vocabulary.CONCEPTS`), the labeled subset is drawn from the WebVid-like rows
of the 20 :data:`~fitclip.toyworld.vocabulary.LABELED_CONCEPTS`, and the pool, the validation split and the
benchmarks draw on all 60. Everything here is counted from the files the world and stage 00 wrote, never
assumed from the vocabulary, so ``regime.json`` checks the plan.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

#: Item splits of a benchmark: its video shows only labeled concepts, or none of them.
INSIDE, OUTSIDE, MIXED = "inside", "outside", "mixed"
#: A finer reading of the outside items (exploratory, looked at after the registered inside/outside split): which
#: of the object's two words, its colour and its shape, the labeled subset's captions use.
WORD_PARTS: tuple[str, ...] = (INSIDE, "colour shown", "shape shown", "neither shown")


def _world(root: str | os.PathLike) -> dict[str, Any]:
    path = Path(root) / "world.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the inside/outside split exists for the synthetic world only "
                                f"(render it with notebooks/01_data_prep.ipynb, world='synthetic')")
    return json.loads(path.read_text(encoding="utf-8"))


def webvid_concepts(root: str | os.PathLike) -> dict[str, str]:
    """`{videoid: "colour shape"}` of every WebVid-like video (train and val), from ``synthetic_labels.csv``."""
    with open(Path(root) / "webvid" / "synthetic_labels.csv", newline="", encoding="utf-8") as f:
        return {row["videoid"]: f"{row['colour']} {row['shape']}" for row in csv.DictReader(f)}


def labeled_candidates(items: Sequence[Any], root: str | os.PathLike) -> list[Any]:
    """The WebVid-like train items the labeled subset may be drawn from: those showing a labeled concept."""
    labeled = set(_world(root)["labeled_concepts"])
    concept = webvid_concepts(root)
    return [item for item in items if concept[item.key] in labeled]


def word_part(obj: str, labeled: Iterable[str]) -> str:
    """One of :data:`WORD_PARTS` for an object concept ("cyan ring"): inside the labeled concepts, or outside with
    only its colour word, only its shape word, or neither shown by the labeled subset. ("both words shown" cannot
    happen while the labeled concepts are a full colour × shape product, as the world's are; it is named if so.)"""
    labeled = set(labeled)
    if obj in labeled:
        return INSIDE
    colour, shape = obj.split()
    colours, shapes = {c.split()[0] for c in labeled}, {c.split()[1] for c in labeled}
    seen = (colour in colours, shape in shapes)
    return {(True, True): "both words shown", (True, False): "colour shown", (False, True): "shape shown",
            (False, False): "neither shown"}[seen]


def split_of(objects: Iterable[str], labeled: set[str]) -> str:
    """`inside` when every object of a video is a labeled concept, `outside` when none is, else `mixed`."""
    flags = {obj in labeled for obj in objects}
    return INSIDE if flags == {True} else OUTSIDE if flags == {False} else MIXED


def item_splits(root: str | os.PathLike, dataset: str, split: str | None = None,
                labeled: Iterable[str] | None = None, words: bool = False) -> dict[str, str]:
    """`{item key: inside | outside | mixed}` of a benchmark of the synthetic world, keyed as `evaluate` keys its
    items: each item's video (through the dataset's own loader) and the objects ``world.json`` records for it.

    Args:
        root: the world root (``01_data_prep/world``).
        dataset, split: the benchmark (default split when None).
        labeled: the labeled concepts (default: ``world.json``'s).
        words: label one-object items by :func:`word_part` instead (videos of several objects: ``mixed``).
    """
    from fitclip.annotations import load_annotations

    world = _world(root)
    labeled = set(world["labeled_concepts"] if labeled is None else labeled)
    ann = load_annotations(dataset, root, **({"split": split} if split else {}))
    out = {}
    for item in ann.items:
        try:
            rel = Path(item.path).resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            raise ValueError(f"{item.path} is not under the world's root {root} (a linked folder?): the synthetic "
                             f"world's videos must stay under it, as render_world writes them") from None
        objects = world["videos"][rel]["objects"]
        out[item.key] = (word_part(objects[0], labeled) if len(objects) == 1 else MIXED) if words else \
            split_of(objects, labeled)
    return out


def regime_record(root: str | os.PathLike, stills_captions: str | os.PathLike, labeled_items: Sequence[Any],
                  train_items: Sequence[Any], benchmarks: Sequence[str] = ()) -> dict[str, Any]:
    """What ``01_data_prep/regime.json`` holds, counted from the files.

    Args:
        root: the world root.
        stills_captions: stage 00's ``stills/captions.csv`` (the teacher's corpus).
        labeled_items: the labeled subset (WebVid-like train items).
        train_items: all WebVid-like train items; those not in the subset are the unlabeled pool.
        benchmarks: datasets whose items are counted inside / outside the labeled concepts.

    Returns:
        ``teacher_concepts``, ``labeled_concepts``, ``pool_concepts`` (distinct object concepts in the teacher's
        stills, the labeled subset and the pool), ``validation_concepts``, the three lists, the labeled share,
        the numbers of labeled and pool videos, per benchmark the items inside and outside, and ``video_gap`` /
        ``video_look`` (the stills-to-video gap the world's videos were rendered with, from ``world.json``; a world
        from before ``video_gap`` existed used ``"mix"``).
    """
    with open(stills_captions, newline="", encoding="utf-8") as f:
        teacher = sorted({f"{row['colour']} {row['shape']}" for row in csv.DictReader(f)})
    with open(Path(root) / "webvid" / "synthetic_labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    concept = {r["videoid"]: f"{r['colour']} {r['shape']}" for r in rows}
    labeled_keys = [item.key for item in labeled_items]
    pool_keys = sorted({item.key for item in train_items} - set(labeled_keys))
    labeled = sorted({concept[k] for k in labeled_keys})
    pool = sorted({concept[k] for k in pool_keys})
    validation = sorted({concept[r["videoid"]] for r in rows if r["split"] == "val"})
    counts = {}
    for name in benchmarks:
        splits = list(item_splits(root, name, labeled=labeled).values())
        counts[name] = {s: splits.count(s) for s in (INSIDE, OUTSIDE, MIXED)}
    return {"teacher_concepts": len(teacher), "labeled_concepts": len(labeled), "pool_concepts": len(pool),
            "validation_concepts": len(validation), "labeled_share": round(len(labeled) / max(len(teacher), 1), 4),
            "n_labeled_videos": len(labeled_keys), "n_pool_videos": len(pool_keys),
            "labeled_not_known_to_teacher": sorted(set(labeled) - set(teacher)),
            "benchmark_items": counts, "labeled_concept_list": labeled, "pool_concept_list": pool,
            "teacher_concept_list": teacher,
            "video_gap": str(_world(root)["config"].get("video_gap", "mix")),
            "video_look": float(_world(root)["config"].get("video_look", 0.0))}


def regime_text(regime: dict[str, Any]) -> str:
    """Two lines for a notebook: the concept counts and each benchmark's inside / outside items."""
    items = ", ".join(f"{name} {c[INSIDE]}/{c[OUTSIDE]}" + (f" ({c[MIXED]} mixed)" if c[MIXED] else "")
                      for name, c in regime["benchmark_items"].items())
    return (f"object concepts: the teacher's stills show {regime['teacher_concepts']}, the labeled subset "
            f"({regime['n_labeled_videos']} videos) {regime['labeled_concepts']} ({100 * regime['labeled_share']:.0f} %), "
            f"the unlabeled pool ({regime['n_pool_videos']} videos) {regime['pool_concepts']}, validation "
            f"{regime['validation_concepts']}; stills-to-video gap {regime.get('video_gap', 'mix')} "
            f"(video_look {regime.get('video_look', 0.0)})"
            f"\nbenchmark items inside/outside the labeled concepts: {items}")
