"""``mlws logs``: a real local service's log file, and each remote kind against a stand-in for its
tool (a Docker engine on a unix socket, an ARM endpoint plus an ``az`` script, a ``kubectl``
script), plus the clear errors when what a kind needs is missing."""

from __future__ import annotations

import json
import os
import socketserver
import stat
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mlws.logsources import (
    LocalFileLogs,
    LogLine,
    is_request_line,
    startup_lines,
)
from tests.cli.cli_helpers import Served, assert_one_line_error, run_cli


def _script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    exe = folder / name
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return folder


# --- local process ----------------------------------------------------------------------------


@pytest.mark.slow
def test_logs_of_a_local_service(open_service: Served, tmp_path: Path) -> None:
    response = httpx.post(
        open_service.scoring_uri, json={"log": "me"}, headers={"x-request-id": "logs-test-1"}
    )
    assert response.status_code == 200
    # the request line is written just after the response is sent
    _wait(lambda: "logs-test-1" in open_service.log_file.read_text())
    outputs = open_service.outputs_file(tmp_path)
    result = run_cli("logs", str(outputs), "--tail", "50")
    assert result.exit_code == 0, result.stderr
    request_lines = [
        json.loads(line) for line in result.stdout.splitlines() if "logs-test-1" in line
    ]
    assert request_lines
    assert request_lines[0]["status"] == 200
    assert request_lines[0]["path"] == "/score"
    start = run_cli("logs", "--outputs", str(outputs), "--init")
    assert "ready" in start.stdout
    assert "logs-test-1" not in start.stdout


