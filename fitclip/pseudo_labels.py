"""The teacher's pseudo labels, computed once: what `teacher_mode="cached"` training reads.

    python -m fitclip.pseudo_labels --config run.json [--key value ...]
    torchrun --nproc_per_node=N -m fitclip.pseudo_labels --config run.json   # sharded across ranks

It takes the same config as `fitclip.train` (the same `arch`, `pretrained`, `seed`, `unlabeled`,
`unlabeled_text`, `num_frames`, `data_root`, `labeled_csv` define the same teacher and pool) and writes
into `pseudo_labels`:

* ``manifest.json``: what the labels are of (teacher weights identity, frames, the pool's keys hash,
  shard size). A folder holding labels of another teacher/pool is an error, never silently mixed.
* ``shard-00000.pt`` ...: ``{"keys": [video keys], "video": fp16 [n, D], "text": fp16 [n, D] | None}``
  for consecutive runs of ``pseudo_label_shard_size`` pool videos: the teacher's embedding of the EVAL
  frames (eval sampler + eval transform: deterministic) and of each video's own caption. Each rank writes
  its own shard files atomically (temp + rename), so a file that exists is complete.
* ``prompts.pt`` (when `unlabeled_text` is a prompts file): the prompts and their teacher embeddings.
* ``index.json``: the shard list, written by rank 0 after every shard exists.

Resumable: rerunning skips the shards already written and whole; the others are split evenly over the ranks
of the new run (any world size). A shard is redone, with a note saying why, when it is missing, unreadable
(truncated or corrupt), pickled (Python objects that ``weights_only=True`` refuses), of another format, or
not what this teacher writes for its videos: other keys, another embedding dimension (another teacher's),
another shape or dtype (:func:`shard_problem`). So rerunning the same command on a damaged folder leaves one
that trains. Training checks every shard the same way when it opens the folder and refuses a bad one in one
line naming it and this fix. Shard files are read back with ``weights_only=True`` and memory-mapped, so N
training ranks on a node share one copy in the page cache.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from fitclip.files import CheckpointDamaged, PickledCheckpoint, load_state, save_state, write_json
from fitclip.config import ConfigError, TrainConfig, parse_cli, validate
from fitclip.datasets import VideoDataset, collate_clips
from fitclip.encoding import autocast
from fitclip.models import encode_texts
from fitclip.run_data import load_unlabeled, read_prompts, videos_fingerprint
from fitclip.runtime import Dist, setup_distributed, teardown_distributed
from fitclip.start_weights import load_start_weights, same_teacher, teacher_fingerprint
from fitclip.transforms import transforms_for

FORMAT = "fitclip-pseudo-labels-v1"
FRAMES = "eval sampler + eval transform"


def shard_name(i: int) -> str:
    return f"shard-{i:05d}.pt"


def _keys_sha(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def manifest_for(cfg: TrainConfig, keys: Sequence[str], has_text: bool, videos: str | None = None) -> dict[str, Any]:
    """What the labels are of; `videos`: :func:`fitclip.run_data.videos_fingerprint` of the pool (the same keys
    with other videos behind them are other labels)."""
    return {"format": FORMAT, "teacher": teacher_fingerprint(cfg), "num_frames": cfg.num_frames, "frames": FRAMES,
            "num_items": len(keys), "pool_sha256": _keys_sha(keys), "shard_size": cfg.pseudo_label_shard_size,
            "text": "captions" if has_text else None, "videos_sha256": videos}


def stale_labels(cfg: TrainConfig) -> list[str]:
    """The manifest fields in which the labels in ``cfg.pseudo_labels`` differ from what `cfg` would compute now
    (another teacher, pool, videos or setting); [] when they fit or the folder holds none yet. A damaged manifest
    is reported as such, and labels from before the videos were recorded count as differing in them (the study
    recomputes those; the CLI, whose labels may have taken hours, keeps them)."""
    out = Path(cfg.pseudo_labels).expanduser()
    if not (out / "manifest.json").is_file():
        return []
    try:
        old = _read_json(out / "manifest.json")
        if not isinstance(old, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        return [f"manifest.json damaged ({e})"]
    pool = load_unlabeled(cfg)
    manifest = manifest_for(cfg, [item.key for item in pool], all(item.text is not None for item in pool),
                            videos_fingerprint(pool))
    return sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k)
                  and not (k == "teacher" and same_teacher(old[k], manifest[k])))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _teacher_texts(teacher: Any, texts: Sequence[str], cfg: TrainConfig, device: torch.device) -> torch.Tensor:
    """The teacher's text embeddings as stored in the shards: fp16 CPU, computed under the run's autocast."""
    with autocast(cfg.precision, device):
        return encode_texts(teacher, texts, batch_size=cfg.batch_size_eval, device=device).half()


RERUN = "rerun `python -m fitclip.pseudo_labels --config run.json` (it redoes bad shards)"


def read_shard(path: Path) -> tuple[Any, str | None]:
    """(the file's content, None), read with ``weights_only=True`` and memory-mapped; or (None, why it cannot
    be read, as words that follow "is": missing, pickled, truncated or corrupt)."""
    try:
        return load_state(path, mmap=True), None
    except FileNotFoundError:
        return None, "missing"
    except PickledCheckpoint as e:
        return None, f"pickled: it holds Python objects ({e.detail}) that weights_only=True refuses"
    except CheckpointDamaged as e:
        return None, f"truncated or corrupt ({e.detail})"


def shard_problem(shard: Any, dim: int | None, has_text: bool, keys: Sequence[str] | None = None,
                  count: int | None = None) -> str | None:
    """Why a loaded shard is not what the teacher writes (words that follow "is"), or None.

    Args:
        dim: the teacher's embedding dimension (None: not checked).
        has_text: the shard must hold caption embeddings (else "text" is None).
        keys: the pool videos it must hold, in order (None: any video keys).
        count: how many videos it must hold (None: any).
    """
    if not isinstance(shard, dict):
        return f"not a pseudo-label shard (a {type(shard).__name__}, not a dict)"
    if shard.get("format") != FORMAT:
        return f"of another format ({shard.get('format')!r}, not {FORMAT!r})"
    if {"keys", "video", "text"} - set(shard):
        return f"not a pseudo-label shard (no {sorted({'keys', 'video', 'text'} - set(shard))})"
    got = shard["keys"]
    if not isinstance(got, list) or not all(isinstance(k, str) for k in got):
        return "not a pseudo-label shard (its keys are not a list of video keys)"
    if keys is not None and got != list(keys):
        return f"of other videos than the pool's (first: {got[:1]}, expected {list(keys[:1])}): a stale file"
    if count is not None and len(got) != count:
        return f"of {len(got)} videos, not the index's {count}"
    for name, wanted in (("video", True), ("text", has_text)):
        t = shard[name]
        if not wanted:
            if t is not None:
                return f"holding {name} embeddings where the labels have none"
            continue
        if not isinstance(t, torch.Tensor):
            return f"not a pseudo-label shard ({name} is a {type(t).__name__}, not a tensor)"
        if dim is not None and t.ndim == 2 and t.shape[0] == len(got) and t.shape[1] != dim:
            return (f"of another teacher: its {name} embeddings have dimension {t.shape[1]}, the teacher's "
                    f"have {dim}")
        if t.ndim != 2 or t.shape[0] != len(got):
            return f"of the wrong shape: {name} is {list(t.shape)}, not [{len(got)}, {dim or 'D'}]"
        if t.dtype != torch.float16:
            return f"of the wrong dtype: {name} is {t.dtype}, not torch.float16"
    return None


def embedding_dim(model: Any) -> int:
    """The model's embedding dimension (one text through its text tower: works for every architecture)."""
    with torch.no_grad():
        return int(model.encode_text(model.tokenize(["a"]).to(model.device)).shape[-1])


