"""Search your own videos: teacher, FitCLIP and student rankings of a folder, side by side, and a gallery.

Point it at a folder of videos, give text queries and/or labels, and every model (the teacher α=0, each
fused α, the student α=1) ranks the same videos::

    python -m fitclip search --videos my_clips/ --queries "a dog catching a frisbee" "someone slicing bread" \\
        --arch ViT-B-16 --pretrained openai --student fitclip.pt --alpha 0 0.4 1 --top-k 5 --out search_out/

or, from Python (notebook ``08_your_videos`` does this)::

    from fitclip.search import search, search_models
    models = search_models("ViT-B-16", "openai", {"fitclip": "fitclip.pt"}, [0, 0.4, 1])
    result = search(models, "my_clips/", queries=["a dog catching a frisbee"], out_dir="search_out")

Protocol (the evaluation harness's, :mod:`fitclip.evaluate`):

* **Videos** are the folder's video files as the ``folder`` corpus lists them
  (:func:`fitclip.folders.list_folder`: regular files at any depth with one of ``VIDEO_EXTENSIONS``,
  sorted by relative path, hidden entries skipped; key = the path relative to the folder). The listing opens
  nothing (FIFOs and devices can neither block nor flood it) and **never follows a symbolic link**, to a file
  or a folder, wherever it points: only files inside the folder are searched, so the gallery (which embeds
  frames and may be shared) never shows a file from elsewhere. Links, FIFOs, sockets, devices, folders named
  like videos and videos whose name is not valid UTF-8 are listed as left out with the reason; the other
  files as ignored (counted by extension). Each video is decoded ONCE by the harness's
  pass (:func:`fitclip.evaluate.encode_videos`: 4 frames by FitCLIP's eval sampler, the model's eval
  transform) and every model encodes that same batch. The gallery shows those very frames (the centre
  crop at the model's input size, de-normalised, at most ``THUMB_SIZE`` px): they ride along the pass as one
  more "model" that keeps the frames instead of encoding them.
* **Unreadable files** (missing, empty, undecodable, or not a video at all behind a video extension) are
  listed with the reason (``skipped.csv``, the protocol record) and skipped, never replaced by black frames.
* **Names** are data: a key is the file's relative path as is, and wherever a name is printed or shown (the
  command line, the gallery) it goes through :func:`fitclip.folders.escape_name` (bytes that are not
  UTF-8 as ``\\xNN``, control characters such as terminal escapes as ``\\x1b``), so every output file is
  valid UTF-8 and no name can drive a terminal.
* **A model whose scores are not finite** (NaN weights) gives no ranking: the search stops with an error
  naming it (:class:`fitclip.metrics.NonFiniteScores`) and nothing is written.
* **Queries** (text→video): score = text · video, no temperature (text L2-normalised; video = mean of the
  L2-normalised frame embeddings, not re-normalised), as in evaluate's retrieval.
* **Labels** (zero-shot classification): a label's embedding is the mean of its L2-normalised prompt
  embeddings (``templates``, default the 48 UCF101 ones; ``"none"``: the label is the prompt), not
  re-normalised; score = video · label, as in evaluate's classification. Every video gets its top-k labels
  (``labels.csv``); every label also ranks the videos (a gallery row, like a query).
* **Ranks** are 1-based positions in the descending order of scores, ties broken by folder order.
* **Movers**: per query (or label), the videos in the reference's (the teacher, α=0) or the compared
  model's (FitCLIP: by default the first fused α strictly between 0 and 1; with none, e.g. a grid ``[0, 1]``
  when stage 04 chose α = 1 and FitCLIP *is* the student, the last model) top-k whose rank changes most
  between the two (``n_movers`` per query, changes of 0 excluded); they are starred in the gallery.
* **Shown**: the gallery (PNG, HTML), the console's tables and the notebook's are :mod:`fitclip.gallery`'s
  (``ranking_report``, ``ranking_view``, ``movers_table``).

Outputs in ``out_dir`` (tidy tables for ``pandas.read_csv``). A run replaces the previous run's files in
``out_dir`` WHOLE, never a mix (:func:`fitclip.files.replace_files`): every file is first written in a
hidden staging folder there, so a full disk stops before anything is replaced and leaves the previous run as it
was; then the previous run's files (every name below, ``labels.*`` of a run with labels included) make way for
the new ones, ``protocol.json`` last. Nothing else in ``out_dir`` is touched (a notebook's stage folder keeps
its ``videos/`` and ``params.json``). :func:`check_out_dir` refuses, before any work, an ``out_dir`` that is a
file, that cannot be written, or that holds files with these names that no earlier search wrote (no search
``protocol.json`` beside them): a user's own ``gallery.html`` is never replaced.

* ``ranking.csv`` / ``ranking.jsonl``: the top-k videos per (query or label, model):
  ``{run_id, kind, query_index, query, model, alpha, rank, video, path, score, reference_rank,
  rank_change, mover}`` (``rank_change`` = reference_rank − rank: > 0 means higher than under the teacher);
* ``labels.csv`` / ``labels.jsonl`` (with labels): the top-k labels per (video, model):
  ``{run_id, model, alpha, video, path, rank, label, score, reference_rank}``;
* ``movers.csv``: ``{run_id, kind, query_index, query, video, path, reference, compare, reference_rank,
  compare_rank, rank_change, reference_score, compare_score}`` (``reference`` and ``compare`` hold the two
  models' names, as ``model`` in ``ranking.csv``: ``reference_rank`` is the rank under ``reference``);
* ``skipped.csv``: ``{key, path, reason, stage}`` for every file not searched (stage ``precheck`` or
  ``decode``: an unreadable video; ``listing``: left out by the listing; ``ignored``: not a video) — the
  full list; the command line, the gallery and the protocol record count the ignored files by extension and
  list the others up to a bound, so 20,000 stray files cost a line, not 20,000;
* ``gallery.png`` and ``gallery.html`` (:mod:`fitclip.gallery`; the page embeds its images, so it opens
  anywhere);
* ``protocol.json``: the run's record, like evaluate's (folder, counts, unreadable files, what was left out
  and ignored, queries, labels and templates, frames and sampler, scoring, ``random_teacher``, each model's
  arch, α and weights with sha256, decoder, library versions, files). In place last: its presence means the
  run completed.

One file (about 600 lines, 80 of them this manual; the inputs are checked in :mod:`fitclip.search_inputs`): the inputs, the one decode pass, the rankings, the movers
and the protocol record all work on one :class:`SearchResult` and are read together; how a result is shown
(the gallery, the console's and the notebook's tables) is :mod:`fitclip.gallery`, the notebook's side (stage
08) :mod:`fitclip.study.your_videos`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from fitclip.folders import VIDEO_EXTENSIONS
from fitclip.files import replace_files, sha256_file
from fitclip.encoding import model_selector
from fitclip.evaluate import SAMPLER_RULE, check_videos, class_embeddings, encode_videos
from fitclip.fusion import FusionGrid
from fitclip.metrics import NonFiniteScores, check_finite
from fitclip.models import EvalModel, encode_texts, non_finite_diagnosis
from fitclip.prompts import format_prompts

__all__ = [
    "OUTPUT_FILES",
    "SearchResult",
    "TEMPLATE_SETS",
    "check_out_dir",
    "check_queries",
    "find_videos",
    "ignored_by_extension",
    "model_label",
    "parse_labels",
    "resolve_templates",
    "search",
    "search_models",
    "skipped_lines",
]

from fitclip.search_inputs import (TEMPLATE_SETS, OUTPUT_FILES, parse_labels, resolve_templates, check_queries, find_videos, ignored_by_extension, skipped_lines, check_out_dir)

#: Display names of the students notebook 03 trains.
STUDENT_NAMES = {"fitclip": "FitCLIP", "wiseft": "WiSE-FT"}
_FRAMES = "__frames__"  # the frame keeper's name in the decode pass (never a real model name)
_LISTED = 100  # skipped entries listed one by one in the protocol record and the gallery (all in skipped.csv)


def search_models(arch: str, pretrained: str | os.PathLike | None,
                  students: Mapping[str, str | os.PathLike] | None = None,
                  alphas: Sequence[float] | Mapping[str, Sequence[float]] = (0.0, 0.5, 1.0),
                  device: str | torch.device = "cpu") -> FusionGrid | dict[str, EvalModel]:
    """The teacher and, per student, its fused models: ``{"teacher": α=0, "<student>-alpha<α>": ...}``.

    A :class:`~fitclip.fusion.FusionGrid` (bounded memory: the teacher, each student's weights and one working
    copy fused in place, whatever the number of α) with its teacher entry ``"teacher"`` first; the teacher
    alone, ``{"teacher": EvalModel}``, when no student has an α other than 0 (``alpha`` None without students).

    Args:
        arch, pretrained: the teacher (``fitclip.models.load_clip``; "none" = random weights).
        students: ``{name: checkpoint file}`` (e.g. ``{"fitclip": ".../best_labeled.pt"}``); none: the teacher only.
        alphas: the α grid of every student, or ``{student: its grid}``; α=0 (the teacher) is always included,
            once, as the reference of the comparison.
        device: where the models go.

    Raises:
        ValueError: unknown arch, an α outside [0, 1], a student without α values, or a student that does not
            match the teacher.
        FileNotFoundError: a missing checkpoint.
    """
    from fitclip.fusion import check_alphas
    from fitclip.models import load_clip

    students = dict(students or {})
    missing = [s for s in students if isinstance(alphas, Mapping) and s not in alphas]
    if missing:
        raise ValueError(f"student {missing[0]!r} has no alphas; give {{student: alphas}} for each of {list(students)}")
    grids = {s: check_alphas(alphas[s] if isinstance(alphas, Mapping) else alphas) for s in students}
    for name, path in students.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"student {name!r}: checkpoint {str(path)!r} does not exist")
    teacher = load_clip(arch, pretrained, device=device)
    source = "none" if pretrained is None else str(pretrained)
    fused = {name: path for name, path in students.items() if any(a != 0.0 for a in grids[name])}
    if not fused:  # the teacher alone (α=0 is the teacher): nothing to fuse, no student read
        return {"teacher": EvalModel(teacher, alpha=0.0 if students else None, weights={"teacher": source})}
    return FusionGrid(teacher, fused, {name: grids[name] for name in fused}, weights={"teacher": source},
                      teacher_name="teacher")


def model_label(name: str, alpha: float | None, student: str | None = None) -> str:
    """How a model is shown: ``teacher (α=0)``, ``FitCLIP α=0.4``, ``FitCLIP student (α=1)``; `student` is the
    grid model's student (``EvalModel.student``), else the model is shown by its name."""
    if name == "teacher" or alpha == 0.0:
        return "teacher" if alpha is None else "teacher (α=0)"
    student = student or name
    shown = STUDENT_NAMES.get(student, student)
    if alpha is None:
        return shown
    return f"{shown} student (α=1)" if alpha == 1.0 else f"{shown} α={alpha:g}"


