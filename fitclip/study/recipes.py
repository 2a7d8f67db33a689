"""The notebook stages' recipes: training configs built from what `01_data_prep` recorded, training
every student (03: `train_students`, `training_log`), and the α grid of every student on every benchmark
(04: `trained_students`, a `fitclip.fusion.FusionGrid` of them, `evaluate_alpha_grid`; `fitclip.study.grid` runs
them in the kernel or under torchrun).

The notebooks pass their literal parameters here; a run's config is built once as a
:class:`fitclip.config.TrainConfig` (:func:`run_config`: unknown keys and wrong types fail there), passed as that
object, checked by `fitclip.config.validate` (ranges, files) and written as the run's `--config` file for
`python -m fitclip.pseudo_labels` / `torchrun -m fitclip.train` (:func:`write_config`).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from fitclip.files import write_csv, write_json
from fitclip.config import TrainConfig, config_from_dict, validate
from fitclip.study.project import require, stage_dir


def data_index(data_root: str | os.PathLike) -> dict[str, Any]:
    """`<data_root>/01_data_prep/datasets.json`: the benchmarks' root and the labeled subset."""
    path = require(stage_dir(data_root, "01_data_prep", create=False) / "datasets.json", "01_data_prep")
    return json.loads(path.read_text())


def run_config(data_root: str | os.PathLike, out_dir: str | os.PathLike, **keys: Any) -> TrainConfig:
    """A validated training/pseudo-label config for the corpus stage 01 prepared (WebVid's format, or your folder).

    Args:
        data_root: the notebooks' `data_root`.
        out_dir: the run's output folder.
        **keys: any `fitclip.config.TrainConfig` keys (arch, pretrained, lam, lr, max_steps, ...); a value
            of None means "the preset's".

    Returns:
        The run's TrainConfig (keys and types checked; ranges and files by :func:`write_config`).
    """
    index = data_index(data_root)
    if index.get("world") == "custom":  # your folder (fitclip.study.custom): its captions files and pool
        data = {"data_root": index["root"], "video_folder": index["video_folder"], "labeled_csv": index["labeled_csv"],
                "val_csv": index["val_csv"], "unlabeled": index["unlabeled"]}
    else:
        data = {"data_root": index["root"], "labeled_csv": index["labeled_csv"],
                "unlabeled": {"name": "webvid", "split": "train", "exclude_labeled": True}}
    values = {**data, "out_dir": str(out_dir), **{k: v for k, v in keys.items() if v is not None}}
    return config_from_dict(values)


def write_config(config: TrainConfig, path: str | os.PathLike, for_pseudo_labels: bool = False,
                 resume: bool = False) -> Path:
    """Validate `config` (ranges and files) and write it as a config JSON, atomically; returns its path."""
    return write_json(path, validate(config, resume=resume, for_pseudo_labels=for_pseudo_labels).to_dict())


