"""The HTTP layer: a lean pure-ASGI app in front of a :class:`ScoringService`.

Routes (:data:`ROUTES`; auth as configured on the ones marked so):

* ``POST /score`` (auth): the body goes to the script; ``GET /score`` (auth) sends the query
  parameters as a JSON object, as azmlinfsrv does; ``OPTIONS /score`` answers 200 (an authenticated
  one goes to a ``@rawhttp`` script's ``run()``).
* ``GET /`` -> ``Healthy`` once the service can score (as azmlinfsrv), else 503; ``GET /live`` ->
  200 while the process runs; ``GET /ready`` -> 503 until the script's ``init()`` succeeded (and
  while every scoring thread is stuck), then 200.
* ``GET /swagger.json?version=2|3|3.1``: OpenAPI documents (:mod:`mlws.runtime.swagger`); public
  under key auth as Azure ML serves it, behind the token in token mode.
* ``GET /metrics``: Prometheus text; needs auth only when ``metrics_auth`` is set.

``HEAD`` answers like ``GET`` without a body (except on ``/score``). A handler returns an
:class:`Answer` or raises; every failure becomes its answer through the one table in
:mod:`mlws.runtime.http_errors`. Each request is counted in the metrics and written to the
request log. The request checks (content type, JSON) are :mod:`mlws.runtime.request_checks`'.
Start-up, the ready state and scoring are the service's (:mod:`mlws.runtime.scoring_service`).

Over 500 lines because the routes, the ASGI path and the direct ``POST /score`` path
(:meth:`ScoringApp.score_direct`) share one app's state and checks; the answers' table, the
request reading and checks, and the scoring service are modules of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson

from mlws.runtime.auth import REPEATED, Authenticator, KeyAuth, NoAuth, build_authenticator
from mlws.runtime.entry_script import (
    EntryScript,
    EntryScriptError,
    ScoreRequest,
    ScoreResult,
)
from mlws.runtime.executor import Busy
from mlws.runtime.http_errors import (
    ERROR_ANSWERS,
    BodyTooLarge,
    ClientDisconnected,
    Header,
    IdTooLong,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    error_answer,
    not_ready,
)
from mlws.runtime.http_request import (
    REPEATED_AUTH,
    Message,
    Receive,
    Request,
    RequestHeaders,
    RequestIds,
    Scope,
    Send,
    read_body,
    read_request,
)
from mlws.runtime.logs import AccessLog
from mlws.runtime.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from mlws.runtime.metrics import Metrics
from mlws.runtime.request_checks import (
    TooDeep,
    check_content_type,
    check_json_body,
    query_as_json,
)
from mlws.runtime.scoring_service import ScoringService
from mlws.runtime.settings import RuntimeSettings

logger = logging.getLogger("mlws.runtime")

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_RUN_OK = (b"x-ms-run-function-failed", b"False")
_RUN_FAILED = (b"x-ms-run-function-failed", b"True")
#: Bodies larger than this (or of unknown length) wait for a body permit before they are read.
BIG_BODY_BYTES = 65536
#: Failures the table answers on purpose; anything else is a bug of the server (logged as such).
_EXPECTED = tuple(cls for cls in ERROR_ANSWERS if cls is not Exception)


@dataclass(frozen=True, slots=True)
class Answer:
    """A route's answer: status, body, content type and headers after the request ids."""

    status: int
    body: bytes
    content_type: bytes = _JSON
    headers: tuple[Header, ...] = ()


Handler = Callable[["ScoringApp", Request], Awaitable[Answer]]
Reply = Callable[[Request, Answer], None]
"""Sends a direct ``POST /score``'s answer (:meth:`ScoringApp.score_direct`)."""


@dataclass(frozen=True, slots=True)
class Route:
    """A path's handler and the methods it takes (others get 405 with ``Allow``)."""

    handler: Handler
    methods: frozenset[str]
    allow: bytes
    marks_run: bool = False
    """Every answer carries ``x-ms-run-function-failed`` (azmlinfsrv marks each ``/score`` one)."""


