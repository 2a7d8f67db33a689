"""CLIP for video, built on open_clip.

A video is a few frames; its embedding is the mean of the L2-normalised frame embeddings (FitCLIP,
Sec. 3), deliberately *not* re-normalised, as in the original code. CLIP's own `logit_scale` plays no
part in training or scoring: losses use a fixed temperature and evaluation uses plain cosine.

Tiny architectures live in `fitclip/model_configs/*.json` and are registered with open_clip's config
registry at import time, exactly like the real ones (timm's `test_*` models idea): `fitclip-tiny` (a ViT)
for tests and CLIs, `fitclip-toy` (64x64 input; a small convnet image tower, registered with timm as
`fitclip_toy_convnet`, and a 2-layer text transformer) for the synthetic demo.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import logging
import math
import os
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import open_clip
import torch
import torch.nn.functional as F
from timm.models import register_model
from torch import nn

from fitclip.files import load_state

CONFIG_DIR = Path(__file__).parent / "model_configs"
open_clip.add_model_config(CONFIG_DIR)


class ToyConvNet(nn.Module):
    """The image trunk of `fitclip-toy`: a VGG-style convnet for 64x64 frames, registered with timm.

    conv3x3/2 16 → conv 32 → maxpool → conv 64 → conv 64 → maxpool → conv 128, each conv followed by
    BatchNorm and ReLU, then a global max pool (~0.15M parameters). It keeps 32x32 and 16x16 feature maps,
    which is what lets a tiny CLIP tell a circle from a square of radius 5 px: a patch-8 ViT and
    ModifiedResNet/timm ResNets (which downsample x4 in their stems) learned colour within 50 steps
    but shape only slowly (README, "The toy teacher"). Runs channels-last (about 1.8x faster on CPU).
    open_clip wraps it as a timm tower (`timm_pool="max"`, `timm_proj="linear"`).
    """

    SPEC = ("s16", "32", "M", "64", "64", "M", "128")  # sN: conv stride 2; N: conv stride 1; M: maxpool

    def __init__(self, num_classes: int = 0, global_pool: str = "max", in_chans: int = 3, **_: Any) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_chans
        for token in self.SPEC:
            if token == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            out = int(token.lstrip("s"))
            layers += [nn.Conv2d(c, out, 3, stride=2 if token.startswith("s") else 1, padding=1, bias=False),
                       nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            c = out
        self.features = nn.Sequential(*layers)
        self.num_features = c
        self.default_cfg: dict[str, Any] = {"pool_size": None}  # what open_clip's timm adapter reads
        self.reset_classifier(num_classes, global_pool)

    def reset_classifier(self, num_classes: int, global_pool: str = "max") -> None:
        if global_pool not in ("max", "avg"):
            raise ValueError(f"global_pool must be 'max' or 'avg', got {global_pool!r}")
        self.global_pool = global_pool
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        layers = list(self.features)
        i = 0
        while i < len(layers):
            layer = layers[i]
            bn = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(layer, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and not bn.training:
                # BatchNorm with fixed statistics folded into the convolution: the same function (to float
                # rounding), one op instead of two, ~1.5-2.5x faster on CPU; gradients still reach every weight.
                scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
                x = F.conv2d(x, layer.weight * scale[:, None, None, None], bn.bias - bn.running_mean * scale,
                             layer.stride, layer.padding)
                i += 2
            else:
                x = layer(x)
                i += 1
        return self.fc(x.amax(dim=(2, 3)) if self.global_pool == "max" else x.mean(dim=(2, 3)))


@register_model
def fitclip_toy_convnet(pretrained: bool = False, **kwargs: Any) -> ToyConvNet:
    """timm entry point of :class:`ToyConvNet` (no pretrained weights exist: it is trained in stage 00)."""
    if pretrained:
        raise ValueError("fitclip_toy_convnet has no pretrained weights; train it with fitclip.toyworld.pretrain")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    return ToyConvNet(**kwargs)


def freeze_batchnorm(model: nn.Module) -> nn.Module:
    """Put every BatchNorm layer of `model` in eval mode: running statistics stay those of the start
    weights while the affine parameters still train. Call after each ``model.train()``. Fine-tuning
    does this (small batches of 4 correlated frames per clip would give noisy statistics, and per-rank
    statistics would make N processes differ from one); a no-op for ViTs, which have no BatchNorm."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model

# (arch, texts) -> tokens, least recently used first; see VideoCLIP.tokenize.
_TOKEN_CACHE: "collections.OrderedDict[tuple[str, tuple[str, ...]], torch.Tensor]" = collections.OrderedDict()

