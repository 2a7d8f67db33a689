"""The decode pass of zero-shot evaluation: each item decoded once, every model encodes the same batch.

:func:`fitclip.evaluate.evaluate` (and ``fitclip.search``) run :func:`encode_pass` before scoring:

* **Models.** One model, ``{name: model | (model, alpha) | EvalModel}``, or a
  :class:`~fitclip.fusion.FusionGrid`, whose models are one working copy fused in place: a *selector*
  (:func:`model_selector`) gives each name's model with its weights and an identity, so one set of weights under
  two names (the teacher is α=0 of every student's grid) is run once per batch.
* **Decoding.** ``VideoDataset`` over the items (FitCLIP's eval sampler, the models' shared eval transform);
  a file that does not decode becomes an error record (:class:`GuardedDataset`), never black frames; a file
  decord rejects is read with PyAV instead and listed (``fallbacks``).
* **Precision.** ``"fp32"`` or ``"bf16"`` autocast of every forward pass (:func:`autocast`); embeddings come
  out float32 on the CPU. On CUDA the batches are pinned and copied without blocking.
* **Sharding.** Under torchrun each rank decodes and encodes items ``rank::world``; every rank receives the
  failures (so all raise alike) and rank 0 alone the embeddings, in item order, which
  :func:`fitclip.evaluate.evaluate` then scores and writes on rank 0 alone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NamedTuple, Union

import torch
from torch.utils.data import DataLoader, Dataset

from fitclip.annotations import Annotations
from fitclip.folders import escape_name
from fitclip.datasets import VideoDataset, collate_clips
from fitclip.distributed import gather_objects, gather_to_main, rank_and_world
from fitclip.video import preload_decoder
from fitclip.fusion import FusionGrid
from fitclip.models import EvalModel, VideoCLIP
from fitclip.transforms import clip_transform
from fitclip.video import VideoDecodeError

__all__ = ["Encoded", "Models", "PRECISIONS", "autocast", "encode_videos"]

log = logging.getLogger("fitclip.evaluate")

PRECISIONS = ("fp32", "bf16")


#: What :func:`evaluate` accepts as ``models``: one model, or ``{name: model | (model, alpha) | EvalModel}``.
Models = Union[VideoCLIP, EvalModel, Mapping[str, Union[VideoCLIP, EvalModel, tuple]]]


def as_entries(models: Models) -> dict[str, EvalModel]:
    if isinstance(models, EvalModel):
        return {_default_name(models.model): models}
    if not isinstance(models, Mapping):
        return {_default_name(models): EvalModel(models)}
    if not models:
        raise ValueError("models is an empty mapping; pass a VideoCLIP or {name: model}")
    entries: dict[str, EvalModel] = {}
    for name, value in models.items():
        if isinstance(value, EvalModel):
            entry = value
        elif isinstance(value, tuple):
            if len(value) not in (2, 3):
                raise ValueError(f"models[{name!r}] must be a model, (model, alpha), (model, alpha, weights) or "
                                 f"an EvalModel; got a tuple of {len(value)}")
            entry = EvalModel(*value)
        else:
            entry = EvalModel(value)
        if entry.alpha is not None and not 0.0 <= float(entry.alpha) <= 1.0:
            raise ValueError(f"models[{name!r}]: alpha must be in [0, 1] (0 = teacher, 1 = student), "
                             f"got {entry.alpha}")
        entries[str(name)] = entry
    return entries


def _default_name(model: Any) -> str:
    return str(getattr(model, "arch", type(model).__name__))




class GuardedDataset(Dataset):
    """A video dataset (optionally restricted to `indices`) whose ``VideoDecodeError`` becomes an error record.

    Raising inside a DataLoader worker would kill the whole run (or reach the trainer wrapped in the worker's
    traceback); returning a record lets the main loop collect every failure and decide (skip, refuse, or stop
    with one line naming the video) once it sees the batch. The evaluation harness and the trainer's streams
    both use it, with :class:`GuardedCollate`.
    """

    def __init__(self, dataset: Any, indices: Sequence[int] | None = None) -> None:
        self.dataset = dataset
        self.indices = list(range(len(dataset)) if indices is None else indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> dict[str, Any]:
        i = self.indices[j]
        try:
            return self.dataset[i]
        except VideoDecodeError as e:
            item = self.dataset.items[i]
            return {"index": i, "key": item.key, "path": str(item.path), "error": str(e)}


class GuardedCollate:
    """Split a list of samples into `collate`'s batch of the good ones (None when none is) plus error records
    ``{key, path, reason, stage, index}``."""

    def __init__(self, collate: Callable[[Sequence[Any]], dict[str, Any]] = collate_clips) -> None:
        self.collate = collate

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        good = [s for s in samples if "error" not in s]
        errors = [{"key": s["key"], "path": s["path"], "reason": s["error"], "stage": "decode", "index": s["index"]}
                  for s in samples if "error" in s]
        return {"batch": self.collate(good) if good else None, "errors": errors}


def shared_transform(entries: Mapping[str, EvalModel], crops: int = 1):
    """The one eval transform every model of the run uses (they must agree: they share the frames); `crops`: 1
    (centre) or 3 (multi-view testing, :func:`fitclip.transforms.clip_transform`)."""
    configs = {name: (int(e.model.image_size), tuple(map(float, e.model.mean)), tuple(map(float, e.model.std)))
               for name, e in entries.items()}
    distinct = set(configs.values())
    if len(distinct) != 1:
        raise ValueError("the models of one run share each decoded batch, so they need the same input size and "
                         f"normalisation; got {configs}. Fix: evaluate them in separate runs")
    size, mean, std = distinct.pop()
    return (clip_transform(size, mean, std, train=False, crops=crops),
            {"image_size": size, "mean": list(mean), "std": list(std)})


#: ``name -> (identity, model)``: what encodes a model's batch, and what tells two models' weights apart.
Selector = Callable[[str], tuple[Any, Any]]


class Encoded(NamedTuple):
    """The decode pass's result (:func:`encode_pass`)."""

    videos: dict[str, torch.Tensor]
    ok_indices: list[int]
    failures: list[dict]
    past_end: list[str]
    fallbacks: list[dict]


