"""The HTTP layer: a lean pure-ASGI app in front of an :class:`EntryScript`.

Routes (auth as configured on the two marked ``auth``):

* ``POST /score`` (auth): the body goes to the script; ``GET /score`` (auth) sends the query
  parameters as a JSON object, as azmlinfsrv does; ``OPTIONS /score`` answers 200.
* ``GET /`` -> ``Healthy``; ``GET /live`` -> 200 while the process runs; ``GET /ready`` -> 503 until
  the script's ``init()`` succeeded, then 200.
* ``GET /swagger.json?version=2|3|3.1`` (auth): OpenAPI documents (:mod:`mlws.runtime.swagger`).
* ``GET /metrics``: Prometheus text; needs auth only when ``metrics_auth`` is set.

Start-up: the server listens at once and ``init()`` runs in a background thread, so liveness passes
during a slow model load; ``/ready`` and ``/score`` answer 503 until it finishes. If it fails, the
script's error is logged and ``on_init_failure`` is called (the server then exits non-zero).

Scoring goes through :attr:`ScoringApp.submit`, a function taking a :class:`ScoreRequest` and
returning an ``asyncio.Future`` of the :class:`ScoreResult`. By default it hands
``EntryScript.score`` to the :class:`ScoringExecutor` (the concurrency cap, queue wait and scoring
timeout). **Batching hook:** with ``batch_max_size`` > 0 and a script with a batch form,
``_install_batcher`` replaces ``submit`` with a :class:`~mlws.runtime.batching.MicroBatcher`
whose batch calls (``EntryScript.score_batch``) go through the same executor. Anything else that
wants to stand between a request and the script replaces ``app.submit`` the same way (right after
construction, or in an :attr:`ScoringApp.on_ready` callback); the app maps whatever the future
raises to a status and writes the log line and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from mlws.runtime.auth import (
    REPEATED,
    Authenticator,
    AuthFailure,
    KeyAuth,
    NoAuth,
    build_authenticator,
)
from mlws.runtime.entry_script import (
    EntryScript,
    EntryScriptError,
    ScoreInputError,
    ScoreOutputError,
    ScoreRequest,
    ScoreResult,
)
from mlws.runtime.executor import Busy, ScoringExecutor, ScoringTimeout
from mlws.runtime.logs import AccessLog
from mlws.runtime.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from mlws.runtime.metrics import Metrics
from mlws.runtime.request_checks import (
    NOT_JSON_CONTENT_TYPE_MESSAGE,
    TOO_DEEP_MESSAGE,
    is_json_content_type,
    json_problem,
)
from mlws.runtime.settings import RuntimeSettings, scrub_secret_environment
from mlws.runtime.swagger import SwaggerDocs, SwaggerError

if TYPE_CHECKING:
    from mlws.runtime.batching import MicroBatcher

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Submit = Callable[[ScoreRequest], "asyncio.Future[ScoreResult]"]

logger = logging.getLogger("mlws.runtime")

#: azmlinfsrv's limit on request id headers (longer ones get 431).
REQUEST_ID_LIMIT = 100
RUN_FAILED_MESSAGE = "An unexpected error occurred in scoring script. Check the logs for more info."
INTERNAL_ERROR_MESSAGE = "An unexpected internal error occurred. Check the logs for more info."
NOT_FOUND_MESSAGE = (
    "The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again."
)
METHOD_NOT_ALLOWED_MESSAGE = "The method is not allowed for the requested URL."
_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_RUN_OK = (b"x-ms-run-function-failed", b"False")
_RUN_FAILED = (b"x-ms-run-function-failed", b"True")
_ALLOW_GET = (b"allow", b"GET, HEAD")
_ALLOW_SCORE = (b"allow", b"GET, POST, OPTIONS")
_CLOSE = (b"connection", b"close")
_REPEATED_AUTH = b"\x00repeated"  # stands for "several Authorization headers" (never a real one)
#: Bodies larger than this (or of unknown length) wait for a body permit before they are read.
BIG_BODY_BYTES = 65536
_ROUTES = frozenset({"/score", "/", "/live", "/ready", "/swagger.json", "/metrics"})


class RequestIds:
    """Request ids shaped like UUIDs: a random per-process prefix and a counter.

    As unique as ``uuid4()`` across processes and restarts, without a system call per request.
    """

    def __init__(self) -> None:
        random = uuid.uuid4().hex
        self._prefix = f"{random[:8]}-{random[8:12]}-4{random[13:16]}-{random[16:20]}-"
        self._counter = itertools.count(int(random[20:], 16) & 0xFFFFFFFFFFF)

    def next(self) -> bytes:
        """The next id."""
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}".encode()


class RequestHeaders(Mapping[str, str]):
    """The request headers as a read-only mapping with lower-case names, without ``authorization``.

    Decoded on first use only: most scripts never look at them.
    """

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._decoded: dict[str, str] | None = None

    def _headers(self) -> dict[str, str]:
        if self._decoded is None:
            decoded: dict[str, str] = {}
            for name, value in self._raw:
                if name != b"authorization":
                    key = name.decode("latin-1")
                    text = value.decode("latin-1")
                    decoded[key] = f"{decoded[key]}, {text}" if key in decoded else text
            self._decoded = decoded
        return self._decoded

    def __getitem__(self, name: str) -> str:
        return self._headers()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def get_raw(self, name: bytes) -> bytes | None:
        """The first raw value of header ``name`` (lower-case bytes), without decoding the rest."""
        for key, value in self._raw:
            if key == name:
                return value
        return None


class _BodyTooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _query_as_json(query_string: bytes) -> bytes:
    """azmlinfsrv's GET /score input: each value parsed as JSON if it is, repeats become lists."""
    parsed: dict[str, Any] = {}
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        try:
            item: Any = json.loads(value)
        except ValueError:
            item = value
        if key in parsed:
            previous = parsed[key]
            if isinstance(previous, _Repeated):
                previous.append(item)
            else:
                parsed[key] = _Repeated([previous, item])
        else:
            parsed[key] = item
    return json.dumps(parsed).encode()


