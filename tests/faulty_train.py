"""`python tests/faulty_train.py ARGS` (or under torchrun): `python -m fitclip.train ARGS` with a fault injected
through `fitclip.train.step_hook`, read from ``FITCLIP_TEST_FAULT=KIND:STEP[:RANK]``: ``nan`` (that step's loss
becomes NaN), ``exit`` (the process exits with code 17 mid-step) or ``hang`` (it sleeps for good mid-step, after
backward and before the optimizer step); without RANK on every rank. In-process tests set the hook with
`fault(...)` instead."""

from __future__ import annotations

import os
import sys
import time
from typing import Callable


def fault(kind: str, step: int, rank: int | None = None) -> Callable:
    """A `fitclip.train.step_hook` that injects `kind` at `step` (on `rank` only, when given)."""
    if kind not in ("nan", "exit", "hang"):
        raise ValueError(f"fault kind {kind!r}: nan, exit or hang")

    def hook(point: str, at: int, losses: dict) -> None:
        if at != step or (rank is not None and int(os.environ.get("RANK", "0")) != rank):
            return
        if kind == "nan" and point == "loss":
            losses["total"] = losses["total"] * float("nan")
        elif kind == "exit" and point == "update":
            os._exit(17)
        elif kind == "hang" and point == "update":
            time.sleep(10**6)
    return hook


if __name__ == "__main__":
    import fitclip.train as T

    kind, step, *rank = os.environ["FITCLIP_TEST_FAULT"].split(":")
    T.step_hook = fault(kind, int(step), int(rank[0]) if rank else None)
    sys.exit(T.main(sys.argv[1:]))
