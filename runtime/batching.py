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
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor

from mlws.runtime.entry_script import ScoreRequest, ScoreResult

logger = logging.getLogger("mlws.runtime")

#: One request's outcome in a batch: its result, or the exception that request raised.
BatchOutcome = ScoreResult | BaseException
ScoreBatch = Callable[[list[ScoreRequest]], Sequence[BatchOutcome]]
ScoreOne = Callable[[ScoreRequest], ScoreResult]

_Item = tuple[ScoreRequest, "asyncio.Future[ScoreResult]"]


class MicroBatcher:
    """Groups requests submitted on one event loop into calls of ``score_batch``.

    ``submit`` has the app's ``submit`` signature, so it replaces it: it returns a future that
    resolves to the request's result (or raises its exception).
    """

    def __init__(
        self,
        score_batch: ScoreBatch,
        score_one: ScoreOne,
        *,
        max_size: int,
        max_wait_ms: float,
        slots: int = 1,
        loop: asyncio.AbstractEventLoop | None = None,
        executor: Executor | None = None,
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
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=slots, thread_name_prefix="mlws-batch"
        )
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
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- batching ----------------------------------------------------------------------------
    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()

    def _dispatch(self) -> None:
        """Send as many batches as there are free slots; keep a timer for what is left."""
        while self._pending and self._busy < self.slots:
            batch = self._pending[: self.max_size]
            del self._pending[: self.max_size]
            live = [item for item in batch if not item[1].done()]  # skip timed-out/cancelled
            if not live:
                continue
            self._busy += 1
            self.batches += 1
            self.batched_requests += len(live)
            self._executor.submit(self._score, live)
        if not self._pending and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _score(self, batch: list[_Item]) -> None:
        """On a scoring thread: score the batch, then hand all outcomes to the loop at once."""
        requests = [request for request, _ in batch]
        outcomes: Sequence[BatchOutcome]
        if len(requests) == 1:
            outcomes = [self._score_alone(requests[0])]
            try:
                self._loop.call_soon_threadsafe(self._deliver, batch, outcomes)
            except RuntimeError:  # loop closed: shutting down, nobody waits any more
                pass
            return
        try:
            outcomes = self._score_batch(requests)
            if len(outcomes) != len(requests):
                raise RuntimeError(
                    f"the batch function answered {len(outcomes)} results for "
                    f"{len(requests)} requests"
                )
        except Exception as exc:
            logger.warning(
                "a batch of %d failed (%s: %s); scoring its requests one by one",
                len(requests),
                type(exc).__name__,
                exc,
            )
            outcomes = [self._score_alone(request) for request in requests]
        try:
            self._loop.call_soon_threadsafe(self._deliver, batch, outcomes)
        except RuntimeError:  # loop closed: shutting down, nobody waits any more
            pass

    def _score_alone(self, request: ScoreRequest) -> BatchOutcome:
        try:
            return self._score_one(request)
        except Exception as exc:
            return exc

    def _deliver(self, batch: list[_Item], outcomes: Sequence[BatchOutcome]) -> None:
        self._busy -= 1
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        if self._pending:
            # These waited for a whole batch already: send them now rather than wait longer.
            self._dispatch()
