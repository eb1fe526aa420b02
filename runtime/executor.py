"""Run scoring calls off the event loop, with the concurrency cap, queue wait and scoring timeout.

``threads`` worker threads (the cap, ``max_concurrent_requests``) take calls from one queue. A call
that found every thread taken and has not started within ``wait_s`` fails with :class:`Busy` (the
app answers 503); a call that came while a thread was idle is *promised* to it and never fails so,
however late that thread wakes on a loaded machine (it was free: the call did not queue). One that
started but runs longer than ``timeout_s`` fails with :class:`ScoringTimeout` (504). A timed-out
call keeps its thread until it really returns (Python cannot stop a thread): the cap stays honest.
Such a call is *stuck*: :attr:`ScoringExecutor.stuck` counts them and ``on_stuck(count)`` runs on
the event loop each time one more gets stuck, so the server can replace the process (the only way
to get the thread back) and say it is not ready while every thread is stuck.

Why not ``loop.run_in_executor`` behind a semaphore: with the cap at 1, every request would then
need a full event-loop -> thread -> event-loop round trip before the next one may start. Here a
busy thread takes the next queued call at once, and finished calls wake the event loop once per
batch of completions rather than once per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_QUEUED, _RUNNING, _DONE, _DROPPED, _STUCK = range(5)


class Busy(Exception):
    """No scoring thread became free within the queue wait."""


class ScoringTimeout(Exception):
    """The call ran longer than the scoring timeout."""


OnDone = Callable[["asyncio.Future[Any]"], None]


class _Work(Generic[T]):
    __slots__ = ("deadline", "fn", "future", "on_done", "promised", "state")

    def __init__(
        self,
        fn: Callable[[], T],
        future: asyncio.Future[T],
        deadline: float,
        on_done: OnDone | None,
        promised: bool,
    ) -> None:
        self.fn = fn
        self.future = future
        self.on_done = on_done
        self.state = _QUEUED
        self.deadline = deadline
        """Queue-wait deadline while queued, scoring deadline once running (monotonic seconds)."""
        self.promised = promised
        """An idle thread was woken for this call: it is not dropped when its queue wait ends."""


class ScoringExecutor:
    """A fixed pool of scoring threads feeding results back to one event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        threads: int,
        wait_s: float,
        timeout_s: float,
        name: str = "mlws-score",
        on_stuck: Callable[[int], None] | None = None,
    ) -> None:
        self._loop = loop
        self._on_stuck = on_stuck
        self._stuck = 0
        self.threads = threads
        """The number of scoring threads (the concurrency cap)."""
        self._wait_s = wait_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._queue: deque[_Work[Any]] = deque()
        self._done: list[tuple[_Work[Any], Any, BaseException | None]] = []
        self._drain_scheduled = False
        self._running: dict[_Work[Any], None] = {}
        self._watchdog: asyncio.TimerHandle | None = None
        self._watch_at = math.inf
        self._idle = 0
        self._promised = 0  # queued calls an idle thread was woken for (always the queue's head)
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[], T], on_done: OnDone | None = None) -> asyncio.Future[T]:
        """Queue ``fn``; the future fails with :class:`Busy` or :class:`ScoringTimeout`.

        ``on_done(future)`` runs on the event loop in the same callback that settles the future,
        one loop turn sooner than a done-callback would (the micro-batcher uses it).
        """
        future: asyncio.Future[T] = self._loop.create_future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the scoring executor is shut down")
            promised = self._idle > self._promised
            if self._wait_s <= 0 and not promised:
                future.set_exception(Busy())
                if on_done is not None:  # not from inside the caller's own frame
                    self._loop.call_soon(on_done, future)
                return future
            work = _Work(fn, future, time.monotonic() + self._wait_s, on_done, promised)
            self._queue.append(work)
            if promised:
                self._promised += 1
                self._wakeup.notify()
        if not promised and work.deadline < self._watch_at:
            self._schedule(work.deadline)
        return future

    def shutdown(self) -> None:
        """Stop the threads once the queue is empty (threads stuck in a call are left behind)."""
        with self._lock:
            self._closed = True
            self._wakeup.notify_all()

    @property
    def stuck(self) -> int:
        """Calls past their scoring timeout that still hold their thread."""
        return self._stuck

    @property
    def all_stuck(self) -> bool:
        """Whether every scoring thread is held by a call past its timeout."""
        return self._stuck >= self.threads

    @property
    def queued(self) -> int:
        """Calls waiting for a thread."""
        return len(self._queue)

    # -- event loop side -------------------------------------------------------------------------
    def _schedule(self, deadline: float) -> None:
        """(Re)arm the single watchdog timer for ``deadline`` (monotonic seconds)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        when = self._loop.time() + (deadline - time.monotonic())
        self._watchdog = self._loop.call_at(when, self._watch)
        self._watch_at = deadline

    def _rearm(self, deadline: float) -> None:
        if deadline < self._watch_at:
            self._schedule(deadline)

    def _watch(self) -> None:
        """Fail calls past their deadline, then sleep until the next deadline (one timer in all).

        Deadlines fall in queue order (a constant wait) and in start order (a constant timeout),
        so only the oldest queued calls not promised to a thread (those come first) and the
        oldest running calls need looking at.
        """
        self._watchdog = None
        self._watch_at = math.inf
        now = time.monotonic()
        busy: list[_Work[Any]] = []
        late: list[_Work[Any]] = []
        with self._lock:
            queue = self._queue
            next_wait: list[float] = []
            for work in queue:
                if work.promised or work.state != _QUEUED:
                    continue
                if work.deadline > now:
                    next_wait.append(work.deadline)
                    break
                work.state = _DROPPED
                busy.append(work)
            if busy:
                self._queue = queue = deque(work for work in queue if work.state != _DROPPED)
            running = self._running
            for work in list(running):
                if work.deadline > now:
                    break
                del running[work]
                work.state = _STUCK
                self._stuck += 1
                late.append(work)
            stuck = self._stuck
            deadlines = next_wait
            if running:
                deadlines.append(next(iter(running)).deadline)
        for work in busy:
            _settle(work, None, Busy())
        for work in late:
            _settle(work, None, ScoringTimeout())
        if late and self._on_stuck is not None:
            self._on_stuck(stuck)
        if deadlines:
            self._schedule(min(deadlines))

    def _drain(self) -> None:
        with self._lock:
            finished, self._done = self._done, []
            self._drain_scheduled = False
        for work, result, error in finished:
            _settle(work, result, error)

    # -- thread side -----------------------------------------------------------------------------
    def _serve(self) -> None:
        lock = self._lock
        while True:
            with lock:
                while not self._queue:
                    if self._closed:
                        return
                    self._idle += 1
                    self._wakeup.wait()
                    self._idle -= 1
                work = self._queue.popleft()
                if work.promised:
                    self._promised -= 1
                if work.state != _QUEUED:
                    continue
                work.state = _RUNNING
                work.deadline = time.monotonic() + self._timeout_s
                self._running[work] = None
                if work.deadline < self._watch_at:
                    with contextlib.suppress(RuntimeError):  # the loop is closed
                        self._loop.call_soon_threadsafe(self._rearm, work.deadline)
            error: BaseException | None = None
            result: Any = None
            try:
                result = work.fn()
            except BaseException as exc:
                error = exc
            with lock:
                if work.state == _RUNNING:
                    work.state = _DONE
                    del self._running[work]
                    self._done.append((work, result, error))
                    wake = not self._drain_scheduled
                    self._drain_scheduled = True
                else:
                    if work.state == _STUCK:  # it came back after all: the thread is free again
                        self._stuck -= 1
                    wake = False
            if wake:
                try:
                    self._loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    return


def _settle(work: _Work[Any], result: Any, error: BaseException | None) -> None:
    """Settle ``work``'s future (unless its caller gave up on it), then run its ``on_done``."""
    future = work.future
    if not future.done():
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    if work.on_done is not None:
        work.on_done(future)
