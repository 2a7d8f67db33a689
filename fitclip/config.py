"""The training configuration: ONE frozen dataclass, two presets, a JSON file + ``--key value`` CLI.

Resolution order (later wins): the preset's values (``paper`` unless the file or ``--preset`` says
otherwise) < the ``--config run.json`` file < ``--key value`` overrides. Each value is checked against its
field's annotation (``typing.get_type_hints``): a file's (or a Python dict's) value must be of that JSON type
(``"lr": "1e-4"``, a quoted number, is refused: the file says what its author meant only without the quotes),
while a command-line value, a string by nature, is parsed (``--lr 1e-4``). The CLI is an ``argparse`` parser
generated from the dataclass fields (:func:`cli_parser`). Unknown keys, values of the wrong type and values out
of range are errors (:class:`ConfigError`, a ``ValueError``) that name the key, the value and the fix, raised
by :func:`validate` BEFORE any model or data is loaded. The resolved config is saved with every checkpoint
and as ``config.json`` in ``out_dir``; that file is itself a valid ``--config``.

Presets (every value can be overridden):

==============================  ===============================  ==================  =========================
key                             ``paper`` (default)              ``reference-code``  ``toy`` (synthetic world)
==============================  ===============================  ==================  =========================
``temperature`` (fixed τ)       0.05                             0.015               0.05
``lam`` (λ, distillation)       1e-4                             1e-4                1e-4
``distill_scale``               ``inverse_temperature_squared``  same                same
``lr`` (AdamW, no schedule,     3e-5                             3e-6                3e-4
no clipping)
``weight_decay`` / ``betas``    0.01 / (0.9, 0.999)              same                same
batch per process               8 labeled + 8 unlabeled          same                32 labeled + 8 unlabeled
``num_frames``                  4 (train sampler + transform)    same                same
``hflip`` (train flip, p = 0.5)  on                               same                off
``max_steps``                   1000 (set it for your budget)    same                300
``val_every``                   30 steps, labeled val            same                75
selection                       ``best_labeled.pt`` (lowest      same                same
                                labeled val loss)
==============================  ===============================  ==================  =========================

``toy`` is the recipe of the demo's tiny CLIP on the synthetic world (with a 500-video labeled subset),
chosen on the WebVid-like VALIDATION split only (``fitclip.study.recipes.sweep``): the highest val MRR of
``best_labeled.pt`` fused with the teacher at its best α (what FitCLIP ships; the unfused student's val MRR
picks the same run) over lr × step budget at batch 32 without flip, ties to the cheaper run (README, "The
toy recipe"). The real recipe keeps ``paper`` / ``reference-code``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import json
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn, Sequence

from fitclip.encoding import PRECISIONS
from fitclip.losses import DISTILLATION_SCALES

__all__ = ["KEYS", "PRESETS", "RESUMABLE_CHANGES", "UPPER_BOUNDS", "ConfigError", "TrainConfig", "cli_parser",
           "config_from_dict", "load_config", "parse_cli", "resolve_path", "validate"]

TEACHER_MODES = ("cached", "online")
DEVICES = ("auto", "cpu", "cuda")
DISTILL_OBJECTIVES = ("similarity_kl", "feature_cosine")
#: What a checkpoint written before each of these keys existed ran with (read by resume checks and protocol cards).
KEYS_BEFORE_THEY_EXISTED: dict[str, Any] = {"hflip": True, "weight_penalty": 0.0, "text_lr_scale": 1.0,
                                            "distill": "similarity_kl", "interpolation_max": 0.0, "ema_decay": 0.0}
#: The keys that say what a student was trained to do (recorded on the protocol card of every evaluation).
OBJECTIVE_KEYS = ("lam", "distill", "weight_penalty", "interpolation_max", "ema_decay", "text_lr_scale")
UNLABELED_DATASETS = ("webvid", "folder")


class ConfigError(ValueError):
    """A bad training configuration; the message names every offending key, its value and the fix."""


def _default_unlabeled() -> dict[str, Any]:
    return {"name": "webvid", "split": "train", "exclude_labeled": True}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run (and `fitclip.pseudo_labels`) depends on. See the module docstring.

    Attributes:
        preset: "paper", "reference-code" or "toy" (the synthetic world's); the base values the other keys
            override.
        arch: open_clip architecture of teacher and student (e.g. "ViT-B-16", "fitclip-tiny").
        pretrained: open_clip tag (e.g. "openai"), a weights file, or "none" (random init from `seed`).
            Teacher and student both start from these weights.
        temperature: fixed τ of both losses (> 0).
        lam: λ in [0, 1]: total = λ·distill + (1−λ)·labeled. 0 = plain fine-tuning, no teacher work.
        distill_scale: "inverse_temperature_squared" (c = 1/τ², original code) or "none" (c = 1).
        lr, weight_decay, betas: AdamW; no schedule, no gradient clipping.
        batch_size_labeled, batch_size_unlabeled: clips per PROCESS per step (global = × world size).
        batch_size_eval: clips per forward in `fitclip.pseudo_labels` (no effect on results).
        num_frames: frames per clip (train sampler + train transform; eval ones for val/pseudo labels).
        weight_penalty: weight of the anchor to the start weights, weight_penalty · Σ (θ − θ₀)² / 2, added to
            Eq. 5's total (L2-SP; EWC with an identity Fisher, as Open-VCLIP's ``TRAIN.EWC_SET``); 0 = off.
        text_lr_scale: the text tower's learning rate is ``lr × text_lr_scale`` (1 = off; 0 freezes the text
            tower, as MoTE and Text4Vis do), in [0, 1].
        distill: the distillation term λ weights: "similarity_kl" (FitCLIP's Eq. 3–4, default) or
            "feature_cosine" (FROSTER's residual feature distillation, `fitclip.objectives`; needs λ > 0).
        interpolation_max: Open-VCLIP's interpolated weight optimisation: each step r ~ U(0, interpolation_max)
            and the loss's gradient at θ_r = r·θ₀ + (1 − r)·θ, times 0.5, is added to the gradient at θ (a
            second forward/backward per step); in [0, 1), 0 = off.
        ema_decay: an exponential moving average of the weights (θ_ema ← d·θ_ema + (1 − d)·θ each step) is
            validated and saved as the student; in [0, 1), 0 = off.
        hflip: the train transform's horizontal flip of a clip (p = 0.5; the original recipe's). Off in
            the ``toy`` preset: the synthetic world's captions say "moving left", which a flip makes false
            for half of those clips.
        max_steps: optimizer steps to run.
        val_every: labeled-val loss every N steps (and at the last step); 0 disables validation (and
            `best_labeled.pt`).
        save_every: write `last.pt` every N steps (always at the end); 0 = only at the end.
        keep_every: also keep a copy of the checkpoint every N steps as `step<N>.pt` (for checkpoint averaging,
            ``python -m fitclip average``); 0 = keep none.
        teacher_mode: "cached" (read `pseudo_labels`) or "online" (run the frozen teacher each step on
            its own independently sampled frames and crops, as the original code did).
        pseudo_labels: folder written by `python -m fitclip.pseudo_labels` (needed for "cached", λ > 0).
        pseudo_label_shard_size: videos per pseudo-label shard file (the unit of resumption).
        data_root: folder holding `webvid/` (results_2M_{train,val}.csv + videos/).
        labeled_csv: the seeded labeled subset (WebVid columns videoid,name,page_dir), e.g. written by
            `fitclip.annotations.sample_labeled_subset(..., n=4500, seed=0, out_csv=...)`. Relative paths
            are relative to `<data_root>/webvid/`.
        val_csv: optional subset of WebVid val for validation (default: all of results_2M_val.csv).
        video_folder: your own videos instead of WebVid: a folder of videos; `labeled_csv` and `val_csv` are then
            captions files of it (``path,caption[,start,end]``: the path relative to the folder, optional clip
            window in seconds; the files relative to the folder or absolute), the labeled set and its held-out
            validation set. The pool is ``unlabeled={"name": "folder", "path": ...}`` (captions optional there,
            with `unlabeled_text` a prompts file). None (default): WebVid's layout under `data_root`.
        unlabeled: the unlabeled pool: {"name": "webvid", "split": "train", "exclude_labeled": true,
            ...webvid options} or {"name": "folder", "path": DIR, "captions": CSV, ...folder options}.
            "exclude_labeled" drops the labeled subset's videos from the pool.
        unlabeled_text: "captions" (each unlabeled video paired with its own caption, as the original)
            or the path of a prompts file (one prompt per line; n videos × m prompts, shared by ranks).
        out_dir: where metrics.jsonl, config.json, run_info.json, last.pt, best_labeled.pt go.
        seed: seeds data order, frame picks, crops, random init ("none" weights) and RNGs.
        num_workers: DataLoader workers per stream (results do not depend on it).
        device: "auto" (CUDA if available), "cpu" or "cuda".
        precision: "fp32" (default) or "bf16": autocast of the forward passes (student, teacher, validation;
            the optimizer's weights stay fp32). bf16 is for GPUs; it runs on a CPU, slower than fp32. An
            older config's ``bf16: true/false`` is read as ``precision: bf16/fp32``.
        collective_timeout_s: a collective waiting longer than this (a dead or hung rank) raises and
            the job exits non-zero instead of hanging.
    """

    preset: str = "paper"
    arch: str = "ViT-B-16"
    pretrained: str = "openai"
    temperature: float = 0.05
    lam: float = 1e-4
    distill_scale: str = "inverse_temperature_squared"
    lr: float = 3e-5
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size_labeled: int = 8
    batch_size_unlabeled: int = 8
    batch_size_eval: int = 32
    num_frames: int = 4
    weight_penalty: float = 0.0
    text_lr_scale: float = 1.0
    distill: str = "similarity_kl"
    interpolation_max: float = 0.0
    ema_decay: float = 0.0
    hflip: bool = True
    max_steps: int = 1000
    val_every: int = 30
    save_every: int = 30
    keep_every: int = 0
    teacher_mode: str = "cached"
    pseudo_labels: str | None = None
    pseudo_label_shard_size: int = 4096
    data_root: str = "data"
    labeled_csv: str | None = None
    val_csv: str | None = None
    video_folder: str | None = None
    unlabeled: dict[str, Any] = field(default_factory=_default_unlabeled)
    unlabeled_text: str = "captions"
    out_dir: str = "runs/fitclip"
    seed: int = 0
    num_workers: int = 4
    device: str = "auto"
    precision: str = "fp32"
    collective_timeout_s: float = 1800.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    def replace(self, **changes: Any) -> "TrainConfig":
        return config_from_dict({**self.to_dict(), **changes}, base=None)


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"temperature": 0.05, "lr": 3e-5},
    "reference-code": {"temperature": 0.015, "lr": 3e-6},
    # The synthetic world's recipe for fitclip-toy, chosen on the WebVid-like VALIDATION split only (never
    # a benchmark) by `fitclip.study.recipes.sweep`; the table and the rule are in the README ("The toy recipe").
    "toy": {"temperature": 0.05, "lr": 3e-4, "batch_size_labeled": 32, "max_steps": 300, "val_every": 75,
            "save_every": 75, "hflip": False},
}

