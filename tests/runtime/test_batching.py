"""The micro-batcher on its own: grouping, waiting, per-request errors (no HTTP)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from mlws.runtime.batching import BatchOutcome, MicroBatcher
from mlws.runtime.entry_script import ScoreRequest, ScoreResult


class Recorder:
    """A fake script: ``batch`` upper-cases bodies; ``BAD`` bodies fail; records batch sizes."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.singles = 0
        self.delay = delay
        self.lock = threading.Lock()

    def one(self, request: ScoreRequest) -> ScoreResult:
        with self.lock:
            self.singles += 1
        if request.body.startswith(b"BAD"):
            raise ValueError(f"bad input {request.body!r}")
        return ScoreResult(body=request.body.upper())

    def batch(self, requests: list[ScoreRequest]) -> Sequence[BatchOutcome]:
        with self.lock:
            self.sizes.append(len(requests))
        time.sleep(self.delay)
        return [
            ValueError("bad item") if r.body.startswith(b"BAD") else ScoreResult(r.body.upper())
            for r in requests
        ]


def _req(body: str) -> ScoreRequest:
    return ScoreRequest(body=body.encode(), request_id=body)


async def _gather(batcher: MicroBatcher, bodies: list[str]) -> list[ScoreResult | BaseException]:
    futures = [batcher.submit(_req(b)) for b in bodies]
    return list(await asyncio.gather(*futures, return_exceptions=True))


async def test_concurrent_requests_share_batches_and_get_their_own_answers() -> None:
    fake = Recorder(delay=0.02)
    batcher = MicroBatcher(fake.batch, fake.one, max_size=4, max_wait_ms=50)
    bodies = [f"r{i}" for i in range(10)]
    results = await _gather(batcher, bodies)
    assert [r.body for r in results if isinstance(r, ScoreResult)] == [
        b.upper().encode() for b in bodies
    ]
    # 4 go at once (full), 4 more fill while it runs and go when it ends, then the last 2.
    assert sum(fake.sizes) + fake.singles == 10
    assert fake.sizes[:2] == [4, 4]
    assert batcher.batches == 3
    batcher.close()


async def test_a_lone_request_waits_at_most_max_wait() -> None:
    fake = Recorder()
    batcher = MicroBatcher(fake.batch, fake.one, max_size=8, max_wait_ms=30)
    started = time.perf_counter()
    result = await batcher.submit(_req("solo"))
    elapsed = time.perf_counter() - started
    assert result.body == b"SOLO"
    assert 0.025 <= elapsed < 0.5
    assert fake.singles == 1  # a batch of one goes through the single-request function
    assert fake.sizes == []
    batcher.close()


async def test_zero_wait_batches_what_arrived_in_the_same_loop_turn() -> None:
    fake = Recorder()
    batcher = MicroBatcher(fake.batch, fake.one, max_size=32, max_wait_ms=0)
    results = await _gather(batcher, ["a", "b", "c"])
    assert [r.body for r in results if isinstance(r, ScoreResult)] == [b"A", b"B", b"C"]
    assert fake.sizes == [3]
    batcher.close()


async def test_a_failing_item_fails_alone() -> None:
    fake = Recorder()
    batcher = MicroBatcher(fake.batch, fake.one, max_size=3, max_wait_ms=10)
    results = await _gather(batcher, ["ok1", "BAD", "ok2"])
    assert isinstance(results[1], ValueError)
    assert [results[0].body, results[2].body] == [b"OK1", b"OK2"]  # type: ignore[union-attr]
    batcher.close()


@pytest.mark.parametrize("failure", ["raises", "wrong length"])
async def test_a_failing_batch_is_rescored_request_by_request(failure: str) -> None:
    fake = Recorder()

    def broken(requests: list[ScoreRequest]) -> Sequence[BatchOutcome]:
        if failure == "raises":
            raise RuntimeError("batch exploded")
        return [ScoreResult(b"x")]

    batcher = MicroBatcher(broken, fake.one, max_size=3, max_wait_ms=10)
    results = await _gather(batcher, ["ok1", "BAD", "ok2"])
    assert isinstance(results[1], ValueError)
    assert "bad input" in str(results[1])
    assert [results[0].body, results[2].body] == [b"OK1", b"OK2"]  # type: ignore[union-attr]
    assert fake.singles == 3
    batcher.close()


async def test_requests_given_up_on_are_skipped() -> None:
    fake = Recorder()
    batcher = MicroBatcher(fake.batch, fake.one, max_size=8, max_wait_ms=20)
    gone = batcher.submit(_req("gone"))
    kept = batcher.submit(_req("kept"))
    gone.cancel()
    assert (await kept).body == b"KEPT"
    assert fake.singles == 1  # only "kept" was scored
    batcher.close()


async def test_slots_bound_batches_in_flight() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def slow(requests: list[ScoreRequest]) -> Sequence[BatchOutcome]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return [ScoreResult(r.body) for r in requests]

    batcher = MicroBatcher(slow, Recorder().one, max_size=2, max_wait_ms=1, slots=2)
    results = await _gather(batcher, [str(i) for i in range(12)])
    assert all(isinstance(r, ScoreResult) for r in results)
    assert peak == 2
    batcher.close()


async def test_close_cancels_queued_requests() -> None:
    fake = Recorder()
    batcher = MicroBatcher(fake.batch, fake.one, max_size=8, max_wait_ms=10_000)
    future = batcher.submit(_req("never"))
    batcher.close()
    assert future.cancelled()


async def test_bad_sizes_are_refused() -> None:
    fake = Recorder()
    with pytest.raises(ValueError, match="max_size"):
        MicroBatcher(fake.batch, fake.one, max_size=0, max_wait_ms=1)
    with pytest.raises(ValueError, match="slots"):
        MicroBatcher(fake.batch, fake.one, max_size=2, max_wait_ms=1, slots=0)


class Refused(Exception):
    pass


async def test_batches_run_through_the_given_executor_and_share_its_refusal() -> None:
    fake = Recorder()
    calls: list[int] = []
    loop = asyncio.get_running_loop()

    def refuse_second(
        call: Callable[[], Sequence[BatchOutcome]],
        on_done: Callable[[asyncio.Future[Any]], None],
    ) -> asyncio.Future[Any]:
        calls.append(1)
        future: asyncio.Future[Any] = loop.create_future()
        if len(calls) == 2:
            future.set_exception(Refused())
        else:
            future.set_result(call())
        loop.call_soon(on_done, future)  # as the executor does: later, on the loop
        return future

    batcher = MicroBatcher(fake.batch, fake.one, max_size=2, max_wait_ms=5, run=refuse_second)
    results = await _gather(batcher, ["a", "b", "c", "d"])
    assert [type(r) for r in results] == [ScoreResult, ScoreResult, Refused, Refused]
    assert len(calls) == 2
    batcher.close()
