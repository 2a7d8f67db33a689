"""Zero-shot evaluation harness: one decode pass per run, every model scores the same frames.

Protocol (FitCLIP, bryant1410/fitclip @ a55ec2b8):

* **Frames.** Each item is decoded ONCE per run: 4 frames (``num_frames``) picked by FitCLIP's eval
  sampler (:func:`fitclip.video.frame_indices`, ``mode="eval"``) inside the item's clip window
  (start/end seconds mapped to the nearest frames and clamped to the video), then the model's eval
  transform (bicubic resize, center crop, CLIP mean/std). Every model of the run encodes that same
  batch, which is how an α grid of fused models is evaluated without re-decoding.
* **Scores** are plain dot products with NO temperature: text embeddings are L2-normalised, a video
  embedding is the mean of its L2-normalised frame embeddings (not re-normalised, as in the original).
  Retrieval is text→video (``T · Vᵀ``; query i's target is video i): ``R@1``, ``R@5``, ``R@10``
  (percent), ``MdR``, ``MnR``. Classification scores ``video · class`` where a class embedding is the
  MEAN of its L2-normalised template embeddings, NOT re-normalised (original code); with
  ``templates=None`` the raw class name is the only prompt. Metrics: ``top1``, ``top5`` (percent) and
  ``MdR`` (median rank of the target class; the original's ``mr``). A target tied with other items
  gets its expected rank under random tie-breaking and hits count their probability
  (:mod:`fitclip.metrics`: a collapsed model scores what guessing scores, never 100 %); the protocol record
  counts the items tied with their target. Non-finite scores (a model whose weights hold NaN) are an
  error naming the model (:class:`~fitclip.metrics.NonFiniteScores`), and nothing is written.
* **Broken videos** are never replaced by black frames. Missing and zero-byte files are found before
  any decoding; files that fail to decode are found during the pass. Without ``skip_broken`` either
  case raises :class:`BrokenVideosError` and NO metric row is written. With ``skip_broken`` the broken
  items are excluded from both sides (retrieval: the queries AND the gallery are the evaluated items;
  classification: evaluated videos against all classes), counted in ``n_failed`` and listed in the
  protocol record. A YouCook2 clip whose end is past the video's end is evaluated on the clamped
  window (as the original did) and listed under ``clip_end_past_video`` in the protocol record; one
  whose START is at or past the video's end has no frame of its own and is a broken item (found while
  decoding, before any frame is read), never scored on the last frame.

Output (``out``, JSON lines; a run's rows are appended as one step, never overwriting earlier runs):

* ``<out>``: one row per (model, metric), tidy for ``pandas.read_json(out, lines=True)``::

      {"run_id", "model", "student", "alpha", "dataset", "split", "metric", "value",
       "n_expected", "n_evaluated", "n_failed", "ci_low", "ci_high"}

  ``ci_low``/``ci_high``: the 95 % percentile-bootstrap CI over the evaluated items (2,000 resamples, seed 0;
  :func:`fitclip.metrics.bootstrap_ci` of :func:`fitclip.metrics.hits`) of each metric with a per-item form
  (top1, top5, R@k, MRR); null for the median and mean rank.

  ``student`` and ``alpha`` come from the model's :class:`EvalModel` (an α-grid model of
  :class:`fitclip.fusion.FusionGrid`: its student's name and α); both are null for a plain model, so
  readers take them from these columns, never from the model's name. ``n_expected`` is the number of annotation
  items and ``n_expected == n_evaluated + n_failed``.
* ``<out stem>.protocol.jsonl`` (see :func:`protocol_path`): one record per (model, dataset) run with
  the same ``run_id``: annotation file sha256s, frames and sampler, prompts, checkpoint sha256s,
  decoder backend, library versions, failed items (key, path, reason), ties and more.

Both files get a run's records in ONE step (:func:`fitclip.files.append_jsonl`): a full disk or a
crash while writing leaves both as they were, so a results file holds whole runs only and every row has
its protocol record; the run's embeddings files are renamed into place only after that, so a run that
fails to write keeps the earlier run's embeddings too. ``out`` and ``embeddings_dir`` are checked (:func:`check_outputs`: writable, and an
existing ``out`` must be a JSON-lines file) before any model encodes a frame.

The decode pass (the models of a run, decoding, precision, torchrun sharding) lives in
:mod:`fitclip.encoding`; this file keeps the rest of the protocol in reading order: broken videos, the
text side, scoring, the output files and :func:`evaluate`, whose body is the sequence of those steps. The
broken-video pre-check shares the doctor's file check (:func:`fitclip.doctor.file_problem`), and
``python -m fitclip evaluate`` asks :func:`check_evaluable` as :func:`evaluate` does.

Example::

    from fitclip.evaluate import evaluate
    from fitclip.fusion import FusionGrid
    from fitclip.models import load_clip

    teacher = load_clip("ViT-B-16", "openai")
    grid = FusionGrid(teacher, {"fitclip": "student.pt"}, [i / 10 for i in range(11)])  # 3 model copies
    rows = evaluate(grid, "msrvtt", "data", out="results.jsonl")
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from fitclip.annotations import Annotations, VideoItem, load_annotations
from fitclip.files import append_jsonl, check_jsonl, check_writable, load_state, save_state, sha256_file
from fitclip.distributed import rank_and_world
from fitclip.doctor import file_problem
from fitclip.provenance import library_versions
from fitclip.encoding import (PRECISIONS, Models, as_entries, autocast, encode_pass, encode_videos, model_selector,
                              shared_transform)
from fitclip.metrics import (HIT_METRICS, TIE_RULE_TEXT, NonFiniteScores, bootstrap_ci, class_rank_counts,
                             classification_metrics_from_ranks, hits, metrics_from_ranks, ranks_from_counts,
                             retrieval_rank_counts_from_embeddings)
from fitclip.models import EvalModel, encode_texts, non_finite_diagnosis

__all__ = [
    "BrokenVideosError",
    "EMBEDDINGS_FORMAT",
    "check_evaluable",
    "check_outputs",
    "check_videos",
    "class_embeddings",
    "encode_videos",
    "evaluate",
    "load_embeddings",
    "protocol_path",
]

log = logging.getLogger(__name__)

EMBEDDINGS_FORMAT = "fitclip-embeddings-v1"
CLASSIFICATION_METRICS = ("top1", "top5", "MdR")
RETRIEVAL_METRICS = ("R@1", "R@5", "R@10", "MdR", "MnR", "MRR")
MULTI_CLIP_RULE = ("fitclip.video.multi_clip_indices: the window cut into num_clips equal windows (edges "
                   "torch.linspace(start, end, num_clips+1, dtype=int)), fitclip.video.frame_indices in each, "
                   "concatenated; every frame decoded in one pass over the video")
SAMPLER_RULE = (
    "fitclip.video.frame_indices(start_frame, end_frame, num_frames, mode='eval'): k = min(num_frames, "
    "end-start+1) bins with edges torch.linspace(start, end, k+1, dtype=int) (truncated), one frame at "
    "each bin's midpoint rounded half-to-even; start/end seconds -> the frame whose centre is nearest "
    "(fitclip.video.time_to_frame), clamped to the video; whole video when there is no window"
)


# ----------------------------------------------------------------------------------------------------
# Broken videos
# ----------------------------------------------------------------------------------------------------


class BrokenVideosError(ValueError):
    """Some items have a missing, empty or undecodable video and ``skip_broken`` is off.

    Attributes:
        failures: ``[{"key", "path", "reason", "stage"}]`` (stage: "precheck" or "decode").
    """

    def __init__(self, failures: Sequence[Mapping[str, str]], n_items: int, dataset: str, split: str,
                 data_root: str | os.PathLike | None = None, stage: str = "precheck") -> None:
        self.failures = [dict(f) for f in failures]
        when = "before decoding" if stage == "precheck" else "while decoding (no metrics were written)"
        lines = [f"{dataset}/{split}: {len(self.failures)} of {n_items} item(s) have a missing or broken "
                 f"video (found {when}):"]
        for f in self.failures[:10]:
            lines.append(f"  {f['key']}: {f['reason']}")
        if len(self.failures) > 10:
            lines.append(f"  ... and {len(self.failures) - 10} more")
        root = data_root if data_root is not None else "DIR"
        lines.append(f"Fix: run `python -m fitclip doctor --dataset {dataset} --data-root {root} --split {split}` "
                     "for a full report, restore the files, or pass --skip-broken (skip_broken=True) to "
                     "evaluate the rest: the skipped items are counted in n_failed and listed in the "
                     "protocol record, never replaced by black frames.")
        super().__init__("\n".join(lines))


def check_videos(annotations: Annotations | Sequence[VideoItem]) -> list[dict[str, str]]:
    """Cheap pre-check of every referenced video: present, a regular file, not 0 bytes
    (:func:`fitclip.doctor.file_problem`, the doctor's own first check, so the two agree).

    Each distinct path is checked once (YouCook2 clips share videos). Decoding problems are not
    found here; :func:`evaluate` finds them during its pass and ``python -m fitclip doctor`` checks
    everything.

    Returns:
        ``[{"key", "path", "reason", "stage": "precheck"}]`` for each item whose video fails, in item
        order.
    """
    items = annotations.items if isinstance(annotations, Annotations) else list(annotations)
    problems: dict[Path, tuple[str, str] | None] = {}
    failures = []
    for item in items:
        if item.path not in problems:
            problems[item.path] = file_problem(item.path)
        if problems[item.path] is not None:
            failures.append({"key": item.key, "path": str(item.path), "reason": problems[item.path][1],
                             "stage": "precheck"})
    return failures



# ----------------------------------------------------------------------------------------------------
# Text side
# ----------------------------------------------------------------------------------------------------


def class_embeddings(model: Any, prompts_per_class: Sequence[Sequence[str]], batch_size: int = 256,
                     device: str | torch.device | None = None) -> torch.Tensor:
    """Class embeddings float32 CPU ``[C, D]``: the MEAN of each class's L2-normalised prompt embeddings.

    Deliberately NOT re-normalised (the original FitCLIP code), so a class whose templates disagree
    has a shorter embedding. All prompts of all classes are encoded in batches of `batch_size`
    (UCF101: 101 classes x 48 templates = 4,848 prompts).
    """
    flat: list[str] = []
    bounds = []
    for c, prompts in enumerate(prompts_per_class):
        if not prompts:
            raise ValueError(f"class {c} has no prompts")
        bounds.append((len(flat), len(flat) + len(prompts)))
        flat.extend(prompts)
    emb = encode_texts(model, flat, batch_size=batch_size, device=device)
    return torch.stack([emb[lo:hi].mean(dim=0) for lo, hi in bounds])


# ----------------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------------


def _score_retrieval(video: torch.Tensor, text: torch.Tensor) -> tuple[dict[str, float], dict[str, Any]]:
    better, tied = retrieval_rank_counts_from_embeddings(text, video)  # text -> video, query i's target: video i
    ranks = ranks_from_counts(better, tied)
    return metrics_from_ranks(ranks, tied), {"ranks": ranks, "tied": tied}


def _score_classification(video: torch.Tensor, classes: torch.Tensor,
                          targets: torch.Tensor) -> tuple[dict[str, float], dict[str, Any]]:
    scores = video @ classes.t()  # [N, C]
    better, tied = class_rank_counts(scores, targets)
    ranks = ranks_from_counts(better, tied)
    topk = scores.topk(min(5, scores.shape[1]), dim=1).indices
    return classification_metrics_from_ranks(ranks, tied), {"ranks": ranks, "tied": tied, "predictions": topk,
                                                            "scores": scores}


# ----------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------


def protocol_path(out: str | os.PathLike) -> Path:
    """Where the protocol records of a metrics file go: ``results.jsonl`` → ``results.protocol.jsonl``."""
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(f"{stem}.protocol.jsonl")


def check_outputs(out: str | os.PathLike | None, embeddings_dir: str | os.PathLike | None = None) -> None:
    """Refuse, before any work, outputs that the run could not write at its end: an `out` that is a folder,
    not a JSON-lines file (e.g. a checkpoint), holds a cut line, or whose folder cannot be written (with its
    protocol file, :func:`protocol_path`); an `embeddings_dir` that is a file or cannot be written.

    Raises:
        ValueError: the place is the wrong kind of thing (a message naming it and the fix).
        OSError: the place cannot be written (``strerror`` says why: read-only, permission, full disk).
    """
    if out is not None:
        for path in (Path(out), protocol_path(out)):
            try:
                check_jsonl(path)
            except ValueError as e:
                raise ValueError(f"out={str(out)!r}: {e}. Results are appended to a JSON-lines file: give a new file "
                                 f"name (e.g. results.jsonl) or an earlier results file") from None
            check_writable(path, "file")
    if embeddings_dir is not None:
        try:
            check_writable(embeddings_dir, "folder")
        except ValueError as e:
            raise ValueError(f"embeddings_dir={str(embeddings_dir)!r}: {e}") from None


def _model_info(entry: EvalModel, hashes: dict[str, str]) -> dict[str, Any]:
    model = entry.model
    info: dict[str, Any] = {"arch": getattr(model, "arch", None), "quick_gelu": getattr(model, "quick_gelu", None),
                            "class": type(model).__name__}
    try:
        info["n_params"] = int(sum(p.numel() for p in model.parameters()))
    except (AttributeError, TypeError):
        pass
    weights = {}
    for role, value in dict(entry.weights).items():
        value = str(value)
        record: dict[str, Any] = {"source": value}
        if os.path.isfile(value):
            if value not in hashes:
                hashes[value] = sha256_file(value)
            record["sha256"] = hashes[value]
            objective = training_objective(value)
            if objective:
                record["objective"] = objective
        weights[role] = record
    info["weights"] = weights
    return info


def training_objective(path: str | os.PathLike) -> dict[str, Any]:
    """The objective a trainer checkpoint was trained with (λ and the anti-forgetting switches of
    `fitclip.config.OBJECTIVE_KEYS`, from its recorded config), for the protocol card; {} for any other file.
    The file is memory-mapped, not read whole."""
    from fitclip.config import KEYS_BEFORE_THEY_EXISTED, OBJECTIVE_KEYS

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not a torch file (an open_clip .bin, a .safetensors): nothing to record
        return {}
    config = state.get("config") if isinstance(state, dict) else None
    if not isinstance(config, dict):
        return {}
    return {k: config.get(k, KEYS_BEFORE_THEY_EXISTED.get(k)) for k in OBJECTIVE_KEYS}


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", name).strip("_") or "model"


def embeddings_path(embeddings_dir: str | os.PathLike, dataset: str, split: str, model: str) -> Path:
    """``<embeddings_dir>/<dataset>-<split>-<model>.pt`` (model name made file-safe)."""
    return Path(embeddings_dir) / f"{_safe_name(dataset)}-{_safe_name(split)}-{_safe_name(model)}.pt"


def load_embeddings(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by ``evaluate(..., embeddings_dir=...)`` (``weights_only=True``).

    Keys: ``format``, ``run_id``, ``model``, ``alpha``, ``dataset``, ``split``, ``task``, ``keys``
    (list[str], evaluated items in annotation order), ``failed_keys``, ``video`` float32 ``[N, D]``
    (not re-normalised), ``metrics``; retrieval: ``text`` ``[N, D]`` (query i = item i), ``ranks`` float64
    ``[N]`` (expected rank of each query's video, :mod:`fitclip.metrics`) and ``tied`` int64 ``[N]`` (how many
    other videos share its score; pass both to :func:`fitclip.metrics.hits`); classification:
    ``class_embeddings`` ``[C, D]``, ``classnames``, ``templates``, ``targets`` int64 ``[N]``, ``scores``
    ``[N, C]``, ``ranks`` and ``tied`` ``[N]`` (of the target class), ``predictions`` int64 ``[N, min(5, C)]``
    (top classes, best first). Files written before ties were kept hold integer ``ranks`` (ties counted
    for the target) and no ``tied``.
    """
    obj = load_state(path)
    if not isinstance(obj, dict) or obj.get("format") != EMBEDDINGS_FORMAT:
        raise ValueError(f"{path} is not a fitclip embeddings file (format {EMBEDDINGS_FORMAT!r}); "
                         "write one with evaluate(..., embeddings_dir=...)")
    return obj


# ----------------------------------------------------------------------------------------------------
# The harness
# ----------------------------------------------------------------------------------------------------


def evaluate(
    models: Models,
    dataset: str | Annotations,
    data_root: str | os.PathLike | None = None,
    split: str | None = None,
    *,
    num_frames: int = 4,
    batch_size: int = 16,
    num_workers: int = 2,
    skip_broken: bool = False,
    embeddings_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    backend: str = "decord",
    device: str | torch.device = "cpu",
    dataset_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    text_batch_size: int = 256,
    precision: str = "fp32",
    num_clips: int = 1,
    num_crops: int = 1,
) -> list[dict[str, Any]]:
    """Zero-shot evaluation of one or more models on one benchmark split, decoding each video once.

    Args:
        models: a ``VideoCLIP``, an :class:`EvalModel`, ``{name: VideoCLIP | (VideoCLIP, alpha) |
            EvalModel}``, or a :class:`~fitclip.fusion.FusionGrid` (any number of fused models in bounded
            memory, three model copies for one student: each batch is encoded by each model in turn, the grid's
            working copy fused in place). All models must share the input size and normalisation: they
            encode the same decoded batches. Models must already be on `device`.
        dataset: a dataset name (``fitclip.annotations.SPECS``) or already loaded :class:`Annotations`.
        data_root: the folder holding ``<dataset>/`` (unused when `dataset` is an ``Annotations``).
        split: split name (default: the dataset's default split).
        num_frames: frames per clip (FitCLIP: 4), sampled by the eval sampler.
        num_clips, num_crops: multi-view testing, ``views = num_frames x num_clips x num_crops`` (FitCLIP: 4 x 1 x 1;
            FROSTER and Open-VCLIP test 8 x 3 x 1): the window cut into `num_clips` temporal clips
            (:func:`fitclip.video.multi_clip_indices`), each frame seen through 1 (centre) or 3 crops, the video
            embedding the mean over every view's frames; recorded in the protocol record's ``frames``.
        batch_size: clips per batch (the same batch goes through every model).
        num_workers: DataLoader decode workers (0 = decode in this process).
        skip_broken: exclude items whose video is missing, empty or undecodable instead of raising;
            they are counted in ``n_failed`` and listed in the protocol record.
        embeddings_dir: if set, write one ``.pt`` per model (see :func:`load_embeddings`).
        out: JSON-lines metrics file; rows are APPENDED (never overwritten), and protocol records go to
            :func:`protocol_path` ``(out)``.
        backend: video decoder, ``"decord"`` or ``"pyav"``.
        device: where the frames go (the models' device).
        dataset_options: options for ``load_annotations`` (e.g. ``{"source": "frozen"}`` for msrvtt);
            when `dataset` is an ``Annotations``, the options it was loaded with (recorded only).
        progress: show a tqdm progress bar.
        text_batch_size: prompts per text-encoder batch.
        precision: ``"fp32"`` (default) or ``"bf16"`` autocast for every forward pass (:func:`autocast`).

    Under ``torchrun`` (a process group of more than one rank): every rank decodes and encodes its shard
    of the items, rank 0 gathers the embeddings and alone scores and writes (one run id, each row once);
    the other ranks return ``[]``. The metrics equal one process's; the protocol records ``world_size``.
    A video decord cannot read is decoded with PyAV instead, counted and listed in the protocol record
    (``decode_fallback``).

    Returns:
        The metric rows written (one per model and metric; see the module docstring for the schema).

    Raises:
        BrokenVideosError: missing/empty videos (before decoding) or undecodable ones (after the pass,
            with nothing written) while ``skip_broken`` is False.
        ValueError: an unknown dataset/split/option, an unlabeled dataset, retrieval items without text,
            models with different preprocessing, nothing left to evaluate, or an `out` / `embeddings_dir`
            of the wrong kind (:func:`check_outputs`, before any decoding).
        NonFiniteScores: a model's scores are NaN or infinite (a ``ValueError`` naming the model; nothing
            is written).
        OSError: `out` or `embeddings_dir` cannot be written (before any decoding), or a write failed at the
            end (a full disk: the results files are unchanged).
    """
    entries = as_entries(models)
    annotations = _load_evaluable(dataset, data_root, split, dataset_options)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if num_frames < 1 or num_clips < 1 or num_crops not in (1, 3):
        raise ValueError(f"views = frames x clips x crops needs frames >= 1, clips >= 1 and crops 1 or 3; got "
                         f"{num_frames} x {num_clips} x {num_crops}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    check_outputs(out, embeddings_dir)
    device = torch.device(device)
    transform, transform_info = shared_transform(entries, crops=num_crops)
    for entry in entries.values():
        if hasattr(entry.model, "eval"):
            entry.model.eval()

    todo, failures = _precheck(annotations, skip_broken, data_root)
    select = model_selector(models, entries)
    encoded = encode_pass(
        entries, annotations, todo, num_frames=num_frames, batch_size=batch_size, num_workers=num_workers,
        backend=backend, device=device, transform=transform, progress=progress, select=select, precision=precision,
        num_clips=num_clips)
    failures = _all_failures(annotations, failures, encoded.failures, encoded.ok_indices, skip_broken, data_root)
    rank, world = rank_and_world()
    if rank != 0:  # rank 0 alone scores and writes
        return []
    videos, ok_indices = encoded.videos, encoded.ok_indices
    evaluated = [annotations.items[i] for i in ok_indices]
    texts = _TextSide(annotations, evaluated, batch_size=text_batch_size, device=device, precision=precision)
    run = _Run(annotations, n_evaluated=len(ok_indices), failures=failures, past_end=encoded.past_end, out=out,
               options={"num_frames": num_frames, "num_clips": num_clips, "num_crops": num_crops,
                        "batch_size": batch_size, "num_workers": num_workers,
                        "backend": backend, "device": device, "transform": transform_info,
                        "dataset_options": dataset_options, "precision": precision, "world_size": world,
                        "fallbacks": encoded.fallbacks})

    rows: list[dict[str, Any]] = []
    protocols: list[dict[str, Any]] = []
    staged: list[tuple[Path, Path]] = []  # (written, final) embeddings files, renamed once the rows are on disk
    try:
        for name, entry in entries.items():
            key, model = select(name)
            try:
                metrics, saved = texts.score(key, model, videos[name])
            except NonFiniteScores as e:  # nothing is written: a broken model has no score, not a perfect one
                raise NonFiniteScores(_non_finite_message(name, annotations, model, e)) from None
            rows += run.metric_rows(name, entry, metrics, saved)
            emb_path = None
            if embeddings_dir is not None:
                emb_path = embeddings_path(embeddings_dir, annotations.name, annotations.split, name)
                staged.append((run.save_embeddings(emb_path, name, entry, [item.key for item in evaluated],
                                                   videos[name], metrics, saved), emb_path))
            protocols.append(run.protocol_record(name, entry, metrics, texts.prompt_info, emb_path, saved["tied"]))
        if out is not None:
            _write_results(Path(out), rows, protocols)
        for written, final in staged:  # an earlier run's embeddings stay until this run's rows are written
            os.replace(written, final)
            log.info("wrote %s", final)
    finally:
        for written, _ in staged:
            written.unlink(missing_ok=True)
    return rows


def _non_finite_message(name: str, annotations: Annotations, model: Any, error: Exception) -> str:
    """One line: which model, where, what is not finite, what in its weights, and that nothing was written."""
    return (f"model {name!r} gives non-finite scores on {annotations.name}/{annotations.split} ({error}); "
            f"{non_finite_diagnosis(model)}. A model without finite scores has no metric: nothing was written. "
            f"Evaluate a checkpoint whose weights are finite (e.g. an earlier one)")


def _load_evaluable(dataset: str | Annotations, data_root: str | os.PathLike | None, split: str | None,
                    dataset_options: Mapping[str, Any] | None) -> Annotations:
    """The annotations to evaluate (loaded, or given), refused when they cannot be scored zero-shot."""
    if isinstance(dataset, Annotations):
        annotations = dataset  # dataset_options are then only recorded in the protocol record
    else:
        if data_root is None:
            raise ValueError(f"data_root is required to load dataset {dataset!r}")
        annotations = load_annotations(dataset, data_root, split, **dict(dataset_options or {}))
    if split is not None and annotations.split != split:
        raise ValueError(f"split={split!r} but the annotations are split {annotations.split!r}")
    check_evaluable(annotations)
    return annotations


def check_evaluable(annotations: Annotations) -> None:
    """Refuse annotations that cannot be scored zero-shot (a corpus without captions or classes, a
    retrieval item without a query): a ``ValueError`` naming the fix. :func:`evaluate` and
    ``python -m fitclip evaluate`` both ask this, before any video is opened."""
    task = annotations.task
    if task not in ("retrieval", "classification"):
        raise ValueError(f"{annotations.name}/{annotations.split} is a {task!r} corpus: it has no captions or "
                         "classes to score. Zero-shot evaluation needs a retrieval or classification dataset "
                         "(give a folder corpus a captions CSV with a caption for every video)")
    if task == "retrieval":
        no_text = [item.key for item in annotations.items if not item.text]
        if no_text:
            raise ValueError(f"{annotations.name}/{annotations.split}: {len(no_text)} retrieval item(s) have no "
                             f"text (e.g. {no_text[:5]}); every query needs a caption. Fix: drop those rows "
                             "from the annotation file")


def _precheck(annotations: Annotations, skip_broken: bool,
              data_root: str | os.PathLike | None) -> tuple[list[int], list[dict[str, str]]]:
    """The items to decode (indices) and the missing/empty videos found before any decoding; without
    `skip_broken` any such video is a :class:`BrokenVideosError`."""
    failures = check_videos(annotations)
    if failures and not skip_broken:
        raise BrokenVideosError(failures, len(annotations.items), annotations.name, annotations.split, data_root,
                                stage="precheck")
    if failures:
        log.warning("%s/%s: skipping %d item(s) with a missing or empty video (skip_broken=True)",
                    annotations.name, annotations.split, len(failures))
    skipped = {f["key"] for f in failures}
    return [i for i, item in enumerate(annotations.items) if item.key not in skipped], failures


def _all_failures(annotations: Annotations, failures: list[dict[str, str]], decode_failures: list[dict],
                  ok_indices: list[int], skip_broken: bool, data_root: str | os.PathLike | None) -> list[dict]:
    """Every broken item in annotation order, once the decode pass is over; refuses (nothing written) when
    some video did not decode and `skip_broken` is off, or when no item is left."""
    n_expected = len(annotations.items)
    if decode_failures and not skip_broken:
        raise BrokenVideosError(decode_failures, n_expected, annotations.name, annotations.split, data_root,
                                stage="decode")
    if decode_failures:
        log.warning("%s/%s: skipping %d item(s) whose video did not decode (skip_broken=True)",
                    annotations.name, annotations.split, len(decode_failures))
    position = {item.key: i for i, item in enumerate(annotations.items)}
    if not ok_indices:
        raise ValueError(f"{annotations.name}/{annotations.split}: none of the {n_expected} items could be "
                         "evaluated (all videos are missing or broken); run the doctor")
    return sorted(failures + decode_failures, key=lambda f: position[f["key"]])


class _TextSide:
    """The text side of one run: class prompts and targets (classification) or one query per evaluated item
    (retrieval), encoded once per model object (the teacher is α=0 of every grid) and scored."""

    def __init__(self, annotations: Annotations, evaluated: Sequence[VideoItem], batch_size: int,
                 device: torch.device, precision: str = "fp32") -> None:
        self.task, self.batch_size, self.device, self.precision = annotations.task, batch_size, device, precision
        self.cache: dict[Any, torch.Tensor] = {}
        if self.task == "classification":
            self.prompts = annotations.class_prompts()
            self.targets = torch.tensor([item.target for item in evaluated], dtype=torch.long)
            self.prompt_info = {
                "classnames": list(annotations.classnames or []),
                "phrasings": annotations.class_phrasings,
                "templates": None if annotations.templates is None else list(annotations.templates),
                "n_prompts": sum(len(p) for p in self.prompts),
                "rule": "class embedding = mean of the L2-normalised prompt embeddings, not re-normalised; "
                        "templates=None: the raw class name is the prompt"}
        else:
            self.texts = [item.text for item in evaluated]
            self.prompt_info = {"query": "the item's annotation text, one query per evaluated item, truncated to "
                                         "the model's context length by open_clip's tokenizer"}

    def score(self, key: Any, model: Any, video: torch.Tensor) -> tuple[dict[str, float], dict[str, Any]]:
        """(metrics, what the embeddings file holds besides the video side) for one model's videos; `key`
        tells models apart (the selector's identity), `model` holds that model's weights now."""
        if self.task == "classification":
            if key not in self.cache:
                with autocast(self.precision, self.device):
                    self.cache[key] = class_embeddings(model, self.prompts, batch_size=self.batch_size,
                                                       device=self.device)
            classes = self.cache[key]
            metrics, extra = _score_classification(video, classes, self.targets)
            return metrics, {"class_embeddings": classes, "classnames": self.prompt_info["classnames"],
                             "templates": self.prompt_info["templates"], "targets": self.targets, **extra}
        if key not in self.cache:
            with autocast(self.precision, self.device):
                self.cache[key] = encode_texts(model, self.texts, batch_size=self.batch_size, device=self.device)
        text = self.cache[key]
        metrics, extra = _score_retrieval(video, text)
        return metrics, {"text": text, **extra}


class _Run:
    """One evaluation run's shared facts (run id, time, counts, failures, options, hashes), and the three
    things it writes per model: the metric rows, the embeddings file and the protocol record."""

    def __init__(self, annotations: Annotations, n_evaluated: int, failures: list[dict], past_end: list[str],
                 out: str | os.PathLike | None, options: Mapping[str, Any]) -> None:
        self.annotations, self.failures, self.past_end, self.out = annotations, failures, past_end, out
        self.options = dict(options)
        self.n_expected = len(annotations.items)
        self.n_evaluated, self.n_failed = n_evaluated, self.n_expected - n_evaluated
        self.run_id = uuid.uuid4().hex
        self.started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.hashes: dict[str, str] = {}
        self.annotation_hashes = [{"path": str(p), "sha256": sha256_file(p)} for p in annotations.annotation_files]
        self.versions = library_versions()

    def metric_rows(self, name: str, entry: EvalModel, metrics: Mapping[str, float],
                    saved: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One row per metric, with the bootstrap CI over items of those with a per-item form (`saved`: the
        scoring's ``ranks`` and ``tied``)."""
        a = self.annotations
        rows = []
        for metric in (CLASSIFICATION_METRICS if a.task == "classification" else RETRIEVAL_METRICS):
            low = high = None
            if metric in HIT_METRICS or metric == "MRR":
                low, high = bootstrap_ci(hits(saved["ranks"], metric, saved["tied"]))
            rows.append({"run_id": self.run_id, "model": name, "student": entry.student, "alpha": _alpha(entry),
                         "dataset": a.name, "split": a.split, "metric": metric, "value": float(metrics[metric]),
                         "n_expected": self.n_expected, "n_evaluated": self.n_evaluated, "n_failed": self.n_failed,
                         "ci_low": low, "ci_high": high})
        return rows

    def save_embeddings(self, path: Path, name: str, entry: EvalModel, keys: list[str], video: torch.Tensor,
                        metrics: Mapping[str, float], saved: Mapping[str, Any]) -> Path:
        """Write the model's embeddings file for `path` under a staging name beside it (returned): the
        caller renames it to `path` once the run's rows are written, so a run that fails to write its rows
        (a full disk) leaves every earlier embeddings file in place."""
        a = self.annotations
        staging = path.with_name(f".{path.name}.run-{self.run_id}")
        save_state({"format": EMBEDDINGS_FORMAT, "run_id": self.run_id, "model": name, "student": entry.student,
                    "alpha": _alpha(entry), "dataset": a.name, "split": a.split, "task": a.task, "keys": keys,
                    "failed_keys": [f["key"] for f in self.failures], "video": video, "metrics": metrics,
                    **saved}, staging)
        return staging

    def protocol_record(self, name: str, entry: EvalModel, metrics: Mapping[str, float],
                        prompt_info: Mapping[str, Any], emb_path: Path | None, tied: torch.Tensor) -> dict[str, Any]:
        a, o = self.annotations, self.options
        return {
            "record": "protocol", "run_id": self.run_id, "time": self.started, "model": name, "student": entry.student,
            "alpha": _alpha(entry), "dataset": a.name, "split": a.split, "task": a.task,
            "n_expected": self.n_expected, "n_evaluated": self.n_evaluated, "n_failed": self.n_failed,
            "metrics": metrics,
            "annotation_files": self.annotation_hashes,
            "dataset_options": {k: str(v) for k, v in dict(o["dataset_options"] or {}).items()},
            "dataset_notes": a.notes,
            "frames": {"num_frames": o["num_frames"], "num_clips": o["num_clips"], "num_crops": o["num_crops"],
                       "views": f"{o['num_frames']} frames x {o['num_clips']} clips x {o['num_crops']} crops",
                       "mode": "eval", "sampler": SAMPLER_RULE if o["num_clips"] == 1 else MULTI_CLIP_RULE,
                       "transform": {"resize": "bicubic shorter side, antialias",
                                     "crop": "center" if o["num_crops"] == 1 else
                                     "3 squares: start, centre and end of the longer side", **o["transform"]},
                       "views_averaged": "the video embedding is the mean of the L2-normalised embeddings of every "
                                         "frame of every view (= the mean of the views' embeddings when every view "
                                         "has all its frames)"},
            "scoring": ("text->video, score = text_emb . video_emb, no temperature; text_emb L2-normalised, "
                        "video_emb = mean of L2-normalised frame embeddings (not re-normalised)"
                        if a.task == "retrieval" else "video_emb . class_emb, no temperature"),
            "ties": {"rule": TIE_RULE_TEXT, "n_items_tied": int((tied > 0).sum()),
                     "max_tied": int(tied.max()) if tied.numel() else 0,
                     "counted": "items whose target shares its exact score with at least one other "
                                + ("video" if a.task == "retrieval" else "class")},
            "prompts": prompt_info,
            "model_info": _model_info(entry, self.hashes),
            "decoder": {"backend": o["backend"], "num_workers": o["num_workers"], "batch_size": o["batch_size"],
                        "device": str(o["device"])},
            "decode_fallback": {"count": len(o["fallbacks"]), "items": o["fallbacks"],
                                "rule": ("a video decord cannot open or decode is read with PyAV (same frames); "
                                         "one that neither reads is a failed item") if o["backend"] == "decord"
                                else f"none (backend {o['backend']})"},
            "precision": o["precision"],
            "world_size": o["world_size"],
            "versions": self.versions,
            "failed": self.failures,
            "clip_end_past_video": {"count": len(self.past_end), "keys": self.past_end,
                                    "handling": "window clamped to the video's last frame (as the original)"},
            "embeddings": None if emb_path is None else str(emb_path),
            "metrics_file": None if self.out is None else str(self.out),
        }


def _alpha(entry: EvalModel) -> float | None:
    return None if entry.alpha is None else float(entry.alpha)


def _write_results(out: Path, rows: Sequence[Mapping[str, Any]], protocols: Sequence[Mapping[str, Any]]) -> None:
    """Append the run's protocol records and metric rows in one step (:func:`fitclip.files.append_jsonl`:
    both files whole, or both unchanged). The protocol file is renamed first: a crash between the two renames
    leaves records without rows, never rows without a record."""
    if out.exists() and out.stat().st_size:
        log.info("appending %d rows to existing %s", len(rows), out)
    append_jsonl({protocol_path(out): protocols, out: rows})
