"""Responses leave in one write: the coalescing transport on its own and under real uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import pytest
import uvicorn
import uvloop

from mlws.runtime.transport import (
    CoalescingHttpToolsProtocol,
    CoalescingTransport,
    http_protocol,
    limited_http_protocol,
)

Scope = MutableMapping[str, Any]


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_writes_of_one_loop_turn_leave_together() -> None:
    inner = FakeTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"HTTP/1.1 200 OK\r\n\r\n")
    outer.write(memoryview(b"body"))
    assert inner.writes == []
    assert outer.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    outer.write(b"next")
    await asyncio.sleep(0)
    assert inner.writes[1:] == [b"next"]
    assert outer.get_extra_info("peername") == ("127.0.0.1", 1)


async def test_close_sends_pending_first_and_abort_drops_it() -> None:
    inner = FakeTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"last words")
    outer.close()
    assert inner.writes == [b"last words"]
    assert inner.closed
    assert outer.is_closing()

    inner = FakeTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"never sent")
    outer.abort()
    await asyncio.sleep(0)
    assert inner.writes == []
    assert inner.aborted


async def test_nothing_is_written_once_the_connection_is_closing() -> None:
    inner = FakeTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"too late")
    inner.closed = True  # the peer went away before the loop turn ended
    await asyncio.sleep(0)
    assert inner.writes == []


def test_uvicorn_gets_the_coalescing_protocol() -> None:
    assert http_protocol() is CoalescingHttpToolsProtocol


async def _app(scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = b"echo:" + body
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(answer)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": answer})


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await asyncio.wait_for(reader.readexactly(length), 5)


@contextlib.asynccontextmanager
async def _serving(**config: Any) -> AsyncIterator[int]:
    """A real uvicorn server for ``_app`` on a free port (yielded) until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(_app, log_level="warning", **config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def _scenario() -> None:
    async with _serving(http=CoalescingHttpToolsProtocol) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # Three pipelined keep-alive requests on one connection, answered in order.
        for n in range(3):
            writer.write(
                f"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nr{n}".encode()
            )
        await writer.drain()
        for n in range(3):
            head, body = await _read_response(reader)
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert body == f"echo:r{n}".encode()
        # Expect: 100-continue: the interim answer must go out before the body is sent.
        writer.write(
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(b"late")
        await writer.drain()
        _, body = await _read_response(reader)
        assert body == b"echo:late"
        # Connection: close gets the whole answer before the close.
        writer.write(
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye"
        )
        await writer.drain()
        _, body = await _read_response(reader)
        assert body == b"echo:bye"
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


@pytest.mark.parametrize("runner", ["asyncio", "uvloop"])
def test_real_uvicorn_server_answers_through_the_coalescing_transport(runner: str) -> None:
    if runner == "uvloop":
        uvloop.run(_scenario())
    else:
        asyncio.run(_scenario())


async def _keep_alive_scenario() -> tuple[float, float]:
    async with _serving(http=limited_http_protocol(32768, 100, 10.0), timeout_keep_alive=1) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        first = loop.time()
        for n in range(4):  # 0.6 s apart: 1.8 s in all, longer than the 1 s idle timeout
            if n:
                await asyncio.sleep(0.6)
            writer.write(
                f"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nr{n}".encode()
            )
            await writer.drain()
            _, body = await _read_response(reader)
            assert body == f"echo:r{n}".encode()
        last = loop.time()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        return last - first, loop.time() - last


@pytest.mark.parametrize("runner", ["asyncio", "uvloop"])
def test_keep_alive_counts_from_the_last_answer(runner: str) -> None:
    """One timer per connection: a connection busy longer than the idle timeout stays open, and
    closes once it has been idle for the timeout after its last answer."""
    busy, idle = (
        uvloop.run(_keep_alive_scenario())
        if runner == "uvloop"
        else asyncio.run(_keep_alive_scenario())
    )
    assert busy > 1.5
    assert 0.9 < idle < 2.5
