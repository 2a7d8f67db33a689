"""Run the numbered notebooks in order with Papermill: `python -m fitclip.pipeline [stages…] -p key value`.

Unlike Papermill, which only warns about a parameter that a notebook does not declare and passes any
value through, the runner checks every `-p` before anything runs: the name must be declared by a chosen
stage's `parameters` cell and the value must have the type of that cell's literal (a number for
`lam = 1e-4`, a list of numbers for `alphas = [0.0, ...]`, ...; a `None` literal takes anything, or None
and the type of Papermill's type comment: `max_steps = None  # type: int`). Values
are parsed as Papermill's own `-p` does (`True`, `None`, `1e-4`, `3`, else text), and a value written
as a list or mapping (`"[0, 0.5]"`) is read as YAML, as Papermill's `-y` does. For a text parameter the
text is kept as typed (`-p data_root 2024` is the folder "2024").

Executed notebooks and figures belong with the run: for the demo (the default `data_root`, "data") they
go to `runs/<stem>.ipynb` and the committed `figures/`; with `-p data_root DIR` to `DIR/runs/` and
`DIR/figures/` (`--out-dir` and `$FITCLIP_FIGURES` override them). The kernel runs in the project root.

The command `python -m fitclip.pipeline` runs this module's :func:`main` (`fitclip/pipeline.py` is a shim that
keeps that documented command short); `python -m fitclip.study.pipeline` is the same.

Examples:
    python -m fitclip.pipeline                       # the demo: 00 → 08 on the synthetic world
    python -m fitclip.pipeline 09 10                 # the ablations (labeled-set size, λ), after the demo
    python -m fitclip.pipeline 11                    # the anti-forgetting objectives in one harness, after the demo
    python -m fitclip.pipeline -p smoke True         # the CI smoke run
    python -m fitclip.pipeline 03 04 -p lam 1e-4     # some stages ("03" or "03_train")
    python -m fitclip.pipeline 04 -p alphas "[0, 0.5, 1]"
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, NoReturn, Sequence

from fitclip.study.project import DEMO_STAGES, STAGES, figures_root, is_demo, project_root, resolve


def _fail(message: str) -> NoReturn:
    """A user's mistake: one `error:` line on stderr, non-zero exit, no traceback."""
    raise SystemExit(f"error: {message}")


def parse_value(text: str) -> Any:
    """Papermill's `-p` parsing (True/False/None, int, float, else the string); a list or mapping
    (text starting with `[` or `{`) is read as YAML with Papermill's `-y` loader."""
    from papermill.cli import _resolve_type

    value = _resolve_type(text)
    if isinstance(value, str) and value.lstrip().startswith(("[", "{")):
        import yaml
        from papermill.iorw import NoDatesSafeLoader

        try:
            value = yaml.load(value, Loader=NoDatesSafeLoader)
        except yaml.YAMLError as e:
            _fail(f"{text!r} is not a valid list or mapping ({str(e).splitlines()[0]}); e.g. \"[0, 0.5, 1]\"")
    return value


def resolve_stages(names: Sequence[str]) -> list[str]:
    """Stage stems from names or number prefixes, in pipeline order; the demo's stages (00–08) when empty."""
    if not names:
        return list(DEMO_STAGES)
    chosen = set()
    for name in names:
        match = [s for s in STAGES if s == name or s.split("_", 1)[0] == name]
        if not match:
            _fail(f"unknown stage {name!r}; stages are {', '.join(STAGES)} (or their numbers)")
        chosen.update(match)
    return [s for s in STAGES if s in chosen]


def notebook_path(stem: str) -> Path:
    return project_root() / "notebooks" / f"{stem}.ipynb"


def declared_parameters(stem: str) -> dict[str, Any]:
    """Names and defaults (source text) of a notebook's `parameters` cell (via papermill.inspect_notebook)."""
    return {name: info["default"] for name, info in _inspect(stem).items()}


def _inspect(stem: str) -> dict[str, dict[str, str]]:
    import papermill
    return papermill.inspect_notebook(str(notebook_path(stem)))


# A `None` literal with Papermill's type comment (`max_steps = None  # type: int`) takes None or that type;
# an example value of each type stands in for the literal in the checks below.
_TYPE_COMMENTS = {"int": (0, "100"), "float": (0.0, "0.5"), "str": ("", "text"), "bool": (False, "True")}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(default: Any) -> str:
    """The type a parameter's literal asks for, in words."""
    if isinstance(default, bool):
        return "True or False"
    if isinstance(default, int):
        return "an integer"
    if _is_number(default):
        return "a number"
    if isinstance(default, list):
        inner = {"a number" if _is_number(v) else "a string" if isinstance(v, str) else "other" for v in default}
        return {frozenset({"a number"}): "a list of numbers", frozenset({"a string"}): "a list of strings"}.get(
            frozenset(inner), "a list")
    return {str: "a string", dict: "a mapping"}.get(type(default), type(default).__name__)


def _fits(value: Any, default: Any) -> bool:
    """Whether `value` has the type of the parameters cell's literal `default` (None: anything)."""
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if _is_number(default):
        return _is_number(value)
    if isinstance(default, list):
        kind = _kind(default)
        return isinstance(value, list) and (kind == "a list" or all(
            _is_number(v) if kind == "a list of numbers" else isinstance(v, str) for v in value))
    return isinstance(value, type(default))


