"""Stopping over real HTTP: Ctrl-C (SIGINT to the whole process group, as a terminal sends it)
stops each worker once and gracefully; a second Ctrl-C stops them at once."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port
from tests.runtime.live_server import MLWS, Server, wait_until
from tests.runtime.runtime_helpers import write_script

pytestmark = pytest.mark.slow


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def serve_in_own_group(servers: list[Server], source: Path, workers: str) -> Server:
    port = free_port()
    args = [MLWS, "serve", str(source), "--port", str(port), "--workers", workers]
    server = Server(args, port, new_session=True)
    servers.append(server)
    server.wait_ready()
    return server


def score_in_background(server: Server, body: dict[str, object]) -> dict[str, object]:
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            outcome["response"] = httpx.post(f"{server.url}/score", json=body, timeout=60)
        except httpx.TransportError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_each_worker_once_and_finishes_requests_in_flight(
    servers: list[Server], tmp_path: Path, workers: str
) -> None:
    write_script(tmp_path, "echo")
    server = serve_in_own_group(servers, tmp_path, workers)
    started = tmp_path / "started"
    outcome = score_in_background(server, {"sleep": 1.5, "started_file": str(started)})
    # An answer (or a transport error) before run() started ends the wait, and is shown.
    wait_until(
        lambda: started.exists() or "response" in outcome or "error" in outcome,
        30,
        "the request to reach run()",
    )
    assert started.exists(), (outcome, server.log)
    os.killpg(server.process.pid, signal.SIGINT)
    code, log = server.wait_exit(60)
    thread = outcome["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(30)
    response = outcome.get("response")
    assert isinstance(response, httpx.Response), outcome
    assert response.status_code == 200
    assert code == 0, log
    assert log.count("stopping on SIGTERM") == int(workers), log
    assert "stopping on SIGINT" not in log
    assert "stopping now" not in log


def test_a_second_ctrl_c_stops_at_once(servers: list[Server], tmp_path: Path) -> None:
    write_script(tmp_path, "echo")
    server = serve_in_own_group(servers, tmp_path, "1")
    started = tmp_path / "started"
    outcome = score_in_background(server, {"sleep": 30, "started_file": str(started)})
    wait_until(started.exists, 30, "the request to reach run()")
    os.killpg(server.process.pid, signal.SIGINT)
    server.wait_log("stopping on SIGTERM", 30)
    pressed = time.monotonic()
    os.killpg(server.process.pid, signal.SIGINT)
    _, log = server.wait_exit(60)
    assert time.monotonic() - pressed < 15, log  # not the 30 s the call would take
    assert "stopping now, dropping requests in flight" in log
    thread = outcome["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(30)
    # Cut off: the connection closed, or uvicorn's 500 for a cancelled request; never its answer.
    response = outcome.get("response")
    assert "error" in outcome or (
        isinstance(response, httpx.Response) and response.status_code == 500
    ), outcome
