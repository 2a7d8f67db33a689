"""Command line: ``fitclip <command> ...`` (the console script), the same as ``python -m fitclip <command> ...``.

Commands: train, pseudo-labels, fuse, average, evaluate, doctor, search, pipeline. ``train``, ``pseudo-labels``
and ``pipeline`` hand their arguments to ``fitclip.train``, ``fitclip.pseudo_labels`` and the notebook runner
(``python -m fitclip.train`` etc. keep working, and ``torchrun -m fitclip.train`` is how several processes
train); the others are defined here. ``fitclip <command> --help`` describes each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_fuse(args: argparse.Namespace) -> int:
    """Exit status: 0 written, 2 bad input (alpha, unreadable or mismatched checkpoints), 1 cannot write --out."""
    from fitclip.files import load_state, save_state
    from fitclip.fusion import check_alphas, fuse

    try:
        check_alphas([args.alpha])
    except ValueError as e:
        return _fail(f"--{e}", 2)
    from fitclip.models import clip_state_dict

    bad_out = _check_out(args.out)  # before the checkpoints are read
    if bad_out is not None:
        return bad_out
    states = {}
    for flag, path in (("--teacher", args.teacher), ("--student", args.student)):
        try:
            states[flag] = clip_state_dict(load_state(path))
        except (ValueError, FileNotFoundError) as e:
            return _fail(f"{flag} {path}: {e}", 2)
    (teacher, t_meta), (student, s_meta) = states["--teacher"], states["--student"]
    arch_t, arch_s = t_meta.get("arch"), s_meta.get("arch")
    if arch_t and arch_s and arch_t != arch_s:
        return _fail(f"teacher is {arch_t!r} but student is {arch_s!r}; fuse checkpoints of one architecture", 2)
    try:
        fused = fuse(teacher, student, args.alpha)
    except ValueError as e:  # bare state dicts carry no arch: different keys or shapes show it
        return _fail(f"cannot fuse {args.teacher} and {args.student}: {e}", 2)
    out = {"format": "fitclip-clip", "state_dict": fused, "alpha": args.alpha,
           "teacher": str(args.teacher), "student": str(args.student)}
    for key in ("arch", "quick_gelu"):
        if key in s_meta or key in t_meta:
            out[key] = s_meta.get(key, t_meta.get(key))
    try:
        save_state(out, args.out)
    except OSError as e:  # a full disk: save_state says so, and the previous file at --out is unchanged
        return _fail(f"--out {args.out}: {e.strerror or e}", 1)
    print(f"wrote {args.out} (alpha={args.alpha}, {len(fused)} tensors)")
    return 0


def _cmd_average(args: argparse.Namespace) -> int:
    """Exit status: 0 written, 2 bad input (fewer than two checkpoints, unreadable, of other models or
    architectures, non-finite), 1 cannot write --out."""
    paths = list(args.checkpoints)
    if len(paths) < 2:
        return _fail(f"give two or more checkpoints to average, got {len(paths)} (one checkpoint is its own average)", 2)
    repeated = sorted({str(p) for p in paths if paths.count(p) > 1})
    if repeated:
        return _fail(f"{repeated[0]} is given twice; each checkpoint counts once in the average", 2)

    from fitclip.files import save_state, sha256_file
    from fitclip.fusion import average_checkpoints

    bad_out = _check_out(args.out)  # before any checkpoint is read
    if bad_out is not None:
        return bad_out
    seen: dict[str, Path] = {}
    for path in paths:  # the same file under two names (or a copy) would count twice
        try:
            digest = sha256_file(path)
        except OSError as e:
            return _fail(f"{path}: {e.strerror or e}", 2)
        if digest in seen:
            return _fail(f"{path} and {seen[digest]} are the same file (sha256 {digest[:12]}); each checkpoint "
                         f"counts once in the average", 2)
        seen[digest] = path
    try:
        out = average_checkpoints(paths)
    except ValueError as e:
        return _fail(e, 2)
    averaged = out["state_dict"]
    try:
        save_state(out, args.out)
    except OSError as e:
        return _fail(f"--out {args.out}: {e.strerror or e}", 1)
    print(f"wrote {args.out} (the average of {len(paths)} checkpoints, {len(averaged)} tensors)")
    return 0


def _check_out(out: Path) -> int | None:
    """`--out` must be a writable file path: None when it is, else the exit status after a one-line error (2 for
    a folder or a bad name, 1 when the place cannot be written)."""
    from fitclip.files import check_writable

    try:
        check_writable(out, "file")
    except ValueError as e:
        return _fail(f"--out {out}: {e}", 2)
    except OSError as e:
        return _fail(f"--out {out}: {e.strerror}", 1)
    return None


def _dataset_options(pairs: list[str] | None) -> dict[str, object]:
    """`--dataset-option KEY=VALUE` pairs; 'true'/'false' become booleans (e.g. recursive=false)."""
    options: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--dataset-option {pair!r} is not KEY=VALUE (e.g. source=frozen)")
        options[key] = {"true": True, "false": False}.get(value.lower(), value)
    return options


def _fail(message: object, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _device_and_threads(args: argparse.Namespace) -> "tuple[object, str | None]":
    """`--device` as a torch device and `--threads` applied (evaluate and search): (device, None), or (None, the
    one-line error)."""
    import torch

    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        return None, f"--device {args.device!r}: {e}"
    if device.type == "cuda" and not torch.cuda.is_available():
        return None, f"--device {args.device!r} but CUDA is not available; use --device cpu"
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return device, None


def _random_weights_seed(args: argparse.Namespace) -> str | None:
    """`--pretrained` as load_clip takes it; for "none" (random weights) torch is seeded from `--seed` first, so
    the weights are reproducible (and the same on every rank)."""
    import torch

    if args.pretrained.lower() != "none":
        return args.pretrained
    torch.manual_seed(args.seed)
    return None


def _cmd_evaluate(args: argparse.Namespace) -> int:
    # Cheap checks first, before even importing torch/open_clip: nothing heavy runs on bad input.
    if args.alpha is not None and args.student is None:
        return _fail("--alpha needs --student (alpha mixes teacher and student weights: 0 = teacher, "
                     "1 = student); to evaluate one model, drop --alpha", 2)
    from fitclip.fusion import check_alphas

    try:
        alphas = check_alphas(args.alpha if args.alpha is not None else [1.0])
    except ValueError as e:
        return _fail(f"--{e}", 2)
    if args.student is not None and not args.student.is_file():
        return _fail(f"--student {str(args.student)!r} does not exist; pass a checkpoint file", 2)
    if args.batch_size < 1 or args.num_workers < 0 or args.num_frames < 1:
        return _fail("--batch-size and --num-frames must be >= 1 and --num-workers >= 0", 2)
    views = (args.num_frames, 1, 1)
    if args.views is not None:
        parts = args.views.lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) >= 1 for p in parts) or int(parts[2]) not in (1, 3):
            return _fail(f"--views {args.views!r} is not FRAMESxCLIPSxCROPS with crops 1 or 3 (e.g. 8x3x1, as "
                         "FROSTER and Open-VCLIP test; FitCLIP's is 4x1x1)", 2)
        views = tuple(int(p) for p in parts)
    if args.threads is not None and args.threads < 1:
        return _fail(f"--threads must be >= 1, got {args.threads}", 2)
    try:
        options = _dataset_options(args.dataset_option)
    except ValueError as e:
        return _fail(e, 2)

    import logging
    import os

    from fitclip.annotations import expand_split, load_annotations
    from fitclip.distributed import init_from_env, shutdown
    from fitclip.evaluate import BrokenVideosError, check_evaluable, check_outputs, check_videos, evaluate
    from fitclip.report import HEADLINE_METRICS, format_split_summary, format_table, split_summary
    from fitclip.fusion import FusionGrid
    from fitclip.metrics import NonFiniteScores
    from fitclip.models import EvalModel, WeightsUnavailable, load_clip

    try:  # where the results go, before any model loads or any video decodes
        check_outputs(args.out, args.embeddings_dir)
    except ValueError as e:  # a folder for a file, a checkpoint for a results file: bad input
        return _fail(e, 2)
    except OSError as e:  # a place that cannot be written: as fuse and search, exit 1
        return _fail(e.strerror or e, 1)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    device, error = _device_and_threads(args)
    if error:
        return _fail(error, 2)
    try:  # every split first (`--split all`: the peers' three), so a bad list stops the run before any model
        every = [load_annotations(args.dataset, args.data_root, split, **options)
                 for split in expand_split(args.dataset, args.split)]
        for annotations in every:
            check_evaluable(annotations)
    except ValueError as e:  # unknown dataset/split/option, AnnotationError, nothing to score
        return _fail(e, 2)
    sharded = int(os.environ.get("WORLD_SIZE", "1")) > 1  # torchrun: each rank encodes its shard
    rank = int(os.environ.get("RANK", "0"))
    say = print if rank == 0 else (lambda *a, **k: None)
    for annotations in every:
        failures = check_videos(annotations)
        if failures and not args.skip_broken:
            say(BrokenVideosError(failures, len(annotations), annotations.name, annotations.split, args.data_root),
                file=sys.stderr)
            return 1

    pretrained = _random_weights_seed(args)
    try:
        teacher = load_clip(args.arch, pretrained, device="cpu")
    except (ValueError, FileNotFoundError) as e:
        return _fail(e, 2)
    except WeightsUnavailable as e:  # offline, or the hub unreachable: the fix is a local weights file
        return _fail(e, 1) if rank == 0 else 1
    label = "random" if pretrained is None else Path(pretrained).name if Path(pretrained).suffix else pretrained
    if args.student is None:
        models = {f"{args.arch}/{label}": EvalModel(teacher, None, {"pretrained": args.pretrained})}
    else:
        try:
            models = FusionGrid(teacher, {args.name or "fused": args.student}, alphas,
                                weights={"teacher": args.pretrained, "student": str(args.student)})
        except (ValueError, FileNotFoundError) as e:
            return _fail(e, 2)
    if sharded:
        device = init_from_env(device.type)[3]
    if isinstance(models, FusionGrid):
        models.to(device)
    else:
        teacher.to(device)
    rows = []
    try:
        for annotations in every:  # one run (run_id) per split; each split's rows are appended when it is done
            rows += evaluate(models, annotations, args.data_root, annotations.split, num_frames=views[0],
                             num_clips=views[1], num_crops=views[2],
                             batch_size=args.batch_size, num_workers=args.num_workers, skip_broken=args.skip_broken,
                             embeddings_dir=args.embeddings_dir, out=args.out, backend=args.backend, device=device,
                             dataset_options=options, progress=not args.no_progress, precision=args.precision)
    except BrokenVideosError as e:
        say(e, file=sys.stderr)
        return 1
    except NonFiniteScores as e:  # a model whose weights hold NaN: an error naming it, nothing written
        return _fail(e, 1) if rank == 0 else 1
    except OSError as e:  # a full disk at the end: the results files are unchanged
        return _fail(e.strerror or e, 1) if rank == 0 else 1
    finally:
        shutdown()
    if rank != 0:
        return 0
    print(format_table(rows))
    if len(every) > 1:
        print()
        print(format_split_summary(split_summary(rows, (HEADLINE_METRICS[every[0].task],))))
    if args.out is not None:
        from fitclip.evaluate import protocol_path

        print(f"appended {len(rows)} rows to {args.out} (protocol: {protocol_path(args.out)})")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from fitclip.doctor import doctor

    if args.num_workers < 0 or args.num_frames < 1:
        return _fail("--num-workers must be >= 0 and --num-frames >= 1", 2)
    from fitclip.annotations import PEER_FILES, SPECS, expand_split
    from fitclip.doctor import peer_list_facts

    try:
        options = _dataset_options(args.dataset_option)
        splits = expand_split(args.dataset, args.split)
        problems, facts = [], []
        if len(splits) > 1 and args.dataset in PEER_FILES:  # the peers' three lists: their facts first (§8)
            problems, facts = peer_list_facts(args.dataset, args.data_root)
        reports = [doctor(args.dataset, args.data_root, split, out_dir=args.out_dir, num_frames=args.num_frames,
                          num_workers=args.num_workers, backend=args.backend, dataset_options=options,
                          progress=not args.no_progress) for split in splits]
    except ValueError as e:  # unknown dataset/split/option, AnnotationError, an --out-dir that is a file
        return _fail(e, 2)
    except OSError as e:  # --out-dir cannot be written: found before any video is opened
        return _fail(f"--out-dir {args.out_dir}: {e.strerror or e}", 2)
    if facts or problems:
        print(f"doctor {args.dataset}: the split lists (benchmarks README §8; {SPECS[args.dataset].description})")
        print("\n".join([*(f"  ok: {f}" for f in facts), *(f"  PROBLEM: {p}" for p in problems)]))
    print("\n".join(report.format_summary() for report in reports))
    return 0 if all(report.ok for report in reports) and not problems else 1


def _cmd_search(args: argparse.Namespace) -> int:
    """Exit status: 0 searched (unreadable files are skipped and listed); 1 no video decoded, a model with
    non-finite scores, the --pretrained tag's weights could not be downloaded, or --out cannot be written (found before any work, or a write that failed: the previous
    run's files are left as they were); 2 bad input (found before any model is loaded or any video decoded),
    an --out that is a file or holds files of the output names that no earlier search wrote included. Every
    name or text printed is escaped (control characters and bytes that are not UTF-8 shown as escapes)."""
    from fitclip.folders import escape_name

    def fail(message: object, code: int) -> int:
        return _fail(escape_name(str(message)), code)

    if not (args.labels or args.labels_file or args.queries):
        return fail("nothing to search for: give --queries \"...\" (text->video) and/or --labels \"a,b,c\" or "
                    "--labels-file FILE (zero-shot labels)", 2)
    if args.alpha is not None and args.student is None:
        return fail("--alpha needs --student (alpha mixes teacher and student weights: 0 = teacher, 1 = student); "
                    "to search with the teacher alone, drop --alpha", 2)
    alphas = args.alpha if args.alpha is not None else [0.0, 0.5, 1.0]
    bad = [a for a in alphas if not 0.0 <= a <= 1.0]
    if bad:
        return fail(f"--alpha values must be in [0, 1] (0 = teacher, 1 = student), got {bad}", 2)
    if len(set(alphas)) != len(alphas):
        return fail(f"--alpha has repeated values: {alphas}", 2)
    if args.student is not None and not args.student.is_file():
        return fail(f"--student {escape_name(args.student)!r} does not exist; pass a checkpoint file", 2)
    if args.top_k < 1 or args.batch_size < 1 or args.num_workers < 0 or args.num_frames < 1:
        return fail("--top-k, --batch-size and --num-frames must be >= 1 and --num-workers >= 0", 2)
    if args.threads is not None and args.threads < 1:
        return fail(f"--threads must be >= 1, got {args.threads}", 2)

    import logging

    from fitclip.gallery import ranking_report
    from fitclip.metrics import NonFiniteScores
    from fitclip.models import WeightsUnavailable
    from fitclip.search import (check_out_dir, check_queries, find_videos, parse_labels,
                                resolve_templates, search, search_models, skipped_lines)

    try:  # where the results go, before any model loads or any video decodes
        check_out_dir(args.out)
    except ValueError as e:  # a file, or a folder holding other files of the output names
        return fail(f"--out {e}", 2)
    except OSError as e:
        return fail(f"--out {escape_name(args.out)}: {e.strerror or e}", 1)

    def escaped(record: logging.LogRecord) -> bool:  # decode warnings name files: escape them too
        record.msg, record.args = escape_name(record.getMessage()), None
        return True

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(escaped)
    try:
        queries = check_queries(args.queries or [])
        labels = parse_labels(args.labels, args.labels_file) if (args.labels or args.labels_file) else []
        if labels:
            resolve_templates(args.templates)
        annotations, not_videos = find_videos(args.videos, recursive=not args.no_recursive, extensions=args.extensions)
    except ValueError as e:
        return fail(e, 2)
    n_ignored = sum(r["stage"] == "ignored" for r in not_videos)
    others = [f"{n} {what}" for n, what in ((n_ignored, "other file(s) ignored"),
                                            (len(not_videos) - n_ignored, "left out")) if n]
    print(f"{len(annotations)} video file(s) under {escape_name(args.videos)}"
          + (f" ({', '.join(others)}; listed after the search)" if others else ""))
    device, error = _device_and_threads(args)
    if error:
        return fail(error, 2)
    pretrained = _random_weights_seed(args)
    students = {args.name: args.student} if args.student is not None else {}
    try:
        models = search_models(args.arch, pretrained, students, alphas, device=device)
    except (ValueError, FileNotFoundError) as e:  # unknown arch or tag, a student of another architecture
        return fail(e, 2)
    except WeightsUnavailable as e:  # offline, or the hub unreachable: the fix is a local weights file
        return fail(e, 1)
    try:
        result = search(models, args.videos, queries=queries, labels=labels, templates=args.templates,
                        top_k=args.top_k, out_dir=args.out, recursive=not args.no_recursive,
                        extensions=args.extensions, num_frames=args.num_frames, batch_size=args.batch_size,
                        num_workers=args.num_workers, backend=args.backend, device=device,
                        progress=not args.no_progress)
    except NonFiniteScores as e:  # a model whose weights hold NaN: an error naming it, nothing written
        return fail(e, 1)
    except ValueError as e:  # no video could be decoded
        return fail(e, 1)
    except OSError as e:  # a full disk: the previous run's files in --out are as they were
        return fail(f"--out {escape_name(args.out)}: {e.strerror or e}", 1)
    print(ranking_report(result))  # per kind a header and the table, the * legend; the random-weights note
    for line in skipped_lines(result):
        print(line)
    print(f"searched {len(result.keys)} of {result.n_found} video(s) with {len(result.models)} model(s) in "
          f"{result.seconds:.1f} s; {len(result.skipped)} file(s) skipped; wrote {', '.join(result.files)} to "
          f"{escape_name(args.out)}")
    return 0


#: Commands whose own parser lives in their module: ``fitclip <command> ARGS`` is ``<module>.main(ARGS)``.
FORWARDED: dict[str, str] = {
    "train": "FitCLIP step (1): teacher–student fine-tuning, one process (torchrun -m fitclip.train for N)",
    "pseudo-labels": "the teacher's embeddings of the unlabeled pool, once, for teacher_mode=cached (resumable)",
    "pipeline": "run the numbered notebooks with Papermill (the demo: 00-08), checking -p parameters first",
}


def _forward(command: str, argv: list[str]) -> int:
    if command == "train":
        from fitclip.train import main as run
    elif command == "pseudo-labels":
        from fitclip.pseudo_labels import main as run
    else:
        from fitclip.pipeline import main as run  # the shim over the study's runner
    return int(run(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in FORWARDED:
        return _forward(argv[0], argv[1:])
    parser = argparse.ArgumentParser(prog="fitclip", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, text in FORWARDED.items():
        sub.add_parser(name, help=text, add_help=False)  # listed in --help; never parsed here

    p = sub.add_parser("fuse", help="weight-space ensemble of teacher and student checkpoints")
    p.add_argument("--teacher", type=Path, required=True, help="teacher checkpoint (state dict file)")
    p.add_argument("--student", type=Path, required=True, help="student checkpoint (model file or training checkpoint)")
    p.add_argument("--alpha", type=float, required=True, help="0 = teacher, 1 = student")
    p.add_argument("--out", type=Path, required=True, help="output model file")
    p.set_defaults(func=_cmd_fuse)

    p = sub.add_parser("average", help="uniform average of checkpoints of one model (weight averaging)",
                       description="θ = mean of the checkpoints' weights (uniform weight averaging, as Open-VCLIP's "
                                   "and FROSTER's weight_average_tool.py average the checkpoints of their runs; "
                                   "fitclip.train keeps last.pt, best_labeled.pt and, with --keep_every N, "
                                   "step<N>.pt along the run). "
                                   "The result is a model file: evaluate it, or fuse it with the teacher "
                                   "(python -m fitclip fuse --student FILE). Exit status: 0 written, 2 bad input, "
                                   "1 cannot write --out.")
    p.add_argument("checkpoints", type=Path, nargs="+", help="two or more checkpoints of one model (model files "
                   "or training checkpoints)")
    p.add_argument("--out", type=Path, required=True, help="output model file")
    p.set_defaults(func=_cmd_average)

    p = sub.add_parser("evaluate", help="zero-shot evaluation on a benchmark (tidy JSON-lines metrics)",
                       description="Zero-shot evaluation: decodes each video once, every model (one, or one per "
                                   "--alpha, fused in place in one working copy) scores the same frames. Under "
                                   "torchrun each rank encodes its shard and rank 0 scores and writes. Exit status: "
                                   "0 ok, 1 broken videos, a model with non-finite scores (NaN weights), the --pretrained tag's "
                                   "weights could not be downloaded (offline: pass a local file), or an --out / "
                                   "--embeddings-dir that cannot be written (found before any work) or whose write "
                                   "failed (nothing written), 2 bad input.")
    p.add_argument("--dataset", required=True,
                   help="ucf101, mit, msrvtt, youcook2, didemo, webvid, folder, or the peers' hmdb51 and k600_zs")
    p.add_argument("--data-root", type=Path, required=True, help="folder that holds <dataset>/ in its official layout")
    p.add_argument("--split", default=None,
                   help="split (default: the dataset's evaluation split: FitCLIP's for ucf101, all three for hmdb51 "
                        "and k600_zs); 1, 2, 3 or all: the peers' lists (all: mean ± std over the three, and each "
                        "split's CI)")
    p.add_argument("--arch", default="ViT-B-16", help="open_clip architecture (default ViT-B-16)")
    p.add_argument("--pretrained", default="openai",
                   help="open_clip tag (default openai), a checkpoint file, or 'none' for random weights")
    p.add_argument("--student", type=Path, default=None,
                   help="student checkpoint; with --alpha, fuse it with the teacher")
    p.add_argument("--alpha", type=float, nargs="+", default=None,
                   help="fusion weights in [0, 1] (0 = teacher, 1 = student; default 1); needs --student")
    p.add_argument("--name", default=None, help="model-name prefix for fused models (default 'fused')")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON-lines metrics file (appended; protocol records in <stem>.protocol.jsonl)")
    p.add_argument("--skip-broken", action="store_true",
                   help="exclude missing/broken videos (counted in n_failed, listed in the protocol record)")
    p.add_argument("--embeddings-dir", type=Path, default=None, help="save per-model embeddings and ranks here")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-workers", type=int, default=2, help="decode workers (default 2)")
    p.add_argument("--num-frames", type=int, default=4, help="frames per clip (FitCLIP: 4)")
    p.add_argument("--views", default=None, metavar="FxCxK",
                   help="multi-view testing: frames x clips x crops (crops 1 or 3), e.g. 8x3x1 as FROSTER and "
                        "Open-VCLIP test; overrides --num-frames (default 4x1x1, FitCLIP's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--backend", choices=("decord", "pyav"), default="decord",
                   help="video decoder (decord falls back to PyAV per video, counted in the protocol record)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="autocast of the forward passes (default fp32; bf16 is for GPUs, slower on a CPU)")
    p.add_argument("--dataset-option", action="append", metavar="KEY=VALUE",
                   help="loader option, e.g. source=frozen (msrvtt) or group_by=stem (didemo); repeatable")
    p.add_argument("--seed", type=int, default=0, help="torch seed for --pretrained none")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads of the model process (default: torch's default); on a small "
                        "CPU box, leaving cores to the decode workers can be faster (benchmarks/bench_eval.py)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("doctor", help="check every video a benchmark references; exit 1 when anything is wrong",
                       description="Checks every referenced video (present, opens, frames, fps, sampled frames decode, "
                                   "clip times inside the video); writes manifest/quarantine CSVs. Exit status: 0 all "
                                   "ok, 1 problems found, 2 bad input (including an --out-dir that cannot be written, found "
                                   "before any video is opened).")
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--split", default=None)
    p.add_argument("--out-dir", type=Path, default=None, help="default: <data-root>/<dataset>/doctor/")
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--num-frames", type=int, default=4)
    p.add_argument("--backend", choices=("decord", "pyav"), default="decord")
    p.add_argument("--dataset-option", action="append", metavar="KEY=VALUE")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("search", help="rank a folder of your videos with the teacher, fused models and the student",
                       description="Search your own videos: every model (the teacher α=0, each fused --alpha, the student "
                                   "α=1) ranks the folder's videos for each query (text->video) and labels each video "
                                   "(zero-shot); each video is decoded once. Writes tidy CSV/JSON rows, the videos whose "
                                   "rank moves most between the teacher and FitCLIP, a gallery (PNG and a self-contained "
                                   "HTML page) and a protocol record to --out. Unreadable files are listed and skipped; "
                                   "symbolic links are never followed (only files inside --videos are searched), and "
                                   "links, FIFOs, devices and names that are not UTF-8 are listed as left out; other "
                                   "files are counted by extension (all in skipped.csv). Exit status: 0 ok; 1 no video "
                                   "decoded, a model with non-finite scores (NaN weights), the --pretrained tag's weights "
                                   "could not be downloaded (offline: pass a local file), or --out cannot be written "
                                   "(checked before any work; a failed write, e.g. a full disk, leaves the previous "
                                   "run's files as they were); 2 bad input (before any model loads or video decodes), "
                                   "including an --out that is a file or holds files of the output names that no "
                                   "earlier search wrote.")
    p.add_argument("--videos", type=Path, required=True,
                   help="folder of videos (nested folders and other files are fine; symbolic links in it are not "
                        "followed)")
    p.add_argument("--queries", nargs="+", default=None, metavar="TEXT", help="text queries (text->video ranking)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--labels", default=None, help='zero-shot labels, comma-separated: "dancing,cooking,surfing"')
    group.add_argument("--labels-file", type=Path, default=None, help="zero-shot labels, one per line")
    p.add_argument("--templates", default="ucf101",
                   help="prompt templates for labels: ucf101 (default, CLIP's 48), none (the label is the prompt) or a "
                        "file with one template per line holding {} once")
    p.add_argument("--arch", default="ViT-B-16", help="open_clip architecture (default ViT-B-16)")
    p.add_argument("--pretrained", default="openai",
                   help="the teacher: open_clip tag (default openai), a checkpoint file, or 'none' for random weights")
    p.add_argument("--student", type=Path, default=None, help="student checkpoint, fused with the teacher at each --alpha")
    p.add_argument("--alpha", type=float, nargs="+", default=None,
                   help="fusion weights in [0, 1] (0 = teacher, 1 = student; default 0 0.5 1); the teacher (0) is "
                        "always included; needs --student")
    p.add_argument("--name", default="fitclip", help="the student's name in the outputs (default fitclip)")
    p.add_argument("--top-k", type=int, default=5, help="videos per query and labels per video (default 5)")
    p.add_argument("--out", type=Path, required=True,
                   help="output folder: a run replaces the previous run's files there whole (all written first, "
                        "then swapped in, protocol.json last), or not at all; other files there are not touched")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-workers", type=int, default=2, help="decode workers (default 2)")
    p.add_argument("--num-frames", type=int, default=4, help="frames per video (FitCLIP: 4)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--backend", choices=("decord", "pyav"), default="decord", help="video decoder")
    p.add_argument("--extensions", nargs="+", default=None, metavar="EXT",
                   help="which files are videos (default: the usual video extensions)")
    p.add_argument("--no-recursive", action="store_true", help="only the folder's top level")
    p.add_argument("--seed", type=int, default=0, help="torch seed for --pretrained none")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_search)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
