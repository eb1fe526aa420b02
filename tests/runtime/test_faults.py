"""Faults over real HTTP: the server comes back by itself from stuck and dying workers.

Each test prints the recovery figures it measured (``pytest -s`` shows them).
"""

from __future__ import annotations

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


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def score(server: Server, body: dict[str, object], timeout: float = 60) -> httpx.Response:
    return httpx.post(f"{server.url}/score", json=body, headers=JSON, timeout=timeout)


def pid_of(server: Server) -> int:
    response = score(server, {})
    assert response.status_code == 200, response.text
    pid: int = response.json()["pid"]
    return pid


@pytest.mark.parametrize("slots", ["1", "2"])
def test_a_stuck_run_is_504_and_the_worker_is_replaced(
    servers: list[Server], tmp_path: Path, slots: str
) -> None:
    write_script(tmp_path, "dies")
    server = start_serve(
        servers,
        tmp_path,
        "--scoring-timeout-ms",
        "500",
        "--max-concurrent-requests",
        slots,
        "--max-request-wait-ms",
        "100",
    )
    server.wait_ready()
    before = pid_of(server)
    stuck_at = time.monotonic()
    answers: list[httpx.Response] = []
    hung = [
        threading.Thread(target=lambda: answers.append(score(server, {"hang": 120})))
        for _ in range(int(slots))
    ]
    for thread in hung:
        thread.start()
    for thread in hung:
        thread.join(60)
    assert [r.status_code for r in answers] == [504] * int(slots)
    assert all(r.json()["message"] == "Scoring timeout after 500 ms" for r in answers)

    # Every slot is stuck: the worker stops being ready, and a successor takes over. Until the
    # stuck worker is gone, a request can still reach it and get 503 (its slots are busy).
    def fresh_worker_scores() -> bool:
        if server.status("/ready") != 200:
            return False
        response = score(server, {})
        return response.status_code == 200 and response.json()["pid"] != before

    recovered = wait_until(fresh_worker_scores, 60, "a fresh worker")
    after = pid_of(server)
    assert after != before
    assert server.status("/") == 200
    print(
        f"\n[figure] {slots} slot(s) stuck: scoring again {time.monotonic() - stuck_at:.2f} s "
        f"after the stuck calls began ({recovered:.2f} s after their 504)"
    )
    server.wait_log("stuck in a call past the 500 ms scoring timeout")
    assert "time.sleep(data[" in server.log  # the stuck thread's stack is logged
    code, _ = server.stop()
    assert code == 0


def test_ready_says_not_ready_while_every_slot_is_stuck(
    servers: list[Server], tmp_path: Path
) -> None:
    """With a slow successor (its init() takes seconds), /ready and / answer 503 meanwhile."""
    write_script(tmp_path, "dies")
    marker = tmp_path / "started-once"
    script = tmp_path / "score.py"
    script.write_text(
        script.read_text().replace(
            "def init():\n    pass",
            f"def init():\n    if os.path.exists({str(marker)!r}):\n        time.sleep(3)\n"
            f"    open({str(marker)!r}, 'w').close()",
        )
    )
    server = start_serve(
        servers, tmp_path, "--scoring-timeout-ms", "300", "--max-request-wait-ms", "50"
    )
    server.wait_ready()
    assert score(server, {"hang": 120}).status_code == 504
    wait_until(lambda: server.status("/ready") == 503, 30, "/ready 503")
    assert server.status("/") == 503
    assert server.status("/live") == 200
    busy = score(server, {})
    assert busy.status_code == 503
    assert busy.headers["retry-after"]
    server.wait_ready()
    assert score(server, {}).status_code == 200


