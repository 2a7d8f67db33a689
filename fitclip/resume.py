"""Resuming a training run (`python -m fitclip.train --resume [PATH]`): what a checkpoint holds
(:func:`checkpoint_state`, the format `fitclip.train` writes), reading the `--resume` one back and checking it
against the run (:func:`read_resume_checkpoint`: its config, start weights; :func:`check_resume_videos`: its
videos), restoring what it holds (:func:`restore_checkpoint`), the metrics log trimmed to its step
(:func:`prepare_log`, :func:`trim_metrics`), a finished run's report (:func:`finished_run`) and `--resume`'s
default checkpoint (:func:`default_resume`). Used by `fitclip.train`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from fitclip.config import KEYS_BEFORE_THEY_EXISTED, RESUMABLE_CHANGES, ConfigError, TrainConfig
from fitclip.files import CheckpointDamaged, atomic_write_text, load_state
from fitclip.models import VideoCLIP
from fitclip.objectives import TrainingSwitches
from fitclip.runtime import Dist, RunError
from fitclip.start_weights import same_teacher
from fitclip.streams import Stream, set_rng_state

CHECKPOINT_FORMAT = "fitclip-train-v1"


def checkpoint_state(student: VideoCLIP, optimizer: torch.optim.Optimizer, step: int, rngs: list, streams: dict,
                     best: dict, cfg: TrainConfig, world: int, start_weights: dict[str, Any],
                     switches: TrainingSwitches | None = None, videos: dict[str, str] | None = None) -> dict[str, Any]:
    """What a checkpoint holds (module docstring of `fitclip.train`): the student's weights (with the switches'
    entries: θ₀, projectors, EMA, those on), the optimizer, step, every rank's RNG states `rngs`, the streams'
    positions, the best validation loss, the config, the world size, the start weights and the videos."""
    weights = {k: v.detach().cpu() for k, v in student.clip.state_dict().items()}
    entries = {"student": weights} if switches is None else switches.checkpoint_entries(weights)
    return {"format": CHECKPOINT_FORMAT, **entries, "optimizer": optimizer.state_dict(), "step": step, "rng": rngs,
            "data": {name: s.state() for name, s in streams.items()}, "best": dict(best),
            "config": cfg.to_dict(), "world_size": world, "start_weights": start_weights, "videos": videos}


def read_resume_checkpoint(resume: str | os.PathLike, cfg: TrainConfig, out: Path,
                           start_weights: dict[str, Any]) -> dict[str, Any]:
    """The `--resume` checkpoint, checked; a damaged or foreign file is a RunError naming what to fall back to."""
    path = Path(resume)
    best = out / "best_labeled.pt"
    fallback = (f"fall back to the best checkpoint with --resume {best} (an earlier step; the steps after it are "
                f"redone)" if best.is_file() and best.resolve() != path.resolve() else
                f"{out} has no other checkpoint: start a new out_dir")
    try:
        ckpt = load_state(path)
    except CheckpointDamaged as e:
        raise RunError(f"--resume: {e}; {fallback}") from None
    except (ValueError, FileNotFoundError) as e:
        raise RunError(f"--resume: {e}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"--resume {path}: not a fitclip training checkpoint (no format {CHECKPOINT_FORMAT!r}); "
                       f"pass the last.pt or best_labeled.pt of a training run")
    check_resume_config(ckpt["config"], cfg, path)
    started = ckpt.get("start_weights")  # absent in checkpoints written before it was recorded
    if started is not None and not same_teacher(started, start_weights):
        now = start_weights
        raise ConfigError(f"--resume {path}: the run started from other weights than pretrained={cfg.pretrained!r} holds "
                       f"now (sha256 {str(started.get('pretrained_sha256', started))[:12]} then, "
                       f"{str(now.get('pretrained_sha256', now))[:12]} now): resuming would continue a student of another "
                       f"teacher. Start a new out_dir (or delete {out}) to train from the current weights")
    return ckpt


def check_resume_config(saved: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    """A ConfigError naming every key in which `cfg` differs from the checkpoint's config `saved`, but for the
    operational ones (`RESUMABLE_CHANGES`); keys a checkpoint predates count as their old meaning."""
    if "bf16" in saved and "precision" not in saved:  # a checkpoint from before `precision`
        saved = {**saved, "precision": "bf16" if saved["bf16"] else "fp32"}
    saved = {**KEYS_BEFORE_THEY_EXISTED, **saved}  # a checkpoint from before a key ran with what its default means
    diff = [k for k, v in cfg.to_dict().items() if k not in RESUMABLE_CHANGES and saved.get(k) != v]
    if diff:
        detail = ", ".join(f"{k}: {saved.get(k)!r} in the checkpoint vs {getattr(cfg, k)!r} now" for k in diff)
        raise ConfigError(f"--resume {path}: the config differs from the checkpoint's ({detail}); a resumed run "
                          f"must compute the same thing (only {', '.join(RESUMABLE_CHANGES)} may change). "
                          f"Use the run's config.json, or start a new out_dir")


def check_resume_videos(ckpt: dict[str, Any], videos: dict[str, str], path: Path, out: Path) -> None:
    """A resumed run must train on the videos it started on: a ConfigError naming the sets whose videos changed
    (checkpoints written before the record was kept resume as before)."""
    started = ckpt.get("videos")
    if started is None:
        return
    changed = [k for k in videos if started.get(k) != videos[k]]
    if changed:
        raise ConfigError(f"--resume {path}: the videos of {', '.join(changed)} changed since this run started (a file "
                          f"re-rendered, re-encoded or replaced): resuming would continue a student of other data. "
                          f"Start a new out_dir (or delete {out}) to train on the current videos")


def restore_checkpoint(ckpt: dict[str, Any], student: VideoCLIP, optimizer: torch.optim.Optimizer,
                       streams: dict[str, Stream], d: Dist, switches: TrainingSwitches) -> tuple[int, dict[str, Any]]:
    """Load everything a checkpoint holds (weights, optimizer, stream positions, this rank's RNG states; the
    projectors and the EMA of the switches that are on); returns (step, best)."""
    student.clip.load_state_dict(switches.restore(ckpt))
    optimizer.load_state_dict(ckpt["optimizer"])
    for name, s in streams.items():
        s.load_state(ckpt["data"][name])
    if ckpt["world_size"] == d.world:
        set_rng_state(ckpt["rng"][d.rank])
    elif d.main:
        print(f"warning: resuming a {ckpt['world_size']}-process run with {d.world} processes: data shards and "
              f"RNG streams differ from the original run (not an exact continuation)", file=sys.stderr)
    return int(ckpt["step"]), dict(ckpt["best"])


def prepare_log(metrics_path: Path, ckpt: dict[str, Any] | None) -> None:
    """The metrics log of a resumed run keeps the lines up to its checkpoint; a log without a checkpoint
    (a run that died before its first one) is emptied: the run starts over."""
    if ckpt is not None:  # drop lines past the checkpoint: they will be redone
        for note in trim_metrics(metrics_path, int(ckpt["step"])):
            print(f"note: {note}", file=sys.stderr)
    elif metrics_path.exists():  # validate let it through: a run that died before its first checkpoint
        print(f"note: {metrics_path} is from a run that wrote no checkpoint; starting over", file=sys.stderr)
        atomic_write_text(metrics_path, "")


def trim_metrics(path: Path, step: int) -> list[str]:
    """On resume: rewrite `metrics.jsonl` (atomically) with only the lines of steps <= `step`, the
    checkpoint's; the resumed run redoes the later ones. Returns notes for the user.

    A final line that is not JSON is what a kill in the middle of its write leaves; as a log reader should,
    it is dropped (with a note): its step is past the checkpoint, since a step's line reaches the disk
    before its checkpoint. An unreadable line anywhere else means the file is damaged: RunError naming it.
    """
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    keep, notes = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            if number == len(lines):
                notes.append(f"{path}: dropped a torn final line (line {number}, {len(line)} characters) left by "
                             f"an interrupted write; its step is redone")
                continue
            raise RunError(f"{path}: line {number} is not a JSON object ({line[:40]!r}): the log is damaged; "
                           f"remove that line, then --resume again") from None
        if int(record.get("step", 0)) <= step:
            keep.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in keep))
    return notes


def finished_run(cfg: TrainConfig, d: Dist, out: Path, saved: tuple[Path, int], ckpt: dict[str, Any]) -> dict[str, Any]:
    """`--resume` of a run whose checkpoint is at max_steps: a finished run reports its end again and writes
    nothing (notebook 03 re-runs do this). A checkpoint PAST max_steps is a ConfigError: a run cannot go back,
    and quietly "finishing" it would rewrite config.json with a max_steps the checkpoint already passed."""
    path, step = saved
    if step > cfg.max_steps:
        raise ConfigError(f"--resume {path}: the checkpoint is at step {step}, past max_steps={cfg.max_steps}, and a "
                          f"run cannot go back; give --max_steps {step} or more (--max_steps {step} just reports the "
                          f"finished run), or start a new out_dir. Nothing was changed")
    if d.main:
        print(f"note: {path} is at step {step} = max_steps: the run is finished, nothing to do (raise --max_steps "
              f"to train on)", file=sys.stderr)
    return {"step": step, "best": dict(ckpt["best"]), "losses": _logged_losses(out / "metrics.jsonl", step),
            "out_dir": str(out)}


def _logged_losses(path: Path, step: int) -> dict[str, Any]:
    """The loss terms the log holds for `step` ({} when it has none: the summary is informational)."""
    with contextlib.suppress(OSError):
        for line in reversed(path.read_text(encoding="utf-8", errors="replace").splitlines()):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("step") == step:
                    return {k: record.get(k) for k in ("total", "labeled", "distill")}
    return {}


def default_resume(cfg: TrainConfig) -> str | None:
    """`--resume` without a path: `<out_dir>/last.pt`, or None (a fresh start, with a note) when the folder
    holds no checkpoint, e.g. a run that died before its first one."""
    out = Path(cfg.out_dir).expanduser()
    if (out / "last.pt").is_file():
        return str(out / "last.pt")
    if (out / "best_labeled.pt").is_file():
        raise ConfigError(f"--resume: {out} has best_labeled.pt but no last.pt; continue from it with "
                          f"--resume {out / 'best_labeled.pt'}, or choose another out_dir")
    if os.environ.get("RANK", "0") == "0":
        print(f"note: --resume: {out} holds no checkpoint; starting a new run there", file=sys.stderr)
    return None