@torch.no_grad()
def compute_pseudo_labels(cfg: TrainConfig, d: Dist | None = None) -> Path:
    """Write the shards of this rank that are missing or bad (:func:`shard_problem`, with a note saying why),
    then (rank 0) the index. Returns the folder."""
    d = d or setup_distributed(cfg)
    out = Path(cfg.pseudo_labels).expanduser()
    pool = load_unlabeled(cfg)
    keys = [item.key for item in pool]
    has_text = all(item.text is not None for item in pool)
    prompts = None if cfg.unlabeled_text == "captions" else read_prompts(cfg.unlabeled_text)
    manifest = manifest_for(cfg, keys, has_text, videos_fingerprint(pool))
    if (out / "manifest.json").is_file():
        try:
            old = _read_json(out / "manifest.json")
            if not isinstance(old, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            raise ConfigError(f"{out / 'manifest.json'} is damaged ({e}), so whose labels the folder holds is "
                              f"unknown; delete the folder (or choose another pseudo_labels) and rerun") from None
        diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k)
                      and not (k == "teacher" and same_teacher(old[k], manifest[k]))
                      and not (k == "videos_sha256" and k not in old))  # labels from before it was recorded
        if diff:
            raise ConfigError(f"pseudo_labels={str(out)!r} holds labels of another teacher/pool/videos/setting (differs in "
                              f"{diff}); use another pseudo_labels folder or delete this one")
    elif d.main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "manifest.json", manifest)

    teacher = load_start_weights(cfg, device=d.device).eval()
    teacher.requires_grad_(False)
    _, eval_tf = transforms_for(teacher)
    dim = embedding_dim(teacher)
    size = cfg.pseudo_label_shard_size
    n_shards = math.ceil(len(pool) / size)
    todo: list[int] = []
    if d.main:  # rank 0 reads every shard (mmap) and says which it redoes, and why
        for i in range(n_shards):
            why = _problem(out / shard_name(i), dim, has_text, keys[i * size:(i + 1) * size])
            if why is not None:
                todo.append(i)
                if why != "missing":
                    print(f"note: redoing {out / shard_name(i)}: it is {why}", file=sys.stderr)
    if d.world > 1:  # one list for everybody, then an even split of what is left
        box = [todo]
        dist.broadcast_object_list(box, src=0)
        todo = box[0]
    mine = todo[d.rank::d.world]
    from tqdm import tqdm
    for i in tqdm(mine, desc=f"pseudo labels (rank {d.rank})", disable=not d.main, dynamic_ncols=True):
        items = pool[i * size:(i + 1) * size]
        loader = DataLoader(VideoDataset(items, cfg.num_frames, "eval", eval_tf), batch_size=cfg.batch_size_eval,
                            num_workers=cfg.num_workers, collate_fn=collate_clips)
        video = []
        for batch in loader:
            with autocast(cfg.precision, d.device):
                emb = teacher.encode_video(batch["frames"].to(d.device), batch["lengths"].to(d.device))
            video.append(emb.float().half().cpu())
        text = _teacher_texts(teacher, [it.text for it in items], cfg, d.device) if has_text else None
        save_state({"format": FORMAT, "shard": i, "keys": [it.key for it in items], "video": torch.cat(video),
                    "text": text}, out / shard_name(i))
    if d.main and prompts is not None:
        save_state({"prompts": prompts, "text": _teacher_texts(teacher, prompts, cfg, d.device)},
                   out / "prompts.pt")
    if d.world > 1:
        dist.barrier()
    if d.main:
        shards = []
        for i in range(n_shards):  # every shard, as written by whichever rank: the index vouches for them
            expected = keys[i * size:(i + 1) * size]
            why = _problem(out / shard_name(i), dim, has_text, expected)
            if why is not None:  # a file changed under this run (another writer?)
                raise ConfigError(f"{out / shard_name(i)} is {why} right after it was written; check that no other "
                                  f"process writes into pseudo_labels={str(out)!r}, then {RERUN}")
            shards.append({"file": shard_name(i), "start": i * size, "count": len(expected)})
        write_json(out / "index.json", {**manifest, "dim": dim, "shards": shards,
                                         "prompts": "prompts.pt" if prompts is not None else None})
    if d.world > 1:
        dist.barrier()
    return out


