"""The worker's heartbeat: a timer on its event loop, read by the supervisor."""

from __future__ import annotations

import asyncio
import ctypes
import time

from mlws.runtime import heartbeat


def test_no_stamp_yet_is_not_silence() -> None:
    assert heartbeat.silent_for(ctypes.c_double(0.0)) is None


def test_silence_is_measured_from_the_last_stamp() -> None:
    cell = ctypes.c_double(0.0)
    heartbeat.stamp(cell)
    assert heartbeat.silent_for(cell, cell.value + 1.5) == 1.5


def test_the_limit_is_the_scoring_timeout_plus_grace() -> None:
    assert heartbeat.silence_limit_s(500) == 0.5 + heartbeat.GRACE_S


async def test_the_loop_stamps_while_it_runs_and_stops_when_blocked() -> None:
    cell = ctypes.c_double(0.0)
    heartbeat.start(cell, asyncio.get_running_loop())
    first = cell.value
    assert first > 0.0
    await asyncio.sleep(heartbeat.INTERVAL_S * 2.5)
    assert cell.value > first  # stamped again by the timer
    time.sleep(heartbeat.INTERVAL_S * 3)  # blocks the loop: no stamp meanwhile
    silent = heartbeat.silent_for(cell)
    assert silent is not None
    assert silent >= heartbeat.INTERVAL_S * 2