def train_students(data_root: str | os.PathLike, out_dir: str | os.PathLike, runs: Mapping[str, float | Mapping[str, Any]],
                   seeds: Sequence[int] = (0,), *, resume: bool = True, nproc_per_node: int = 1,
                   timeout_s: float = 7200, **keys: Any) -> dict[str, Path]:
    """Train one student per (run, training seed) with `torchrun -m fitclip.train`, one after the other.

    The students of the first seed are `<run>` (e.g. `fitclip`, `wiseft`), the others `<run>-seed<k>`
    (`fitclip.study.results.seed_suffix`); each gets `<out_dir>/<student>/` (run.json, config.json, metrics.jsonl,
    last.pt, best_labeled.pt, train.log). A folder holding a run is resumed when `resume` (a finished run
    just reports its end again), never overwritten.

    Args:
        runs: `{run name: λ}`, e.g. `{"fitclip": 1e-4, "wiseft": 0.0}`, or `{run name: {key: value}}` with the
            run's own `TrainConfig` keys (λ included, e.g. `{"ema": {"lam": 0.0, "ema_decay": 0.99}}`), which
            override the shared `keys`.
        seeds: training seeds (data order, crops, frame picks); the world and the labeled subset stay.
        **keys: `fitclip.config.TrainConfig` keys shared by every run (None = the preset's).

    Returns:
        `{student: its folder}`.
    """
    from fitclip.study.launch import torchrun
    from fitclip.study.results import seed_suffix

    if not seeds:
        raise ValueError("seeds is empty; give at least one training seed, e.g. [0]")
    out: dict[str, Path] = {}
    for seed in seeds:
        for name, run in runs.items():
            own = dict(run) if isinstance(run, Mapping) else {"lam": run}
            student = name + seed_suffix(seed, seeds[0])
            run_dir = Path(out_dir) / student
            config = run_config(data_root, out_dir=run_dir, seed=seed, **{**keys, **own})
            again = resume and (run_dir / "last.pt").exists()
            changed = (stale_run(run_dir, config) or stale_videos(run_dir, config)) if again else []
            if changed:  # a run of another recipe or other videos: kept aside, never overwritten
                aside = set_aside(run_dir, f"a run of another config or other videos ({', '.join(changed)})")
                print(f"note: moved it to {aside} and training anew", flush=True)
                again = False
            path = write_config(config, run_dir / "run.json", resume=again)
            print(f"== {student}: λ={config.lam:g}, seed {seed}, {config.max_steps} steps, lr {config.lr:g}"
                  f"{' (resuming)' if again else ''}", flush=True)
            torchrun("fitclip.train", ["--config", path] + (["--resume"] if again else []),
                     nproc_per_node=nproc_per_node, log_file=run_dir / "train.log", timeout_s=timeout_s, echo=False)
            print((run_dir / "train.log").read_text().strip().splitlines()[-1], flush=True)
            out[student] = run_dir
    return out


def set_aside(folder: Path, why: str) -> Path:
    """Rename `folder` to ``<name>.replaced-<time>`` (never deleted), saying why; returns the new path."""
    aside = folder.with_name(f"{folder.name}.replaced-{time.strftime('%Y%m%dT%H%M%S')}")
    folder.rename(aside)
    print(f"note: {folder} held {why}; set aside as {aside}", flush=True)
    return aside


def stale_videos(run_dir: str | os.PathLike, config: TrainConfig) -> list[str]:
    """The sets (labeled, pool, val) whose videos differ from those the run in `run_dir` trained on
    (``videos.json``, :func:`fitclip.run_data.data_identity`), e.g. after the synthetic world was re-rendered
    under the same annotation files; a finished run without that record (trained before it was kept) cannot
    be shown to fit, so it counts as stale too."""
    from fitclip.run_data import VIDEOS_RECORD, run_data_identity

    path = Path(run_dir) / VIDEOS_RECORD
    if not path.is_file():
        return [f"no {VIDEOS_RECORD}: trained before fitclip recorded its videos"]
    recorded = json.loads(path.read_text())
    now = run_data_identity(config)
    return [f"{k} videos changed" for k in now if recorded.get(k) != now[k]]


def fresh_pseudo_labels(config: TrainConfig) -> list[str]:
    """Before stage 02 computes the pool's pseudo labels: a labels folder of another teacher, pool, videos or
    setting (:func:`fitclip.pseudo_labels.stale_labels`) is set aside (``<name>.replaced-<time>``) so the labels
    are computed anew, where the CLI would refuse; returns what differed ([] when the folder fits or is new)."""
    from fitclip.pseudo_labels import stale_labels

    changed = stale_labels(config)
    if changed:
        set_aside(Path(config.pseudo_labels).expanduser(), f"pseudo labels of another teacher, pool, videos or setting "
                                                          f"({', '.join(changed)})")
    return changed


