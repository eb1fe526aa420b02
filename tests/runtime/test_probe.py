"""The image health check ``python3 -m mlws.runtime.probe``: 200 is healthy, anything else not."""

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mlws.runtime import probe
from mlws.runtime.settings import RuntimeSettings, env_var_name


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ready" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_constants_are_the_runtime_settings() -> None:
    assert probe.PORT_VARIABLE == env_var_name("port")
    assert RuntimeSettings.model_fields["port"].default == probe.DEFAULT_PORT


def test_ready_is_healthy_and_503_is_not(port: int) -> None:
    assert probe.probe("/ready", port=port) == ""
    assert probe.probe("/live", port=port).endswith("HTTP 503")


def test_nothing_listening_is_unhealthy(port: int) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert "Connection refused" in probe.probe("/ready", port=free, timeout=1)


def test_command_line_reads_the_port_variable(port: int) -> None:
    run = [sys.executable, "-m", "mlws.runtime.probe"]
    env = {probe.PORT_VARIABLE: str(port)}
    assert subprocess.run(run, env=env, check=False).returncode == 0
    failed = subprocess.run([*run, "/live"], env=env, capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert failed.stdout.startswith("unhealthy: http://127.0.0.1:")
    bad = subprocess.run([*run, "live"], env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 2
