"""One ``write`` system call per response instead of two.

uvicorn's httptools protocol writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body as a second ``transport.write`` right after; uvloop sends each
at once, so every response costs two system calls and wakes the client twice. On a small machine
where the clients share the cores that is a good part of the time per request.
:class:`CoalescingHttpToolsProtocol` hands uvicorn a transport that gathers the writes made during
one event-loop turn and sends them together at the end of it (a loop callback, so nothing waits
longer than that turn: an interim ``100 Continue`` still goes out before the server reads on).

Hand-written because uvicorn has neither the single write nor header count/size limits with 431,
and granian, which has a header-read timeout, lacks those limits and an HTTP/1 keep-alive idle
timeout (docs/runtime.md, "Server and libraries"); subclassing uvicorn's protocol adds them.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport(asyncio.Transport):
    """Wraps a transport: ``write`` calls of one loop turn leave as one write.

    Everything else goes straight to the wrapped transport, after pending data where order
    matters (``close``, ``write_eof``).
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    # -- writing ---------------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        """Queue ``data``; it is sent with the other writes of this loop turn."""
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        """Queue several buffers."""
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what is queued now (one write), unless the connection is already closing."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if self._transport.is_closing():
            return
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def write_now(self, data: bytes) -> None:
        """Send what is queued and ``data`` at once, with one write (a whole response)."""
        pending = self._pending
        if pending:
            self._pending = []
            pending.append(data)
            data = b"".join(pending)
        if not self._transport.is_closing():
            self._transport.write(data)

    def write_eof(self) -> None:
        """Send what is queued, then close the write side."""
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        """Whether the wrapped transport can half-close."""
        return self._transport.can_write_eof()

    def get_write_buffer_size(self) -> int:
        """Bytes queued here and in the wrapped transport."""
        return self._transport.get_write_buffer_size() + sum(len(d) for d in self._pending)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """The wrapped transport's flow-control limits."""
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the wrapped transport's flow-control limits."""
        self._transport.set_write_buffer_limits(high, low)

    # -- closing ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Send what is queued, then close."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop what is queued and close at once."""
        self._pending = []
        self._transport.abort()

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self._transport.is_closing()

    # -- everything else -------------------------------------------------------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The wrapped transport's ``socket``, ``peername``, ``sockname``, ..."""
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        """Stop reading from the socket (uvicorn's flow control)."""
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Start reading again."""
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        """Whether the socket is being read."""
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Hand the connection to another protocol (e.g. an upgrade)."""
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol the wrapped transport feeds."""
        return self._transport.get_protocol()


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing each response with one system call."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Wrap the connection's transport, then let uvicorn set up as usual."""
        # uvloop's transports do not derive from asyncio.Transport but have its methods.
        super().connection_made(CoalescingTransport(cast(asyncio.Transport, transport), self.loop))


def http_protocol() -> type[asyncio.Protocol] | str:
    """uvicorn's ``http`` setting: the coalescing protocol when httptools is there, else auto."""
    try:
        import httptools  # noqa: F401
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return "auto"
    return CoalescingHttpToolsProtocol


class LimitedHttpToolsProtocol(CoalescingHttpToolsProtocol):
    """The coalescing protocol with bounds on what a client may make the server hold or wait for.

    * the request line and headers over ``max_header_bytes``, or more than ``max_headers``
      headers: ``431`` at once, connection closed (counted on the raw bytes, so one endless header
      line is cut off as well);
    * headers not complete ``header_timeout_s`` after the request's first byte (or after the
      connection opened): ``408``, connection closed (slowloris);
    * idle keep-alive connections are closed by uvicorn after its ``timeout_keep_alive``.

    uvicorn has none of the first two (it buffers headers without limit and restarts nothing when
    bytes trickle in); subclassing its protocol adds them without a second parser.
    """

    max_header_bytes = 32768
    max_headers = 100
    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the header clock for the first request."""
        super().connection_made(transport)
        self._idle_since: float | None = None
        self._head_bytes = 0
        self._head_size = 0
        self._head_count = 0
        self._in_head = True
        self._refusal: tuple[int, bytes] | None = None
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout_s, self._head_timed_out
        )

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the header clock and the keep-alive timer."""
        self._stop_head_timer()
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    # -- keep-alive: one timer per connection, not one per response --------------------------------
    def on_response_complete(self) -> None:
        """uvicorn's: start the next pipelined request, or count the connection idle from now.

        uvicorn starts a keep-alive timer after every response and cancels it on the next
        request; here the connection's one timer, when it fires, looks at when the connection
        last went idle and waits out the rest (a timer per response is a good part of a small
        request's cost).
        """
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            self._idle_since = None
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self._keep_alive_expired
            )

    def _unset_keepalive_if_required(self) -> None:
        """Data came in: the connection is no longer idle (its timer stays armed)."""
        self._idle_since = None

    def _keep_alive_expired(self) -> None:
        self.timeout_keep_alive_task = None
        since = self._idle_since
        if since is None:  # busy now: the next response arms the timer again
            return
        remaining = since + self.timeout_keep_alive - self.loop.time()
        if remaining > 0:
            self.timeout_keep_alive_task = self.loop.call_later(remaining, self._keep_alive_expired)
        else:
            self.timeout_keep_alive_handler()

    def data_received(self, data: bytes) -> None:
        """Parse, then count the bytes of a request head still incomplete (one read is at most
        256 KiB, so an endless header line is cut off after one read past the limit)."""
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse(431, b"Request header fields too large")

    def on_message_begin(self) -> None:
        """A new request: its head is counted and timed from here."""
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._head_size = 0
        self._head_count = 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        """Count the request target into the head's size."""
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count the headers and their size (a head complete within one read is checked here)."""
        self._head_count += 1
        self._head_size += len(name) + len(value) + 4
        if self._head_count > self.max_headers:
            self._refusal = (431, b"Too many request header fields")
        elif self._head_size > self.max_header_bytes:
            self._refusal = (431, b"Request header fields too large")
        if self._refusal is not None:
            raise ValueError("request head over a limit")  # the parser stops: see send_400
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head is complete: stop counting and timing it."""
        self._head_complete()
        super().on_headers_complete()

    def _head_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error, or the refusal a limit raised through the parser."""
        if self._refusal is not None:
            self._refuse(*self._refusal)
            return
        super().send_400_response(msg)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self._head_bytes == 0 and self.cycle is None:
            self.transport.close()  # a connection that never sent a byte: just close it
            return
        self._refuse(408, b"Request headers not received in time")

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, status: int, message: bytes) -> None:
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        body = b'{"message":"' + message + b'"}'
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self._in_head = False
        self._stop_head_timer()
        self.transport.close()


def limited_http_protocol(
    max_header_bytes: int,
    max_headers: int,
    header_timeout_s: float,
    base: type[LimitedHttpToolsProtocol] = LimitedHttpToolsProtocol,
) -> type[asyncio.Protocol]:
    """``base`` (:class:`LimitedHttpToolsProtocol` or a subclass) with these limits (uvicorn's
    ``http`` setting)."""
    return type(
        base.__name__,
        (base,),
        {
            "max_header_bytes": max_header_bytes,
            "max_headers": max_headers,
            "header_timeout_s": header_timeout_s,
        },
    )