def _entries(models: Any) -> dict[str, EvalModel]:
    if not isinstance(models, Mapping):
        models = {"teacher": models}
    if not models:
        raise ValueError("no models to search with; pass {name: model} (see search_models)")
    out = {}
    for name, value in models.items():
        if name == _FRAMES:
            raise ValueError(f"{_FRAMES!r} is reserved; rename that model")
        out[str(name)] = value if isinstance(value, EvalModel) else EvalModel(*value) if isinstance(value, tuple) \
            else EvalModel(value)
    return out


def _default_pair(entries: Mapping[str, EvalModel], reference: str | None,
                  compare: str | None) -> tuple[str, str | None]:
    names = list(entries)
    for given in (reference, compare):
        if given is not None and given not in entries:
            raise ValueError(f"model {given!r} is not one of {names}")
    if reference is None:
        reference = next((n for n, e in entries.items() if e.alpha == 0.0), names[0])
    if compare is None:
        inside = [n for n, e in entries.items() if e.alpha is not None and 0.0 < float(e.alpha) < 1.0]
        others = [n for n in names if n != reference]
        compare = inside[0] if inside else (others[-1] if others else None)
    return reference, compare if compare != reference else None


# ----------------------------------------------------------------------------------------------------
# Frames for the gallery: one more "model" of the decode pass
# ----------------------------------------------------------------------------------------------------


