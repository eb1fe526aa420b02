"""The runtime over real HTTP: ``mlws serve`` and ``python -m mlws.runtime`` as subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port
from tests.runtime.live_server import MLWS, Server, start_serve, wait_until
from tests.runtime.runtime_helpers import write_script

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
JSON = {"content-type": "application/json"}


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def serve(
    servers: list[Server], source: Path, *extra: str, env: dict[str, str] | None = None
) -> Server:
    return start_serve(servers, source, *extra, env=env)


def test_serve_with_two_workers_and_shared_metrics(servers: list[Server], tmp_path: Path) -> None:
    write_script(tmp_path, "echo")
    server = serve(servers, tmp_path, "--workers", "2", "--auth", "key", "--primary-key", "pk")
    server.wait_ready()
    auth = {**JSON, "authorization": "Bearer pk"}
    with httpx.Client(base_url=server.url) as client:
        for i in range(20):
            response = client.post("/score", json={"i": i}, headers=auth)
            assert response.status_code == 200
            assert response.json()["echo"] == {"i": i}
        assert client.post("/score", json={}).status_code == 401
        time.sleep(1.5)  # each worker publishes its counts about once a second
        text = client.get("/metrics").text
    assert 'mlws_requests_total{route="/score",status="200"} 20' in text
    assert 'mlws_requests_total{route="/score",status="401"} 1' in text
    code, err = server.stop()
    assert code == 0
    assert "workers: 2, auth: key" in err
    assert "pk" not in err.replace("mlws", "")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_finishes_the_request_in_flight(
    servers: list[Server], tmp_path: Path, workers: str
) -> None:
    write_script(tmp_path, "echo")
    server = serve(servers, tmp_path, "--workers", workers)
    server.wait_ready()
    result: dict[str, httpx.Response] = {}

    started = tmp_path / "run-started"
    payload = {"sleep": 1.0, "n": 1, "started_file": str(started)}

    def slow_request() -> None:
        result["response"] = httpx.post(
            f"{server.url}/score", json=payload, headers=JSON, timeout=60
        )

    thread = threading.Thread(target=slow_request)
    thread.start()
    # SIGTERM only once run() really started (a fixed sleep flaked on a loaded machine).
    wait_until(started.exists, 60, "run() to start")
    server.process.send_signal(signal.SIGTERM)
    thread.join(timeout=60)
    assert result["response"].status_code == 200
    assert result["response"].json()["echo"] == payload
    code, _ = server.stop()
    assert code == 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_init_failure_exits_non_zero_with_the_error(
    servers: list[Server], tmp_path: Path, workers: str
) -> None:
    write_script(tmp_path, "init_fails")
    server = serve(servers, tmp_path, "--workers", workers)
    code, err = server.wait_exit(timeout=120)
    assert code == 3
    assert "init() of" in err
    assert "RuntimeError: cannot find the model file" in err
    assert "Traceback (most recent call last)" in err


def test_liveness_passes_while_init_is_slow(servers: list[Server], tmp_path: Path) -> None:
    write_script(tmp_path, "slow_init")
    server = serve(servers, tmp_path, env={"SLOW_INIT_SECONDS": "3"})
    deadline = time.monotonic() + 20
    live = None
    while time.monotonic() < deadline:
        try:
            live = httpx.get(f"{server.url}/live", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    assert live is not None
    assert live.status_code == 200
    assert httpx.get(f"{server.url}/ready").status_code == 503
    server.wait_ready()
    assert httpx.post(f"{server.url}/score", json={}).json() == "ok"


def test_workers_take_requests_only_once_their_init_finished(
    servers: list[Server], tmp_path: Path
) -> None:
    """With several workers the supervisor answers probes during init; after the first /ready 200
    no request ever meets a worker that is still starting."""
    write_script(tmp_path, "slow_init")
    server = serve(servers, tmp_path, "--workers", "2", env={"SLOW_INIT_SECONDS": "2"})
    deadline = time.monotonic() + 20
    while True:
        try:
            live = httpx.get(f"{server.url}/live", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert live.status_code == 200
    starting = httpx.post(f"{server.url}/score", json={})
    assert starting.status_code == 503
    assert starting.headers["retry-after"] == "1"
    assert httpx.get(f"{server.url}/ready").status_code == 503
    server.wait_ready()
    statuses = {httpx.post(f"{server.url}/score", json={}).status_code for _ in range(40)}
    assert statuses == {200}
    assert server.stop()[0] == 0


def test_python_m_mlws_runtime_serves_from_environment_only(
    servers: list[Server], tmp_path: Path
) -> None:
    write_script(tmp_path, "echo", filename="main_script.py")
    port = free_port()
    env = {
        "AML_APP_ROOT": str(tmp_path),
        "AZUREML_ENTRY_SCRIPT": "main_script.py",
        "AZUREML_MODEL_DIR": str(tmp_path),
        "MLWS_PORT": str(port),
        "MLWS_AUTH_MODE": "key",
        "MLWS_PRIMARY_KEY": "env-key",
    }
    server = Server([sys.executable, "-m", "mlws.runtime"], port, env)
    servers.append(server)
    server.wait_ready()
    response = httpx.post(
        f"{server.url}/score", json={"a": 1}, headers={"authorization": "Bearer env-key"}
    )
    assert response.json() == {"echo": {"a": 1}, "model_dir": str(tmp_path)}
    assert server.stop()[0] == 0


def test_python_m_mlws_runtime_rejects_bad_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlws.runtime"],
        env={**os.environ, "MLWS_PORT": "not-a-port"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("mlws: invalid settings: port (MLWS_PORT)")
    assert "Traceback" not in result.stderr


def test_the_readme_example_serves_the_sklearn_model(servers: list[Server]) -> None:
    example = REPO / "examples" / "local-sklearn"
    port = free_port()
    args = [
        MLWS,
        "serve",
        str(example / "scoring"),
        "--model-dir",
        str(example / "model"),
        "--port",
        str(port),
    ]
    server = Server(args, port)
    servers.append(server)
    server.wait_ready(timeout=60)
    row = [0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02]
    response = httpx.post(f"{server.url}/score", json={"data": [row, row]})
    assert response.status_code == 200
    predictions = response.json()
    assert len(predictions) == 2
    assert 50 < predictions[0] < 350  # diabetes progression scores range about 25..346
    bad = httpx.post(f"{server.url}/score", json={"data": [[1, 2]]})
    assert bad.status_code == 500
    code, err = server.stop()
    assert code == 0
    assert "expected rows of 10 features" in err  # the traceback is in the log, not the answer
    assert "InconsistentVersionWarning" not in err
