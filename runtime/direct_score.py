"""``POST /score`` without the ASGI cycle: the hot route from the parser straight to the app.

For every request uvicorn builds a request-response cycle, an event and a task, and the app
answers through two ASGI messages whose headers uvicorn checks one by one with regular
expressions: on a small model that is more work than the model itself (docs/benchmark.md).
:class:`DirectScoreProtocol`, uvicorn's httptools protocol with mlws's bounds on request heads,
hands a ``POST /score`` with a small, complete body straight to
:meth:`~mlws.runtime.app.ScoringApp.score_direct` (the same checks, call and answers as the ASGI
route) and sends the answer with one write. Every other request goes through uvicorn and the ASGI
app as before, and so does this one whenever the app cannot take it directly (``init()`` not done,
a ``@rawhttp`` script, a blocking credentials check, a large or chunked body, ``Expect:
100-continue``, a client not reading its answers, an earlier request still in flight).
Keep-alive, pipelining and graceful shutdown stay uvicorn's: while a direct request is scored,
a :class:`_DirectCycle` stands in uvicorn's ``cycle`` for it.

Hand-written because no kept server offers a hook below ASGI; it is a subclass, not a second
parser or server.
"""

from __future__ import annotations

import asyncio
from typing import cast

from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE

from mlws.runtime.app import BIG_BODY_BYTES, Answer, ScoringApp
from mlws.runtime.http_request import Request, Scope
from mlws.runtime.transport import CoalescingTransport, LimitedHttpToolsProtocol

_SCORE = b"/score"
_POST = b"POST"
_CLOSE = b"connection: close\r\n"
_SERVER_ERROR = (
    STATUS_LINE[500] + b"content-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\n"
    b"connection: close\r\n\r\nInternal Server Error"
)


class _Unwaited:
    """The event uvicorn sets on a cycle when the connection is lost: nobody waits on it here."""

    __slots__ = ()

    def set(self) -> None:
        """Nothing waits for it."""


_UNWAITED = _Unwaited()


class _DirectCycle:
    """What uvicorn's protocol reads and writes in ``self.cycle`` while a direct request is
    scored: pipelined requests queue behind it, a lost connection and a shutdown mark it."""

    __slots__ = ("disconnected", "keep_alive", "response_complete")

    message_event = _UNWAITED

    def __init__(self, keep_alive: bool) -> None:
        self.disconnected = False
        self.keep_alive = keep_alive
        self.response_complete = False


class DirectScoreProtocol(LimitedHttpToolsProtocol):
    """The bounded uvicorn protocol answering small ``POST /score`` requests directly."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Set up as uvicorn does; no request is being read directly yet."""
        super().connection_made(transport)
        self._direct_body: list[bytes] | None = None

    def on_headers_complete(self) -> None:
        """Take a small ``POST /score`` directly when the app can; otherwise uvicorn's way."""
        app = self.app
        if (
            self.url == _SCORE
            and self.parser.get_method() == _POST
            and not self.expect_100_continue
            and (self.cycle is None or self.cycle.response_complete)
            and not self.flow.write_paused
            and isinstance(app, ScoringApp)
            and app.scores_directly
            and not self.parser.should_upgrade()
            and _small_body(self.headers, app.settings.max_request_bytes)
        ):
            self._head_complete()
            version = self.parser.get_http_version()
            scope = self.scope
            scope["method"] = "POST"
            scope["path"] = "/score"
            scope["raw_path"] = _SCORE
            scope["query_string"] = b""
            if version != "1.1":
                scope["http_version"] = version
            self.cycle = _DirectCycle(version != "1.0" and self.parser.should_keep_alive())  # type: ignore[assignment]
            self._direct_body = []
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Keep a direct request's body (its length is bounded); else uvicorn's way."""
        direct = self._direct_body
        if direct is None:
            super().on_body(body)
        else:
            direct.append(body)

    def on_message_complete(self) -> None:
        """A direct request is complete: score it; else uvicorn's way."""
        direct = self._direct_body
        if direct is None:
            super().on_message_complete()
            return
        self._direct_body = None
        cycle: _DirectCycle = self.cycle  # type: ignore[assignment]

        def reply(request: Request, answer: Answer) -> None:
            self._reply(cycle, request, answer)

        app = cast(ScoringApp, self.app)
        app.score_direct(cast(Scope, self.scope), b"".join(direct), reply)

    def _reply(self, cycle: _DirectCycle, request: Request, answer: Answer) -> None:
        """Send a direct request's answer with one write, then let uvicorn go on with the
        connection (the next pipelined request, or the keep-alive timer)."""
        cycle.response_complete = True
        if cycle.disconnected:
            return
        transport = self.transport
        says_close = any(name == b"connection" for name, _ in answer.headers)  # e.g. 413's
        if says_close:
            cycle.keep_alive = False
        add_close = not cycle.keep_alive and not says_close
        data = _response(self.server_state.default_headers, request, answer, add_close)
        if isinstance(transport, CoalescingTransport):
            transport.write_now(data)
        else:  # pragma: no cover - connection_made always wraps it
            transport.write(data)
        if data is _SERVER_ERROR or not cycle.keep_alive:
            transport.close()
        self.on_response_complete()


def _small_body(headers: list[tuple[bytes, bytes]], max_bytes: int) -> bool:
    """Whether the body has one ``content-length`` within both limits and no other framing."""
    length: bytes | None = None
    for name, value in headers:
        if name == b"content-length":
            if length is not None:
                return False
            length = value
        elif name == b"transfer-encoding":
            return False
    if length is None or not length.isdigit():
        return False
    size = int(length)
    return size <= BIG_BODY_BYTES and size <= max_bytes


def _response(
    default_headers: list[tuple[bytes, bytes]], request: Request, answer: Answer, add_close: bool
) -> bytes:
    """The answer as HTTP/1.1 bytes, as uvicorn writes an ASGI answer: its default headers
    (``date``), content type, request ids, the answer's own headers, content length; headers a
    client or script could have spoiled are checked as uvicorn checks them (else a bare 500)."""
    status_line = STATUS_LINE.get(answer.status)
    if status_line is None:
        return _SERVER_ERROR
    parts = [status_line]
    for name, value in default_headers:
        parts += (name, b": ", value, b"\r\n")
    parts += (b"content-type: ", answer.content_type, b"\r\n")
    for name, value in request.ids:
        if HEADER_VALUE_RE.search(value):
            return _SERVER_ERROR
        parts += (name, b": ", value, b"\r\n")
    for name, value in answer.headers:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
            return _SERVER_ERROR
        parts += (name, b": ", value, b"\r\n")
    body = answer.body
    parts.append(b"content-length: %d\r\n" % len(body))
    if add_close:
        parts.append(_CLOSE)
    parts += (b"\r\n", body)
    return b"".join(parts)
