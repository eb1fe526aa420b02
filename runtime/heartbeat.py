"""A worker's heartbeat: its event loop stamps the time in shared memory, the supervisor reads it.

A ``run()`` stuck in C code that holds the GIL (a native call that never releases it, a regular
expression backtracking for minutes) stops the worker's event loop: the scoring timeout cannot
answer 504 and the worker cannot report itself stuck. Only another process can notice, by the
stamps stopping. The stamp is a timer on the loop (no cost per request) writing
``time.monotonic()`` (one clock for every process on the machine) into a shared double.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

#: Seconds between two stamps.
INTERVAL_S = 0.25
#: Silence tolerated beyond the scoring timeout before a worker counts as unresponsive: room for
#: a loaded machine's scheduling delays and for the worker's own exit.
GRACE_S = 2.0


class Cell(Protocol):
    """A shared ``double`` (``multiprocessing.RawValue("d")``); 0.0 until the first stamp."""

    value: float


def stamp(cell: Cell) -> None:
    """Record that this process's event loop ran just now."""
    cell.value = time.monotonic()


def start(cell: Cell, loop: asyncio.AbstractEventLoop) -> None:
    """Stamp ``cell`` now and every :data:`INTERVAL_S` for as long as ``loop`` runs."""

    def beat() -> None:
        stamp(cell)
        loop.call_later(INTERVAL_S, beat)

    beat()


def silence_limit_s(scoring_timeout_ms: int) -> float:
    """How long a serving worker may go without a stamp before it is killed."""
    return scoring_timeout_ms / 1000 + GRACE_S


def silent_for(cell: Cell, now: float | None = None) -> float | None:
    """Seconds since the last stamp, or None before the first (the worker is not serving yet)."""
    last = cell.value
    if last == 0.0:
        return None
    return (time.monotonic() if now is None else now) - last
