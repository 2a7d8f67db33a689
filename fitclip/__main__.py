"""Command line: `python -m fitclip {fuse,evaluate,doctor} ...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_fuse(args: argparse.Namespace) -> int:
    from fitclip.checkpoint import load_state, save_state
    from fitclip.fusion import fuse
    from fitclip.models import _clip_state_dict

    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit(f"--alpha must be in [0, 1] (0 = teacher, 1 = student), got {args.alpha}")
    teacher, t_meta = _clip_state_dict(load_state(args.teacher))
    student, s_meta = _clip_state_dict(load_state(args.student))
    arch_t, arch_s = t_meta.get("arch"), s_meta.get("arch")
    if arch_t and arch_s and arch_t != arch_s:
        raise SystemExit(f"teacher is {arch_t!r} but student is {arch_s!r}; fuse checkpoints of one architecture")
    fused = fuse(teacher, student, args.alpha)
    out = {"format": "fitclip-clip", "state_dict": fused, "alpha": args.alpha,
           "teacher": str(args.teacher), "student": str(args.student)}
    for key in ("arch", "quick_gelu"):
        if key in s_meta or key in t_meta:
            out[key] = s_meta.get(key, t_meta.get(key))
    save_state(out, args.out)
    print(f"wrote {args.out} (alpha={args.alpha}, {len(fused)} tensors)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fitclip", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fuse", help="weight-space ensemble of teacher and student checkpoints")
    p.add_argument("--teacher", type=Path, required=True, help="teacher checkpoint (state dict file)")
    p.add_argument("--student", type=Path, required=True, help="student checkpoint (model file or training checkpoint)")
    p.add_argument("--alpha", type=float, required=True, help="0 = teacher, 1 = student")
    p.add_argument("--out", type=Path, required=True, help="output model file")
    p.set_defaults(func=_cmd_fuse)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