def test_tail_and_init_of_a_log_file(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    request = '{"message":"request","request_id":"r1","method":"POST","path":"/score","status":200}'
    log.write_text(f"start\nready\n{request}\nlater\npartial-without-newline")
    tail = run_cli("logs", "--log-file", str(log), "-n", "2")
    assert tail.stdout.splitlines() == ["later", "partial-without-newline"]
    assert run_cli("logs", "--log-file", str(log), "--init").stdout.splitlines() == [
        "start",
        "ready",
    ]
    assert run_cli("logs", "--log-file", str(log), "--all").stdout.count("\n") == 5


def test_following_a_log_file_sees_appends_and_truncation(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    log.write_text("one\n")
    stop = threading.Event()
    seen: list[str] = []
    got_line = threading.Event()

    def consume() -> None:
        for line in LocalFileLogs(log).lines(tail=10, follow=True, init=False, stop=stop):
            seen.append(line.text)
            got_line.set()

    reader = threading.Thread(target=consume)
    reader.start()
    try:
        _wait(lambda: seen == ["one"])
        with log.open("a") as handle:
            handle.write("two\nthr")
            handle.flush()
            _wait(lambda: seen == ["one", "two"])
            handle.write("ee\n")
        _wait(lambda: seen == ["one", "two", "three"])
        log.write_text("fresh\n")  # truncated (a restarted service)
        _wait(lambda: seen[-1:] == ["fresh"])
    finally:
        stop.set()
        reader.join(timeout=5)
    assert not reader.is_alive()


def _wait(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    event = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        event.wait(0.05)
    assert condition()


def test_request_line_detection() -> None:
    assert is_request_line('{"request_id":"a","status":200,"path":"/score"}')
    assert not is_request_line('{"message":"ready: serving"}')
    assert not is_request_line("plain text status 200")
    probe = '{"status":503,"method":"GET","path":"/ready","request_id":"p"}'
    score = '{"status":200,"method":"POST","path":"/score","request_id":"s"}'
    assert list(startup_lines(["a", probe, "b", score, "c"])) == ["a", "b"]
    assert LogLine("x", "pod-1").render() == "[pod-1] x"


def test_missing_log_file(tmp_path: Path) -> None:
    result = run_cli("logs", "--log-file", str(tmp_path / "nope.log"))
    assert_one_line_error(result, "does not exist")


# --- docker ---------------------------------------------------------------------------------


def _frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _FakeDockerEngine(BaseHTTPRequestHandler):
    requests: list[str] = []

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        path = urlsplit(self.path).path
        if path == "/version":
            self._send(200, b'{"ApiVersion":"1.41","Version":"20.10.24"}', "application/json")
        elif path.endswith("/missing/json"):
            self._send(404, b'{"message":"No such container: missing"}', "application/json")
        elif path.endswith("/tty/json"):
            self._send(200, b'{"Id":"tty","Config":{"Tty":true}}', "application/json")
        elif path.endswith("/tty/logs"):
            self._send(200, b"raw one\r\nraw two\r\n", "application/vnd.docker.raw-stream")
        elif path.endswith("/json"):
            name = path.split("/")[-2].encode()
            self._send(200, b'{"Id":"%s","Config":{"Tty":false}}' % name, "application/json")
        elif path.endswith("/logs"):
            tail = parse_qs(urlsplit(self.path).query)["tail"][0]
            lines = [b"booting\n", b"ready\n", b'{"status":200,"request_id":"a"}\n']
            if tail != "all":
                lines = lines[-int(tail) :]
            body = b"".join(_frame(2 if b"boot" in line else 1, line) for line in lines)
            # split one frame across two chunks the way a stream may arrive
            self._send(200, body, "application/vnd.docker.raw-stream")
        else:
            self._send(404, b"{}", "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def docker_socket(tmp_path: Path) -> Iterator[Path]:
    socket_path = Path("/tmp") / f"mlws-docker-{os.getpid()}-{tmp_path.name[-8:]}.sock"
    server = _UnixHTTPServer(str(socket_path), _FakeDockerEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield socket_path
    finally:
        server.shutdown()
        server.server_close()
        socket_path.unlink(missing_ok=True)


def test_docker_logs_through_the_engine_api(docker_socket: Path) -> None:
    host = f"unix://{docker_socket}"
    result = run_cli("logs", "--container", "accidents", "--docker-host", host, "--tail", "2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["ready", '{"status":200,"request_id":"a"}']
    assert any(
        "/containers/accidents/logs" in p and "tail=2" in p for p in _FakeDockerEngine.requests
    )
    init = run_cli("logs", "--container", "accidents", "--docker-host", host, "--init")
    assert init.stdout.splitlines() == ["booting", "ready"]


def test_docker_tty_container_logs_are_not_multiplexed(docker_socket: Path) -> None:
    result = run_cli("logs", "--container", "tty", "--docker-host", f"unix://{docker_socket}")
    assert result.stdout.splitlines() == ["raw one", "raw two"]


def test_docker_missing_container(docker_socket: Path) -> None:
    result = run_cli("logs", "--container", "missing", "--docker-host", f"unix://{docker_socket}")
    assert_one_line_error(result, "no Docker container named 'missing'")


def test_docker_without_an_engine(tmp_path: Path) -> None:
    result = run_cli(
        "logs", "--container", "x", "--docker-host", f"unix://{tmp_path / 'docker.sock'}"
    )
    assert_one_line_error(result, "no Docker engine", "DOCKER_HOST")


# --- ACI --------------------------------------------------------------------------------------


class _FakeArm(BaseHTTPRequestHandler):
    seen_auth: list[str] = []
    grow = False
    """When set, each logs request of ``sidecar`` adds one line to it (to test --follow)."""
    growing = 0
    group = (
        "/subscriptions/sub-1/resourceGroups/rg-ml"
        "/providers/Microsoft.ContainerInstance/containerGroups/accidents"
    )

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.seen_auth.append(self.headers.get("Authorization", ""))
        path = urlsplit(self.path).path
        if path == self.group:
            body: dict[str, Any] = {
                "properties": {
                    "containers": [{"name": "scoring"}, {"name": "sidecar"}],
                    "initContainers": [{"name": "fetch-model"}],
                }
            }
        elif path.startswith(self.group + "/containers/") and path.endswith("/logs"):
            name = path.split("/")[-2]
            count = 3
            if name == "sidecar" and _FakeArm.grow:
                _FakeArm.growing += 1
                count += _FakeArm.growing
            lines = [f"{name} line {i}\n" for i in range(1, count + 1)]
            tail = parse_qs(urlsplit(self.path).query).get("tail")
            if tail:
                lines = lines[-int(tail[0]) :]
            body = {"content": "".join(lines)}
        else:
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            payload = b'{"error":{"code":"ResourceNotFound","message":"not found"}}'
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def fake_azure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeArm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bin_dir = _script(tmp_path / "bin", "az", 'echo "arm-token-for-$4"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MLWS_ARM_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


ACI_ARGS = ["--subscription", "sub-1", "--resource-group", "rg-ml", "--container-group"]


@pytest.mark.usefixtures("fake_azure")
def test_aci_logs_label_each_container() -> None:
    result = run_cli("logs", *ACI_ARGS, "accidents", "--tail", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["[scoring] scoring line 3", "[sidecar] sidecar line 3"]
    assert _FakeArm.seen_auth[-1].startswith("Bearer arm-token-for-http://127.0.0.1:")
    one = run_cli("logs", *ACI_ARGS, "accidents", "--container", "scoring", "-n", "2")
    assert one.stdout.splitlines() == ["scoring line 2", "scoring line 3"]
    init = run_cli("logs", *ACI_ARGS, "accidents", "--init")
    assert init.stdout.splitlines()[0] == "fetch-model line 1"


@pytest.mark.usefixtures("fake_azure")
def test_aci_follow_polls_for_new_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlws.logsources.aci

    monkeypatch.setattr(mlws.logsources.aci, "REMOTE_POLL_SECONDS", 0.05)
    monkeypatch.setattr(_FakeArm, "grow", True)
    monkeypatch.setattr(_FakeArm, "growing", 0)
    source = mlws.logsources.AciLogs("sub-1", "rg-ml", "accidents", "sidecar")
    stop = threading.Event()
    seen: list[str] = []
    for line in source.lines(tail=2, follow=True, init=False, stop=stop):
        seen.append(line.text)
        if len(seen) == 5:
            stop.set()
    # the last 2 of the first 4 lines, then each new line exactly once
    assert seen == [f"sidecar line {i}" for i in (3, 4, 5, 6, 7)]


@pytest.mark.usefixtures("fake_azure")
def test_aci_unknown_group_and_container() -> None:
    assert_one_line_error(run_cli("logs", *ACI_ARGS, "other"), "no container group 'other'")
    assert_one_line_error(
        run_cli("logs", *ACI_ARGS, "accidents", "--container", "nope"),
        "no container 'nope'",
        "scoring, sidecar",
    )


def test_aci_without_azure_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run_cli("logs", *ACI_ARGS, "accidents")
    assert_one_line_error(result, "Azure credentials", "az login")


def test_aci_with_a_logged_out_az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = _script(tmp_path / "bin", "az", "echo 'ERROR: Please run az login' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    result = run_cli("logs", *ACI_ARGS, "accidents")
    assert_one_line_error(result, "no access token", "Please run az login")


def test_aci_names_the_missing_identifiers() -> None:
    result = run_cli("logs", "--container-group", "accidents")
    assert_one_line_error(result, "missing: subscription_id, resource_group")


# --- AKS --------------------------------------------------------------------------------------

KUBECTL = """\
echo "$@" >> "$KUBECTL_ARGS"
for a in "$@"; do
  case "$a" in
    --kubeconfig) next=k ;;
    *) if [ "$next" = k ]; then cp "$a" "$KUBECTL_ARGS.kubeconfig"; fi; next= ;;
  esac
done
case "$*" in
  *" get pods "*) echo '{"items":[{"metadata":{"name":"web-1"},'\
'"spec":{"initContainers":[{"name":"fetch"}]}}]}' ;;
  *" logs web-1 "*) echo "downloading model" ;;
  *"--selector app=missing"*) echo 'error: no pods' >&2; exit 1 ;;
  *) echo "[pod/web-1/scoring] hello from 1"; echo "[pod/web-2/scoring] hello from 2" ;;
esac
"""


@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    args = tmp_path / "kubectl-args"
    bin_dir = _script(tmp_path / "bin", "kubectl", KUBECTL)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KUBECTL_ARGS", str(args))
    return args


def test_aks_logs_of_every_replica_labelled_by_pod(fake_kubectl: Path, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    kubeconfig = "apiVersion: v1\nkind: Config\nclusters: []\n"
    outputs.write_text(
        json.dumps(
            {
                "scoring_uri": "http://20.0.0.1/score",
                "service_kind": "aks",
                "kubeconfig": kubeconfig,
                "namespace": "ml",
                "label_selector": "app=accidents",
            }
        )
    )
    result = run_cli("logs", str(outputs), "--tail", "100")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["[web-1] hello from 1", "[web-2] hello from 2"]
    args = fake_kubectl.read_text().split()
    assert args[2:] == [
        "--namespace",
        "ml",
        "logs",
        "--selector",
        "app=accidents",
        "--prefix",
        "--tail",
        "100",
        "--max-log-requests",
        "64",
        "--ignore-errors",
    ]
    # the kubeconfig content was written to a temporary file, handed over, then removed
    assert Path(str(fake_kubectl) + ".kubeconfig").read_text() == kubeconfig
    assert not Path(args[1]).exists()


def test_aks_follow_streams_every_replica(fake_kubectl: Path, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\n")
    result = run_cli(
        "logs", "-l", "app=a", "--kubeconfig", str(config), "--context", "prod", "-f", "--all"
    )
    assert result.exit_code == 0, result.stderr
    args = fake_kubectl.read_text().split()
    assert args[:5] == [args[0], str(config), "--context", "prod", "--namespace"]
    assert args[-1] == "--follow"
    assert args[args.index("--tail") + 1] == "-1"


def test_aks_init_container_logs(fake_kubectl: Path, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\n")
    result = run_cli("logs", "--selector", "app=accidents", "--kubeconfig", str(config), "--init")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["[web-1/fetch] downloading model"]


def test_aks_kubectl_failure_is_one_line(fake_kubectl: Path, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\n")
    result = run_cli("logs", "--selector", "app=missing", "--kubeconfig", str(config))
    assert_one_line_error(result, "kubectl logs failed", "no pods")


def test_aks_without_a_kubeconfig(
    fake_kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert_one_line_error(run_cli("logs", "--selector", "app=x"), "need a kubeconfig")


def test_aks_without_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert_one_line_error(run_cli("logs", "--selector", "app=x"), "kubectl on PATH")


def test_logs_without_a_target() -> None:
    assert_one_line_error(run_cli("logs"), "name the service")
    assert_one_line_error(run_cli("logs", "http://h:1"), "cannot tell where")
    assert_one_line_error(run_cli("logs", "--kind", "ecs", "--log-file", "x"), "--kind")


def test_aks_with_a_hidden_kubeconfig_asks_for_show_secrets(
    fake_kubectl: Path, tmp_path: Path
) -> None:
    outputs = tmp_path / "render.json"
    outputs.write_text(
        json.dumps(
            {
                "outputs": {
                    "scoring_uri": "http://h/score",
                    "service_kind": "aks",
                    "kubeconfig": "[secret]",
                    "label_selector": "app=a",
                }
            }
        )
    )
    assert_one_line_error(run_cli("logs", str(outputs)), "'kubeconfig' is hidden")