# Keys of OpenAI's JIT archives that are buffers of the scripted module, not parameters.
_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


class VideoCLIP(nn.Module):
    """An open_clip CLIP model that also encodes videos.

    Attributes:
        clip: the wrapped open_clip model; its `state_dict()` is a plain open_clip state dict.
        arch: open_clip architecture name (e.g. "ViT-B-16", "fitclip-tiny").
        quick_gelu: whether the towers use QuickGELU (OpenAI weights do).
        image_size: square input size of the vision tower.
        mean, std: per-channel normalisation of the pretrained weights.
    """

    def __init__(self, clip: nn.Module, arch: str, quick_gelu: bool) -> None:
        super().__init__()
        self.clip = clip
        self.arch = arch
        self.quick_gelu = quick_gelu
        cfg = open_clip.get_model_preprocess_cfg(clip)
        size = cfg.get("size", clip.visual.image_size)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.mean = tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN))
        self.std = tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD))
        self._tokenizer = open_clip.get_tokenizer(arch)

    @property
    def device(self) -> torch.device:
        return next(self.clip.parameters()).device

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Tokenise texts with the architecture's open_clip tokenizer → int64 `[B, L]`.

        The last few results are kept per architecture (an α grid of 20 models tokenises a benchmark's
        texts once, not 20 times); treat the returned tensor as read-only."""
        if isinstance(texts, str):
            raise TypeError("tokenize takes a list of strings, got a single str; wrap it in a list")
        key = (self.arch, tuple(texts))
        if key in _TOKEN_CACHE:
            _TOKEN_CACHE.move_to_end(key)
            return _TOKEN_CACHE[key]
        tokens = _TOKEN_CACHE[key] = self._tokenizer(list(texts))
        while len(_TOKEN_CACHE) > 32:
            _TOKEN_CACHE.popitem(last=False)
        return tokens

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Images float `[N, 3, H, W]` (normalised) → L2-normalised embeddings `[N, D]`."""
        return F.normalize(self.clip.encode_image(images), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens int `[B, L]` → L2-normalised text embeddings `[B, D]`."""
        return F.normalize(self.clip.encode_text(tokens), dim=-1)

    def encode_video(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Frames float `[B, T, 3, H, W]` → video embeddings `[B, D]`.

        The embedding is the mean of the L2-normalised per-frame embeddings and is NOT re-normalised
        (its norm is ≤ 1 and shrinks when frames disagree), as in the original FitCLIP code.

        Args:
            frames: normalised frames, `[B, T, 3, H, W]`; clips shorter than T are padded at the end.
            lengths: optional int `[B]`, the number of real frames of each clip (1..T). Padding
                frames are still encoded (one batched forward) but excluded from the mean.
        """
        if frames.ndim != 5:
            raise ValueError(f"frames must be [B, T, 3, H, W], got shape {tuple(frames.shape)}")
        b, t = frames.shape[:2]
        frame_emb = self.encode_image(frames.flatten(0, 1)).view(b, t, -1)
        if lengths is None:
            return frame_emb.mean(dim=1)
        lengths = torch.as_tensor(lengths, device=frame_emb.device)
        if lengths.shape != (b,) or bool((lengths < 1).any()) or bool((lengths > t).any()):
            raise ValueError(f"lengths must be [B] with values in 1..{t}, got {lengths.tolist()}")
        mask = (torch.arange(t, device=frame_emb.device)[None, :] < lengths[:, None]).to(frame_emb.dtype)
        return (frame_emb * mask[..., None]).sum(dim=1) / lengths[:, None].to(frame_emb.dtype)

    def forward(self, frames: torch.Tensor, tokens: torch.Tensor,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a clip batch and a text batch in one call (what DDP wraps). Returns (video, text)."""
        return self.encode_video(frames, lengths), self.encode_text(tokens)


def is_weights_file(pretrained: str) -> bool:
    """Whether a `pretrained` value names a weights file (a path or a checkpoint suffix) rather than an
    open_clip tag such as "openai"."""
    return os.sep in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors")) \
        or os.path.isfile(pretrained)


def clip_state_dict(obj: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Find the CLIP weights inside a loaded checkpoint; returns (state_dict, metadata).

    Accepts our model files (`{"state_dict", "arch", "quick_gelu", ...}`), our training checkpoints
    (`{"student", "config", ...}`), a plain open_clip state dict, and a bare OpenAI CLIP state dict
    such as the original FitCLIP student (no `logit_scale`).
    """
    meta: dict[str, Any] = {}
    if isinstance(obj, dict) and "student" in obj and isinstance(obj["student"], dict):
        meta = {k: v for k, v in obj.items() if k in ("arch", "quick_gelu")}
        meta.update({k: obj["config"][k] for k in ("arch",) if isinstance(obj.get("config"), dict)
                     and k in obj["config"]})
        obj = obj["student"]
    elif isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        meta = {k: v for k, v in obj.items() if k != "state_dict"}
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError("checkpoint does not hold a state dict of tensors; expected an open_clip/OpenAI "
                         "state dict, a fitclip model file or a fitclip training checkpoint")
    sd = {k.removeprefix("module.").removeprefix("clip."): v for k, v in obj.items()}
    for k in _OPENAI_EXTRA_KEYS:
        sd.pop(k, None)
    return sd, meta


class WeightsUnavailable(RuntimeError):
    """An open_clip pretrained tag whose weights could not be downloaded (no network, ``HF_HUB_OFFLINE=1``, the
    hub unreachable) and are not in open_clip's cache. The message is one line: the arch and tag, why, and the
    fix (a local weights file, or one run online); the download error is the ``__cause__``."""


#: How open_clip's warning about random weights starts ("... Model initialized randomly.").
RANDOM_INIT_WARNING = "No pretrained weights loaded for model"


class _DropRecords(logging.Filter):
    """Drops the root logger's records that start with one of `prefixes` (open_clip's own wording)."""

    def __init__(self, *prefixes: str) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


@contextlib.contextmanager
def quiet_open_clip(*prefixes: str):
    """Silence open_clip's root-logger records that start with `prefixes` for one `create_model` call, when
    `load_clip` says the same better itself (random init before a file's weights load; a failed download,
    which becomes :class:`WeightsUnavailable`), or around a `load_clip(arch, None)` whose caller wants random
    weights (stage 00 trains its teacher from scratch: ``quiet_open_clip(RANDOM_INIT_WARNING)``); every
    other record passes."""
    root, drop = logging.getLogger(), _DropRecords(*prefixes)
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


class _HubRetriesOnce(logging.Filter):
    """Drops huggingface_hub's warnings (on a machine without network: two lines per retry, ~40 lines over a
    minute) and says once, itself, that the hub cannot be reached and what skips the wait."""

    def __init__(self, arch: str, tag: str) -> None:
        super().__init__()
        self.arch, self.tag, self.said = arch, tag, False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            return True
        if not self.said:
            self.said = True
            why = record.getMessage().splitlines()[0][:120] if record.getMessage() else "no answer"
            logging.getLogger(__name__).warning(
                "open_clip cannot reach the hub for the %s weights %r (%s); huggingface_hub retries for up to a "
                "minute (HF_HUB_OFFLINE=1: the cache only, no wait)", self.arch, self.tag, why)
        return False


@contextlib.contextmanager
def _hub_retries_said_once(arch: str, tag: str):
    """:class:`_HubRetriesOnce` on every huggingface_hub logger for one download (a logger's filter sees the
    records it creates, before any handler: its own stream handler and the root's)."""
    drop = _HubRetriesOnce(arch, tag)
    loggers = [logger for name, logger in list(logging.root.manager.loggerDict.items())
               if name.split(".")[0] == "huggingface_hub" and isinstance(logger, logging.Logger)]
    for logger in loggers:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(drop)


# open_clip 3.x wraps any download error as RuntimeError("Failed to download weights for tag ...").
_DOWNLOAD_FAILED = "Failed to download weights"


def _is_download_failure(error: BaseException) -> bool:
    """Whether `create_model`'s error is a failed download of a tag's weights: open_clip's wrapper of any
    download error, or (open_clip versions that let it through) urllib's or the socket's own error. A cached
    file that cannot be read or loaded is not one: that error passes unchanged."""
    return (isinstance(error, RuntimeError) and str(error).startswith(_DOWNLOAD_FAILED)) \
        or isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError))


