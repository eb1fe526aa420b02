"""The ``mlws`` operations commands as real processes against real ``mlws serve`` processes."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.cli_helpers import MLWS, PRIMARY, SECONDARY, Served

pytestmark = pytest.mark.slow


def mlws(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWS_")}
    return subprocess.run(
        [*MLWS, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_invoke_keys_and_errors_as_processes(key_service: Served, tmp_path: Path) -> None:
    outputs = str(key_service.outputs_file(tmp_path))
    scored = mlws("invoke", "--outputs", outputs, "--data", '{"e2e": true}')
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout) == {"echo": {"e2e": True}}

    keys = mlws("keys", outputs, "--show", "--json")
    assert json.loads(keys.stdout) == {"primary_key": PRIMARY, "secondary_key": SECONDARY}
    hidden = mlws("keys", outputs)
    assert PRIMARY not in hidden.stdout

    wrong = mlws("invoke", key_service.url, "--key", "nope", "--data", "{}")
    assert wrong.returncode == 1
    assert wrong.stdout == ""
    assert wrong.stderr.count("\n") == 1
    assert wrong.stderr.startswith("mlws invoke: error: HTTP 401 Unauthorized")


def test_token_process_output_is_accepted(token_service: Served, tmp_path: Path) -> None:
    outputs = str(token_service.outputs_file(tmp_path))
    issued = mlws("token", "--outputs", outputs, "--raw")
    assert issued.returncode == 0, issued.stderr
    response = httpx.post(
        token_service.scoring_uri,
        json=[1],
        headers={"Authorization": f"Bearer {issued.stdout.strip()}"},
    )
    assert response.status_code == 200


def test_logs_follow_prints_new_requests(open_service: Served, tmp_path: Path) -> None:
    outputs = str(open_service.outputs_file(tmp_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWS_")}
    follower = subprocess.Popen(
        [*MLWS, "logs", "--outputs", outputs, "--tail", "0", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            seen.append(line)
            if "follow-me-1" in line:
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 20
        while not found.is_set() and time.monotonic() < deadline:
            httpx.post(open_service.scoring_uri, json={}, headers={"x-request-id": "follow-me-1"})
            found.wait(0.5)
        assert found.is_set(), seen
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        reader.join(timeout=5)
        for pipe in (follower.stdout, follower.stderr):
            if pipe is not None:
                pipe.close()