class _Repeated(list[Any]):
    """Values of a repeated query parameter (a subclass, so a JSON list value stays one value)."""


class ScoringApp:
    """The ASGI application serving one entry script.

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
        self.authenticator: Authenticator = build_authenticator(settings)
        self.metrics = Metrics(settings.metrics_dir)
        self.ready = False
        self.init_error: EntryScriptError | None = None
        self.swagger: SwaggerDocs | None = None
        #: Callbacks run on the event loop once ``init()`` succeeded (e.g. to start a batcher).
        self.on_ready: list[Callable[[ScoringApp], None]] = []
        #: Called on the event loop with the count of stuck calls each time a call outlives the
        #: scoring timeout (the server then replaces this worker process); set before start-up.
        self.on_stuck: Callable[[int], None] | None = None
        self.submit: Submit = self._submit_to_executor
        #: The scoring threads (created at start-up); a batcher may submit its batch calls here.
        self.executor: ScoringExecutor | None = None
        #: The micro-batcher when batching is on (``batch_max_size`` > 0 and a batch form).
        self.batcher: MicroBatcher | None = None
        self._max_bytes = settings.max_request_bytes
        self._strict = settings.strict_json
        self._auth_metrics = settings.metrics_auth
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._started = False
        self._initialised = False
        #: Where request lines go; replace before start-up to capture them (tests).
        self.access_log = AccessLog(enabled=settings.log_level in ("debug", "info"))
        self._ids = RequestIds()
        #: Request bodies over BIG_BODY_BYTES held at once: one per request that can be scored.
        self._body_permits = asyncio.Semaphore(
            settings.max_concurrent_requests * max(1, settings.batch_max_size)
        )
        retry_after = max(1, round(settings.max_request_wait_ms / 1000))
        self._retry_after = str(retry_after).encode()

    # -- lifecycle -------------------------------------------------------------------------------
    async def startup(self) -> None:
        """Create the thread pool and start ``init()`` in the background (returns at once)."""
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
        if self.settings.metrics_dir is not None:
            self._flusher = asyncio.create_task(self._flush_metrics())
        if self._initialised:
            self._init_finished(None)
        else:
            threading.Thread(target=self._run_init, name="mlws-init", daemon=True).start()

    @property
    def can_score(self) -> bool:
        """Whether a request can be scored now: ``init()`` succeeded and not every scoring thread
        is held by a call past its timeout."""
        executor = self.executor
        return self.ready and not (executor is not None and executor.all_stuck)

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

    def initialise(self) -> EntryScriptError | None:
        """Run ``init()`` now, in this thread, before start-up (workers that must not accept
        connections before they are ready use this); returns the failure, already reported."""
        error = self._prepare()
        if error is None:
            self._initialised = True
        else:
            self._report_failure(error)
        return error

    async def shutdown(self) -> None:
        """Stop background work and release the script (in-flight requests have finished)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        with contextlib.suppress(OSError):
            self.metrics.flush()
        self.access_log.flush()
        if self.batcher is not None:
            self.batcher.close()
        if self.executor is not None:
            self.executor.shutdown()
        if self.script is not None and self.ready:
            try:
                self.script.close()
            except Exception:
                logger.exception("closing the entry script failed")

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``init()`` finished (tests, embedders); raise its error if it failed."""
        deadline = time.monotonic() + timeout
        while not self.ready and self.init_error is None:
            if time.monotonic() > deadline:
                raise TimeoutError("init() did not finish in time")
            await asyncio.sleep(0.01)
        if self.init_error is not None:
            raise self.init_error

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
            self.swagger = SwaggerDocs(
                self.settings.source_directory,
                self.script.openapi_schemas(),
                self.script.openapi_versions(),
            )
        except EntryScriptError as exc:
            return exc
        except Exception as exc:
            return EntryScriptError(
                f"start-up failed: {type(exc).__name__}: {exc}",
                detail="".join(traceback.format_exception(exc)),
            )
        return None

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

    def _report_failure(self, error: EntryScriptError) -> None:
        """Log the failure once: one line saying what failed where, the traceback beside it."""
        self.init_error = error
        logger.error(
            "the entry script failed to start: %s",
            error.message,
            extra={"fields": {"traceback": error.detail}} if error.detail else None,
        )
        sys.stderr.flush()

    async def _flush_metrics(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.metrics.flush()
            except OSError:
                logger.warning("could not write metrics to %s", self.settings.metrics_dir)

    def _submit_to_executor(self, request: ScoreRequest) -> asyncio.Future[ScoreResult]:
        assert self.executor is not None
        assert self.script is not None
        return self.executor.submit(functools.partial(self.script.score, request))

    # -- ASGI ------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        authorization: bytes | None = None
        request_id: bytes | None = None
        ms_request_id: bytes | None = None
        client_id: bytes | None = None
        repeated_auth = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                repeated_auth = authorization is not None
                authorization = value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"x-ms-request-id":
                ms_request_id = value
            elif name == b"x-ms-client-request-id":
                client_id = value
        if method == "HEAD" and path != "/score":  # as Flask: HEAD answers like GET, no body
            method = "GET"
            send = _without_body(send)
        too_long = None
        if request_id is not None and len(request_id) > REQUEST_ID_LIMIT:
            too_long = f"x-request-id must not exceed {REQUEST_ID_LIMIT} characters"
            request_id = None
        if request_id is None:
            request_id = ms_request_id or self._ids.next()
        # azmlinfsrv's ids: x-ms-request-id (legacy) defaults to the client id, then the request id;
        # the client id defaults to a given legacy id.
        if ms_request_id is None and client_id is None:
            ids = [(b"x-request-id", request_id), (b"x-ms-request-id", request_id)]
        else:
            legacy = ms_request_id or client_id or request_id
            client = client_id or ms_request_id or b""
            if too_long is None and max(len(legacy), len(client)) > REQUEST_ID_LIMIT:
                too_long = (
                    "x-ms-request-id and x-ms-client-request-id must not exceed "
                    f"{REQUEST_ID_LIMIT} characters"
                )
            ids = [
                (b"x-request-id", request_id),
                (b"x-ms-request-id", legacy),
                (b"x-ms-client-request-id", client),
            ]
        if repeated_auth:  # never "last one wins": which one a proxy checked is unknowable
            authorization = _REPEATED_AUTH
        sent = _Sent(send)
        try:
            status = await self._dispatch(
                scope, receive, sent, method, path, authorization, ids, too_long
            )
        except Exception as exc:  # a bug of the server: still a JSON answer with the request id
            rid = request_id.decode("latin-1")
            logger.error(
                "internal error: %s",
                type(exc).__name__,
                exc_info=exc,
                extra={"fields": {"request_id": rid}},
            )
            status = 500
            if not sent.started:
                await self._error(send, 500, INTERNAL_ERROR_MESSAGE, ids, rid)
        elapsed = time.perf_counter() - start
        self.metrics.observe(path if path in _ROUTES else "other", status, elapsed)
        if self.access_log.enabled:
            self.access_log.write(
                request_id.decode("latin-1"), method, path, status, elapsed * 1000
            )

    async def _dispatch(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        path: str,
        authorization: bytes | None,
        ids: list[tuple[bytes, bytes]],
        too_long: str | None,
    ) -> int:
        if too_long is not None:  # azmlinfsrv's 431 and messages
            status = await self._error(send, 431, too_long, [])
        elif path == "/score":
            status = await self._score(scope, receive, send, method, authorization, ids)
        elif method != "GET" and path in _ROUTES:
            status = await self._error(send, 405, METHOD_NOT_ALLOWED_MESSAGE, [*ids, _ALLOW_GET])
        elif path == "/":  # as azmlinfsrv: "Healthy" only once the script can score
            if self.can_score:
                status = await self._respond(send, 200, b"Healthy", _TEXT, ids)
            else:
                status = await self._not_ready(send, ids)
        elif path == "/live":
            status = await self._respond(send, 200, b'{"status":"live"}', _JSON, ids)
        elif path == "/ready":
            status = await self._readiness(send, ids)
        elif path == "/swagger.json":
            status = await self._swagger(scope, send, authorization, ids)
        elif path == "/metrics":
            failure = await self._authenticate(authorization) if self._auth_metrics else None
            if failure is not None:
                status = await self._unauthorized(send, failure, ids)
            else:
                body = self.metrics.render()
                status = await self._respond(send, 200, body, METRICS_CONTENT_TYPE, ids)
        else:
            status = await self._error(send, 404, NOT_FOUND_MESSAGE, ids)
        return status

    # -- /score ----------------------------------------------------------------------------------
    async def _score(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        authorization: bytes | None,
        ids: list[tuple[bytes, bytes]],
    ) -> int:
        ids = [*ids, _RUN_OK]  # azmlinfsrv marks every /score answer
        if method == "OPTIONS":
            return await self._respond(send, 200, b"", _TEXT, ids)
        if method != "POST" and method != "GET":
            return await self._error(send, 405, METHOD_NOT_ALLOWED_MESSAGE, [*ids, _ALLOW_SCORE])
        failure = await self._authenticate(authorization)
        if failure is not None:
            return await self._unauthorized(send, failure, ids)
        if not self.ready:
            return await self._not_ready(send, ids)
        headers = RequestHeaders(scope["headers"])
        if method == "GET":
            try:
                body = _query_as_json(scope["query_string"])
            except RecursionError:
                return await self._too_deep(send, ids)
        else:
            length = headers.get_raw(b"content-length")
            if length is not None and length.isdigit() and int(length) > self._max_bytes:
                return await self._too_large(send, ids)
            content_type = headers.get_raw(b"content-type")
            wants_object = self.script is not None and self.script.expects_json_object
            if (
                self._strict
                and (content_type or wants_object)  # decorated: azmlinfsrv's 415 comes first
                and not is_json_content_type(
                    content_type.decode("latin-1") if content_type else None
                )
            ):
                return await self._error(send, 415, NOT_JSON_CONTENT_TYPE_MESSAGE, ids)
            big = (
                int(length) > BIG_BODY_BYTES
                if length is not None and length.isdigit()
                else headers.get_raw(b"transfer-encoding") is not None
            )
            if big:  # held in memory only with a permit: at most one per scoring slot
                if not await self._take_body_permit():
                    request = ScoreRequest(b"", request_id=ids[0][1].decode("latin-1"))
                    return await self._busy(send, request, ids)
            try:
                return await self._score_body(receive, send, method, headers, ids)
            finally:
                if big:
                    self._body_permits.release()
        return await self._score_body(receive, send, method, headers, ids, body)

    async def _take_body_permit(self) -> bool:
        wait = self.settings.max_request_wait_ms / 1000
        try:
            await asyncio.wait_for(self._body_permits.acquire(), wait or None)
        except TimeoutError:
            return False
        return True

    async def _score_body(
        self,
        receive: Receive,
        send: Send,
        method: str,
        headers: RequestHeaders,
        ids: list[tuple[bytes, bytes]],
        body: bytes | None = None,
    ) -> int:
        if body is None:
            try:
                body = await self._read_body(receive)
            except _BodyTooLarge:
                return await self._too_large(send, ids)
            except _Disconnected:
                return 499
            if self._strict:
                wants_object = self.script is not None and self.script.expects_json_object
                try:
                    problem = json_problem(body, wants_object)
                except RecursionError:
                    return await self._too_deep(send, ids)
                if problem is not None:
                    return await self._error(send, 400, problem, ids)
        request = ScoreRequest(
            body=body,
            query={},
            headers=headers,
            request_id=ids[0][1].decode("latin-1"),
            method=method,
        )
        return await self._run(send, request, ids)

    async def _run(self, send: Send, request: ScoreRequest, ids: list[tuple[bytes, bytes]]) -> int:
        try:
            result = await self.submit(request)
        except Busy:
            return await self._busy(send, request, ids)
        except ScoringTimeout:
            logger.error(
                "scoring timed out after %d ms",
                self.settings.scoring_timeout_ms,
                extra={"fields": {"request_id": request.request_id}},
            )
            message = f"Scoring timeout after {self.settings.scoring_timeout_ms} ms"
            return await self._error(send, 504, message, _failed(ids), request.request_id)
        except ScoreInputError as exc:
            return await self._error(send, exc.status, exc.message, ids)
        except ScoreOutputError as exc:
            logger.error(
                "%s",
                exc,
                exc_info=exc,
                extra={"fields": {"request_id": request.request_id}},
            )
            return await self._error(send, 500, INTERNAL_ERROR_MESSAGE, ids, request.request_id)
        except Exception as exc:
            logger.error(
                "run() raised %s",
                type(exc).__name__,
                exc_info=exc,
                extra={"fields": {"request_id": request.request_id}},
            )
            return await self._error(
                send, 500, RUN_FAILED_MESSAGE, _failed(ids), request.request_id
            )
        headers = [(b"content-type", result.content_type.encode("latin-1")), *ids]
        for name, value in result.headers.items():
            headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        return await self._send(send, result.status, result.body, headers)

    async def _busy(self, send: Send, request: ScoreRequest, ids: list[tuple[bytes, bytes]]) -> int:
        message = (
            "Too many requests: all scoring slots stayed busy for "
            f"{self.settings.max_request_wait_ms} ms. Retry later."
        )
        body = orjson.dumps({"message": message, "request_id": request.request_id})
        return await self._respond(
            send, 503, body, _JSON, [*ids, (b"retry-after", self._retry_after)]
        )

    async def _read_body(self, receive: Receive) -> bytes:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > self._max_bytes:
                raise _BodyTooLarge
            return body
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self._max_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # -- other routes ----------------------------------------------------------------------------
    async def _readiness(self, send: Send, ids: list[tuple[bytes, bytes]]) -> int:
        if self.can_score:
            return await self._respond(send, 200, b'{"status":"ready"}', _JSON, ids)
        if self.ready:
            body = {"status": "stuck", "message": "every scoring thread is stuck past its timeout"}
        elif self.init_error is not None:
            body = {"status": "failed", "message": self.init_error.message}
        else:
            body = {"status": "starting", "message": "init() is still running"}
        return await self._respond(send, 503, orjson.dumps(body), _JSON, ids)

    async def _swagger(
        self, scope: Scope, send: Send, authorization: bytes | None, ids: list[tuple[bytes, bytes]]
    ) -> int:
        # Public under key auth, as Azure ML serves it; token mode keeps it behind the token.
        failure = (
            None
            if isinstance(self.authenticator, KeyAuth)
            else await self._authenticate(authorization)
        )
        if failure is not None:
            return await self._unauthorized(send, failure, ids)
        if self.swagger is None:
            return await self._not_ready(send, ids)
        version: str | None = None
        for key, value in parse_qsl(scope["query_string"].decode("latin-1")):
            if key == "version":
                version = value
                break
        try:
            body = self.swagger.get(version)
        except SwaggerError as exc:
            return await self._error(send, 404, str(exc), ids)
        return await self._respond(send, 200, body, _JSON, ids)

    # -- helpers ---------------------------------------------------------------------------------
    async def _authenticate(self, authorization: bytes | None) -> AuthFailure | None:
        auth = self.authenticator
        if authorization is _REPEATED_AUTH and not isinstance(auth, NoAuth):
            return REPEATED
        if auth.blocking:
            return await asyncio.get_running_loop().run_in_executor(None, auth.check, authorization)
        return auth.check(authorization)

    async def _unauthorized(
        self, send: Send, failure: AuthFailure, ids: list[tuple[bytes, bytes]]
    ) -> int:
        body = orjson.dumps({"message": f"Unauthorized: {failure.description}"})
        headers = [
            (b"content-type", _JSON),
            (b"www-authenticate", failure.www_authenticate),
            *ids,
        ]
        return await self._send(send, 401, body, headers)

    async def _not_ready(self, send: Send, ids: list[tuple[bytes, bytes]]) -> int:
        if self.ready:
            message = "Every scoring thread is stuck past its timeout; retry shortly."
        elif self.init_error is not None:
            message = f"The entry script failed to start: {self.init_error.message}"
        else:
            message = "The entry script's init() is still running; retry shortly."
        return await self._respond(
            send,
            503,
            orjson.dumps({"message": message}),
            _JSON,
            [*ids, (b"retry-after", b"1")],
        )

    async def _too_deep(self, send: Send, ids: list[tuple[bytes, bytes]]) -> int:
        request_id = ids[0][1].decode("latin-1")
        logger.warning(
            "refused a request nested too deeply to parse",
            extra={"fields": {"request_id": request_id}},
        )
        return await self._error(send, 400, TOO_DEEP_MESSAGE, ids, request_id)

    async def _too_large(self, send: Send, ids: list[tuple[bytes, bytes]]) -> int:
        # Connection closed after the answer: the rest of the body is never read.
        return await self._error(
            send, 413, f"Request body is larger than {self._max_bytes} bytes", [*ids, _CLOSE]
        )

    async def _error(
        self,
        send: Send,
        status: int,
        message: str,
        ids: list[tuple[bytes, bytes]],
        request_id: str | None = None,
    ) -> int:
        payload: dict[str, str] = {"message": message}
        if request_id is not None:
            payload["request_id"] = request_id
        return await self._respond(send, status, orjson.dumps(payload), _JSON, ids)

    async def _respond(
        self,
        send: Send,
        status: int,
        body: bytes,
        content_type: bytes,
        ids: list[tuple[bytes, bytes]],
    ) -> int:
        return await self._send(send, status, body, [(b"content-type", content_type), *ids])

    @staticmethod
    async def _send(
        send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
    ) -> int:
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return status


def _scoring_stacks() -> str:
    """Where each scoring thread is now (a stuck call's stack says what it waits for)."""
    frames = sys._current_frames()
    stacks = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if frame is not None and thread.name.startswith("mlws-score"):
            stacks.append(f"Thread {thread.name}:\n" + "".join(traceback.format_stack(frame)))
    return "\n".join(stacks)


class _Sent:
    """``send``, remembering whether the response has started (then no error answer can follow)."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = True
        await self.send(message)


def _without_body(send: Send) -> Send:
    """``send`` for a HEAD request: the GET answer's headers, no body."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head


def _failed(ids: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [header for header in ids if header is not _RUN_OK] + [_RUN_FAILED]


def create_app(
    settings: RuntimeSettings | None = None,
    entry_script: EntryScript | None = None,
    *,
    on_init_failure: Callable[[EntryScriptError], None] | None = None,
) -> ScoringApp:
    """Build the ASGI app for ``settings`` (read from the environment when omitted)."""
    return ScoringApp(settings or RuntimeSettings(), entry_script, on_init_failure=on_init_failure)