def weights_unavailable_message(arch: str, tag: str) -> str:
    """The one-line message of :class:`WeightsUnavailable`."""
    offline = " (HF_HUB_OFFLINE=1 is set)" if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") \
        else ""
    return (f"the {arch} weights of open_clip tag {tag!r} could not be downloaded: this machine is offline or the "
            f"download hub is unreachable{offline}, and they are not in open_clip's cache. Pass a local weights "
            f"file instead, --pretrained PATH (pretrained=PATH from Python): an open_clip, OpenAI or fitclip "
            f"state-dict file of {arch}; or run once online so open_clip caches them")


def non_finite_tensors(state: Mapping[str, torch.Tensor]) -> list[str]:
    """The keys of a state dict whose floating-point tensor holds NaN or ±inf, in order."""
    return [k for k, v in state.items()
            if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def non_finite_diagnosis(model: Any) -> str:
    """Why a model's outputs may not be finite, for an error message: ``"its weights hold NaN or infinity in
    n tensor(s) (first: 'key')"``, or that its weights are finite (then an overflow in the forward pass)."""
    clip = getattr(model, "clip", None)
    if clip is None:
        return "its weights cannot be inspected"
    broken = non_finite_tensors(clip.state_dict())
    if broken:
        return f"its weights hold NaN or infinity in {len(broken)} tensor(s) (first: {broken[0]!r})"
    return "its weights are finite (an overflow in the forward pass? try precision fp32)"


def load_clip(arch: str = "ViT-B-16", pretrained: str | os.PathLike | None = "openai",
              device: str | torch.device = "cpu", quick_gelu: bool | None = None) -> VideoCLIP:
    """Build a `VideoCLIP` from an open_clip architecture and weights.

    Args:
        arch: open_clip architecture name (`open_clip.list_models()`), e.g. "ViT-B-16" or
            "fitclip-tiny".
        pretrained: an open_clip pretrained tag for `arch` (e.g. "openai"; this is the real path and
            may download), `None` or "none" for random weights, or a local file: a fitclip model file
            or training checkpoint, a plain open_clip state dict, or a bare OpenAI CLIP state dict
            (e.g. the released FitCLIP student, which has no `logit_scale`).
        device: where to put the model.
        quick_gelu: force QuickGELU on/off. Default: what the weights were trained with (the tag's
            setting; stored in fitclip files; True for bare OpenAI state dicts; else the config's).

    Returns:
        The model in eval mode.

    Raises:
        ValueError: unknown architecture or tag, a state dict with missing/unexpected keys
            (all of them are listed), or a file whose weights hold NaN or infinity.
        FileNotFoundError: `pretrained` looks like a path but no file is there.
        WeightsUnavailable: `pretrained` is an open_clip tag whose weights could not be downloaded (offline,
            ``HF_HUB_OFFLINE=1``, the hub unreachable) and are not cached; a one-line message with the fix.
    """
    if arch not in open_clip.list_models():
        raise ValueError(f"unknown architecture {arch!r}; choose one of open_clip.list_models(), "
                         f"e.g. 'ViT-B-16' or 'fitclip-tiny'")
    if isinstance(pretrained, str) and pretrained.lower() == "none":
        pretrained = None
    state_dict = None
    if pretrained is None:
        qg = bool(quick_gelu) if quick_gelu is not None else bool(open_clip.get_model_config(arch).get("quick_gelu", False))
        clip = open_clip.create_model(arch, pretrained=None, force_quick_gelu=qg, device="cpu")
    elif not isinstance(pretrained, os.PathLike) and open_clip.get_pretrained_cfg(arch, pretrained):
        tag_cfg = open_clip.get_pretrained_cfg(arch, pretrained)
        qg = quick_gelu if quick_gelu is not None else bool(tag_cfg.get("quick_gelu", False))
        try:
            with quiet_open_clip(_DOWNLOAD_FAILED), _hub_retries_said_once(arch, str(pretrained)):
                clip = open_clip.create_model(arch, pretrained=pretrained, force_quick_gelu=qg, device="cpu")
        except Exception as e:
            if not _is_download_failure(e):
                raise
            raise WeightsUnavailable(weights_unavailable_message(arch, str(pretrained))) from e
    elif is_weights_file(str(pretrained)):
        path = Path(pretrained)
        if not path.is_file():
            raise FileNotFoundError(f"pretrained checkpoint {str(path)!r} does not exist; pass an open_clip "
                                    f"tag (e.g. 'openai'), 'none' for random weights, or an existing file")
        state_dict, meta = clip_state_dict(load_state(path))
        if meta.get("arch") and meta["arch"] != arch:
            raise ValueError(f"checkpoint {str(path)!r} holds arch {meta['arch']!r} but arch={arch!r} was "
                             f"asked for; pass arch={meta['arch']!r}")
        bare_openai = "logit_scale" not in state_dict and "visual.proj" in state_dict
        if quick_gelu is not None:
            qg = quick_gelu
        elif "quick_gelu" in meta:
            qg = bool(meta["quick_gelu"])
        else:
            qg = bare_openai or bool(open_clip.get_model_config(arch).get("quick_gelu", False))
        with quiet_open_clip(RANDOM_INIT_WARNING):  # "initialized randomly": the file's follow
            clip = open_clip.create_model(arch, pretrained=None, force_quick_gelu=qg, device="cpu")
        if bare_openai:
            # The released FitCLIP student ships without logit_scale; it is unused here, so keep CLIP's
            # initial value (log(1/0.07)) rather than inventing one.
            state_dict["logit_scale"] = torch.tensor(math.log(1 / 0.07))
        own = clip.state_dict()
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        if missing or unexpected:
            raise ValueError(f"checkpoint {str(path)!r} does not match arch {arch!r}: "
                             f"missing keys {missing}, unexpected keys {unexpected}")
        if own["logit_scale"].ndim != state_dict["logit_scale"].ndim:
            state_dict["logit_scale"] = state_dict["logit_scale"].reshape(own["logit_scale"].shape)
        bad = [k for k in own if own[k].shape != state_dict[k].shape]
        if bad:
            raise ValueError(f"checkpoint {str(path)!r} has wrong shapes for arch {arch!r} at keys {bad[:10]} "
                             f"(first: {tuple(state_dict[bad[0]].shape)} vs {tuple(own[bad[0]].shape)})")
        broken = non_finite_tensors(state_dict)
        if broken:
            raise ValueError(f"checkpoint {str(path)!r} holds NaN or infinite weights in {len(broken)} tensor(s) "
                             f"(first: {broken[0]!r}): a run that diverged or a damaged file; use an earlier "
                             f"checkpoint (e.g. best_labeled.pt) or retrain with a lower lr")
        clip.load_state_dict(state_dict, strict=True)
    else:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ValueError(f"pretrained={pretrained!r} is neither an open_clip tag for {arch!r} ({tags}) nor an "
                         f"existing file; use 'none' for random weights")
    model = VideoCLIP(clip, arch=arch, quick_gelu=bool(qg))
    return model.to(device).eval()


def resolve_device(device: str = "auto") -> str:
    """"auto" → "cuda" when a GPU is visible, else "cpu"; other values pass through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def model_file_state(model: VideoCLIP) -> dict[str, Any]:
    """What a fitclip model file holds: the open_clip state dict plus how to rebuild the model."""
    return {"format": "fitclip-clip", "arch": model.arch, "quick_gelu": model.quick_gelu,
            "state_dict": {k: v.detach().cpu() for k, v in model.clip.state_dict().items()}}


def clone_model(model: VideoCLIP) -> VideoCLIP:
    """A deep copy of `model` (weights, buffers, mode, device) that shares its tokenizer: deep-copying the
    tokenizer's BPE tables costs ~1 s and they never change. The frozen teacher of online training and an
    α grid's working copy (:class:`fitclip.fusion.FusionGrid`) are such copies."""
    return copy.deepcopy(model, memo={id(model._tokenizer): model._tokenizer})


def model_device(model: Any) -> torch.device:
    """Where `model` lives: its `device` attribute, else its first parameter's device, else the CPU."""
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration, TypeError):
        return torch.device("cpu")


