"""Run the numbered notebooks in order with Papermill: `python -m fitclip.pipeline [stages…] -p key value`.

Unlike Papermill, which only warns about a parameter that a notebook does not declare, the runner
rejects it before anything runs. Values are parsed as Papermill's own `-p` does (`True`, `None`,
`1e-4`, `3`), and each stage receives the parameters its `parameters` cell declares. Executed notebooks
are written to `runs/<stem>.ipynb`; the kernel runs in the project root.

Examples:
    python -m fitclip.pipeline                       # 00 → 07 on the synthetic world
    python -m fitclip.pipeline -p smoke True         # the CI smoke run
    python -m fitclip.pipeline 03 04 -p lam 1e-4     # some stages ("03" or "03_train")
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from fitclip.project import STAGES, project_root


def parse_value(text: str) -> Any:
    """Papermill's `-p` parsing: True/False/None, int, float, else the string."""
    from papermill.cli import _resolve_type
    return _resolve_type(text)


def resolve_stages(names: Sequence[str]) -> list[str]:
    """Stage stems from names or number prefixes, in pipeline order; all stages when empty."""
    if not names:
        return list(STAGES)
    chosen = set()
    for name in names:
        match = [s for s in STAGES if s == name or s.split("_", 1)[0] == name]
        if not match:
            raise SystemExit(f"unknown stage {name!r}; stages are {', '.join(STAGES)} (or their numbers)")
        chosen.update(match)
    return [s for s in STAGES if s in chosen]


def notebook_path(stem: str) -> Path:
    return project_root() / "notebooks" / f"{stem}.ipynb"


def declared_parameters(stem: str) -> dict[str, Any]:
    """Names and defaults of a notebook's `parameters` cell (via papermill.inspect_notebook)."""
    import papermill
    return {name: info["default"] for name, info in papermill.inspect_notebook(str(notebook_path(stem))).items()}


def check_parameters(stages: Sequence[str], params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Split `params` by stage; any name no chosen stage declares is an error that lists the valid ones."""
    declared = {s: declared_parameters(s) for s in stages}
    known = sorted(set().union(*declared.values()))
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise SystemExit(f"unknown parameter(s) {unknown} for stage(s) {list(stages)}; "
                         f"the parameters cells declare: {', '.join(known)}")
    return {s: {k: v for k, v in params.items() if k in declared[s]} for s in stages}


def run(stages: Sequence[str] = (), params: dict[str, Any] | None = None, out_dir: str | Path = "runs",
        log_output: bool = True, kernel_name: str = "python3") -> list[Path]:
    """Execute the chosen stages in order; stops at the first failing notebook (Papermill raises).

    Returns:
        The executed notebooks' paths.
    """
    import papermill
    stems = resolve_stages(stages)
    per_stage = check_parameters(stems, dict(params or {}))
    root = project_root()
    out = (root / out_dir) if not Path(out_dir).is_absolute() else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for stem in stems:
        t0 = time.perf_counter()
        print(f"== {stem} {per_stage[stem] or ''}", flush=True)
        papermill.execute_notebook(str(notebook_path(stem)), str(out / f"{stem}.ipynb"),
                                   parameters=per_stage[stem], cwd=str(root), kernel_name=kernel_name,
                                   log_output=log_output, progress_bar=False)
        print(f"== {stem} done in {time.perf_counter() - t0:.0f} s -> {out / f'{stem}.ipynb'}", flush=True)
        done.append(out / f"{stem}.ipynb")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fitclip.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stages", nargs="*", help="stage stems or numbers (default: all, in order)")
    parser.add_argument("-p", "--parameters", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a notebook parameter, parsed like papermill -p")
    parser.add_argument("--out-dir", default="runs", help="where executed notebooks go (default runs/)")
    parser.add_argument("--quiet", action="store_true", help="don't stream the notebooks' output")
    args = parser.parse_args(argv)
    params = {name: parse_value(value) for name, value in args.parameters}
    run(args.stages, params, out_dir=args.out_dir, log_output=not args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