class ScoringApp:
    """The ASGI application in front of a :class:`ScoringService` (given, or built from settings
    with its defaults: the script ``settings`` names, loaded at start-up)."""

    def __init__(self, service: ScoringService | RuntimeSettings) -> None:
        if isinstance(service, RuntimeSettings):
            service = ScoringService(service)
        settings = service.settings
        self.settings = settings
        #: Start-up, ready state and scoring (its ``submit`` is the batching hook).
        self.service = service
        self.authenticator: Authenticator = build_authenticator(settings)
        # The OpenAPI documents say which routes check Authorization: the checks below.
        self.service.auth_on_score = not isinstance(self.authenticator, NoAuth)
        self.service.auth_on_swagger = not _swagger_is_public(self.authenticator)
        self.metrics = Metrics(settings.metrics_dir)
        #: Where request lines go; replace before start-up to capture them (tests).
        self.access_log = AccessLog(enabled=settings.log_level in ("debug", "info"))
        self._max_bytes = settings.max_request_bytes
        self._strict = settings.strict_json
        self._ids = RequestIds()
        self._flusher: asyncio.Task[None] | None = None
        #: Request bodies over BIG_BODY_BYTES held at once: one per request that can be scored.
        self._body_permits = asyncio.Semaphore(
            settings.max_concurrent_requests * max(1, settings.batch_max_size)
        )

    # -- lifecycle -------------------------------------------------------------------------------
    async def startup(self) -> None:
        """Start the service (``init()`` runs in the background) and the metrics flusher."""
        if self._flusher is None and self.settings.metrics_dir is not None:
            self._flusher = asyncio.create_task(self._flush_metrics())
        self.service.start()

    def initialise(self) -> EntryScriptError | None:
        """Run ``init()`` now, before start-up (:meth:`ScoringService.initialise`)."""
        return self.service.initialise()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``init()`` finished; raise its error if it failed."""
        await self.service.wait_ready(timeout)

    async def shutdown(self) -> None:
        """Stop background work and release the script (in-flight requests have finished)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        with contextlib.suppress(OSError):
            self.metrics.flush()
        self.access_log.flush()
        self.service.close()

    async def _flush_metrics(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.metrics.flush()
            except OSError:
                logger.warning("could not write metrics to %s", self.settings.metrics_dir)

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
        request = read_request(scope, receive, self._ids)
        if request.method != scope["method"]:
            send = _without_body(send)
        sent = _Sent(send)
        path = request.path
        route = ROUTES.get(path)
        try:
            if request.id_too_long is not None:
                raise IdTooLong(request.id_too_long)
            if route is None:
                raise NotFound
            if route.marks_run:
                request.ids.append(_RUN_OK)
            if request.method not in route.methods:
                raise MethodNotAllowed(route.allow)
            answer = await route.handler(self, request)
            status = await _send(
                sent, answer.status, answer.body, answer.content_type, request.ids, answer.headers
            )
        except ClientDisconnected:
            status = 499
        except Exception as exc:
            if sent.started:
                self.failure_answer(request, exc)  # logged; nothing more can be sent
                status = 500
            else:
                answer = self.failure_answer(request, exc)
                status = await _send(
                    sent, answer.status, answer.body, _JSON, request.ids, answer.headers
                )
        self.record(request, path if route is not None else "other", status, start)

    def record(self, request: Request, route: str, status: int, start: float) -> None:
        """Count a finished request in the metrics and write its request log line."""
        elapsed = time.perf_counter() - start
        self.metrics.observe(route, status, elapsed)
        if self.access_log.enabled:
            self.access_log.write(
                request.request_id.decode("latin-1"),
                request.method,
                request.path,
                status,
                elapsed * 1000,
            )

    def failure_answer(self, request: Request, exc: Exception) -> Answer:
        """The table's answer to ``exc`` (logged here when the scoring service did not log it);
        ``request.ids`` become the id headers the answer carries."""
        rid = request.request_id.decode("latin-1")
        if isinstance(exc, TooDeep):
            logger.warning(
                "refused a request nested too deeply to parse",
                extra={"fields": {"request_id": rid}},
            )
        elif not isinstance(exc, _EXPECTED):  # a bug of the server: still a JSON answer
            logger.error(
                "internal error: %s",
                type(exc).__name__,
                exc_info=exc,
                extra={"fields": {"request_id": rid}},
            )
        answer = error_answer(exc, self.settings)
        payload = {"message": answer.message}
        if answer.with_request_id:
            payload["request_id"] = rid
        if not answer.with_ids:
            request.ids = []
        elif answer.run_failed:
            request.ids = [header for header in request.ids if header is not _RUN_OK] + [
                _RUN_FAILED
            ]
        return Answer(answer.status, orjson.dumps(payload), _JSON, answer.headers)

    # -- routes ----------------------------------------------------------------------------------
    async def _score(self, request: Request) -> Answer:
        if request.method == "OPTIONS" and not await self._raw_options(request):
            return Answer(200, b"", _TEXT)
        await self._authenticate(request.authorization)
        service = self.service
        if not service.ready:
            raise self._not_ready()
        scope = request.scope
        headers = RequestHeaders(scope["headers"])
        if request.method == "GET":  # a @rawhttp script reads the query itself
            raw = service.takes_raw_requests
            return await self._run(
                request, headers, b"" if raw else query_as_json(scope["query_string"])
            )
        length = headers.get_raw(b"content-length")
        size = int(length) if length is not None and length.isdigit() else None
        if size is not None and size > self._max_bytes:
            raise BodyTooLarge
        if self._strict and not service.takes_raw_requests:
            check_content_type(headers.get_raw(b"content-type"), service.expects_json_object)
        if size is not None:
            big = size > BIG_BODY_BYTES
        else:
            big = headers.get_raw(b"transfer-encoding") is not None
        if not big:
            return await self._run(request, headers, await self._read_body(request))
        # Held in memory only with a permit (until scored): at most one per scoring slot.
        if not await self._take_body_permit():
            raise Busy
        try:
            return await self._run(request, headers, await self._read_body(request))
        finally:
            self._body_permits.release()

    async def _read_body(self, request: Request) -> bytes:
        body = await read_body(request.receive, self._max_bytes)
        if self._strict and not self.service.takes_raw_requests:
            check_json_body(body, self.service.expects_json_object)
        return body

    async def _raw_options(self, request: Request) -> bool:
        """Whether ``OPTIONS /score`` goes to the script: a ``@rawhttp`` one answers it itself (as
        under azmlinfsrv) when the caller is authenticated; otherwise the server answers 200."""
        if not (self.service.ready and self.service.takes_raw_requests):
            return False
        try:
            await self._authenticate(request.authorization)
        except Unauthorized:
            return False
        return True

    async def _run(self, request: Request, headers: RequestHeaders, body: bytes) -> Answer:
        score_request = self._score_request(request, headers, body)
        return self._answer_of(request, await self.service.score(score_request))

    def _score_request(
        self, request: Request, headers: RequestHeaders, body: bytes
    ) -> ScoreRequest:
        scope = request.scope
        return ScoreRequest(
            body=body,
            query={},
            headers=headers,
            request_id=request.request_id.decode("latin-1"),
            method=request.method,
            path=request.path,
            query_string=scope["query_string"],
            scheme=scope.get("scheme", "http"),
            server=scope.get("server"),
            client=scope.get("client"),
        )

    def _answer_of(self, request: Request, result: ScoreResult) -> Answer:
        extra: tuple[Header, ...] = ()
        if result.headers:  # most scripts set none
            pairs = (
                result.headers.items() if isinstance(result.headers, Mapping) else result.headers
            )
            extra = tuple(
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs
            )
        if result.run_failed:  # the script's own AMLResponse says so
            request.ids[:] = [h for h in request.ids if h is not _RUN_OK] + [_RUN_FAILED]
        return Answer(result.status, result.body, result.content_type.encode("latin-1"), extra)

    # -- POST /score without the ASGI cycle (mlws.runtime.direct_score) --------------------------
    @property
    def scores_directly(self) -> bool:
        """Whether a ``POST /score`` whose body is already read may skip the ASGI cycle
        (:meth:`score_direct`): the script is ready, takes checked bodies, and the credentials
        are checked without blocking."""
        service = self.service
        return service.ready and not service.takes_raw_requests and not self.authenticator.blocking

    def score_direct(self, scope: Scope, body: bytes, reply: Reply) -> None:
        """``POST /score`` with its whole ``body`` read: the same checks, call and answers as the
        ASGI route, with ``reply(request, answer)`` called once on the event loop (at once for a
        refusal, when the script's call settles otherwise). Call only while
        :attr:`scores_directly` and with a body no larger than the size limit."""
        start = time.perf_counter()
        request = read_request(scope, _no_receive, self._ids)
        request.ids.append(_RUN_OK)
        try:
            if request.id_too_long is not None:
                raise IdTooLong(request.id_too_long)
            self._check_credentials(request.authorization)
            headers = RequestHeaders(scope["headers"])
            if self._strict:
                expects_object = self.service.expects_json_object
                check_content_type(headers.get_raw(b"content-type"), expects_object)
                check_json_body(body, expects_object)
            score_request = self._score_request(request, headers, body)
            future = self.service.submit(score_request)
        except Exception as exc:
            answer = self.failure_answer(request, exc)
            reply(request, answer)
            self.record(request, "/score", answer.status, start)
            return

        def scored(future: asyncio.Future[ScoreResult]) -> None:
            try:
                answer = self._answer_of(request, self.service.outcome(score_request, future))
            except Exception as exc:
                answer = self.failure_answer(request, exc)
            reply(request, answer)
            self.record(request, "/score", answer.status, start)

        future.add_done_callback(scored)

    async def _take_body_permit(self) -> bool:
        wait = self.settings.max_request_wait_ms / 1000
        try:
            await asyncio.wait_for(self._body_permits.acquire(), wait or None)
        except TimeoutError:
            return False
        return True

    async def _health(self, request: Request) -> Answer:
        if not self.service.can_score:
            raise self._not_ready()
        return Answer(200, b"Healthy", _TEXT)

    async def _live(self, request: Request) -> Answer:
        return Answer(200, b'{"status":"live"}')

    async def _ready(self, request: Request) -> Answer:
        service = self.service
        state = service.state
        if state == "ready":
            return Answer(200, b'{"status":"ready"}')
        if state == "stuck":
            message = "every scoring thread is stuck past its timeout"
        elif service.init_error is not None:
            message = service.init_error.message
        else:
            message = "init() is still running"
        return Answer(503, orjson.dumps({"status": state, "message": message}))

    async def _swagger(self, request: Request) -> Answer:
        if not _swagger_is_public(self.authenticator):
            await self._authenticate(request.authorization)
        swagger = self.service.swagger
        if swagger is None:
            raise self._not_ready()
        version: str | None = None
        for key, value in parse_qsl(request.scope["query_string"].decode("latin-1")):
            if key == "version":
                version = value
                break
        return Answer(200, swagger.get(version))

    async def _metrics(self, request: Request) -> Answer:
        if self.settings.metrics_auth:
            await self._authenticate(request.authorization)
        return Answer(200, self.metrics.render(), METRICS_CONTENT_TYPE)

    # -- helpers ---------------------------------------------------------------------------------
    async def _authenticate(self, authorization: bytes | None) -> None:
        auth = self.authenticator
        if not auth.blocking:
            self._check_credentials(authorization)
            return
        if authorization is REPEATED_AUTH:
            raise Unauthorized(REPEATED)
        loop = asyncio.get_running_loop()
        failure = await loop.run_in_executor(None, auth.check, authorization)
        if failure is not None:
            raise Unauthorized(failure)

    def _check_credentials(self, authorization: bytes | None) -> None:
        """Raise :class:`Unauthorized` unless ``authorization`` passes (a non-blocking check)."""
        auth = self.authenticator
        if authorization is REPEATED_AUTH and not isinstance(auth, NoAuth):
            raise Unauthorized(REPEATED)
        failure = auth.check(authorization)
        if failure is not None:
            raise Unauthorized(failure)

    def _not_ready(self) -> Exception:
        service = self.service
        error = service.init_error
        return not_ready(service.state, error.message if error is not None else None)


def _swagger_is_public(auth: Authenticator) -> bool:
    """``/swagger.json`` is public under key auth, as Azure ML serves it (token mode keeps it
    behind the token; without auth everything is public)."""
    return isinstance(auth, KeyAuth | NoAuth)


_GET = frozenset({"GET"})
_ALLOW_GET = b"GET, HEAD"

#: Path -> route. Anything else is 404.
ROUTES: dict[str, Route] = {
    "/score": Route(
        ScoringApp._score, frozenset({"GET", "POST", "OPTIONS"}), b"GET, POST, OPTIONS", True
    ),
    "/": Route(ScoringApp._health, _GET, _ALLOW_GET),
    "/live": Route(ScoringApp._live, _GET, _ALLOW_GET),
    "/ready": Route(ScoringApp._ready, _GET, _ALLOW_GET),
    "/swagger.json": Route(ScoringApp._swagger, _GET, _ALLOW_GET),
    "/metrics": Route(ScoringApp._metrics, _GET, _ALLOW_GET),
}


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    ids: list[Header],
    headers: tuple[Header, ...],
) -> int:
    head = [(b"content-type", content_type), *ids, *headers]
    head.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
    return status


class _Sent:
    """``send``, remembering whether the response has started (then no error answer can follow)."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = True
        await self.send(message)


async def _no_receive() -> Message:
    """A direct request's ``receive``: its body was read before the call."""
    raise RuntimeError("the body of a direct request was read before the call")


def _without_body(send: Send) -> Send:
    """``send`` for a HEAD request: the GET answer's headers, no body."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head


def create_app(
    settings: RuntimeSettings | None = None,
    entry_script: EntryScript | None = None,
    *,
    on_init_failure: Callable[[EntryScriptError], None] | None = None,
) -> ScoringApp:
    """Build the ASGI app for ``settings`` (read from the environment when omitted)."""
    service = ScoringService(
        settings or RuntimeSettings(), entry_script, on_init_failure=on_init_failure
    )
    return ScoringApp(service)