def model_selector(models: Any, entries: Mapping[str, EvalModel]) -> Selector:
    """``name -> (identity, model with that name's weights)``: a name of a :class:`~fitclip.fusion.FusionGrid`
    `models` has its grid's identity and the working copy fused in place
    (:meth:`~fitclip.fusion.FusionGrid.select`); any other name of `entries` (every name when `models` is no
    grid, or a plain model encoded alongside a grid) is its model itself, and one object under two names (the
    teacher is α=0 of every grid) has one identity, so it is run once."""
    def itself(name: str) -> tuple[Any, Any]:
        return id(entries[name].model), entries[name].model

    if isinstance(models, FusionGrid):
        return lambda name: (models.identity(name), models.select(name)) if name in models else itself(name)
    return itself


def autocast(precision: str, device: torch.device):
    """The forward passes' precision: ``"fp32"`` (no autocast) or ``"bf16"`` (``torch.autocast`` on the
    device's type; fast on GPUs, slower than fp32 on this project's CPUs). Embeddings come out float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def encode_pass(entries: Mapping[str, EvalModel], annotations: Annotations, indices: Sequence[int], *,
                   num_frames: int, batch_size: int, num_workers: int, backend: str, device: torch.device,
                   transform: Any, progress: bool, select: Selector | None = None,
                   precision: str = "fp32", num_clips: int = 1) -> Encoded:
    """One decode pass; every model encodes each batch (``select`` gives each name's model, fused when the
    models are a grid). Under torchrun each rank decodes and encodes its shard (items ``rank::world``); every
    rank receives every rank's failures (:func:`fitclip.distributed.gather_objects`), so the errors raised are
    the same on every rank, and rank 0 alone the embeddings (:func:`fitclip.distributed.gather_to_main`;
    ``videos`` is empty on the other ranks).

    Returns:
        :class:`Encoded`: video embeddings per model (float32 CPU ``[n_ok, D]`` in ascending item order),
        the ok item indices ascending, decode failure records, the keys whose clip end is past the video's
        end, and the items decoded by the fallback backend.
    """
    from tqdm.auto import tqdm

    select = select or model_selector(None, entries)
    rank, world = rank_and_world()
    mine = list(indices)[rank::world]
    preload_decoder(backend)
    fallback = "pyav" if backend == "decord" else None
    dataset = VideoDataset(annotations, num_frames=num_frames, mode="eval", transform=transform, backend=backend,
                           fallback=fallback, num_clips=num_clips)
    guarded = GuardedDataset(dataset, mine)
    cuda = device.type == "cuda"
    loader = DataLoader(guarded, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=GuardedCollate(), pin_memory=cuda, persistent_workers=False)
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in entries}
    ok_indices: list[int] = []
    failures: list[dict] = []
    past_end: list[str] = []
    fallbacks: list[dict] = []
    bar = tqdm(total=len(guarded), unit="clip", desc=f"{annotations.name}/{annotations.split}",
               disable=not progress or rank != 0, dynamic_ncols=True)
    try:
        with torch.inference_mode(), autocast(precision, device):
            for out in loader:
                for record in out["errors"]:
                    log.warning("decode failed for %s: %s", escape_name(record["key"]), escape_name(record["reason"]))
                    failures.append(record)
                batch = out["batch"]
                if batch is not None:
                    frames = batch["frames"].to(device, non_blocking=cuda)
                    lengths = batch["lengths"].to(device, non_blocking=cuda)
                    done: dict[Any, torch.Tensor] = {}
                    for name in entries:
                        key, model = select(name)
                        if key not in done:
                            done[key] = model.encode_video(frames, lengths).float().cpu()
                        chunks[name].append(done[key])
                    ok_indices.extend(batch["indices"].tolist())
                    past_end.extend(k for k, flag in zip(batch["keys"], batch["clip_end_past_video"]) if flag)
                    for i, k, by, why in zip(batch["indices"].tolist(), batch["keys"], batch["decoded_by"],
                                             batch["fallback_reason"]):
                        if why is not None:
                            fallbacks.append({"index": i, "key": k, "path": str(annotations.items[i].path),
                                              "decoded_by": by, "reason": why})
                bar.update(len(out["errors"]) + (0 if batch is None else len(batch["keys"])))
                if failures:
                    bar.set_postfix(failed=len(failures), refresh=False)
    finally:
        bar.close()
    # Every rank needs the failures (to raise alike); only rank 0, which scores, needs the embeddings.
    parts = gather_objects({"ok": ok_indices, "failures": failures, "past_end": past_end, "fallbacks": fallbacks})
    chunk_parts = gather_to_main({n: torch.cat(c) if c else None for n, c in chunks.items()})
    ok_indices = [i for part in parts for i in part["ok"]]
    order = sorted(range(len(ok_indices)), key=ok_indices.__getitem__)
    embeddings = {}
    for name in entries if chunk_parts is not None else ():
        pieces = [part[name] for part in chunk_parts if part[name] is not None]
        embeddings[name] = torch.cat(pieces)[order] if pieces else torch.zeros(0)
    failures = sorted((r for part in parts for r in part["failures"]), key=lambda r: r["index"])
    fallbacks = sorted((r for part in parts for r in part["fallbacks"]), key=lambda r: r["index"])
    for record in failures + fallbacks:
        record.pop("index", None)
    past = {k for part in parts for k in part["past_end"]}
    past_end = [annotations.items[i].key for i in sorted(ok_indices) if annotations.items[i].key in past]
    return Encoded(embeddings, sorted(ok_indices), failures, past_end, fallbacks)


def encode_videos(models: Models, annotations: Annotations, indices: Sequence[int] | None = None, *,
                  num_frames: int = 4, batch_size: int = 16, num_workers: int = 2, backend: str = "decord",
                  device: str | torch.device = "cpu", progress: bool = True, precision: str = "fp32",
                  num_clips: int = 1, num_crops: int = 1, extra: Mapping[str, Any] | None = None,
                  ) -> tuple[dict[str, torch.Tensor], list[int], list[dict], dict[str, Any]]:
    """The harness's decode pass on its own: each item decoded once, every model encodes the same batch.

    What :func:`evaluate` runs before scoring, for callers that score differently (``fitclip.search``).
    `models` as in :func:`evaluate` (they must share the input size and normalisation), a
    :class:`~fitclip.fusion.FusionGrid` included; `extra`: ``{name: model}`` encoded alongside `models`, each
    as itself (``fitclip.search``'s frame keeper beside a grid), named apart from `models`' names; `indices`
    picks items (default: all); `num_clips`/`num_crops` as in :func:`evaluate` (multi-view testing). A file
    that does not decode becomes a record, never black frames.

    Under torchrun the embeddings are on rank 0 only (an empty mapping on the other ranks).

    Returns:
        (``{model name: float32 CPU [n_ok, D]}`` in ascending item order, the ok item indices ascending,
        the decode failures ``[{"key", "path", "reason", "stage": "decode"}]``, the transform's
        ``{"image_size", "mean", "std"}``).
    """
    entries = as_entries(models)
    for name, entry in (as_entries(extra) if extra else {}).items():
        if name in entries:
            raise ValueError(f"extra model {name!r} is also one of the models; name it apart")
        entries[name] = entry
    transform, transform_info = shared_transform(entries, crops=num_crops)
    for entry in entries.values():
        if hasattr(entry.model, "eval"):
            entry.model.eval()
    todo = range(len(annotations.items)) if indices is None else indices
    encoded = encode_pass(
        entries, annotations, list(todo), num_frames=num_frames, batch_size=batch_size, num_workers=num_workers,
        backend=backend, device=torch.device(device), transform=transform, progress=progress,
        select=model_selector(models, entries), precision=precision, num_clips=num_clips)
    return encoded.videos, encoded.ok_indices, encoded.failures, transform_info