@pytest.mark.parametrize("how", ["exit", "segfault", "oom-kill"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_dying_worker_is_restarted(
    servers: list[Server], tmp_path: Path, how: str, workers: str
) -> None:
    write_script(tmp_path, "dies")
    server = start_serve(servers, tmp_path, "--workers", workers, "--max-concurrent-requests", "2")
    server.wait_ready()
    in_flight: list[httpx.Response | Exception] = []

    def hanging() -> None:
        try:
            in_flight.append(score(server, {"hang": 3}))
        except httpx.HTTPError as exc:
            in_flight.append(exc)

    # With one worker, a request in flight on the dying worker must end, not hang.
    other = threading.Thread(target=hanging)
    if workers == "1":
        other.start()
        time.sleep(0.3)
    died_at = time.monotonic()
    with pytest.raises(httpx.TransportError):  # the connection closes with the process
        score(server, {"die": how})
    recovered = wait_until(lambda: server.status("/ready") == 200, 60, "a restarted worker")
    assert score(server, {}).status_code == 200
    if workers == "1":
        other.join(60)
        assert not other.is_alive()
        outcome = in_flight[0]
        if isinstance(outcome, httpx.Response):  # a JSON 5xx, or else a closed connection
            assert outcome.status_code >= 500
            assert "message" in outcome.json()
        else:
            assert isinstance(outcome, httpx.TransportError)
    print(
        f"\n[figure] {how}, {workers} worker(s): ready again {recovered:.2f} s after the crash "
        f"({time.monotonic() - died_at:.2f} s to the next 200)"
    )
    expected = {
        "exit": "exited with 7",
        "segfault": "killed by SIGSEGV",
        "oom-kill": "killed by SIGKILL (out of memory?",
    }[how]
    server.wait_log(expected)
    assert "starting another" in server.log
    if how == "segfault":
        assert "Fatal Python error: Segmentation fault" in server.log
        assert "in run" in server.log  # faulthandler's stack names the script's frame
    code, _ = server.stop()
    assert code == 0


def test_an_init_that_kills_its_process_gives_up_after_bounded_restarts(
    servers: list[Server], tmp_path: Path
) -> None:
    write_script(tmp_path, "init_segfaults")
    server = start_serve(servers, tmp_path, "--workers", "3")
    started = time.monotonic()
    code, log = server.wait_exit(timeout=120)
    took = time.monotonic() - started
    assert code == 3
    assert "workers keep dying during init() (5 times in a row, the last killed by SIGSEGV)" in log
    assert log.count("during init(); restarting in") == 4
    assert "restarting in 0.5 s" in log
    assert "restarting in 4.0 s" in log
    assert "Fatal Python error: Segmentation fault" in log
    print(f"\n[figure] init() segfaulting with 3 workers: gave up after {took:.1f} s")


def test_health_is_healthy_only_once_init_finished(servers: list[Server], tmp_path: Path) -> None:
    write_script(tmp_path, "slow_init")
    server = start_serve(servers, tmp_path, env={"SLOW_INIT_SECONDS": "3"})
    wait_until(lambda: server.status("/live") == 200, 60, "/live 200")
    assert server.status("/") == 503
    assert server.status("/ready") == 503
    server.wait_ready()
    health = httpx.get(f"{server.url}/", timeout=5)
    assert (health.status_code, health.text) == (200, "Healthy")


#: Entry script whose run() holds the GIL for as long as asked: a native call that never
#: releases it (ctypes.PyDLL keeps the GIL across the call) or a regular expression backtracking
#: catastrophically (the regex engine never releases it either).
HOLDS_GIL = """
import ctypes, json, os, re

def init():
    pass

def run(raw_data):
    how = json.loads(raw_data).get("hold")
    if how == "native":
        ctypes.PyDLL(None).sleep(120)
    if how == "regex":
        re.match(r"(a+)+$", "a" * 40 + "b")
    return {"pid": os.getpid()}
"""


@pytest.mark.parametrize("how", ["native", "regex"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_run_holding_the_gil_gets_its_worker_killed_and_restarted(
    servers: list[Server], tmp_path: Path, how: str, workers: str
) -> None:
    """The worker's event loop cannot run, so no 504: the supervisor sees its heartbeat stop."""
    (tmp_path / "score.py").write_text(HOLDS_GIL)
    server = start_serve(servers, tmp_path, "--workers", workers, "--scoring-timeout-ms", "1000")
    server.wait_ready()
    before = pid_of(server)
    outcome: list[httpx.Response | Exception] = []

    def holding() -> None:
        try:
            outcome.append(score(server, {"hold": how}))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    held_at = time.monotonic()
    client = threading.Thread(target=holding, daemon=True)
    client.start()
    client.join(60)
    assert not client.is_alive(), "the client in flight hangs"
    closed_after = time.monotonic() - held_at
    answer = outcome[0]
    if isinstance(answer, httpx.Response):  # a JSON 5xx, or else a closed connection
        assert answer.status_code >= 500, answer.text
        assert "message" in answer.json()
    else:
        assert isinstance(answer, httpx.TransportError)
    server.wait_log("has not answered for")
    recovered = wait_until(
        lambda: server.status("/ready") == 200 and pid_of(server) != before, 60, "a new worker"
    )
    total = time.monotonic() - held_at
    if workers == "1":
        assert pid_of(server) != before
    server.wait_log("(unresponsive) was killed; starting another")
    # faulthandler's stacks, written while the call still held the GIL, name the script's frame.
    assert "in run" in server.log
    assert "score.py" in server.log
    print(
        f"\n[figure] run() holding the GIL ({how}, {workers} worker(s), 1 s scoring timeout): "
        f"client's connection closed {closed_after:.2f} s after the call began, scoring again "
        f"{recovered:.2f} s later ({total:.2f} s in all)"
    )
    code, _ = server.stop()
    assert code == 0