KEYS: tuple[str, ...] = tuple(f.name for f in fields(TrainConfig))


def _key_help(doc: str) -> dict[str, str]:
    """Each key's description, read from `TrainConfig`'s "Attributes:" docstring (one source for both)."""
    out: dict[str, str] = {}
    names: list[str] = []
    for line in doc.split("Attributes:", 1)[1].splitlines():
        head = re.match(r"^ {8}([a-z_][a-z0-9_, ]*):\s+(.*)$", line)
        if head:
            names = [n.strip() for n in head.group(1).split(",")]
            for n in names:
                out[n] = head.group(2)
        elif line.startswith(" " * 12) and names:
            for n in names:
                out[n] += " " + line.strip()
    return out


#: `--help` text per key (`python -m fitclip.train --help`).
KEY_HELP: dict[str, str] = _key_help(TrainConfig.__doc__ or "")
# Each field's annotation drives the parsing of its JSON or CLI value (see `_parse`).
_HINTS: dict[str, Any] = typing.get_type_hints(TrainConfig)
_TRUE, _FALSE, _NONE = ("true", "1", "yes", "on"), ("false", "0", "no", "off"), ("none", "null", "")


def _unknown(key: str, where: str) -> str:
    close = difflib.get_close_matches(key, KEYS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown config key {key!r} ({where}); {hint}valid keys: {', '.join(KEYS)}"


def _optional(hint: Any) -> Any | None:
    """The inner type of ``X | None`` (None for any other annotation)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return inner
    return None


def _type_name(hint: Any) -> str:
    if _optional(hint) is not None:
        return f"{_type_name(_optional(hint))} or none"
    if typing.get_origin(hint) is tuple:
        return f"list of {len(typing.get_args(hint))} {typing.get_args(hint)[0].__name__}s"
    if typing.get_origin(hint) is dict:
        return "JSON object"
    return {str: "string"}.get(hint, getattr(hint, "__name__", str(hint)))


class _NotA(ValueError):
    """`_parse`'s refusal; the message completes "KEY=VALUE is ...": what is wrong and, where it helps, how
    to write it."""


#: A JSON number above this is no longer an exact integer (doubles have 53 bits of mantissa): `1e30`
#: would silently become 1000000000000000019884624838656.
_EXACT_INT = 2 ** 53


def _int(number: float) -> int:
    if not math.isfinite(number) or not float(number).is_integer():
        raise _NotA("not a valid int (not a whole number)")
    if abs(number) >= _EXACT_INT:
        raise _NotA("not a valid int (too large to be exact: above 2**53 a number is rounded)")
    return int(number)


def _parse(hint: Any, value: Any, cli: bool = False) -> Any:
    """A JSON value (`cli=False`) or a command-line string (`cli=True`) → the annotated type (str, int, float,
    bool, X | None, tuple[...], dict). Raises ValueError (or TypeError) when `value` is not one; never
    silently drops a fraction or a bool.

    Only a command-line value is text by nature and parsed as such ("1e-4", "true", "0.9,0.999"); a JSON
    value must already be of the type: ``"lr": "1e-4"`` in a file is refused (:func:`_json_fix` says how to
    write it), so a quoted number is never read differently from what the file's author thought it was."""
    text = value.strip() if isinstance(value, str) else None
    if (inner := _optional(hint)) is not None:
        # "none" / "null" / "" stay None in a file too: these are path keys, and no path is named "none".
        return None if value is None or (text is not None and text.lower() in _NONE) else _parse(inner, value, cli)
    if text is not None and not cli and hint is not str:
        raise _NotA(f"a string; {_json_fix(hint, value)}")
    origin = typing.get_origin(hint)
    if hint is str and text is not None:
        return value
    if hint is bool:
        if isinstance(value, bool) or (text is not None and text.lower() in _TRUE + _FALSE):
            return value if isinstance(value, bool) else text.lower() in _TRUE
    elif hint in (int, float) and not isinstance(value, bool):
        if hint is int and text is not None and text.lstrip("+-").isdigit():
            return int(text)  # any size: `validate` names the bound it passes
        number = value if isinstance(value, (int, float)) else float(text) if text is not None else None
        if hint is float and number is not None:
            return float(number)
        if isinstance(number, int):
            return number
        if isinstance(number, float):
            return _int(number)
    elif origin is tuple:
        if text is not None:
            value = json.loads(text) if text.startswith("[") else text.split(",")
        args = typing.get_args(hint)
        if isinstance(value, (list, tuple)) and len(value) == len(args):
            if not cli and any(isinstance(v, str) for v in value):
                raise _NotA(f"a list of strings; {_json_fix(hint, value)}")
            return tuple(_parse(a, v, cli) for a, v in zip(args, value))
    elif origin is dict:
        value = json.loads(text) if text is not None else value
        if isinstance(value, dict):
            return dict(value)
    raise ValueError(f"not a {_type_name(hint)}")


def _json_fix(hint: Any, value: Any) -> str:
    """How to write `value`, a string (or a list of strings) in a file, as the JSON value of type `hint`."""
    kind = {bool: "a JSON bool", int: "a JSON number", float: "a JSON number"}.get(
        hint, "a JSON list" if typing.get_origin(hint) is tuple else "a JSON object")
    try:
        parsed = _parse(hint, value, cli=True)
    except (ValueError, TypeError):
        return f"write it as {kind}, e.g. {_json_example(hint)}"
    text = value.strip() if isinstance(value, str) else ""
    with contextlib.suppress(ValueError):
        if hint in (int, float) and isinstance(json.loads(text), (int, float)):  # as typed, if JSON reads it
            return f"write it as {kind}, without quotes: {text}"
    return f"write it as {kind}, without quotes: {json.dumps(list(parsed) if isinstance(parsed, tuple) else parsed)}"


def _json_example(hint: Any) -> str:
    return {bool: "true", int: "1000", float: "3e-05"}.get(hint, "[0.9, 0.999]" if typing.get_origin(hint) is tuple
                                                           else "{}")


def _parse_unlabeled(value: Any, cli: bool = False) -> Any:
    """`unlabeled` also takes the shorthand "webvid" or "folder:/path/to/videos" (a string names the pool
    unambiguously, so a file may use it too); webvid gets its defaults."""
    if isinstance(value, str) and not value.strip().startswith("{"):
        name, _, path = value.strip().partition(":")
        value = {"name": name} if not path else {"name": name, "path": path}
    value = _parse(dict[str, Any], value, cli=cli or isinstance(value, str))
    return {**_default_unlabeled(), **value} if value.get("name") == "webvid" else value


def _coerce(key: str, value: Any, cli: bool = False) -> Any:
    """Turn a JSON value (or, `cli`, a command-line string) into the key's annotated type; ConfigError naming
    the key, the value and the fix otherwise."""
    try:
        return _parse_unlabeled(value, cli) if key == "unlabeled" else _parse(_HINTS[key], value, cli)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{key}={value!r} is not valid JSON ({e.msg}); e.g. {_example(key)}") from None
    except _NotA as e:
        raise ConfigError(f"{key}={value!r} is {e}") from None
    except (ValueError, TypeError):
        raise ConfigError(f"{key}={value!r} is not a valid {_type_name(_HINTS[key])} (e.g. {_example(key)})") from None


def _coerce_bool(key: str, value: Any) -> bool:
    try:
        return _parse(bool, value)
    except _NotA as e:
        raise ConfigError(f"{key}={value!r} is {e} (bf16 is the older name of precision; "
                          f"\"precision\": \"bf16\" or \"fp32\" says the same)") from None
    except (ValueError, TypeError):
        raise ConfigError(f"{key}={value!r} is not a valid bool (true/false)") from None


def _typed(values: dict[str, Any], where: str, cli: bool = False) -> dict[str, Any]:
    """Each value of one source (a config file or dict: JSON values; the command line, `cli`: strings) as its
    key's type. ConfigError listing every unknown key, else every bad value; `where` names the source."""
    if not isinstance(values, dict):
        raise ConfigError(f"a config must be a JSON object of key: value, got {type(values).__name__}")
    legacy = "bf16" in values and "precision" not in values  # the key before `precision` (saved run configs)
    errors = [_unknown(k, where) for k in values if k not in KEYS and not (k == "bf16" and legacy)]
    if errors:
        raise ConfigError("\n".join(errors))
    out: dict[str, Any] = {}
    for k, v in values.items():
        try:
            if k == "bf16":
                out["precision"] = "bf16" if _coerce_bool("bf16", v) else "fp32"
            else:
                out[k] = _coerce(k, v, cli)
        except ConfigError as e:
            errors.append(str(e) if where in ("config", "command line") else f"{where}: {e}")
    if errors:
        raise ConfigError("\n".join(errors))
    return out


def _example(key: str) -> str:
    return {
        "betas": "[0.9, 0.999] or 0.9,0.999", "unlabeled": '{"name": "webvid", "split": "train"} or '
        '{"name": "folder", "path": "/videos", "captions": "captions.csv"}', "precision": "fp32 or bf16",
    }.get(key, repr(getattr(TrainConfig(), key)))


def config_from_dict(values: dict[str, Any], base: str | None = "paper", *,
                     cli: dict[str, str] | None = None) -> TrainConfig:
    """Build a TrainConfig from (preset values <) `values` (< `cli`). Checks keys and types, not ranges.

    Args:
        values: config keys → JSON values (what a config file holds, or a dict built in Python): each must
            already be of its key's type (an integral float is an int); a string where a number or a bool is
            wanted (``"lr": "1e-4"``) is refused, naming the key, the value and how to write it.
        base: preset to start from when neither `values` nor `cli` names a "preset" (None: dataclass defaults).
        cli: command-line values (strings by nature), parsed by the key's annotation; they override `values`.
    """
    errors, typed = [], []
    for source, where, as_text in ((values, "config", False), (cli or {}, "command line", True)):
        try:
            typed.append(_typed(source, where, as_text))
        except ConfigError as e:
            errors.append(str(e))
    if errors:
        raise ConfigError("\n".join(errors))
    return _build({**typed[0], **typed[1]}, base)


def _build(out: dict[str, Any], base: str | None) -> TrainConfig:
    """The preset's values < `out` (already typed)."""
    preset = out.get("preset", base)
    merged: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"preset={preset!r} is unknown; use one of {', '.join(PRESETS)}")
        merged.update(PRESETS[preset])
        merged["preset"] = preset
    merged.update(out)
    return TrainConfig(**merged)


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON config file (a dict of keys; it may be a run's saved config.json)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a config must be a JSON object of key: value")
    return values


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would print usage and exit(2)
        raise ConfigError(f"command line: {message} (config options are --KEY VALUE, e.g. --lr 3e-5)")


def cli_parser(extra_flags: Sequence[str] = ()) -> argparse.ArgumentParser:
    """``--config FILE`` (repeatable), ``--preset NAME``, one ``--key VALUE`` (or ``--key-name``) per config
    field, and each of `extra_flags` with an optional value. Values stay strings: :func:`parse_cli` parses
    them by the field's annotation, so every bad value is reported at once."""
    p = _Parser(add_help=False, allow_abbrev=False)
    p.add_argument("--config", action="append", default=[], metavar="FILE")
    for f in fields(TrainConfig):
        names = dict.fromkeys([f"--{f.name}", f"--{f.name.replace('_', '-')}"])
        flag = _HINTS[f.name] is bool  # a bool option alone means true
        p.add_argument(*names, dest=f.name, default=argparse.SUPPRESS, nargs="?" if flag else None,
                       const="true" if flag else None, metavar="VALUE", help=KEY_HELP.get(f.name, "").replace("%", "%%"))
    for name in extra_flags:  # given without value: True
        p.add_argument(f"--{name}", dest=name, default=argparse.SUPPRESS, nargs="?", const=True)
    return p


def parse_cli(argv: Sequence[str], extra_flags: Sequence[str] = ()) -> tuple[TrainConfig, dict[str, Any]]:
    """Parse ``--config FILE --preset NAME --key value ...`` (also ``--key=value``).

    Args:
        argv: the arguments (no program name).
        extra_flags: program flags that are not config keys (e.g. "resume"); each takes an optional
            value, returned in the second element (a flag given without value maps to True).

    Returns:
        (config, {flag: value}). Not validated: call :func:`validate`.
    """
    args, rest = cli_parser(extra_flags).parse_known_args(list(argv))
    if rest:
        name = rest[0][2:].partition("=")[0].replace("-", "_")
        raise ConfigError(_unknown(name, "command line") if rest[0].startswith("--") and name else
                          f"unexpected argument {rest[0]!r}; arguments are --config FILE, --preset NAME and "
                          f"--key value pairs for config keys ({', '.join(KEYS)})")
    given = vars(args)
    flags = {name: given.pop(name) for name in extra_flags if name in given}
    # The files' values are JSON (typed: a quoted number is refused), the command line's are strings (parsed):
    # the two are typed apart, then merged; every bad value of every source is reported at once.
    values: dict[str, Any] = {}
    errors = []
    for path in given.pop("config"):
        try:
            values.update(_typed(load_config(path), str(path)))
        except ConfigError as e:
            errors.append(str(e))
    try:
        values.update(_typed(given, "command line", cli=True))  # preset < file < CLI (--preset included)
    except ConfigError as e:
        errors.append(str(e))
    if errors:
        raise ConfigError("\n".join(errors))
    return _build(values, "paper"), flags


#: (key, largest value, why). Past these a value is a slip (an extra zero, a unit) that would fail much
#: later — an out-of-memory after the data is loaded, a run of months, two seeds giving one run — so
#: `validate` refuses it up front, with the reason.
UPPER_BOUNDS: tuple[tuple[str, int | float, str], ...] = (
    ("num_frames", 128, "frames per clip; the recipes use 4, and 128 frames x 8+8 clips is already 2,048 images "
                        "through the student per step"),
    ("max_steps", 10 ** 7, "the paper's run is 1,000 steps; 10 million steps at 10 steps/s is 11 days"),
    ("batch_size_labeled", 2 ** 16, "65,536 clips x 4 frames of 3x224x224 floats is 158 GB, more than any GPU"),
    ("batch_size_unlabeled", 2 ** 16, "65,536 clips x 4 frames of 3x224x224 floats is 158 GB, more than any GPU"),
    ("batch_size_eval", 2 ** 16, "65,536 clips x 4 frames of 3x224x224 floats is 158 GB, more than any GPU"),
    ("seed", 2 ** 32 - 1, "numpy takes seeds below 2**32; a larger one would be folded onto a smaller one, "
                          "giving another seed's run"),
    ("num_workers", 256, "loader processes per stream and rank, more than any machine's cores"),
    ("collective_timeout_s", 7 * 24 * 3600, "7 days: a rank silent for longer is dead, and the job should end"),
)


def resolve_path(cfg: TrainConfig, value: str | None) -> Path | None:
    """`labeled_csv` / `val_csv` relative paths are relative to `video_folder` when set, else to
    `<data_root>/webvid/` (as the loaders do)."""
    if value is None:
        return None
    p = Path(value).expanduser()
    base = Path(cfg.video_folder).expanduser() if cfg.video_folder else Path(cfg.data_root).expanduser() / "webvid"
    return p if p.is_absolute() else base / p


def validate(cfg: TrainConfig, *, resume: bool = False, check_files: bool = True,
             for_pseudo_labels: bool = False) -> TrainConfig:
    """Check every range and every file the run will need, before any work. Raises ConfigError listing
    ALL problems (key, value and fix), else returns `cfg`.

    Args:
        resume: the run continues `out_dir` (otherwise an `out_dir` holding a checkpoint is an error).
        check_files: also check that data files / folders exist.
        for_pseudo_labels: validating for `python -m fitclip.pseudo_labels` (no out_dir/labeled checks
            beyond what the unlabeled pool needs).
    """
    e: list[str] = []

    def need(ok: bool, msg: str) -> None:
        if not ok:
            e.append(msg)

    finite = lambda x: isinstance(x, (int, float)) and math.isfinite(x)  # noqa: E731
    need(cfg.preset in PRESETS, f"preset={cfg.preset!r}: use one of {', '.join(PRESETS)}")
    need(finite(cfg.lam) and 0.0 <= cfg.lam <= 1.0,
         f"lam={cfg.lam!r} is out of range: λ must be in [0, 1] (0 = plain fine-tuning, paper: 1e-4)")
    need(finite(cfg.temperature) and cfg.temperature > 0,
         f"temperature={cfg.temperature!r} must be > 0 (paper: 0.05, reference-code: 0.015)")
    need(finite(cfg.lr) and cfg.lr > 0, f"lr={cfg.lr!r} must be > 0 (paper: 3e-5, reference-code: 3e-6, toy: 3e-4)")
    need(finite(cfg.weight_decay) and cfg.weight_decay >= 0, f"weight_decay={cfg.weight_decay!r} must be >= 0 (paper: 0.01)")
    need(finite(cfg.weight_penalty) and cfg.weight_penalty >= 0,
         f"weight_penalty={cfg.weight_penalty!r} must be >= 0 (0 = off; the weight of Σ (θ − θ₀)² / 2)")
    need(finite(cfg.text_lr_scale) and 0.0 <= cfg.text_lr_scale <= 1.0,
         f"text_lr_scale={cfg.text_lr_scale!r} must be in [0, 1] (1 = the text tower at lr, 0 = frozen)")
    need(cfg.distill in DISTILL_OBJECTIVES,
         f"distill={cfg.distill!r}: use one of {', '.join(DISTILL_OBJECTIVES)}")
    need(cfg.distill == "similarity_kl" or cfg.distill_scale == "inverse_temperature_squared",
         f"distill_scale={cfg.distill_scale!r} scales FitCLIP's similarity KL only; with distill={cfg.distill!r} it "
         f"would change nothing: drop it (the feature loss is weighted by lam alone)")
    need(cfg.distill == "similarity_kl" or cfg.lam > 0,
         f"distill={cfg.distill!r} with lam=0 trains no distillation at all; give lam > 0 (FROSTER weights its "
         f"feature loss 2:1 against the labeled one, lam≈0.67) or drop distill")
    need(finite(cfg.interpolation_max) and 0.0 <= cfg.interpolation_max < 1.0,
         f"interpolation_max={cfg.interpolation_max!r} must be in [0, 1) (0 = off; Open-VCLIP uses 0.6)")
    need(finite(cfg.ema_decay) and 0.0 <= cfg.ema_decay < 1.0,
         f"ema_decay={cfg.ema_decay!r} must be in [0, 1) (0 = off; e.g. 0.99)")
    need(all(finite(b) and 0.0 <= b < 1.0 for b in cfg.betas),
         f"betas={list(cfg.betas)!r}: both must be in [0, 1) (paper: [0.9, 0.999])")
    for key in ("batch_size_labeled", "batch_size_unlabeled", "batch_size_eval", "num_frames", "max_steps",
                "pseudo_label_shard_size"):
        v = getattr(cfg, key)
        need(v >= 1, f"{key}={v!r} must be >= 1")
    for key in ("val_every", "save_every", "keep_every", "num_workers", "seed"):
        v = getattr(cfg, key)
        need(v >= 0, f"{key}={v!r} must be >= 0")
    need(finite(cfg.collective_timeout_s) and cfg.collective_timeout_s > 0,
         f"collective_timeout_s={cfg.collective_timeout_s!r} must be > 0 seconds (e.g. 1800)")
    for key, most, why in UPPER_BOUNDS:
        v = getattr(cfg, key)
        need(not isinstance(v, (int, float)) or v <= most, f"{key}={v!r} is too large: at most {most:,} ({why})")
    need(cfg.distill_scale in DISTILLATION_SCALES,
         f"distill_scale={cfg.distill_scale!r}: use one of {', '.join(DISTILLATION_SCALES)}")
    need(cfg.teacher_mode in TEACHER_MODES, f"teacher_mode={cfg.teacher_mode!r}: use one of {', '.join(TEACHER_MODES)}")
    need(cfg.device in DEVICES, f"device={cfg.device!r}: use one of {', '.join(DEVICES)}")
    need(cfg.precision in PRECISIONS, f"precision={cfg.precision!r}: use one of {', '.join(PRECISIONS)}")
    if cfg.device == "cuda":
        import torch  # cheap next to a model; only asked when it matters
        need(torch.cuda.is_available(), "device='cuda' but no CUDA GPU is visible; use device='auto' or 'cpu'")
    # Unlabeled pool.
    u = cfg.unlabeled
    uses_unlabeled = cfg.lam > 0 or for_pseudo_labels
    if not isinstance(u, dict) or u.get("name") not in UNLABELED_DATASETS:
        e.append(f"unlabeled={u!r}: 'name' must be one of {', '.join(UNLABELED_DATASETS)} "
                 f"(e.g. {_example('unlabeled')})")
    else:
        allowed = {"webvid": {"name", "split", "exclude_labeled", "layout", "csv"},
                   "folder": {"name", "path", "exclude_labeled", "captions", "recursive", "extensions"}}[u["name"]]
        extra = sorted(set(u) - allowed)
        need(not extra, f"unlabeled: unknown option(s) {extra} for {u['name']!r}; allowed: {sorted(allowed)}")
        for option in ("exclude_labeled", "recursive"):  # a JSON object's values are not typed by the annotation
            need(isinstance(u.get(option, False), bool),
                 f"unlabeled.{option}={u.get(option)!r} is not a JSON bool; write true or false, without quotes")
        if u["name"] == "webvid":
            need(u.get("split", "train") in ("train", "val"), f"unlabeled.split={u.get('split')!r}: use 'train' or 'val'")
        if u["name"] == "folder":
            need(isinstance(u.get("path"), str), "unlabeled: a folder pool needs 'path' (the folder of videos), "
                                                 'e.g. {"name": "folder", "path": "/videos"}')
            if check_files and uses_unlabeled and isinstance(u.get("path"), str):
                need(Path(u["path"]).expanduser().is_dir(), f"unlabeled.path={u['path']!r} is not a directory")
    if cfg.unlabeled_text != "captions":
        need(not check_files or not uses_unlabeled or Path(cfg.unlabeled_text).expanduser().is_file(),
             f"unlabeled_text={cfg.unlabeled_text!r}: use 'captions' or an existing prompts file (one per line)")
    # Teacher.
    if uses_unlabeled and cfg.teacher_mode == "cached" and not for_pseudo_labels:
        if cfg.pseudo_labels is None:
            e.append("teacher_mode='cached' with lam > 0 needs pseudo_labels=DIR, made once by "
                     "`python -m fitclip.pseudo_labels --config run.json`; or set teacher_mode='online'")
        elif check_files and not (Path(cfg.pseudo_labels).expanduser() / "index.json").is_file():
            e.append(f"pseudo_labels={cfg.pseudo_labels!r} has no index.json: run `python -m fitclip.pseudo_labels "
                     f"--config run.json` first (it is resumable), or set teacher_mode='online'")
    if for_pseudo_labels and cfg.pseudo_labels is None:
        e.append("pseudo_labels=DIR is required: where to write the teacher's pseudo labels")
    # Model.
    try:
        import open_clip  # noqa: F401  (registers nothing by itself)
        from fitclip.models import is_weights_file  # also registers fitclip-tiny / fitclip-toy
        if cfg.arch not in open_clip.list_models():
            e.append(f"arch={cfg.arch!r} is not an open_clip architecture; e.g. 'ViT-B-16' or 'fitclip-tiny'")
        elif cfg.pretrained.lower() != "none":
            if is_weights_file(cfg.pretrained):
                need(not check_files or Path(cfg.pretrained).expanduser().is_file(),
                     f"pretrained={cfg.pretrained!r}: no such file; use an open_clip tag, 'none', or an existing file")
            elif not open_clip.get_pretrained_cfg(cfg.arch, cfg.pretrained):
                e.append(f"pretrained={cfg.pretrained!r} is not a tag of {cfg.arch!r} "
                         f"({open_clip.list_pretrained_tags_by_model(cfg.arch)}); use 'none' for random weights")
    except ImportError as exc:  # pragma: no cover
        e.append(f"cannot import open_clip ({exc})")
    # Data files.
    if check_files:
        root = Path(cfg.data_root).expanduser()
        own = cfg.video_folder is not None
        if own:
            need(Path(cfg.video_folder).expanduser().is_dir(),
                 f"video_folder={cfg.video_folder!r} is not a directory (the folder of your videos)")
        webvid_needed = (not own and not for_pseudo_labels) or (isinstance(u, dict) and u.get("name") == "webvid")
        if webvid_needed:
            need((root / "webvid").is_dir(), f"data_root={cfg.data_root!r} has no webvid/ folder "
                                             f"(expected {root / 'webvid'} with results_2M_*.csv and videos/)")
        needs_labeled = not for_pseudo_labels or (isinstance(u, dict) and u.get("exclude_labeled"))
        if needs_labeled:
            if cfg.labeled_csv is None and own:
                e.append(f"labeled_csv is required with video_folder: a captions file of {cfg.video_folder} "
                         "(path,caption[,start,end])")
            elif cfg.labeled_csv is None:
                e.append("labeled_csv is required: the seeded labeled subset, e.g. from fitclip.annotations."
                         "sample_labeled_subset(load_annotations('webvid', data_root, split='train'), n=4500, "
                         "seed=0, out_csv='labeled_4500.csv')" + (" (or set unlabeled.exclude_labeled=false)"
                                                                  if for_pseudo_labels else ""))
            elif not resolve_path(cfg, cfg.labeled_csv).is_file():
                e.append(f"labeled_csv={cfg.labeled_csv!r}: not found (looked at {resolve_path(cfg, cfg.labeled_csv)})")
        if not for_pseudo_labels and cfg.val_every > 0:
            if cfg.val_csv is not None:
                need(resolve_path(cfg, cfg.val_csv).is_file(),
                     f"val_csv={cfg.val_csv!r}: not found (looked at {resolve_path(cfg, cfg.val_csv)})")
            elif own:
                e.append(f"val_csv is required with video_folder (a held-out captions file of {cfg.video_folder}, "
                         "disjoint from labeled_csv), or val_every=0 (no validation, no best_labeled.pt)")
            else:
                need((root / "webvid" / "results_2M_val.csv").is_file(),
                     f"validation needs {root / 'webvid' / 'results_2M_val.csv'} (or val_csv=..., or val_every=0)")
    if not for_pseudo_labels and check_files:
        out = Path(cfg.out_dir).expanduser()
        # A folder with a checkpoint holds a run; one without (a run that died before its first checkpoint
        # left only metrics.jsonl) is a fresh start.
        if not resume and (out / "last.pt").exists():
            e.append(f"out_dir={cfg.out_dir!r} already holds a run (last.pt): pass --resume to continue it, or "
                     f"choose another out_dir (nothing is overwritten)")
        elif not resume and (out / "best_labeled.pt").exists():
            e.append(f"out_dir={cfg.out_dir!r} already holds a run (best_labeled.pt, no last.pt): pass --resume "
                     f"{out / 'best_labeled.pt'} to continue it, or choose another out_dir (nothing is overwritten)")
    if e:
        raise ConfigError("invalid training config:\n  - " + "\n  - ".join(e))
    return cfg


# Keys that may change when resuming (they do not change what is computed).
RESUMABLE_CHANGES = ("max_steps", "val_every", "save_every", "keep_every", "num_workers", "collective_timeout_s", "out_dir",
                     "pseudo_labels", "data_root", "batch_size_eval")