def stale_run(run_dir: str | os.PathLike, config: TrainConfig) -> list[str]:
    """The keys (with their old and new values) in which the run recorded in ``<run_dir>/config.json`` differs
    from `config` beyond what a resumed run may change (`fitclip.config.RESUMABLE_CHANGES`); [] when it can be
    resumed, or when there is no recorded config (the trainer then checks the checkpoint itself)."""
    from fitclip.config import RESUMABLE_CHANGES

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return []
    saved = config_from_dict(json.loads(path.read_text()), base=None).to_dict()  # older files: defaults filled in
    return [f"{k}: {saved.get(k)!r} → {v!r}" for k, v in config.to_dict().items()
            if k not in RESUMABLE_CHANGES and saved.get(k) != v]


def trained_students(train_dir: str | os.PathLike, checkpoint: str = "best_labeled",
                     names: Iterable[str] | None = None) -> dict[str, Path]:
    """`{student: <train_dir>/<student>/<checkpoint>.pt}` for every student folder 03 trained (first seed
    first: fitclip, wiseft, then fitclip-seed<k>, wiseft-seed<k>), never a folder set aside as
    ``<name>.replaced-<time>``; with `names`, only those students (a stage folder may hold students of an earlier
    run with other parameters)."""
    found = {p.parent.name: p for p in Path(train_dir).glob(f"*/{checkpoint}.pt")
             if ".replaced-" not in p.parent.name}  # runs set aside (`set_aside`) are not students of this stage
    if names is not None:
        wanted = list(names)
        missing = [n for n in wanted if n not in found]
        if missing:
            raise FileNotFoundError(f"no {checkpoint}.pt for {missing} under {train_dir}; train them first")
        found = {n: found[n] for n in wanted}
    return dict(sorted(found.items(), key=lambda kv: ("-seed" in kv[0], kv[0].split("-seed")[-1], kv[0])))


def training_log(students: Mapping[str, str | os.PathLike]) -> pd.DataFrame:
    """Every student's `metrics.jsonl` (from `train_students`) as one tidy frame with a `run` column."""
    return pd.concat([pd.read_json(Path(folder) / "metrics.jsonl", lines=True).assign(run=name)
                      for name, folder in students.items()], ignore_index=True)


def evaluate_alpha_grid(models: Mapping[str, Any], root: str | os.PathLike, out_dir: str | os.PathLike,
                        datasets: Sequence[tuple[str, str | None]] | None = None, **options: Any) -> Path:
    """Evaluate the α grid on every benchmark (default split) and on WebVid-like val (where α is chosen):
    each dataset's videos are decoded once for all models (`fitclip.evaluate.evaluate`).

    Args:
        models: the grid, `fitclip.fusion.FusionGrid(teacher, trained_students(...), alphas)`.
        root: the benchmarks' root (`data_index(data_root)["root"]`).
        out_dir: rows are appended to `<out_dir>/alpha_grid.jsonl`, embeddings go to `<out_dir>/embeddings/`.
        datasets: `(name, split)` pairs, or `(name, split, source)` for your own folders
            (`fitclip.study.grid.load_entry`); default every benchmark (split None: its default) then `("webvid", "val")`.
        **options: for `evaluate` (skip_broken, batch_size, num_workers, device, progress (default False), ...).

    Returns:
        The results file, for `fitclip.study.results.read_results(path, models=models)`.
    """
    from fitclip.evaluate import evaluate
    from fitclip.study.grid import default_datasets, load_entry

    out_dir = Path(out_dir)
    results = out_dir / "alpha_grid.jsonl"
    for entry in datasets or default_datasets():
        evaluate(models, load_entry(entry, root), root, out=results, embeddings_dir=out_dir / "embeddings",
                 **{"progress": False, **options})
    return results