def check_parameters(stages: Sequence[str], params: dict[str, Any],
                     raw: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Split `params` by stage, checking them first: a name no chosen stage declares, or a value whose type
    differs from a declaring stage's literal, is an error naming the value, the literal and the fix.

    Args:
        raw: the `-p` texts, if the values came from a command line: a text parameter keeps its text
            (`-p data_root 2024` stays "2024").
    """
    inspected = {s: _inspect(s) for s in stages}
    declared = {s: {name: info["default"] for name, info in found.items()} for s, found in inspected.items()}
    known = sorted(set().union(*declared.values()))
    unknown = sorted(set(params) - set(known))
    if unknown:
        _fail(f"unknown parameter(s) {unknown} for stage(s) {list(stages)}; "
              f"the parameters cells declare: {', '.join(known)}")
    params = dict(params)
    for name, value in list(params.items()):
        for stem in stages:
            if name not in declared[stem]:
                continue
            source = declared[stem][name]
            default = ast.literal_eval(source)
            example = source
            typed = inspected[stem][name].get("inferred_type_name")
            if default is None and value is not None and typed in _TYPE_COMMENTS:
                (default, example), source = _TYPE_COMMENTS[typed], f"None  # type: {typed}"
            if isinstance(default, str) and not isinstance(value, str) and raw is not None and name in raw:
                value = params[name] = raw[name]
            if not _fits(value, default):
                shown = raw[name] if raw is not None and name in raw else repr(value)
                _fail(f"-p {name} {shown!r}: notebooks/{stem}.ipynb declares {name} = {source}, so the value must "
                      f"be {_kind(default)}; e.g. -p {name} {_example(default, example)}")
    return {s: {k: v for k, v in params.items() if k in declared[s]} for s in stages}


def _example(default: Any, source: str) -> str:
    if isinstance(default, list):
        return f'"{source}"'
    return source if not isinstance(default, str) else default


def output_dirs(params: dict[str, Any], out_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(executed notebooks, figures) of a run: `runs/` and `figures/` of the project for the demo, else under
    the run's `data_root`; `out_dir` and `$FITCLIP_FIGURES` win."""
    data_root = params.get("data_root")
    if out_dir is not None:
        notebooks = resolve(out_dir)
    else:
        notebooks = project_root() / "runs" if is_demo(data_root) else resolve(data_root) / "runs"
    return notebooks, figures_root(data_root)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """Set an environment variable for the kernels Papermill starts (they inherit it), then restore it."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


#: The runner's kernels log only errors: ipykernel's one warning in a headless run is "Kernel is running over TCP
#: without encryption", which the kernel prints for every notebook and the user can do nothing about (the
#: kernel listens on 127.0.0.1 only). Errors, e.g. a KeyboardInterrupt caught in the kernel, still show.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)


def _kernel_manager_class() -> type:
    """The kernel manager of the runner's kernels: jupyter_client's, except that it does not send SIGINT before
    the shutdown request. jupyter_client interrupts every kernel it shuts down, the signal goes to the kernel's
    whole process group, and a kernel (or a process forked from it by a cell) that is inside a message handler
    then logs "ERROR | KeyboardInterrupt caught in kernel." although every cell succeeded. The runner only shuts
    a kernel down after its last cell finished or failed, when there is nothing to interrupt; a kernel that
    does not exit is still terminated after the shutdown wait. (IPC transport, tried to avoid the TCP warning,
    put its sockets in the working folder under fixed names and once left the runner waiting on a finished
    cell; :data:`KERNEL_ARGUMENTS` silences the warning instead.)"""
    from jupyter_client.manager import AsyncKernelManager

    class PipelineKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return PipelineKernelManager


def run(stages: Sequence[str] = (), params: dict[str, Any] | None = None, out_dir: str | Path | None = None,
        log_output: bool = True, kernel_name: str = "python3", raw: dict[str, str] | None = None) -> list[Path]:
    """Execute the chosen stages in order; stops at the first failing notebook (Papermill raises).

    Args:
        out_dir: where executed notebooks go (default: see :func:`output_dirs`).
        raw: the `-p` texts (see :func:`check_parameters`).

    Returns:
        The executed notebooks' paths.
    """
    import papermill
    stems = resolve_stages(stages)
    per_stage = check_parameters(stems, dict(params or {}), raw)
    root = project_root()
    out, figures = output_dirs(dict(params or {}), out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(f"== executed notebooks -> {out}; figures -> {figures}", flush=True)
    done = []
    with _environment("FITCLIP_FIGURES", str(figures)):
        for stem in stems:
            t0 = time.perf_counter()
            print(f"== {stem} {per_stage[stem] or ''}", flush=True)
            papermill.execute_notebook(str(notebook_path(stem)), str(out / f"{stem}.ipynb"),
                                       parameters=per_stage[stem], cwd=str(root), kernel_name=kernel_name,
                                       log_output=log_output, progress_bar=log_output and sys.stderr.isatty(),
                                       kernel_manager_class=_kernel_manager_class(),
                                       extra_arguments=list(KERNEL_ARGUMENTS))
            print(f"== {stem} done in {time.perf_counter() - t0:.0f} s -> {out / f'{stem}.ipynb'}", flush=True)
            done.append(out / f"{stem}.ipynb")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fitclip.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stages", nargs="*", help="stage stems or numbers (default: the demo, 00-08, in order; "
                        "the ablations 09 and 10 run when named)")
    parser.add_argument("-p", "--parameters", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a notebook parameter, parsed like papermill -p (lists like papermill -y)")
    parser.add_argument("--out-dir", default=None,
                        help="where executed notebooks go (default: runs/ for the demo, else <data_root>/runs/)")
    parser.add_argument("--quiet", action="store_true", help="don't stream the notebooks' output")
    args = parser.parse_args(argv)
    raw = {name: value for name, value in args.parameters}
    params = {name: parse_value(value) for name, value in args.parameters}
    run(args.stages, params, out_dir=args.out_dir, log_output=not args.quiet, raw=raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
