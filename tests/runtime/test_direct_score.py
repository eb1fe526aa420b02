"""``POST /score`` without the ASGI cycle answers exactly as the ASGI route does.

The same requests go over real sockets to uvicorn serving one :class:`ScoringApp`, once with the
direct protocol and once with the bounded protocol alone (every request through ASGI); the answers
must match byte for byte apart from the ``date`` header and generated request ids, and the direct
protocol must have taken exactly the requests it is meant to take.
"""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import uvloop

from mlws.runtime.app import BIG_BODY_BYTES, ScoringApp
from mlws.runtime.direct_score import DirectScoreProtocol
from mlws.runtime.transport import LimitedHttpToolsProtocol, limited_http_protocol
from tests.runtime.runtime_helpers import make_settings, write_script

KEY = "k" * 32
AUTH = f"Authorization: Bearer {KEY}\r\n"


def _post(body: str, extra: str = AUTH, version: str = "1.1") -> bytes:
    return (
        f"POST /score HTTP/{version}\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    ).encode()


#: (name, the bytes sent on one fresh connection, answers expected, whether they go direct)
CASES: list[tuple[str, bytes, int, int]] = [
    ("ok", _post('{"a": 1}'), 1, 1),
    ("no credentials", _post('{"a": 1}', extra=""), 1, 1),
    ("wrong key", _post('{"a": 1}', extra="Authorization: Bearer nope\r\n"), 1, 1),
    ("two authorization headers", _post("{}", extra=AUTH + AUTH), 1, 1),
    ("run() raises", _post('{"fail": true}'), 1, 1),
    ("client request id", _post("[1]", extra=AUTH + "x-request-id: abc-1\r\n"), 1, 1),
    ("legacy ids", _post("[1]", extra=AUTH + "x-ms-client-request-id: c-9\r\n"), 1, 1),
    ("request id too long", _post("[1]", extra=AUTH + f"x-request-id: {'i' * 101}\r\n"), 1, 1),
    ("not JSON", _post("{nope"), 1, 1),
    ("HTTP/1.0", _post("[2]", version="1.0"), 1, 1),
    ("connection close", _post("[3]", extra=AUTH + "Connection: close\r\n"), 1, 1),
    # Requests pipelined behind one still being scored queue in uvicorn and go through ASGI.
    ("three pipelined", _post("[1]") + _post('{"fail": true}') + _post("[3]"), 3, 1),
    (
        "pipelined behind a slow one",
        _post('{"sleep": 0.3}') + _post("[2]") + b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n",
        3,
        1,
    ),
    (
        "chunked body (ASGI)",
        b"POST /score HTTP/1.1\r\nHost: x\r\n" + AUTH.encode() + b"Content-Type: application/json"
        b"\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1]\r\n0\r\n\r\n",
        1,
        0,
    ),
    ("query (ASGI)", b"GET /score?a=1 HTTP/1.1\r\nHost: x\r\n" + AUTH.encode() + b"\r\n", 1, 0),
    ("large body (ASGI)", _post(f"[{'1,' * (BIG_BODY_BYTES // 2)}1]"), 1, 0),
]


async def _answers(sock_bytes: bytes, port: int, count: int) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(sock_bytes)
    await writer.drain()
    answers = []
    for _ in range(count):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(re.search(rb"content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
        answers.append(head + await asyncio.wait_for(reader.readexactly(length), 10))
    if b"connection: close" in answers[-1]:
        assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    return answers


_GENERATED_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")


def _normalised(answer: bytes) -> bytes:
    answer = re.sub(rb"date: [^\r]*\r\n", b"", answer)
    return _GENERATED_ID.sub(b"<id>", answer)


async def _serve_all(
    source: Path, base: type[LimitedHttpToolsProtocol]
) -> tuple[list[list[bytes]], list[int]]:
    app = ScoringApp(make_settings(source, auth_mode="key", primary_key=KEY))
    direct_calls = 0
    score_direct = app.score_direct

    def counting(*args: Any) -> None:
        nonlocal direct_calls
        direct_calls += 1
        score_direct(*args)

    app.score_direct = counting  # type: ignore[method-assign,assignment]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http=limited_http_protocol(32768, 100, 10.0, base),
        log_level="warning",
        proxy_headers=False,  # as mlws serve runs it: the protocol sees the app itself
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    await app.wait_ready()
    results: list[list[bytes]] = []
    counts: list[int] = []
    try:
        for _, data, expected, _ in CASES:
            before = direct_calls
            results.append([_normalised(a) for a in await _answers(data, port, expected)])
            counts.append(direct_calls - before)
    finally:
        server.should_exit = True
        await task
    return results, counts


@pytest.mark.parametrize("runner", ["asyncio", "uvloop"])
def test_direct_answers_match_the_asgi_route(runner: str, script_dir: Path) -> None:
    write_script(script_dir, "echo")
    run = uvloop.run if runner == "uvloop" else asyncio.run
    direct, direct_counts = run(_serve_all(script_dir, DirectScoreProtocol))
    through_asgi, asgi_counts = run(_serve_all(script_dir, LimitedHttpToolsProtocol))
    assert asgi_counts == [0] * len(CASES)
    assert direct_counts == [case[3] for case in CASES]
    for (name, *_), mine, theirs in zip(CASES, direct, through_asgi, strict=True):
        assert mine == theirs, name
    statuses = [[a.split(b" ", 2)[1] for a in answers] for answers in direct]
    assert statuses[0] == [b"200"]
    assert statuses[1] == statuses[2] == statuses[3] == [b"401"]
    assert statuses[4] == [b"500"]
    assert statuses[7] == [b"431"]
    assert statuses[11] == [b"200", b"500", b"200"]
    assert b"connection: close" in direct[9][0]
    assert b"x-request-id: abc-1" in direct[5][0]