#: Longest side, in pixels, of the frames the gallery keeps of each video.
THUMB_SIZE = 64


class _FrameKeeper:
    """Rides along the harness's decode pass as one more model: instead of encoding a clip it keeps its frames
    (de-normalised uint8 ``[T, h, w, 3]``, the longer side at most `size` px) and returns the clip's sequence
    number as its "embedding", which the pass puts back in item order like any embedding."""

    arch = "frames"

    def __init__(self, like: Any, size: int) -> None:
        self.image_size = int(like.image_size)
        self.mean = tuple(float(m) for m in like.mean)
        self.std = tuple(float(s) for s in like.std)
        self.size = int(size)
        self.frames: list[np.ndarray] = []

    def encode_video(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        b, t, c, h, w = frames.shape
        mean = torch.tensor(self.mean, device=frames.device).view(1, 1, c, 1, 1)
        std = torch.tensor(self.std, device=frames.device).view(1, 1, c, 1, 1)
        x = (frames.float() * std + mean).clamp(0, 1)
        scale = self.size / max(h, w)
        if scale < 1:
            x = F.interpolate(x.flatten(0, 1), size=(max(1, round(h * scale)), max(1, round(w * scale))),
                              mode="bilinear", antialias=True, align_corners=False).unflatten(0, (b, t))
        x = (x * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
        ids = []
        for i in range(b):
            ids.append(len(self.frames))
            self.frames.append(x[i, : int(lengths[i]) if lengths is not None else t].copy())
        return torch.tensor(ids, dtype=torch.float64)[:, None]


# ----------------------------------------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------------------------------------


@dataclass
class SearchResult:
    """What :func:`search` found; tables as in the module docstring.

    Attributes:
        keys, paths: the searched videos (folder order); ``frames[i]`` is video i's uint8 ``[T, h, w, 3]``.
        models: model names in order; ``labels_shown`` their display names; ``alphas`` their α.
        reference, compare: the two models whose ranks the movers compare (compare None: one model).
        skipped: every file not searched, with the reason (``{key, path, reason, stage}``).
        files: name → path of what was written (empty without ``out_dir``).
        n_movers: movers kept per query (or label).
        random_teacher: the teacher's weights are random (``pretrained`` "none"): every ranking is noise; the
            console, the gallery and the notebook's table say so (:func:`fitclip.gallery.random_weights_note`).
    """

    run_id: str
    folder: Path
    queries: list[str]
    labels: list[str]
    templates: tuple[str, ...] | None
    top_k: int
    models: list[str]
    labels_shown: dict[str, str]
    alphas: dict[str, float | None]
    reference: str
    compare: str | None
    keys: list[str]
    paths: list[str]
    frames: list[np.ndarray]
    ranking: pd.DataFrame
    video_labels: pd.DataFrame
    movers: pd.DataFrame
    skipped: pd.DataFrame
    n_found: int
    protocol: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    n_movers: int = 3
    random_teacher: bool = False


def _order_and_ranks(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of `scores` sorted descending (stable: ties keep folder order) and each column's 1-based rank."""
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(1, scores.shape[1] + 1).expand_as(order).contiguous())
    return order, ranks


def search(models: Any, videos: str | os.PathLike, *, queries: Sequence[str] = (), labels: Sequence[str] = (),
           templates: str | os.PathLike | Sequence[str] | None = "ucf101", top_k: int = 5,
           reference: str | None = None, compare: str | None = None, n_movers: int = 3,
           out_dir: str | os.PathLike | None = None, recursive: bool = True, extensions: Sequence[str] | None = None,
           num_frames: int = 4, batch_size: int = 16, num_workers: int = 2, backend: str = "decord",
           device: str | torch.device = "cpu", progress: bool = True,
           gallery: bool = True) -> SearchResult:
    """Rank a folder's videos for text queries and/or labels with every model, decoding each video once.

    Args:
        models: a :class:`~fitclip.fusion.FusionGrid` (e.g. :func:`search_models`), ``{name: EvalModel |
            VideoCLIP | (model, alpha)}`` or one model.
        videos: the folder (nested folders, mixed extensions and other files are fine).
        queries: text queries (text→video ranking).
        labels: zero-shot labels (top-k labels per video; each label also ranks the videos).
        templates: prompts for labels (:func:`resolve_templates`).
        top_k: videos per query (and labels per video) kept and shown.
        reference, compare: the models whose ranks the movers compare (default: the α=0 teacher and the
            first fused α strictly inside (0, 1)).
        n_movers: movers kept per query.
        out_dir: where the tables, gallery and protocol record go (None: nothing written); checked first
            (:func:`check_out_dir`), and the previous run's files there are replaced whole, or not at all.
        recursive, extensions: which files are videos (default: any depth, ``VIDEO_EXTENSIONS``).
        num_frames, batch_size, num_workers, backend, device, progress: the decode pass (as ``evaluate``).
        gallery: write gallery.png and gallery.html (with `out_dir`).

    Raises:
        ValueError: bad input (no queries nor labels, top_k < 1, bad templates, no video in the folder,
            unknown model names, an `out_dir` that is a file or holds other files of the same names), or no
            video could be decoded (the message lists why).
        NonFiniteScores: a model's scores are NaN or infinite (a ``ValueError`` naming the model; nothing is
            written).
        OSError: `out_dir` cannot be written (before any work), or a write failed (a full disk): the previous
            run's files are as they were.
    """
    t0 = time.perf_counter()
    if isinstance(queries, str) or isinstance(labels, str):
        raise TypeError("queries and labels are lists of strings, not one string")
    queries, labels = check_queries(queries, "queries"), check_queries(labels, "labels")
    if not (queries or labels):
        raise ValueError("nothing to search for: give text queries and/or labels")
    if len(set(labels)) != len(labels):
        raise ValueError(f"repeated labels in {labels}")
    if top_k < 1 or n_movers < 0 or num_frames < 1 or batch_size < 1:
        raise ValueError("top_k, num_frames and batch_size must be >= 1, n_movers >= 0")
    template_set = resolve_templates(templates) if labels else None
    entries = _entries(models)
    reference, compare = _default_pair(entries, reference, compare)
    out = None if out_dir is None else check_out_dir(out_dir)
    annotations, not_videos = find_videos(videos, recursive=recursive, extensions=extensions)
    folder = Path(videos).expanduser()
    device = torch.device(device)

    n_found = len(annotations.items)
    failed = check_videos(annotations)
    bad = {f["key"] for f in failed}
    todo = [i for i, item in enumerate(annotations.items) if item.key not in bad]
    # A grid's names are its working copy fused in place: `select` gives each name's model with its weights.
    grid = models if isinstance(models, FusionGrid) else entries
    select = model_selector(grid, entries)
    keeper = _FrameKeeper(next(iter(entries.values())).model, THUMB_SIZE)  # reads the input size, no weights
    embeddings, ok, decode_failed, transform_info = encode_videos(
        grid, annotations, todo, num_frames=num_frames, batch_size=batch_size, num_workers=num_workers,
        backend=backend, device=device, progress=progress, extra={_FRAMES: EvalModel(keeper)})
    position = {item.key: i for i, item in enumerate(annotations.items)}
    failed = sorted(failed + decode_failed, key=lambda f: position[f["key"]])
    if not ok:
        reasons = "; ".join(f["reason"] for f in failed[:3])
        raise ValueError(f"none of the {n_found} video file(s) under {folder} could be decoded ({reasons}"
                         f"{' ...' if len(failed) > 3 else ''})")
    keys = [annotations.items[i].key for i in ok]
    paths = [str(annotations.items[i].path) for i in ok]
    frames = [keeper.frames[int(j)] for j in embeddings.pop(_FRAMES)[:, 0].tolist()]

    # Text side and scores, per set of weights (the teacher is shared by every grid, as in evaluate).
    prompts = [format_prompts(template_set, label) for label in labels]
    text_cache: dict[Any, tuple[torch.Tensor | None, torch.Tensor | None]] = {}
    scores: dict[str, dict[str, torch.Tensor]] = {"query": {}, "label": {}}
    for name, entry in entries.items():
        identity, model = select(name)  # a grid's working copy now holds `name`'s weights
        if identity not in text_cache:
            text_cache[identity] = (
                encode_texts(model, queries, device=device) if queries else None,
                class_embeddings(model, prompts, device=device) if labels else None)
        text, classes = text_cache[identity]
        video = embeddings[name]
        if text is not None:
            scores["query"][name] = text @ video.t()  # [Q, N]
        if classes is not None:
            scores["label"][name] = (video @ classes.t()).t()  # [L, N]: each label ranks the videos
        for kind, per_model in scores.items():
            if name in per_model:
                try:
                    check_finite(per_model[name], f"{kind} scores")
                except NonFiniteScores as e:  # a broken model has no ranking, not an arbitrary one
                    raise NonFiniteScores(_non_finite_message(name, entry, model, e)) from None

    run_id = uuid.uuid4().hex
    alphas = {n: None if e.alpha is None else float(e.alpha) for n, e in entries.items()}
    ranking, movers = _ranking_tables(run_id, scores, {"query": queries, "label": labels}, keys, paths, alphas,
                                      reference, compare, top_k, n_movers)
    video_labels = _label_table(run_id, scores["label"], labels, keys, paths, alphas, reference, top_k)
    skipped = pd.DataFrame([{k: f[k] for k in ("key", "path", "reason", "stage")} for f in failed + not_videos],
                           columns=["key", "path", "reason", "stage"])
    result = SearchResult(
        run_id=run_id, folder=folder, queries=queries, labels=labels, templates=template_set, top_k=top_k,
        models=list(entries), labels_shown={n: model_label(n, a, entries[n].student) for n, a in alphas.items()}, alphas=alphas,
        reference=reference, compare=compare, keys=keys, paths=paths, frames=frames, ranking=ranking,
        video_labels=video_labels, movers=movers, skipped=skipped, n_found=n_found, n_movers=n_movers,
        random_teacher=any(_is_random(entry) for entry in entries.values()))
    result.protocol = _protocol(result, entries, failed, not_videos, transform_info, num_frames=num_frames,
                                recursive=recursive, extensions=extensions, decoder={
                                    "backend": backend, "num_workers": num_workers, "batch_size": batch_size,
                                    "device": str(device)}, n_movers=n_movers)
    if out is not None:
        _write(result, out, gallery=gallery, started=t0)
    result.seconds = time.perf_counter() - t0
    return result


def _is_random(entry: EvalModel) -> bool:
    """Whether a model's teacher weights are random (:func:`search_models` records ``pretrained`` None as
    ``{"teacher": "none"}``; evaluate's command line as ``{"pretrained": "none"}``)."""
    return any(role in ("teacher", "pretrained") and str(source).strip().lower() == "none"
               for role, source in entry.weights.items())


def _non_finite_message(name: str, entry: EvalModel, model: Any, error: Exception) -> str:
    """One line: which model, what is not finite, what in its weights (`model`: the model with `name`'s weights,
    selected), and that nothing was written."""
    return (f"model {name!r} ({model_label(name, entry.alpha, entry.student)}) gives non-finite scores ({error}); "
            f"{non_finite_diagnosis(model)}. A model without finite scores has no ranking: nothing was "
            f"written. Search with weights that are finite (e.g. an earlier checkpoint)")


def _ranking_tables(run_id: str, scores: Mapping[str, Mapping[str, torch.Tensor]],
                    texts: Mapping[str, Sequence[str]], keys: Sequence[str], paths: Sequence[str],
                    alphas: Mapping[str, float | None], reference: str, compare: str | None, top_k: int,
                    n_movers: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, mover_rows = [], []
    for kind, per_model in scores.items():
        if not per_model:
            continue
        ordered = {name: _order_and_ranks(s) for name, s in per_model.items()}
        ref_order, ref_ranks = ordered[reference]
        k = min(top_k, len(keys))
        for q, query in enumerate(texts[kind]):
            moved: set[int] = set()
            if compare is not None:
                cmp_order, cmp_ranks = ordered[compare]
                shown = dict.fromkeys(ref_order[q, :k].tolist() + cmp_order[q, :k].tolist())
                change = {v: int(ref_ranks[q, v]) - int(cmp_ranks[q, v]) for v in shown}
                top = sorted((v for v in shown if change[v]), key=lambda v: (-abs(change[v]), int(cmp_ranks[q, v])))
                for v in top[:n_movers]:
                    moved.add(v)
                    mover_rows.append({
                        "run_id": run_id, "kind": kind, "query_index": q, "query": query, "video": keys[v],
                        "path": paths[v], "reference": reference, "compare": compare,
                        "reference_rank": int(ref_ranks[q, v]), "compare_rank": int(cmp_ranks[q, v]),
                        "rank_change": change[v], "reference_score": float(per_model[reference][q, v]),
                        "compare_score": float(per_model[compare][q, v])})
            for name, (order, ranks) in ordered.items():
                for position, v in enumerate(order[q, :k].tolist(), start=1):
                    rows.append({"run_id": run_id, "kind": kind, "query_index": q, "query": query, "model": name,
                                 "alpha": alphas[name], "rank": position, "video": keys[v], "path": paths[v],
                                 "score": float(per_model[name][q, v]), "reference_rank": int(ref_ranks[q, v]),
                                 "rank_change": int(ref_ranks[q, v]) - position, "mover": v in moved})
    ranking = pd.DataFrame(rows, columns=["run_id", "kind", "query_index", "query", "model", "alpha", "rank", "video",
                                          "path", "score", "reference_rank", "rank_change", "mover"])
    movers = pd.DataFrame(mover_rows, columns=["run_id", "kind", "query_index", "query", "video", "path", "reference",
                                               "compare", "reference_rank", "compare_rank", "rank_change",
                                               "reference_score", "compare_score"])
    return ranking, movers


def _label_table(run_id: str, scores: Mapping[str, torch.Tensor], labels: Sequence[str], keys: Sequence[str],
                 paths: Sequence[str], alphas: Mapping[str, float | None], reference: str,
                 top_k: int) -> pd.DataFrame:
    rows = []
    if scores:
        _, ref_ranks = _order_and_ranks(scores[reference].t())  # [N, L]: each video ranks the labels
        for name, s in scores.items():
            order, _ = _order_and_ranks(s.t())
            for v in range(len(keys)):
                for position, c in enumerate(order[v, : min(top_k, len(labels))].tolist(), start=1):
                    rows.append({"run_id": run_id, "model": name, "alpha": alphas[name], "video": keys[v],
                                 "path": paths[v], "rank": position, "label": labels[c], "score": float(s[c, v]),
                                 "reference_rank": int(ref_ranks[v, c])})
    return pd.DataFrame(rows, columns=["run_id", "model", "alpha", "video", "path", "rank", "label", "score",
                                       "reference_rank"])


def _weights_info(weights: Mapping[str, str], hashes: dict[str, str]) -> dict[str, Any]:
    out = {}
    for role, value in weights.items():
        record: dict[str, Any] = {"source": str(value)}
        if os.path.isfile(str(value)):
            hashes.setdefault(str(value), sha256_file(str(value)))
            record["sha256"] = hashes[str(value)]
        out[role] = record
    return out


def _protocol(result: SearchResult, entries: Mapping[str, EvalModel], failed: Sequence[Mapping[str, str]],
              not_videos: Sequence[Mapping[str, str]], transform_info: Mapping[str, Any], *, num_frames: int,
              recursive: bool, extensions: Sequence[str] | None, decoder: Mapping[str, Any],
              n_movers: int) -> dict[str, Any]:
    from fitclip.provenance import library_versions

    hashes: dict[str, str] = {}
    models = []
    for name, entry in entries.items():
        model = entry.model  # its architecture and size only: a grid's working copy holds the last weights fused
        info: dict[str, Any] = {"name": name, "shown_as": result.labels_shown[name], "alpha": result.alphas[name],
                                "arch": getattr(model, "arch", None), "quick_gelu": getattr(model, "quick_gelu", None),
                                "class": type(model).__name__, "weights": _weights_info(entry.weights, hashes)}
        try:
            info["n_params"] = int(sum(p.numel() for p in model.parameters()))
        except (AttributeError, TypeError):
            pass
        models.append(info)
    left_out = [{k: r[k] for k in ("key", "path", "reason", "cause")} for r in not_videos if r["stage"] == "listing"]
    n_ignored = len(not_videos) - len(left_out)
    return {
        "record": "search-protocol", "run_id": result.run_id,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "folder": str(result.folder.resolve()), "recursive": recursive,
        "extensions": list(extensions or VIDEO_EXTENSIONS),
        "listing": "fitclip.folders.list_folder: regular files with a video extension, hidden entries "
                   "skipped, nothing opened; symbolic links are never followed (listed as left out)",
        "n_found": result.n_found, "n_searched": len(result.keys), "n_failed": len(failed),
        "n_left_out": len(left_out), "n_ignored": n_ignored,
        "failed": [dict(f) for f in failed],
        "left_out": {"by_cause": dict(Counter(r["cause"] for r in left_out).most_common()),
                     "first": left_out[:_LISTED], "all_in": "skipped.csv (stage listing)"},
        "ignored": {"by_extension": ignored_by_extension(not_videos, top=20), "all_in": "skipped.csv (stage ignored)"},
        "queries": result.queries, "labels": result.labels,
        "prompts": {"templates": None if result.templates is None else list(result.templates),
                    "rule": "label embedding = mean of the L2-normalised prompt embeddings (templates filled with the "
                            "label), not re-normalised; templates=None: the label is the prompt"},
        "top_k": result.top_k,
        "frames": {"num_frames": num_frames, "mode": "eval", "sampler": SAMPLER_RULE,
                   "transform": {"resize": "bicubic shorter side, antialias", "crop": "center", **transform_info},
                   "decoded": "once per video for all models (fitclip.evaluate.encode_videos); the gallery shows "
                              "the same frames, de-normalised"},
        "scoring": "queries: text_emb . video_emb; labels: video_emb . label_emb; no temperature; text_emb "
                   "L2-normalised, video_emb = mean of L2-normalised frame embeddings (not re-normalised); rank = "
                   "1-based position in descending score order, ties broken by folder order",
        "movers": {"reference": result.reference, "compare": result.compare, "per_query": n_movers,
                   "rule": "among the videos in the reference's or the compared model's top-k of a query, those "
                           "with the largest |reference_rank - compare_rank| (> 0)"},
        "random_teacher": result.random_teacher, "models": models, "decoder": dict(decoder),
        "versions": library_versions(),
    }


def _csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, lineterminator="\n")


def _jsonl(df: pd.DataFrame) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in df.to_dict(orient="records"))


def _write(result: SearchResult, out: Path, gallery: bool, started: float) -> None:
    """Render every output, then replace the previous run's files in `out` with them as one set
    (:func:`fitclip.files.replace_files`; protocol.json last, its ``seconds`` up to the rendering)."""
    from fitclip.gallery import figure_bytes, gallery_figure, gallery_html

    texts = {"ranking.csv": _csv(result.ranking), "ranking.jsonl": _jsonl(result.ranking),
             "movers.csv": _csv(result.movers), "skipped.csv": _csv(result.skipped)}
    if result.labels:
        texts.update({"labels.csv": _csv(result.video_labels), "labels.jsonl": _jsonl(result.video_labels)})
    files = {name: text.encode("utf-8") for name, text in texts.items()}
    if gallery:
        files["gallery.png"] = figure_bytes(gallery_figure(result), "png")
        files["gallery.html"] = gallery_html(result).encode("utf-8")
    result.protocol["files"] = {name: str(out / name) for name in [*files, "protocol.json"]}
    result.protocol["seconds"] = round(time.perf_counter() - started, 3)
    files["protocol.json"] = (json.dumps(result.protocol, indent=2, default=str) + "\n").encode("utf-8")
    result.files = replace_files(out, files, previous=OUTPUT_FILES)


# ----------------------------------------------------------------------------------------------------
# For notebooks and the command line
# ----------------------------------------------------------------------------------------------------