def encode_texts(model: Any, texts: Sequence[str], batch_size: int = 256,
                 device: str | torch.device | None = None) -> torch.Tensor:
    """L2-normalised text embeddings float32 CPU ``[len(texts), D]``, encoded in batches of `batch_size`.

    Texts longer than the model's context length are truncated by open_clip's tokenizer. `model` is a
    :class:`VideoCLIP` or any object with its ``tokenize`` / ``encode_text``; run it under ``torch.autocast``
    for mixed precision (the pseudo labels do).
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, got a single str")
    device = torch.device(device) if device is not None else model_device(model)
    out = []
    with torch.inference_mode():
        for lo in range(0, len(texts), batch_size):
            tokens = model.tokenize(list(texts[lo:lo + batch_size])).to(device)
            out.append(model.encode_text(tokens).float().cpu())
    if not out:
        raise ValueError("no texts to encode")
    return torch.cat(out)


@dataclass
class EvalModel:
    """A model to evaluate, and where it came from (for the results rows and the protocol record).

    Attributes:
        model: a :class:`VideoCLIP` (or any object with its interface: ``encode_video``, ``encode_text``,
            ``tokenize``, ``image_size``, ``mean``, ``std``).
        alpha: the fusion weight α (0 = teacher, 1 = student) or ``None`` for a plain model.
        weights: role → open_clip tag or checkpoint path, e.g. ``{"teacher": "openai", "student":
            "runs/x/student.pt"}``; values that are existing files are hashed (sha256) into the record.
        student: the student an α-grid model fuses with the teacher (:class:`fitclip.fusion.FusionGrid`
            sets it); ``None`` for a plain model. Written to the results rows' ``student`` column.
    """

    model: Any
    alpha: float | None = None
    weights: Mapping[str, str] = field(default_factory=dict)
    student: str | None = None
