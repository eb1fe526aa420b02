"""R entry scripts over real HTTP: `mlws serve` started as a process, the R pool behind it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port
from tests.runtime.r_support import (
    EXAMPLE,
    R_MISSING,
    SEED_RECORD,
    exported_coefficients,
    logistic_percent,
)

pytestmark = [
    pytest.mark.needs_r,
    pytest.mark.slow,
    pytest.mark.skipif(R_MISSING is not None, reason=R_MISSING or ""),
]

MLWS = str(Path(sys.executable).parent / "mlws")
RUN_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."


class Served:
    """A `mlws serve` process; its output goes to a file the test can read."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [MLWS, "serve", *args, "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mlws serve exited {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"mlws serve not ready in {timeout_s} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def r_worker_pids(script: Path) -> set[int]:
    """Processes running r_worker.R for ``script`` (read from /proc)."""
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"r_worker.R") for a in argv) and str(script).encode() in argv:
            pids.add(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def accident_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("r-http") / "serve.log"
    args = [
        str(EXAMPLE / "scoring"),
        "--entry-script",
        "score.R",
        "--model-dir",
        str(EXAMPLE / "model"),
    ]
    server = Served(args, log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_the_readme_command_answers_the_seeds_request(accident_server: Served) -> None:
    response = httpx.post(
        accident_server.url + "/score",
        json=[SEED_RECORD],
        headers={"x-request-id": "r-seed-1"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"] == "r-seed-1"
    coefficients = exported_coefficients(EXAMPLE / "model" / "model.rds")
    (probability,) = response.json()
    assert probability == pytest.approx(logistic_percent(coefficients, SEED_RECORD), abs=5.1e-5)
    assert httpx.get(accident_server.url + "/").text == "Healthy"


def test_requests_reuse_the_long_lived_r_worker(accident_server: Served) -> None:
    script = (EXAMPLE / "scoring" / "score.R").resolve()
    before = r_worker_pids(script)
    assert len(before) == 1
    for _ in range(20):
        response = httpx.post(accident_server.url + "/score", json=[SEED_RECORD], timeout=30)
        assert response.status_code == 200
    assert r_worker_pids(script) == before


def test_an_r_error_is_a_500_with_the_r_message_in_the_log(accident_server: Served) -> None:
    response = httpx.post(
        accident_server.url + "/score",
        json=[{"dvcat": "10-24"}],
        headers={"x-request-id": "r-error-1"},
        timeout=30,
    )
    assert response.status_code == 500
    assert response.json() == {"message": RUN_FAILED, "request_id": "r-error-1"}
    time.sleep(0.2)
    assert "object 'seatbelt' not found" in accident_server.log()


def test_two_r_workers_serve_two_requests_at_once(tmp_path: Path) -> None:
    scoring = tmp_path / "scoring"
    scoring.mkdir()
    (scoring / "score.R").write_text(
        textwrap.dedent(
            """
            init <- function() function(data) {
              Sys.sleep(jsonlite::fromJSON(data)$sleep)
              jsonlite::toJSON(list(pid = Sys.getpid()), auto_unbox = TRUE)
            }
            """
        )
    )
    args = [str(scoring), "--entry-script", "score.R", "--max-concurrent-requests", "2"]
    server = Served(args, tmp_path / "serve.log", env={"MLWS_R_WORKERS": "2"})
    try:
        server.wait_ready()
        answers: list[httpx.Response] = []

        def call() -> None:
            answers.append(httpx.post(server.url + "/score", json={"sleep": 1.5}, timeout=30))

        started = time.monotonic()
        threads = [threading.Thread(target=call) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert [a.status_code for a in answers] == [200, 200]
    assert len({a.json()["pid"] for a in answers}) == 2
    assert elapsed < 2.6, f"two 1.5 s requests took {elapsed:.2f} s"


def test_r_script_reads_the_multi_model_layout(tmp_path: Path) -> None:
    """The seed's multiple-model example: $AZUREML_MODEL_DIR/<name>/<version>/model.rds."""
    scoring = tmp_path / "scoring"
    scoring.mkdir()
    (scoring / "score.R").write_text(
        textwrap.dedent(
            """
            init <- function() {
              root <- Sys.getenv("AZUREML_MODEL_DIR")
              first <- readRDS(file.path(root, "accidents", "1", "model.rds"))
              second <- readRDS(file.path(root, "accidents", "2", "model.rds"))
              function(data) {
                vars <- as.data.frame(jsonlite::fromJSON(data))
                jsonlite::toJSON(list(
                  v1 = as.numeric(predict(first, vars, type = "response") * 100),
                  v2 = as.numeric(predict(second, vars, type = "response") * 100)
                ), digits = NA)
              }
            }
            """
        )
    )
    model = str(EXAMPLE / "model")
    args = [str(scoring), "--entry-script", "score.R"]
    args += ["--model", f"accidents:1={model}", "--model", f"accidents:2={model}"]
    server = Served(args, tmp_path / "serve.log")
    try:
        server.wait_ready()
        response = httpx.post(server.url + "/score", json=[SEED_RECORD], timeout=30)
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    coefficients = exported_coefficients(EXAMPLE / "model" / "model.rds")
    expected = logistic_percent(coefficients, SEED_RECORD)
    assert response.json() == {
        "v1": [pytest.approx(expected, rel=1e-9)],
        "v2": [pytest.approx(expected, rel=1e-9)],
    }


def test_r_workers_exit_when_the_server_is_killed(tmp_path: Path) -> None:
    scoring = tmp_path / "scoring"
    scoring.mkdir()
    (scoring / "score.R").write_text("init <- function() function(data) data\n")
    args = [str(scoring), "--entry-script", "score.R"]
    server = Served(args, tmp_path / "serve.log", env={"MLWS_R_WORKERS": "2"})
    try:
        server.wait_ready()
        workers = r_worker_pids((scoring / "score.R").resolve())
        assert len(workers) == 2
        server.process.kill()
        server.process.wait()
        deadline = time.monotonic() + 10
        while r_worker_pids((scoring / "score.R").resolve()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r_worker_pids((scoring / "score.R").resolve()) == set()
    finally:
        server.stop()


def test_failing_r_init_stops_mlws_serve_with_rs_error(tmp_path: Path) -> None:
    scoring = tmp_path / "scoring"
    scoring.mkdir()
    (scoring / "score.R").write_text(
        'init <- function() readRDS(file.path(Sys.getenv("AZUREML_MODEL_DIR"), "model.rds"))\n'
    )
    (tmp_path / "empty-model").mkdir()
    args = [str(scoring), "--entry-script", "score.R", "--model-dir", str(tmp_path / "empty-model")]
    server = Served(args, tmp_path / "serve.log")
    try:
        code = server.process.wait(60)
    finally:
        server.stop()
    assert code != 0
    assert "init() failed in R" in server.log()
    assert "cannot open" in server.log()
