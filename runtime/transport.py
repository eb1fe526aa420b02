"""One ``write`` system call per response instead of two.

uvicorn's httptools protocol writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body as a second ``transport.write`` right after; uvloop sends each
at once, so every response costs two system calls and wakes the client twice. On a small machine
where the clients share the cores that is a good part of the time per request.
:class:`CoalescingHttpToolsProtocol` hands uvicorn a transport that gathers the writes made during
one event-loop turn and sends them together at the end of it (a loop callback, so nothing waits
longer than that turn: an interim ``100 Continue`` still goes out before the server reads on).
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
