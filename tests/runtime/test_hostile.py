"""Hostile input over real HTTP: every attack costs the server a bounded amount of time and memory.

Each test prints the figures it measured (``pytest -s`` shows them).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.runtime.live_server import Server, start_serve, wait_until
from tests.runtime.runtime_helpers import write_script

pytestmark = pytest.mark.slow

JSON = {"content-type": "application/json"}
MiB = 1024 * 1024


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def started(servers: list[Server], tmp_path: Path, *extra: str, **env: str) -> Server:
    write_script(tmp_path, "peek")
    server = start_serve(servers, tmp_path, *extra, env=env)
    server.wait_ready()
    return server


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_request_heads_over_the_limits_get_431_at_once(
    servers: list[Server], tmp_path: Path
) -> None:
    server = started(servers, tmp_path)
    cases = {
        "one big header": b"x-big: " + b"a" * 40000 + b"\r\n",
        "many headers": b"".join(b"x-h%d: 1\r\n" % i for i in range(150)),
        "an endless header line": b"x-endless: " + b"a" * (2 * MiB),
    }
    for name, headers in cases.items():
        with connect(server) as sock:
            begun = time.monotonic()
            try:
                sock.sendall(b"GET /live HTTP/1.1\r\nhost: x\r\n" + headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused while still sending the endless line
            reply = read_all(sock)
            took = (time.monotonic() - begun) * 1000
        assert reply.startswith(b"HTTP/1.1 431 "), (name, reply[:200])
        assert b"connection: close" in reply
        print(f"\n[figure] {name}: 431 in {took:.1f} ms")
    assert server.status("/live") == 200


def test_slowloris_is_cut_off_while_normal_requests_are_served(
    servers: list[Server], tmp_path: Path
) -> None:
    server = started(
        servers, tmp_path, MLWS_HEADER_TIMEOUT_MS="1500", MLWS_KEEP_ALIVE_TIMEOUT_MS="1000"
    )
    slow = [connect(server) for _ in range(20)]
    for sock in slow:
        sock.sendall(b"POST /score HTTP/1.1\r\nhost: x\r\n")  # ... and the rest never comes
    idle = connect(server)  # never sends a byte
    begun = time.monotonic()
    answered = httpx.post(f"{server.url}/score", json={"a": 1}, timeout=30)
    served_in = time.monotonic() - begun
    assert answered.status_code == 200
    for sock in slow:
        sock.sendall(b"x-trickle: 1\r\n")
    replies = [read_all(sock) for sock in slow]
    cut_after = time.monotonic() - begun
    for sock in slow:
        sock.close()
    assert all(r.startswith(b"HTTP/1.1 408 ") for r in replies), replies[0][:200]
    assert read_all(idle) == b""  # closed without an answer
    idle.close()
    assert cut_after < 15
    # An idle keep-alive connection is closed after MLWS_KEEP_ALIVE_TIMEOUT_MS.
    with connect(server) as keep:
        keep.sendall(b"GET /live HTTP/1.1\r\nhost: x\r\n\r\n")
        first = keep.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        idle_from = time.monotonic()
        assert read_all(keep) == b""
        idle_closed = time.monotonic() - idle_from
    assert 0.5 < idle_closed < 10
    print(
        f"\n[figure] 20 slowloris connections: a normal request served in "
        f"{served_in * 1000:.0f} ms, the slow ones cut off with 408 after {cut_after:.1f} s; "
        f"idle keep-alive closed after {idle_closed:.1f} s"
    )


def test_a_chunked_body_over_the_limit_is_413_and_the_connection_closes(
    servers: list[Server], tmp_path: Path
) -> None:
    server = started(servers, tmp_path, "--max-request-bytes", "100000")
    with connect(server) as sock:
        sock.sendall(
            b"POST /score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (16384, b" " * 16384)
        sent = 0
        sock.settimeout(0.2)
        reply = b""
        for _ in range(2000):  # up to 32 MiB; the server must answer long before
            try:
                sock.sendall(chunk)
                sent += 16384
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                reply += sock.recv(65536)
            except TimeoutError:
                continue
            if b"\r\n\r\n" in reply:
                break
        sock.settimeout(30)
        reply += read_all(sock)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert b"connection: close" in reply
    assert sent < 16 * MiB
    print(f"\n[figure] chunked upload past a 100 kB limit: 413 after {sent / 1024:.0f} KiB sent")


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_bodies_in_memory_are_bounded_by_the_scoring_slots(
    servers: list[Server], tmp_path: Path
) -> None:
    server = started(servers, tmp_path, "--max-request-wait-ms", "120000")
    pid = httpx.post(f"{server.url}/score", json={}, timeout=30).json()["pid"]
    before = _peak_rss_kib(pid)
    size, uploads = 10 * MiB, 16
    body = b'"' + b"a" * (size - 2) + b'"'
    statuses: list[int] = []

    def upload() -> None:
        response = httpx.post(f"{server.url}/score", content=body, headers=JSON, timeout=300)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=upload) for _ in range(uploads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert statuses == [200] * uploads
    growth_mib = (_peak_rss_kib(pid) - before) / 1024
    # One scoring slot: one body held at a time (the body, its str for run(), their copies),
    # not sixteen (their bytes alone would be 160 MiB).
    assert growth_mib < uploads * size / MiB / 2, growth_mib
    print(
        f"\n[figure] {uploads} concurrent {size // MiB} MiB uploads, 1 scoring slot: worker peak "
        f"RSS grew {growth_mib:.0f} MiB"
    )


def test_deeply_nested_json_is_400_with_a_request_id(servers: list[Server], tmp_path: Path) -> None:
    # The query is always parsed by the server; the body only with the JSON check on.
    server = started(servers, tmp_path, MLWS_STRICT_JSON="true")
    body = httpx.post(f"{server.url}/score", content=b"[" * 100000, headers=JSON, timeout=30)
    query = httpx.get(f"{server.url}/score?a=" + "[" * 20000, timeout=30)
    for response in (body, query):
        assert response.status_code == 400, response.text
        assert response.json()["message"] == "The request's JSON is nested too deeply to parse."
        assert response.json()["request_id"] == response.headers["x-request-id"]
    server.wait_log("nested too deeply")
    wait_until(
        lambda: 'status="400"} 2' in httpx.get(f"{server.url}/metrics").text, 30, "the count"
    )


def test_deeply_nested_json_to_a_decorated_script_is_400_with_a_request_id(
    servers: list[Server], tmp_path: Path
) -> None:
    """A schema-decorated run() gets a parsed object, so its body is parsed in every mode."""
    write_script(tmp_path, "decorated")
    server = start_serve(servers, tmp_path)
    server.wait_ready()
    for body in (b"[" * 100000, b'{"data": ' + b"[" * 100000 + b"}"):
        response = httpx.post(f"{server.url}/score", content=body, headers=JSON, timeout=30)
        assert response.status_code == 400, response.text
        assert response.json()["message"] == "The request's JSON is nested too deeply to parse."
        assert response.json()["request_id"] == response.headers["x-request-id"]
    server.wait_log("nested too deeply")


def test_405_says_what_is_allowed(servers: list[Server], tmp_path: Path) -> None:
    server = started(servers, tmp_path)
    assert httpx.put(f"{server.url}/score").headers["allow"] == "GET, POST, OPTIONS"
    assert httpx.post(f"{server.url}/live").headers["allow"] == "GET, HEAD"


def test_two_authorization_headers_are_refused(servers: list[Server], tmp_path: Path) -> None:
    server = started(servers, tmp_path, "--auth", "key", "--primary-key", "pk")
    one = httpx.post(f"{server.url}/score", json={}, headers={"authorization": "Bearer pk"})
    assert one.status_code == 200
    two = httpx.post(
        f"{server.url}/score",
        json={},
        headers=[("authorization", "Bearer wrong"), ("authorization", "Bearer pk")],
    )
    assert two.status_code == 401
    assert two.json()["message"] == "Unauthorized: more than one Authorization header"


def test_the_script_and_its_children_never_see_the_secrets(
    servers: list[Server], tmp_path: Path
) -> None:
    server = started(
        servers,
        tmp_path,
        MLWS_AUTH_MODE="key",
        MLWS_PRIMARY_KEY="primary-secret",
        MLWS_SECONDARY_KEY="secondary-secret",
        MLWS_TOKEN_SECRET="token-secret",
    )
    seen = httpx.post(
        f"{server.url}/score", json={}, headers={"authorization": "Bearer secondary-secret"}
    ).json()
    assert "MLWS_PRIMARY_KEY" not in seen["env"]
    assert "MLWS_SECONDARY_KEY" not in seen["env"]
    assert "MLWS_TOKEN_SECRET" not in seen["env"]
    assert "MLWS_PRIMARY_KEY" not in seen["child"]
    assert "MLWS_AUTH_MODE" in seen["env"]  # the other settings stay
