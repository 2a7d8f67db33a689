"""The later peers' three-split zero-shot lists (X-CLIP, ViFi-CLIP, Open-VCLIP, FROSTER …): UCF101, HMDB51 and the
Kinetics-600 classes outside Kinetics-400, as ``<path> <index>`` list files and ``id,name`` label CSVs
(``../shared/benchmarks/README.md`` §8). :func:`parse_peer_list` is the reader :mod:`fitclip.annotations` uses for
``hmdb51``, ``k600_zs`` and ``ucf101`` splits ``1``–``3``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fitclip.prompts import UCF101_TEMPLATES, ucf101_class_name
from fitclip.readers import AnnotationError, Annotations, Loader, VideoItem, check_unique, read_csv, text_lines

# ----------------------------------------------------------------------------------------------------
# The three-split zero-shot lists of later peers (X-CLIP, ViFi-CLIP, Open-VCLIP, FROSTER, ...)
# ----------------------------------------------------------------------------------------------------

#: The three test splits of the peers' protocol (``split="1"``, ``"2"``, ``"3"``; ``"all"`` in the CLI = the three).
PEER_SPLITS: tuple[str, ...] = ("1", "2", "3")
#: Each dataset's list and label files per split, relative to ``<data_root>/<name>/``: the peers' files
#: (muzairkhattak/ViFi-CLIP ``datasets_splits/`` and ``labels/``) under the flat names
#: ``<folder>_<file>`` of ``shared/benchmarks/zero_shot_splits/``.
PEER_FILES: dict[str, dict[str, tuple[str, str]]] = {
    "ucf101": {k: (f"ucf_splits_val{k}.txt", "labels_ucf_101_labels.csv") for k in PEER_SPLITS},
    "hmdb51": {k: (f"hmdb_splits_val{k}.txt", "labels_hmdb_51_labels.csv") for k in PEER_SPLITS},
    "k600_zs": {k: (f"k600_splits_ZS_split{k}_K600_eval.txt", f"labels_ZS_split{k}_K600.csv") for k in PEER_SPLITS},
}
#: What the published lists hold (benchmarks README §8, counted from the files): classes per label file and
#: videos per split list.
#: ``fitclip doctor`` checks a list set against it when its label file has the published number of classes
#: (the toy world's smaller lists are not the published ones and are not held to these counts).
PUBLISHED_LISTS: dict[str, dict[str, Any]] = {
    "ucf101": {"classes": 101, "lines": {"1": 3783, "2": 3734, "3": 3696}},
    "hmdb51": {"classes": 51, "lines": {"1": 1530, "2": 1530, "3": 1530}},
    # 14,084 / 13,978 / 14,136 videos: the K600 lists end without a newline, so `wc -l` (and README §8's
    # table) counts one fewer.
    "k600_zs": {"classes": 160, "lines": {"1": 14084, "2": 13978, "3": 14136}, "names_over_splits": 217},
}
PEER_SOURCE = ("the peers' split lists (github.com/muzairkhattak/ViFi-CLIP datasets_splits/ and labels/; flat "
                "copies in fitclip's shared/benchmarks/zero_shot_splits/)")


def read_class_csv(path: str | os.PathLike) -> list[str]:
    """The class names of a peers' label file (``id,name``; ids 0..n-1 in any order, no gaps, names unique).

    Raises:
        AnnotationError: a missing column, a non-integer or repeated id, a gap, an empty or repeated name.
    """
    path = Path(path)
    names: dict[int, str] = {}
    seen_ids: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for row in read_csv(path, required=("id", "name")):
        if not row["id"].isdigit():
            raise AnnotationError(f"{path}: line {row.line}: id {row['id']!r} is not a class index (0, 1, ...).")
        check_unique(path, seen_ids, row["id"], row.line, "id")
        if not row["name"]:
            raise AnnotationError(f"{path}: line {row.line}: class {row['id']} has an empty name.")
        check_unique(path, seen_names, row["name"], row.line, "class name")
        names[int(row["id"])] = row["name"]
    return in_id_order(path, names)


def in_id_order(path: Path, by_id: dict[int, Any]) -> list[Any]:
    """The values of `by_id` in class-id order, or an AnnotationError when the ids do not run 0..n-1."""
    if sorted(by_id) != list(range(len(by_id))):
        gaps = sorted(set(range(max(by_id) + 1)) - set(by_id))[:5]
        raise AnnotationError(f"{path}: class ids must run 0..{len(by_id) - 1} without gaps; missing {gaps}.")
    return [by_id[i] for i in range(len(by_id))]


def _peer_video(ld: Loader, relative: str, classname: str) -> Path:
    """Where a list line's video is: UCF101 ``UCF-101/<ClassFolder>/<file>`` (the folder is the label file's
    CamelCase name, so ``v_HandStandPushups_*`` lands in ``HandstandPushups/`` as in the official archive);
    HMDB51 ``videos/<file>`` or, as the official archive unpacks, ``videos/<class_name>/<file>``; K600
    ``videos/<path as listed>`` (``train/<id>_<start>_<end>.mp4``)."""
    name = ld.spec.name
    if name == "ucf101":
        return ld.root / "UCF-101" / classname / relative
    if name == "hmdb51":
        flat = ld.root / "videos" / relative
        nested = ld.root / "videos" / classname.replace(" ", "_") / relative
        return flat if ld.dirs.exists(flat) else nested  # a missing video is expected where the archive puts it
    return ld.root / "videos" / relative


def parse_peer_list(ld: Loader) -> Annotations:
    list_file, label_file = (ld.file(f) for f in PEER_FILES[ld.spec.name][ld.split])
    names = read_class_csv(label_file)
    items: list[VideoItem] = []
    seen: dict[str, int] = {}
    for line_no, line in text_lines(list_file):
        parts = line.rsplit(None, 1)
        if len(parts) != 2 or not parts[1].isdigit():
            raise AnnotationError(
                f"{list_file}: line {line_no}: {line!r} is not '<video path> <class index>' "
                "(e.g. 'v_ApplyEyeMakeup_g01_c01.avi 0'). Fix: use the peers' list file unchanged."
            )
        relative, target = parts[0], int(parts[1])
        if target >= len(names):
            raise AnnotationError(
                f"{list_file}: line {line_no}: class index {target} is outside 0..{len(names) - 1} "
                f"({label_file.name} has {len(names)} classes). Fix: pair the list with its own label file."
            )
        check_unique(list_file, seen, relative, line_no, "video")
        path = ld.inside(_peer_video(ld, relative, names[target]), list_file, f"line {line_no}", "video", relative)
        items.append(VideoItem(key=relative, video_id=Path(relative).stem, path=ld.resolve(relative, path),
                               target=target))
    classnames = [ucf101_class_name(n) if ld.spec.name == "ucf101" and " " not in n else n for n in names]
    notes = (
        f"{ld.spec.name} zero-shot split {ld.split} of the peers' protocol (X-CLIP, ViFi-CLIP, Open-VCLIP, "
        f"FROSTER, ...): {list_file.name}, all {len(items)} listed videos, {len(names)} classes from "
        f"{label_file.name} (index = the list's second column). Report mean ± std over splits 1-3. "
        + ("Class names: the label file's CamelCase split as FitCLIP splits UCF101's folders. "
           if ld.spec.name == "ucf101" else "Class names: the label file's, unchanged. ")
        + "Prompts: the 48 CLIP UCF101 action templates, class embedding = their mean."
    )
    return ld.annotations(items, notes, classnames=classnames, templates=list(UCF101_TEMPLATES))


