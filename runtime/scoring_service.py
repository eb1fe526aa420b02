"""The scoring service: one entry script, its start-up, its ready state and its scoring calls.

It knows nothing of HTTP (``app.py`` is the HTTP layer in front of it):

* start-up: :meth:`ScoringService.start` creates the scoring threads and runs ``init()`` in a
  background thread (so a server can answer liveness probes during a slow model load);
  :meth:`ScoringService.initialise` runs it at once, in the calling thread, for workers that must
  not accept connections before they are ready. A failure is logged once and handed to
  ``on_init_failure``.
* the ready state: :attr:`ScoringService.state` (``starting``, ``ready``, ``failed``, ``stuck``)
  and :attr:`ScoringService.can_score`.
* scoring: :meth:`ScoringService.score` sends a :class:`ScoreRequest` through :attr:`submit` (by
  default the :class:`ScoringExecutor`: concurrency cap, queue wait, scoring timeout) and turns
  the outcome into a :class:`ScoreResult` or one of the failures in :data:`SCORING_FAILURES`,
  logged with the request id where the server's operator needs to see them.

**Batching hook:** with ``batch_max_size`` > 0 and a script with a batch form, a
:class:`~mlws.runtime.batching.MicroBatcher` replaces :attr:`submit`, its batch calls going through
the same executor. Anything else that wants to stand between a request and the script replaces
``service.submit`` the same way (right after construction, or in an ``on_ready`` callback).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from mlws.runtime.entry_script import (
    EntryScript,
    EntryScriptError,
    ScoreInputError,
    ScoreOutputError,
    ScoreRequest,
    ScoreResult,
)
from mlws.runtime.executor import Busy, ScoringExecutor, ScoringTimeout
from mlws.runtime.settings import RuntimeSettings, scrub_secret_environment

if TYPE_CHECKING:
    from mlws.runtime.batching import MicroBatcher
    from mlws.runtime.swagger import Access, SwaggerDocs

Submit = Callable[[ScoreRequest], "asyncio.Future[ScoreResult]"]
State = Literal["starting", "ready", "failed", "stuck"]

logger = logging.getLogger("mlws.runtime")


class RunFailed(Exception):
    """The script's ``run()`` raised (the cause is the script's exception, already logged)."""


#: What :meth:`ScoringService.score` raises instead of a result (anything else is a bug).
SCORING_FAILURES = (Busy, ScoringTimeout, ScoreInputError, ScoreOutputError, RunFailed)


class ScoringService:
    """One entry script behind the scoring threads.

    ``entry_script`` defaults to the script ``settings`` names (loaded at start-up).
    ``on_init_failure`` is called on the event loop when loading or ``init()`` fails.
    """

    def __init__(
        self,
        settings: RuntimeSettings,
        entry_script: EntryScript | None = None,
        *,
        on_init_failure: Callable[[EntryScriptError], None] | None = None,
    ) -> None:
        self.settings = settings
        self.script = entry_script
        self.on_init_failure = on_init_failure
        self.ready = False
        """``init()`` succeeded."""
        self.init_error: EntryScriptError | None = None
        """Why loading or ``init()`` failed."""
        self.swagger: SwaggerDocs | None = None
        """The OpenAPI documents, built once ``init()`` succeeded."""
        self.auth_on_score = True
        """Whether ``/score`` checks ``Authorization``, as the documents must say (the HTTP layer
        sets it, and :attr:`auth_on_swagger`, from its own checks)."""
        self.auth_on_swagger = False
        """Whether ``/swagger.json`` checks ``Authorization``."""
        #: Callbacks run on the event loop once ``init()`` succeeded (e.g. to start a batcher).
        self.on_ready: list[Callable[[ScoringService], None]] = []
        #: Called on the event loop with the count of stuck calls each time a call outlives the
        #: scoring timeout (the server then replaces this worker process); set before start-up.
        self.on_stuck: Callable[[int], None] | None = None
        #: The one place between a request and the script (see the module docstring).
        self.submit: Submit = self._submit_to_executor
        #: The scoring threads (created at start-up); a batcher may submit its batch calls here.
        self.executor: ScoringExecutor | None = None
        #: The micro-batcher when batching is on (``batch_max_size`` > 0 and a batch form).
        self.batcher: MicroBatcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._initialised = False

    # -- start-up --------------------------------------------------------------------------------
    def start(self) -> None:
        """Create the scoring threads and start ``init()`` in the background (returns at once);
        call on the event loop that will await the scores."""
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        self.executor = ScoringExecutor(
            self._loop,
            threads=self.settings.max_concurrent_requests,
            wait_s=self.settings.max_request_wait_ms / 1000,
            timeout_s=self.settings.scoring_timeout_ms / 1000,
            on_stuck=self._stuck,
        )
        if self._initialised:
            self._init_finished(None)
        else:
            threading.Thread(target=self._run_init, name="mlws-init", daemon=True).start()

    def initialise(self) -> EntryScriptError | None:
        """Run ``init()`` now, in this thread, before :meth:`start`; return the failure, already
        reported."""
        error = self._prepare()
        if error is None:
            self._initialised = True
        else:
            self._report_failure(error)
        return error

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``init()`` finished (tests, embedders); raise its error if it failed."""
        deadline = time.monotonic() + timeout
        while not self.ready and self.init_error is None:
            if time.monotonic() > deadline:
                raise TimeoutError("init() did not finish in time")
            await asyncio.sleep(0.01)
        if self.init_error is not None:
            raise self.init_error

    def close(self) -> None:
        """Stop the batcher and the scoring threads and release the script."""
        if self.batcher is not None:
            self.batcher.close()
        if self.executor is not None:
            self.executor.shutdown()
        if self.script is not None and self.ready:
            try:
                self.script.close()
            except Exception:
                logger.exception("closing the entry script failed")

    def _run_init(self) -> None:
        error = self._prepare()
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed: shutting down
            loop.call_soon_threadsafe(self._init_finished, error)

    def _prepare(self) -> EntryScriptError | None:
        """Load the script, run its ``init()`` and build the OpenAPI documents."""
        scrub_secret_environment()  # the settings hold them; the script must not see them
        try:
            if self.script is None:
                from mlws.runtime.loader import load_entry_script

                self.script = load_entry_script(self.settings)
            self.script.init()
            from mlws.runtime.swagger import SwaggerDocs

            self.swagger = SwaggerDocs(
                self.settings.source_directory,
                self.script.openapi_schemas(),
                self.script.openapi_versions(),
                access=self._swagger_access(self.script),
            )
        except EntryScriptError as exc:
            return exc
        except Exception as exc:
            return EntryScriptError(
                f"start-up failed: {type(exc).__name__}: {exc}",
                detail="".join(traceback.format_exception(exc)),
            )
        return None

    def _swagger_access(self, script: EntryScript) -> Access:
        """What the OpenAPI documents must say the server checks."""
        from mlws.runtime.swagger import Access

        strict = self.settings.strict_json and not script.takes_raw_requests
        return Access(
            score_auth=self.auth_on_score,
            swagger_auth=self.auth_on_swagger,
            body_required=strict or script.expects_json_object,
        )

    def _init_finished(self, error: EntryScriptError | None) -> None:
        if error is None:
            if self.settings.batch_max_size > 0:
                self._install_batcher()
            self.ready = True
            logger.info("ready: serving %s", self.settings.entry_script_path)
            for callback in self.on_ready:
                callback(self)
            return
        self._report_failure(error)
        if self.on_init_failure is not None:
            self.on_init_failure(error)

    def _report_failure(self, error: EntryScriptError) -> None:
        """Log the failure once: one line saying what failed where, the traceback beside it."""
        self.init_error = error
        logger.error(
            "the entry script failed to start: %s",
            error.message,
            extra={"fields": {"traceback": error.detail}} if error.detail else None,
        )
        sys.stderr.flush()

    def _install_batcher(self) -> None:
        """Micro-batching (``batch_max_size`` > 0): put a batcher in front of the executor."""
        script = self.script
        assert script is not None
        assert self.executor is not None
        if not script.supports_batch:
            logger.warning(
                "MLWS_BATCH_MAX_SIZE is set but %s has no batch form (run_batch): not batching",
                self.settings.entry_script_path,
            )
            return
        from mlws.runtime.batching import MicroBatcher

        def score_batch(requests: list[ScoreRequest]) -> Sequence[ScoreResult | BaseException]:
            outcomes = script.score_batch(requests)
            if outcomes is None:
                raise RuntimeError("the entry script has no batch form")
            return outcomes

        self.batcher = MicroBatcher(
            score_batch,
            script.score,
            max_size=self.settings.batch_max_size,
            max_wait_ms=self.settings.batch_max_wait_ms,
            slots=self.settings.max_concurrent_requests,
            run=self.executor.submit,
            loop=self._loop,
        )
        self.submit = self.batcher.submit
        logger.info(
            "micro-batching: up to %d requests per batch, waiting at most %s ms",
            self.settings.batch_max_size,
            self.settings.batch_max_wait_ms,
        )

    # -- ready state -----------------------------------------------------------------------------
    @property
    def can_score(self) -> bool:
        """Whether a request can be scored now: ``init()`` succeeded and not every scoring thread
        is held by a call past its timeout."""
        executor = self.executor
        return self.ready and not (executor is not None and executor.all_stuck)

    @property
    def state(self) -> State:
        """``ready`` (can score), ``stuck`` (every scoring thread is held past its timeout),
        ``failed`` (``init()`` failed) or ``starting``."""
        if self.can_score:
            return "ready"
        if self.ready:
            return "stuck"
        if self.init_error is not None:
            return "failed"
        return "starting"

    @property
    def expects_json_object(self) -> bool:
        """Whether the script wants request bodies to be JSON objects."""
        return self.script is not None and self.script.expects_json_object

    @property
    def takes_raw_requests(self) -> bool:
        """Whether the script reads whole requests (``@rawhttp``): no body checks before it."""
        return self.script is not None and self.script.takes_raw_requests

    def _stuck(self, count: int) -> None:
        assert self.executor is not None
        logger.error(
            "%d of %d scoring threads are stuck in a call past the %d ms scoring timeout",
            count,
            self.executor.threads,
            self.settings.scoring_timeout_ms,
            extra={"fields": {"traceback": _scoring_stacks()}},
        )
        if self.on_stuck is not None:
            self.on_stuck(count)

    # -- scoring ---------------------------------------------------------------------------------
    async def score(self, request: ScoreRequest) -> ScoreResult:
        """Score ``request`` (call once :attr:`ready`); raise one of :data:`SCORING_FAILURES`
        (:meth:`outcome`)."""
        future = self.submit(request)
        with contextlib.suppress(Exception):  # outcome() raises it, logged
            await future
        return self.outcome(request, future)

    def outcome(self, request: ScoreRequest, future: asyncio.Future[ScoreResult]) -> ScoreResult:
        """The result of ``request``'s settled call through :attr:`submit`, or one of
        :data:`SCORING_FAILURES`.

        A timeout, an answer that cannot be sent and a ``run()`` that raised are logged here,
        with the request id.
        """
        try:
            return future.result()
        except (Busy, ScoreInputError):
            raise
        except ScoringTimeout:
            logger.error(
                "scoring timed out after %d ms",
                self.settings.scoring_timeout_ms,
                extra={"fields": {"request_id": request.request_id}},
            )
            raise
        except ScoreOutputError as exc:
            logger.error(
                "%s", exc, exc_info=exc, extra={"fields": {"request_id": request.request_id}}
            )
            raise
        except Exception as exc:
            logger.error(
                "run() raised %s",
                type(exc).__name__,
                exc_info=exc,
                extra={"fields": {"request_id": request.request_id}},
            )
            raise RunFailed(type(exc).__name__) from exc

    def _submit_to_executor(self, request: ScoreRequest) -> asyncio.Future[ScoreResult]:
        assert self.executor is not None
        assert self.script is not None
        return self.executor.submit(functools.partial(self.script.score, request))


def _scoring_stacks() -> str:
    """Where each scoring thread is now (a stuck call's stack says what it waits for)."""
    frames = sys._current_frames()
    stacks = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if frame is not None and thread.name.startswith("mlws-score"):
            stacks.append(f"Thread {thread.name}:\n" + "".join(traceback.format_stack(frame)))
    return "\n".join(stacks)