def _problem(path: Path, dim: int | None, has_text: bool, keys: Sequence[str] | None = None,
             count: int | None = None) -> str | None:
    """Why the shard file at `path` is not usable (words that follow "is"), or None."""
    shard, why = read_shard(path)
    return why if why is not None else shard_problem(shard, dim, has_text, keys, count)


class PseudoLabels:
    """Read-only view of a pseudo-label folder: teacher embeddings by video key (fp16 on disk, mmap).

    Opening it checks every shard the index lists (:func:`shard_problem`): a missing, unreadable, pickled
    or foreign one is a ConfigError, ONE line naming it and the fix (:data:`RERUN`), before any training."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory).expanduser()
        path = self.dir / "index.json"
        if not path.is_file():
            raise ConfigError(f"{path} not found: run `python -m fitclip.pseudo_labels --config run.json` first")
        try:
            self.index = _read_json(path)
            if self.index.get("format") != FORMAT:
                raise ConfigError(f"{path}: format {self.index.get('format')!r} is not {FORMAT!r}; recompute the "
                                  f"labels")
            entries = [(str(s["file"]), int(s["count"])) for s in self.index["shards"]]
            self.dim = int(self.index["dim"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"{path} is damaged ({type(e).__name__}: {e}); {RERUN}, which rewrites it") from None
        self._shards, bad = [], []
        self._where: dict[str, tuple[int, int]] = {}
        for si, (name, count) in enumerate(entries):
            shard, why = read_shard(self.dir / name)
            why = why or shard_problem(shard, self.dim, self.has_text, count=count)
            if why is None and (twice := next((k for k in shard["keys"] if k in self._where), None)) is not None:
                why = f"of videos another shard holds too (first: {twice!r}): a stale file"
            if why is not None:
                bad.append((name, why))
                continue
            self._shards.append(shard)
            self._where.update((key, (len(self._shards) - 1, row)) for row, key in enumerate(shard["keys"]))
        if bad:
            more = f" (and {len(bad) - 1} more bad shards: {', '.join(n for n, _ in bad[1:4])}" \
                   f"{', ...' if len(bad) > 4 else ''})" if len(bad) > 1 else ""
            raise ConfigError(f"pseudo-label shard {self.dir / bad[0][0]} is {bad[0][1]}{more}; {RERUN}, "
                              f"or use teacher_mode='online'")

    def __len__(self) -> int:
        return len(self._where)

    @property
    def has_text(self) -> bool:
        return self.index.get("text") == "captions"

    def check(self, cfg: TrainConfig, keys: Sequence[str], prompts: Sequence[str] | None,
              videos: str | None = None) -> None:
        """Raise ConfigError unless these labels are the config's teacher on the config's frames, cover every key
        of the pool and (with `videos`, where the labels recorded theirs) were computed from these videos."""
        problems = []
        recorded = self.index.get("videos_sha256")
        if videos is not None and recorded is not None and recorded != videos:
            problems.append("the pool's videos changed since the labels were computed (re-rendered or replaced files)")
        teacher = teacher_fingerprint(cfg)
        if not same_teacher(self.index["teacher"], teacher):
            problems.append(f"teacher {self.index['teacher']} != this run's {teacher}")
        if self.index["num_frames"] != cfg.num_frames:
            problems.append(f"num_frames {self.index['num_frames']} != this run's {cfg.num_frames}")
        missing = [k for k in keys if k not in self._where]
        if missing:
            problems.append(f"{len(missing)} of the {len(keys)} pool videos have no labels (first: {missing[:3]})")
        if prompts is None and not self.has_text:
            problems.append("no caption embeddings (the pool had uncaptioned videos) but unlabeled_text='captions'")
        if prompts is not None:
            if not self.index.get("prompts"):
                problems.append("no prompt embeddings: rerun pseudo_labels with this unlabeled_text")
            elif list(self._prompts()["prompts"]) != list(prompts):
                problems.append(f"the cached prompts differ from {cfg.unlabeled_text!r}")
        if problems:
            raise ConfigError(f"pseudo_labels={str(self.dir)!r} do not fit this run: " + "; ".join(problems) +
                              ". Recompute them with `python -m fitclip.pseudo_labels --config run.json` and a new "
                              "pseudo_labels folder (or use teacher_mode='online')")

    def check_dim(self, dim: int) -> None:
        """ConfigError unless the labels have the model's embedding dimension (the index says theirs)."""
        if self.dim != dim:
            raise ConfigError(f"pseudo_labels={str(self.dir)!r} hold {self.dim}-dimensional embeddings, this run's "
                              f"model makes {dim}-dimensional ones: they are another teacher's; {RERUN} into a "
                              f"new pseudo_labels folder, or use teacher_mode='online'")

    def _prompts(self) -> dict[str, Any]:
        path = self.dir / self.index["prompts"]
        prompts, why = read_shard(path)
        if why is None and not (isinstance(prompts, dict) and isinstance(prompts.get("prompts"), list)
                                and isinstance(prompts.get("text"), torch.Tensor)
                                and prompts["text"].shape == (len(prompts["prompts"]), self.dim)):
            why = "not the prompts and their embeddings"
        if why is not None:
            raise ConfigError(f"{path} is {why}; {RERUN}")
        return prompts

    def prompt_text(self) -> torch.Tensor:
        """Teacher embeddings of the prompts, float32 [m, D]."""
        return self._prompts()["text"].float()

    def get(self, keys: Sequence[str], text: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher (video [B, D], caption text [B, D] or None) embeddings, float32, for these keys."""
        where = [self._where[k] for k in keys]
        video = torch.stack([self._shards[s]["video"][r] for s, r in where]).float()
        if not text:
            return video, None
        return video, torch.stack([self._shards[s]["text"][r] for s, r in where]).float()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        cfg, _ = parse_cli(argv)
        validate(cfg, for_pseudo_labels=True)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    d = None
    try:
        d = setup_distributed(cfg)
        path = compute_pseudo_labels(cfg, d)
        if d.main:
            print(json.dumps({"pseudo_labels": str(path)}))
    except Exception as e:  # noqa: BLE001
        from fitclip.models import WeightsUnavailable

        if isinstance(e, (ConfigError, WeightsUnavailable)):  # WeightsUnavailable: an open_clip tag offline
            print(f"error: {e}", file=sys.stderr)
        elif isinstance(e, OSError) and (e.strerror or "").startswith("cannot write "):  # a full disk, mostly
            print(f"error: {e.strerror} (the shards already written are kept: the rerun resumes)", file=sys.stderr)
        else:
            import traceback
            traceback.print_exc()
        if d is not None and d.world > 1:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        return 1
    teardown_distributed()
    return 0


if __name__ == "__main__":
    from fitclip.pseudo_labels import main as _main

    sys.exit(_main())