def sweep(data_root: str | os.PathLike, out_dir: str | os.PathLike, *, arch: str, pretrained: str,
          labeled_sizes: Sequence[int] = (250, 500), lrs: Sequence[float] = (1e-4, 3e-4),
          batch_sizes: Sequence[int] = (8, 32), samples: int | Sequence[int] = 3200, validations: int = 4,
          lam: float = 1e-4, hflips: Sequence[bool] = (True,), alphas: Sequence[float] | None = None, seed: int = 0,
          num_workers: int = 2, progress: bool = False) -> pd.DataFrame:
    """Choose a fine-tuning recipe on the labeled corpus' VALIDATION split only (never a benchmark).

    For each labeled-set size a seeded subset of WebVid-like train (in the synthetic world: of its
    labeled-concept rows, as stage 01 draws it) is drawn and the teacher's pseudo labels
    of the rest (the unlabeled pool) are computed; for each learning rate, labeled batch size and train flip
    (`hflips`) a FitCLIP
    student (λ=`lam`) sees the same number of labeled clips (`samples`, so `samples // batch` steps: equal
    labeled data, about equal compute), is validated `validations` times (labeled val loss;
    `best_labeled.pt` = the lowest), and that checkpoint is evaluated on WebVid-like val (text→video
    R@1, R@5 and MRR, the last two with 95 % bootstrap CIs; R@5 is the paper's selection metric, MRR this
    project's, with less variance). `samples` may list several budgets (e.g. `(3200, 9600)`: 100 and 300
    steps at batch 32). With `alphas`, the student is also fused with the teacher over that grid and each
    fused model is scored on the same validation videos: `fused_MRR` is the best of them, at `fused_alpha`
    (what FitCLIP ships is the fused model, so a recipe can be chosen by it). Runs already finished under
    `out_dir` are reused, so an interrupted sweep continues.

    Returns:
        One row per (labeled, samples, lr, batch, hflip): max_steps, best_step, best_val_loss, R@1, R@5,
        R@5_ci_low, R@5_ci_high, MRR, MRR_ci_low, MRR_ci_high, seconds, and with `alphas` fused_alpha,
        fused_MRR, fused_MRR_ci_low, fused_MRR_ci_high; also written to `<out_dir>/sweep.csv`.
    """
    from fitclip.config import validate
    from fitclip.annotations import load_annotations, sample_labeled_subset
    from fitclip.evaluate import evaluate, load_embeddings, embeddings_path
    from fitclip.metrics import bootstrap_ci, hits
    from fitclip.models import load_clip
    from fitclip.pseudo_labels import compute_pseudo_labels
    from fitclip.train import train

    out_dir = Path(out_dir)
    root = data_index(data_root)["root"]
    webvid_train = load_annotations("webvid", root, split="train").items
    if (Path(root) / "world.json").is_file():  # the synthetic world: draw from the labeled concepts, as 01 does
        from fitclip.toyworld.regime import labeled_candidates

        webvid_train = labeled_candidates(webvid_train, root)
    rows = []
    for n in labeled_sizes:
        labeled_csv = out_dir / f"labeled{n}" / "labeled_subset.csv"
        if not labeled_csv.is_file():
            sample_labeled_subset(webvid_train, n=n, seed=seed, out_csv=labeled_csv)
        common = dict(arch=arch, pretrained=pretrained, labeled_csv=str(labeled_csv), seed=seed,
                      num_workers=num_workers, device="auto", pseudo_labels=str(out_dir / f"labeled{n}" / "labels"))
        pl_cfg = run_config(data_root, out_dir=out_dir / f"labeled{n}", **common)
        if not (out_dir / f"labeled{n}" / "labels" / "index.json").is_file():
            compute_pseudo_labels(validate(pl_cfg, for_pseudo_labels=True))
        budgets = [samples] if isinstance(samples, int) else list(samples)
        for budget, lr, batch, hflip in itertools.product(budgets, lrs, batch_sizes, hflips):
            max_steps = budget // batch
            val_every = max(1, max_steps // validations)
            run_dir = out_dir / f"labeled{n}" / (f"lr{lr:g}-batch{batch}{'' if hflip else '-noflip'}"
                                                 + (f"-steps{max_steps}" if len(budgets) > 1 else ""))
            t0 = time.perf_counter()
            if not (run_dir / "summary.json").is_file():
                cfg = run_config(data_root, out_dir=run_dir, lam=lam, lr=lr, max_steps=max_steps,
                                 val_every=val_every, save_every=max_steps, batch_size_labeled=batch, hflip=hflip,
                                 **common)
                summary = train(validate(cfg, resume=(run_dir / "last.pt").exists()),
                                resume=run_dir / "last.pt" if (run_dir / "last.pt").exists() else None)
                student = load_clip(arch, run_dir / "best_labeled.pt")
                evaluate({"student": student}, "webvid", root, "val", embeddings_dir=run_dir, progress=progress,
                         num_workers=num_workers)
                write_json(run_dir / "summary.json", {**{k: v for k, v in summary.items() if _jsonable(v)},
                                                      "seconds": time.perf_counter() - t0})
            fused = _fused_validation(run_dir, arch, pretrained, root, alphas, num_workers, progress) if alphas else {}
            log = pd.read_json(run_dir / "metrics.jsonl", lines=True)
            val = log.dropna(subset=["val_labeled"])
            best = val.loc[val["val_labeled"].idxmin()]
            emb = load_embeddings(embeddings_path(run_dir, "webvid", "val", "student"))
            r5 = hits(emb["ranks"], "R@5", emb.get("tied"))
            mrr = hits(emb["ranks"], "MRR", emb.get("tied"))
            low, high = bootstrap_ci(r5)
            mrr_low, mrr_high = bootstrap_ci(mrr)
            rows.append({"labeled": n, "lr": lr, "batch": batch, "hflip": hflip, "max_steps": max_steps,
                         "best_step": int(best["step"]),
                         "best_val_loss": float(best["val_labeled"]), "R@1": float(hits(emb["ranks"], "R@1", emb.get("tied")).mean()),
                         "R@5": float(r5.mean()), "R@5_ci_low": low, "R@5_ci_high": high,
                         "MRR": float(mrr.mean()), "MRR_ci_low": mrr_low, "MRR_ci_high": mrr_high,
                         "seconds": json.loads((run_dir / "summary.json").read_text())["seconds"], **fused})
            write_csv(pd.DataFrame(rows), out_dir / "sweep.csv")
    return pd.DataFrame(rows)


def _fused_validation(run_dir: Path, arch: str, pretrained: str, root: str | os.PathLike,
                      alphas: Sequence[float], num_workers: int, progress: bool) -> dict[str, float]:
    """The sweep's fused score: `best_labeled.pt` fused with the teacher at each α, every model scored by MRR on
    WebVid-like val (videos decoded once; reused when `<run_dir>/fused/` holds them); the best α (ties: the
    smaller) with its MRR and 95 % bootstrap CI."""
    from fitclip.evaluate import embeddings_path, evaluate, load_embeddings
    from fitclip.fusion import FusionGrid, grid_model
    from fitclip.metrics import bootstrap_ci, hits
    from fitclip.models import load_clip

    emb_dir = run_dir / "fused"
    names = {a: grid_model("student", a) for a in alphas}
    if not all(embeddings_path(emb_dir, "webvid", "val", m).is_file() for m in names.values()):
        grid = FusionGrid(load_clip(arch, pretrained), {"student": run_dir / "best_labeled.pt"}, alphas)
        evaluate(grid, "webvid", root, "val", embeddings_dir=emb_dir, progress=progress, num_workers=num_workers)
    mrr = {}
    for a, model in names.items():
        emb = load_embeddings(embeddings_path(emb_dir, "webvid", "val", model))
        mrr[a] = hits(emb["ranks"], "MRR", emb.get("tied"))
    best = max(sorted(mrr), key=lambda a: float(mrr[a].mean()))  # max keeps the first (smallest α) on ties
    low, high = bootstrap_ci(mrr[best])
    return {"fused_alpha": best, "fused_MRR": float(mrr[best].mean()), "fused_MRR_ci_low": low,
            "fused_MRR_ci_high": high}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False
