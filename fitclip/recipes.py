"""Training configs for the notebook stages, built from what `01_data_prep` recorded.

The notebooks pass their literal parameters here; the result is a plain dict that `fitclip.config`
validates (unknown keys and out-of-range values fail before any work) and that is written as the run's
`--config` file for `python -m fitclip.pseudo_labels` / `torchrun -m fitclip.train`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fitclip.checkpoint import write_json
from fitclip.config import config_from_dict, validate
from fitclip.project import require, stage_dir


def data_index(data_root: str | os.PathLike) -> dict[str, Any]:
    """`<data_root>/01_data_prep/datasets.json`: the benchmarks' root and the labeled subset."""
    path = require(stage_dir(data_root, "01_data_prep", create=False) / "datasets.json", "01_data_prep")
    return json.loads(path.read_text())


def run_config(data_root: str | os.PathLike, out_dir: str | os.PathLike, **keys: Any) -> dict[str, Any]:
    """A validated training/pseudo-label config for the WebVid-format corpus prepared by stage 01.

    Args:
        data_root: the notebooks' `data_root`.
        out_dir: the run's output folder.
        **keys: any `fitclip.config.TrainConfig` keys (arch, pretrained, lam, lr, max_steps, ...); a value
            of None means "the preset's".

    Returns:
        The resolved config as a JSON-able dict.
    """
    index = data_index(data_root)
    values = {"data_root": index["root"], "labeled_csv": index["labeled_csv"],
              "unlabeled": {"name": "webvid", "split": "train", "exclude_labeled": True},
              "out_dir": str(out_dir), **{k: v for k, v in keys.items() if v is not None}}
    return config_from_dict(values).to_dict()


def write_config(config: dict[str, Any], path: str | os.PathLike, for_pseudo_labels: bool = False,
                 resume: bool = False) -> Path:
    """Validate (ranges and files) and write a config JSON atomically; returns its path."""
    validate(config_from_dict(config, base=None), resume=resume, for_pseudo_labels=for_pseudo_labels)
    return write_json(path, config)
