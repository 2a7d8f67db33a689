"""Dataset doctor: check every video a benchmark's annotations reference, before evaluating.

For each annotation item it checks, in this order, and reports the first failing check as the cause:

=========================  =====================================================================  =========
cause                      meaning                                                                evaluable
=========================  =====================================================================  =========
``missing``                the file does not exist (or is not a regular file)                     no
``empty_file``             the file has 0 bytes                                                   no
``unreadable``             the decoder cannot open it (truncated, corrupt, not a video)          no
``no_frames``              the video stream has no frames                                         no
``bad_fps``                no usable frame rate (fps <= 0), so seconds cannot be mapped to frames  no
``decode_failed``          the frames the eval sampler picks do not decode                        no
``unexpected_error``       any other exception while checking (reported, never raised)            no
``clip_start_past_video``  the clip's start time is at or past the video's end                    no
``clip_end_past_video``    the clip's end time is past the video's end                            yes
=========================  =====================================================================  =========

"evaluable" says what :func:`fitclip.evaluate.evaluate` does with the item. The two clip-time causes
are problems for the doctor (the annotation and the video disagree: a shorter download, a re-encode)
so it exits non-zero. A clip that ENDS past the video's end is still evaluated: like the original
FitCLIP code ``evaluate`` clamps the window to the video's last frame (for YouCook2 an end a few seconds
past the end is common and harmless) and lists it under ``clip_end_past_video`` in its protocol record.
A clip that STARTS at or past the end has no frame of its own, so it is broken like the other causes:
``evaluate`` refuses to run unless ``skip_broken`` (then it is counted in ``n_failed`` and listed).

Outputs, written atomically under ``out_dir`` (default ``<data_root>/<name>/doctor/``; for the
``folder`` corpus ``<data_root>/doctor/``):

* ``manifest-<split>.csv``: one row per item: ``key, video_id, path, status (ok|problem), cause,
  detail, evaluable, num_frames, fps, duration, width, height``;
* ``quarantine-<split>.csv``: the problem items only: ``key, video_id, path, cause, detail, evaluable``;
* ``summary-<split>.json``: counts by cause, the output paths, library versions.

Each distinct video file is opened once (YouCook2 clips share videos) in DataLoader workers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader, Dataset

from fitclip.annotations import Annotations, VideoItem, load_annotations
from fitclip.files import atomic_write_text, check_writable
from fitclip.datasets import clip_plan
from fitclip.provenance import library_versions
from fitclip.video import preload_decoder

__all__ = ["CAUSES", "EVALUABLE_CAUSES", "DoctorReport", "MANIFEST_COLUMNS", "check_video_items", "doctor",
           "file_problem", "peer_list_facts"]

#: cause -> one-line meaning, in the order the checks run.
CAUSES: dict[str, str] = {
    "missing": "the file does not exist",
    "empty_file": "the file has 0 bytes",
    "unreadable": "the decoder cannot open it (truncated, corrupt or not a video)",
    "no_frames": "the video stream has no frames",
    "bad_fps": "no usable frame rate (fps <= 0)",
    "decode_failed": "the sampled frames do not decode",
    "unexpected_error": "an unexpected error while checking",
    "clip_start_past_video": "the clip starts at or after the video's end: none of its frames exists",
    "clip_end_past_video": "the clip ends after the video's end (evaluate clamps it, as the original)",
}
#: Causes that `evaluate` still evaluates (clamped window); every other cause needs --skip-broken.
EVALUABLE_CAUSES = frozenset({"clip_end_past_video"})
MANIFEST_COLUMNS = ("key", "video_id", "path", "status", "cause", "detail", "evaluable", "num_frames", "fps",
                    "duration", "width", "height", "decoded_by")
#: Causes another backend may not share: decord 0.6 rejects some files PyAV reads (evaluate falls back too).
_DECODER_CAUSES = frozenset({"unreadable", "decode_failed"})
QUARANTINE_COLUMNS = ("key", "video_id", "path", "cause", "detail", "evaluable")


@dataclass
class DoctorReport:
    """What the doctor found.

    Attributes:
        dataset, split: what was checked.
        rows: one manifest row (dict with ``MANIFEST_COLUMNS``) per annotation item, in item order.
        n_videos: distinct video files referenced.
        manifest_path, quarantine_path, summary_path: the files written (None if not written).
    """

    dataset: str
    split: str
    rows: list[dict[str, Any]]
    n_videos: int
    manifest_path: Path | None = None
    quarantine_path: Path | None = None
    summary_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "problem"]

    @property
    def ok(self) -> bool:
        """True when every item passed every check (the CLI exits 0 only then)."""
        return not self.problems

    @property
    def by_cause(self) -> dict[str, int]:
        """Problem items per cause, in ``CAUSES`` order."""
        counts = Counter(r["cause"] for r in self.problems)
        return {cause: counts[cause] for cause in CAUSES if counts[cause]}

    def format_summary(self) -> str:
        """A human summary: totals, then one line per cause with three example keys."""
        n, bad = len(self.rows), self.problems
        lines = [f"doctor {self.dataset}/{self.split}: {n} item(s) over {self.n_videos} video file(s): "
                 f"{n - len(bad)} ok, {len(bad)} with a problem"]
        for cause, count in self.by_cause.items():
            examples = [r for r in bad if r["cause"] == cause][:3]
            tag = "evaluated, clamped" if cause in EVALUABLE_CAUSES else "needs --skip-broken"
            lines.append(f"  {cause:<22} {count:>6}  ({CAUSES[cause]}; {tag})")
            for r in examples:
                lines.append(f"      {r['key']}: {r['detail']}")
        lines.extend(f"  note: {note}" for note in self.notes)
        for path in (self.manifest_path, self.quarantine_path, self.summary_path):
            if path is not None:
                lines.append(f"  wrote {path}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# Checks (run in DataLoader workers, one task per distinct video file)
# ----------------------------------------------------------------------------------------------------


def _row(item: VideoItem, cause: str | None, detail: str = "", info: Mapping[str, Any] | None = None) -> dict:
    info = info or {}
    return {
        "key": item.key, "video_id": item.video_id, "path": str(item.path),
        "status": "ok" if cause is None else "problem", "cause": cause or "", "detail": detail,
        "evaluable": cause is None or cause in EVALUABLE_CAUSES,
        "num_frames": info.get("num_frames"), "fps": info.get("fps"), "duration": info.get("duration"),
        "width": info.get("width"), "height": info.get("height"), "decoded_by": info.get("decoded_by", ""),
    }


def file_problem(path: Path) -> tuple[str, str] | None:
    """The cheap check of one video file, before any decoding: ``(cause, detail)`` when it is missing, not a
    regular file, cannot be stat'ed or has 0 bytes, else None. The doctor's first checks and
    :func:`fitclip.evaluate.check_videos` (evaluate's pre-check) are this one function, so they agree."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "missing", f"{path}: file does not exist"
    except OSError as e:
        return "unreadable", f"{path}: cannot stat the file ({e})"
    if not stat.S_ISREG(st.st_mode):
        return "missing", f"{path}: not a regular file"
    if st.st_size == 0:
        return "empty_file", f"{path}: file is empty (0 bytes)"
    return None


def check_video_items(items: Sequence[VideoItem], num_frames: int = 4, backend: str = "decord") -> list[dict]:
    """Check the items that share ONE video file; returns one manifest row per item.

    The file is opened once for its metadata, and the union of the items' sampled frames is decoded
    in one call; only if that fails is each item decoded alone, to tell which ones are affected. With
    decord, a file it cannot open or decode is checked again with PyAV, as ``evaluate`` falls back to it:
    when PyAV reads it, its rows are PyAV's (``decoded_by`` "pyav", the decord error in ``detail``).
    """
    rows = _check_with(items, num_frames, backend)
    if backend != "decord" or not any(r["cause"] in _DECODER_CAUSES for r in rows):
        return rows
    again = _check_with(items, num_frames, "pyav")
    if any(r["cause"] in _DECODER_CAUSES for r in again):
        return rows
    first = next(r["detail"] for r in rows if r["cause"] in _DECODER_CAUSES)
    for r in again:
        r["detail"] = "; ".join(d for d in (r["detail"], f"read with PyAV (evaluate falls back to it): {first}") if d)
    return again


def _check_with(items: Sequence[VideoItem], num_frames: int, backend: str) -> list[dict]:
    """:func:`check_video_items` with one backend."""
    from fitclip import video as V

    path = items[0].path
    try:
        problem = file_problem(path)
        if problem is not None:
            return [_row(item, *problem) for item in items]
        try:
            info = V.video_info(path, backend=backend)
        except V.VideoDecodeError as e:
            return [_row(item, "unreadable", str(e)) for item in items]
        public = {**{k: info[k] for k in ("num_frames", "fps", "duration", "width", "height")}, "decoded_by": backend}
        if int(info["num_frames"]) <= 0:
            return [_row(item, "no_frames", f"{path}: the video stream has no frames", public) for item in items]
        bad_fps = not float(info["fps"]) > 0
        plans = [clip_plan(item, info, num_frames=num_frames, mode="eval") for item in items]
        wanted = sorted({i for plan in plans for i in plan["frame_indices"]})
        decode_error: dict[int, str] = {}
        try:
            frames = V.read_frames(path, wanted, backend=backend)
            if len(frames) != len(wanted):
                raise V.VideoDecodeError(f"{path}: asked for {len(wanted)} frames, got {len(frames)}")
        except (V.VideoDecodeError, IndexError):
            for j, (item, plan) in enumerate(zip(items, plans)):
                try:
                    V.read_frames(path, plan["frame_indices"], backend=backend)
                except (V.VideoDecodeError, IndexError) as e:
                    decode_error[j] = str(e)
        rows = []
        for j, (item, plan) in enumerate(zip(items, plans)):
            if bad_fps:
                rows.append(_row(item, "bad_fps", f"{path}: fps={info['fps']} (no usable frame rate)", public))
            elif j in decode_error:
                rows.append(_row(item, "decode_failed", f"frames {plan['frame_indices']}: {decode_error[j]}",
                                 public))
            elif plan["clip_start_past_video"]:
                rows.append(_row(item, "clip_start_past_video",
                                 f"start {item.start:g} s >= video duration {plan['duration']:.3f} s; no frame "
                                 f"of the clip exists (evaluate needs --skip-broken)", public))
            elif plan["clip_end_past_video"]:
                rows.append(_row(item, "clip_end_past_video",
                                 f"end {item.end:g} s > video duration {plan['duration']:.3f} s "
                                 f"(by {item.end - plan['duration']:.3f} s); evaluate clamps the window to "
                                 f"frames {plan['start_frame']}..{plan['end_frame']}", public))
            else:
                rows.append(_row(item, None, "", public))
        return rows
    except Exception as e:  # noqa: BLE001 - a diagnostic tool reports every failure, one file never stops it
        return [_row(item, "unexpected_error", f"{path}: {type(e).__name__}: {e}") for item in items]


class _VideoGroups(Dataset):
    """One task per distinct video file: the indices of the items that use it."""

    def __init__(self, items: Sequence[VideoItem], num_frames: int, backend: str) -> None:
        groups: dict[Path, list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault(item.path, []).append(i)
        self.items = list(items)
        self.groups = list(groups.values())
        self.num_frames = num_frames
        self.backend = backend

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, g: int) -> list[tuple[int, dict]]:
        indices = self.groups[g]
        rows = check_video_items([self.items[i] for i in indices], self.num_frames, self.backend)
        return list(zip(indices, rows))


def _identity(x: Any) -> Any:
    return x


# ----------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------


def _csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    return buf.getvalue()


def peer_list_facts(dataset: str, data_root: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Check a set of the peers' three split lists against the facts of benchmarks README §8, rather than trust
    them: every class of a split's label file has a video in its list (a truncated list loses whole classes);
    where the label file has the published number of classes, each list has the published number of videos
    (:data:`fitclip.annotations.PUBLISHED_LISTS`); for K600 the three splits together name 217 classes, each
    of them in ``labels_kinetics_600_labels.csv`` and none in ``labels_kinetics_400_labels.csv`` (where those
    files are beside the lists); for UCF101, split 1 lists the same videos as ``testlist01.txt`` (where it is
    there). Index ranges, duplicate lines and paths outside the dataset folder are refused by the reader itself.

    Returns:
        ``(problems, facts)``: one line each.

    Raises:
        AnnotationError: a list or label file is missing or malformed (the reader's message).
    """
    from fitclip.annotations import PEER_FILES, PEER_SPLITS, PUBLISHED_LISTS, read_class_csv

    if dataset not in PEER_FILES:
        raise ValueError(f"{dataset!r} has no peers' split lists; datasets with them: {', '.join(PEER_FILES)}")
    loaded = {k: load_annotations(dataset, data_root, k) for k in PEER_SPLITS}
    published = PUBLISHED_LISTS[dataset]
    problems: list[str] = []
    facts: list[str] = []
    for k, a in loaded.items():
        list_name = PEER_FILES[dataset][k][0]
        covered = {item.target for item in a}
        empty = [a.classnames[c] for c in range(len(a.classnames)) if c not in covered]
        if empty:
            problems.append(f"split {k}: {len(empty)} class(es) of its label file have no video in {list_name} "
                            f"(e.g. {empty[:3]}): a truncated or edited list?")
        is_published = len(a.classnames) == published["classes"]
        if is_published and len(a) != published["lines"][k]:
            problems.append(f"split {k}: {list_name} lists {len(a)} videos; the published list has "
                            f"{published['lines'][k]}. Fix: use the peers' file unchanged.")
        facts.append(f"split {k}: {len(a)} videos, {len(a.classnames)} classes (indices 0-{len(a.classnames) - 1}), "
                     + ("the published list's counts" if is_published else "not the published lists (other counts)"))
    if dataset == "k600_zs":
        names = set().union(*(a.classnames for a in loaded.values()))
        all_published = all(len(a.classnames) == published["classes"] for a in loaded.values())
        facts.append(f"{len(names)} distinct class names over the three splits")
        if all_published and len(names) != published["names_over_splits"]:
            problems.append(f"the three splits name {len(names)} distinct classes; the published ones name "
                            f"{published['names_over_splits']}")
        root = Path(data_root) / dataset
        for file, should_hold in (("labels_kinetics_600_labels.csv", True), ("labels_kinetics_400_labels.csv", False)):
            if (root / file).is_file():
                other = set(read_class_csv(root / file))
                wrong = sorted(names - other) if should_hold else sorted(names & other)
                if not wrong:
                    facts.append(f"{file} {'holds every one' if should_hold else 'holds none'} of them")
                else:
                    problems.append(f"{len(wrong)} zero-shot class(es) {'missing from' if should_hold else 'also in'} "
                                    f"{file} (e.g. {wrong[:3]}): the zero-shot classes are those of Kinetics-600 "
                                    "outside Kinetics-400")
    if dataset == "ucf101" and (Path(data_root) / "ucf101" / "ucfTrainTestlist" / "testlist01.txt").is_file():
        test = load_annotations("ucf101", data_root, "test")
        same = sorted((i.path, i.target) for i in test) == sorted((i.path, i.target) for i in loaded["1"])
        (facts if same else problems).append(
            f"split 1 {'lists the same' if same else 'does NOT list the same'} {len(loaded['1'])} videos (and classes) "
            f"as testlist01.txt ({len(test)})")
    return problems, facts


def default_out_dir(dataset: str, data_root: str | os.PathLike) -> Path:
    """``<data_root>/<dataset>/doctor`` (``<data_root>/doctor`` for the ``folder`` corpus)."""
    root = Path(data_root).expanduser()
    return (root if dataset == "folder" else root / dataset) / "doctor"


# ----------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------


def doctor(
    dataset: str | Annotations,
    data_root: str | os.PathLike | None = None,
    split: str | None = None,
    out_dir: str | os.PathLike | None = None,
    num_frames: int = 4,
    num_workers: int = 2,
    backend: str = "decord",
    dataset_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    write: bool = True,
) -> DoctorReport:
    """Check every video the annotations of one split reference.

    Args:
        dataset: a dataset name (``fitclip.annotations.SPECS``) or loaded :class:`Annotations`.
        data_root: the folder holding ``<dataset>/`` (required with a name).
        split: split name (default: the dataset's default split).
        out_dir: where the manifest, quarantine list and summary go (default: :func:`default_out_dir`;
            required when `dataset` is an ``Annotations`` and `write` is on).
        num_frames: frames the eval sampler picks (checked to decode), as in ``evaluate``.
        num_workers: DataLoader workers (0 = check in this process).
        backend: ``"decord"`` or ``"pyav"``, as in ``evaluate``.
        dataset_options: options for ``load_annotations``.
        progress: show a tqdm progress bar (one step per video file).
        write: write the files (off: only return the report).

    Returns:
        A :class:`DoctorReport`; ``report.ok`` is False when any item has a problem (see the module
        docstring for the causes and which of them ``evaluate`` still evaluates).

    Raises:
        ValueError / AnnotationError: unknown dataset, split or option, or malformed annotations (the
            doctor checks videos, it cannot work around unreadable annotation files); an `out_dir`
            that is a file.
        OSError: `out_dir` cannot be written (checked before any video is opened).
    """
    from tqdm.auto import tqdm

    if isinstance(dataset, Annotations):
        annotations = dataset
    else:
        if data_root is None:
            raise ValueError(f"data_root is required to load dataset {dataset!r}")
        annotations = load_annotations(dataset, data_root, split, **dict(dataset_options or {}))
    if write and out_dir is None:
        if data_root is None:
            raise ValueError("out_dir is required when dataset is an Annotations object (or pass write=False)")
        out_dir = default_out_dir(annotations.name, data_root)
    if write:  # a folder that cannot be written is found now, not after every video was decoded
        check_writable(out_dir, "folder")

    preload_decoder(backend)
    groups = _VideoGroups(annotations.items, num_frames, backend)
    loader = DataLoader(groups, batch_size=None, shuffle=False, num_workers=num_workers, collate_fn=_identity)
    rows: list[dict | None] = [None] * len(annotations.items)
    n_bad = 0
    with tqdm(total=len(groups), unit="video", desc=f"doctor {annotations.name}/{annotations.split}",
              disable=not progress, dynamic_ncols=True) as bar:
        for pairs in loader:
            for i, row in pairs:
                rows[i] = row
                n_bad += row["status"] == "problem"
            bar.update(1)
            if n_bad:
                bar.set_postfix(problems=n_bad, refresh=False)
    report = DoctorReport(dataset=annotations.name, split=annotations.split, rows=rows,  # type: ignore[arg-type]
                          n_videos=len(groups))
    by_pyav = [r["key"] for r in rows if backend != "pyav" and r["decoded_by"] == "pyav"]  # type: ignore[index]
    if by_pyav:
        report.notes.append(f"{len(by_pyav)} item(s) read only with PyAV (decord cannot decode their file; evaluate "
                            f"falls back to PyAV for them and lists them in its protocol), e.g. {by_pyav[:3]}")
    if write:
        out_dir = Path(out_dir)
        split_name = annotations.split
        report.manifest_path = atomic_write_text(out_dir / f"manifest-{split_name}.csv", _csv_text(rows, MANIFEST_COLUMNS))
        report.quarantine_path = atomic_write_text(out_dir / f"quarantine-{split_name}.csv",
                                               _csv_text(report.problems, QUARANTINE_COLUMNS))
        summary = {"dataset": annotations.name, "split": split_name, "n_items": len(rows),
                   "n_videos": report.n_videos, "n_ok": len(rows) - len(report.problems),
                   "n_problems": len(report.problems), "by_cause": report.by_cause,
                   "n_not_evaluable": sum(not r["evaluable"] for r in rows),
                   "n_read_with_pyav": sum(r["decoded_by"] == "pyav" and backend != "pyav" for r in rows),
                   "num_frames": num_frames, "backend": backend,
                   "annotation_files": [str(p) for p in annotations.annotation_files],
                   "manifest": str(report.manifest_path), "quarantine": str(report.quarantine_path),
                   "versions": library_versions()}
        report.summary_path = out_dir / f"summary-{split_name}.json"
        atomic_write_text(report.summary_path, json.dumps(summary, indent=2) + "\n")
    return report
