"""Launch `torchrun -m <module>` from a notebook cell as a subprocess, streaming its log.

DDP never runs inside the Jupyter kernel: the kernel only starts `python -m torch.distributed.run` with
the kernel's own interpreter (`sys.executable`, so the venv is used even when it is not on PATH), prints
the child's output as it comes, keeps a copy in a log file, and raises if the run fails or times out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from typing import Sequence


class LaunchError(subprocess.CalledProcessError):
    """A launched run exited non-zero; the message carries the child's error line and the log's path."""

    def __init__(self, returncode: int, cmd: Sequence[str], output: str, log_file: str | os.PathLike | None) -> None:
        super().__init__(returncode, list(cmd), output=output)
        self.log_file = log_file

    def __str__(self) -> str:
        errors = [line.strip() for line in (self.output or "").splitlines()
                  if re.match(r"^\w*(Error|Exception)\b.*:", line.strip()) and "ChildFailedError" not in line]
        cause = errors[-1] if errors else "see the log"
        return (f"torchrun -m {' '.join(self.cmd[self.cmd.index('-m', 3) + 1:])} exited with status {self.returncode}: {cause}"
                + (f" (full log: {self.log_file})" if self.log_file else ""))


def torchrun(module: str, args: Sequence[str], nproc_per_node: int = 1, log_file: str | os.PathLike | None = None,
             timeout_s: float = 3600, echo: bool = True) -> float:
    """Run `torchrun --standalone --nproc_per_node=N -m module args...` and wait for it.

    Args:
        module: e.g. "fitclip.train".
        args: its command-line arguments.
        nproc_per_node: processes (ranks) on this machine.
        log_file: where to keep the combined stdout/stderr (appended).
        timeout_s: kill the whole run after this many seconds.
        echo: print the child's output lines as they arrive.

    Returns:
        Wall seconds.

    Raises:
        LaunchError: a non-zero exit (a `CalledProcessError` whose message names the child's error).
        subprocess.TimeoutExpired: the run took longer than `timeout_s` (it is killed).
    """
    if nproc_per_node < 1:
        raise ValueError(f"nproc_per_node must be >= 1, got {nproc_per_node}")
    threads = max(1, len(os.sched_getaffinity(0)) // nproc_per_node)  # OMP threads per rank: N ranks share the cores
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc_per_node}",
           "-m", module, *map(str, args)]
    log = open(log_file, "a") if log_file else None
    tail: list[str] = []

    def pump(stream) -> None:  # a thread, so a silent hung child cannot block the timeout below
        for line in stream:
            if echo:
                print(line, end="", flush=True)
            if log:
                log.write(line)
                log.flush()
            tail.append(line)
            del tail[:-300]  # the child's own error line sits above torchrun's long report

    t0 = time.perf_counter()
    try:
        if log:
            log.write(f"$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1)
        reader = threading.Thread(target=pump, args=(proc.stdout,), daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout_s)
        except BaseException:  # timeout or a notebook interrupt: never leave ranks behind
            # torchrun starts its workers in their own sessions, so SIGKILL to the launcher alone
            # would orphan them; SIGTERM lets it tear them down first.
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
        finally:
            reader.join(timeout=30)
        if proc.returncode != 0:
            raise LaunchError(proc.returncode, cmd, "".join(tail), log_file)
    finally:
        if log:
            log.close()
    return time.perf_counter() - t0
