"""Opt-in micro-batching: concurrent requests share one call of the entry script's batch function.

Turned on by ``MLWS_BATCH_MAX_SIZE`` > 0 for a script that has a batch form (a Python script's
module-level ``run_batch(list_of_raw_data) -> list``; see docs/runtime.md). Off, nothing here runs:
requests go straight to the app's thread pool as before.

How a batch forms: requests queue in arrival order. A batch is sent to the scoring thread when it
reaches ``batch_max_size`` or when its oldest request has waited ``batch_max_wait_ms``, whichever
comes first, and only while fewer than ``slots`` batches are being scored (a request that arrives
while every slot is busy simply joins the next batch, so under load batches grow by themselves and
at low load a lone request waits at most ``batch_max_wait_ms``; requests that queued while a
batch was being scored go out as soon as it is done, without waiting again). With
``batch_max_wait_ms = 0`` a batch holds whatever arrived in the same event-loop turn.

A batch of one is scored with the single-request function (``run``), exactly as without batching.
Errors stay per request: the batch function answers each request with a result or an exception,
and if it raises as a whole, each request of that batch is scored alone with the single-request
function, so one bad request fails by itself with the error it would have had without batching.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from mlws.runtime.entry_script import ScoreRequest, ScoreResult

logger = logging.getLogger("mlws.runtime")

#: One request's outcome in a batch: its result, or the exception that request raised.
BatchOutcome = ScoreResult | BaseException
ScoreBatch = Callable[[list[ScoreRequest]], Sequence[BatchOutcome]]
ScoreOne = Callable[[ScoreRequest], ScoreResult]
#: Runs one batch call on a scoring thread and calls ``on_done(future)`` on the event loop when it
#: ends: the app's ``ScoringExecutor.submit``, which calls it as it settles the future (a plain
#: done-callback would cost every request of the batch one more event-loop turn).
RunCall = Callable[
    [
        Callable[[], Sequence[BatchOutcome]],
        Callable[["asyncio.Future[Sequence[BatchOutcome]]"], None],
    ],
    object,
]

_Item = tuple[ScoreRequest, "asyncio.Future[ScoreResult]"]


class MicroBatcher:
    """Groups requests submitted on one event loop into calls of ``score_batch``.

    ``submit`` has the app's ``submit`` signature, so it replaces it: it returns a future that
    resolves to the request's result (or raises its exception). Batch calls run through ``run``
    (the app passes its scoring executor's ``submit``, which applies the concurrency cap, the queue
    wait and the scoring timeout to each batch; a batch refused or timed out fails each of its
    requests the same way); without ``run`` they go to a private thread pool of ``slots`` threads.
    """

    def __init__(
        self,
        score_batch: ScoreBatch,
        score_one: ScoreOne,
        *,
        max_size: int,
        max_wait_ms: float,
        slots: int = 1,
        run: RunCall | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self._score_batch = score_batch
        self._score_one = score_one
        self.max_size = max_size
        self.max_wait_s = max(0.0, max_wait_ms) / 1000
        self.slots = slots
        self._loop = loop or asyncio.get_running_loop()
        self._pool: ThreadPoolExecutor | None = None
        if run is None:
            self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="mlws-batch")
            pool = self._pool
            loop_ = self._loop

            def run(
                call: Callable[[], Sequence[BatchOutcome]],
                on_done: Callable[[asyncio.Future[Sequence[BatchOutcome]]], None],
            ) -> object:
                future = loop_.run_in_executor(pool, call)
                future.add_done_callback(on_done)
                return future

        self._run = run
        self._pending: list[_Item] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._busy = 0
        self.batches = 0
        """Batches sent so far (for tests and logs)."""
        self.batched_requests = 0
        """Requests those batches held."""

    # -- the app's submit --------------------------------------------------------------------
    def submit(self, request: ScoreRequest) -> asyncio.Future[ScoreResult]:
        """Queue ``request`` for the next batch and return the future of its result."""
        future: asyncio.Future[ScoreResult] = self._loop.create_future()
        pending = self._pending
        pending.append((request, future))
        if len(pending) >= self.max_size:
            self._dispatch()
        elif self._timer is None:
            if self.max_wait_s == 0:
                self._timer = self._loop.call_soon(self._on_timer)
            else:
                self._timer = self._loop.call_later(self.max_wait_s, self._on_timer)
        return future

    def close(self) -> None:
        """Stop the timer and the batcher's own threads (queued requests are cancelled)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for _, future in self._pending:
            future.cancel()
        self._pending = []
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- batching ----------------------------------------------------------------------------
    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()

    def _dispatch(self) -> None:
        """Send as many batches as there are free slots; what is left waits for a slot."""
        while self._pending and self._busy < self.slots:
            batch = self._pending[: self.max_size]
            del self._pending[: self.max_size]
            live = [item for item in batch if not item[1].done()]  # skip abandoned requests
            if not live:
                continue
            self._busy += 1
            self.batches += 1
            self.batched_requests += len(live)
            requests = [request for request, _ in live]
            try:
                self._run(
                    functools.partial(self._score, requests), functools.partial(self._deliver, live)
                )
            except Exception as exc:  # the executor is shut down
                self._busy -= 1
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
        if not self._pending and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _score(self, requests: list[ScoreRequest]) -> Sequence[BatchOutcome]:
        """On a scoring thread: one outcome per request, in order."""
        if len(requests) == 1:
            return [self._score_alone(requests[0])]
        try:
            outcomes = self._score_batch(requests)
            if len(outcomes) != len(requests):
                raise RuntimeError(
                    f"the batch function answered {len(outcomes)} results for "
                    f"{len(requests)} requests"
                )
            return outcomes
        except Exception as exc:
            logger.warning(
                "a batch of %d failed (%s: %s); scoring its requests one by one",
                len(requests),
                type(exc).__name__,
                exc,
            )
            return [self._score_alone(request) for request in requests]

    def _score_alone(self, request: ScoreRequest) -> BatchOutcome:
        try:
            return self._score_one(request)
        except Exception as exc:
            return exc

    def _deliver(self, batch: list[_Item], done: asyncio.Future[Sequence[BatchOutcome]]) -> None:
        self._busy -= 1
        outcomes: Sequence[BatchOutcome]
        if done.cancelled():
            outcomes = [asyncio.CancelledError()] * len(batch)
        elif (error := done.exception()) is not None:
            outcomes = [error] * len(batch)  # refused (busy) or timed out: all of them alike
        else:
            outcomes = done.result()
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, asyncio.CancelledError):
                future.cancel()
            elif isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        if self._pending:
            # These waited for a whole batch already: send them now rather than wait longer.
            self._dispatch()
