"""Shared pieces of the CLI tests: the test credentials, a real ``mlws serve`` process
(:class:`Served`), running the ``mlws`` app in-process, and the one-line error contract.

(Kept out of ``conftest.py`` so test modules import it by a name no other test folder uses.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from mlws.cli.main import app
from tests.ports import free_port

DATA = Path(__file__).parent / "data"
PRIMARY = "primary-key-0123456789abcdef0123456789abcdef"
SECONDARY = "secondary-key-fedcba9876543210fedcba9876543210"
TOKEN_SECRET = "token-secret-0123456789abcdef0123456789abcdef"
AUDIENCE = "https://mlws.test/accidents"
ISSUER = "https://issuer.mlws.test"
MLWS = [sys.executable, "-c", "from mlws.cli.main import app; app()"]


@dataclass
class Served:
    """A running ``mlws serve``."""

    url: str
    log_file: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    @property
    def scoring_uri(self) -> str:
        return self.url + "/score"

    def outputs(self, **extra: Any) -> dict[str, Any]:
        """The stack outputs an example exporting this service would have."""
        outputs: dict[str, Any] = {
            "scoring_uri": self.scoring_uri,
            "swagger_uri": self.url + "/swagger.json",
            "auth_mode": self.env.get("MLWS_AUTH_MODE", "none"),
            "service_kind": "local-process",
            "log_file": str(self.log_file),
        }
        if "MLWS_PRIMARY_KEY" in self.env:
            outputs["primary_key"] = self.env["MLWS_PRIMARY_KEY"]
            outputs["secondary_key"] = self.env["MLWS_SECONDARY_KEY"]
        if "MLWS_TOKEN_SECRET" in self.env:
            outputs["token_secret"] = self.env["MLWS_TOKEN_SECRET"]
            outputs["token_audience"] = self.env["MLWS_TOKEN_AUDIENCE"]
            outputs["token_issuer"] = self.env["MLWS_TOKEN_ISSUER"]
        outputs.update(extra)
        return outputs

    def outputs_file(self, folder: Path, **extra: Any) -> Path:
        path = folder / "outputs.json"
        path.write_text(json.dumps(self.outputs(**extra), indent=2))
        return path


def start_server(
    folder: Path, env_extra: dict[str, str], serve_args: list[str] | None = None
) -> Served:
    """Start ``mlws serve`` (by default the echo script in ``data/``) and wait until ready."""
    port = free_port()
    log_file = folder / "serve.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLWS_")},
        "MLWS_PORT": str(port),
        "MLWS_HOST": "127.0.0.1",
        **env_extra,
    }
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [*MLWS, "serve", *(serve_args or [str(DATA), "--entry-script", "score_echo.py"])],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlws serve exited: {log_file.read_text()}")
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return Served(url, log_file, env_extra, process)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"mlws serve did not become ready: {log_file.read_text()}")


def stop_server(served: Served) -> None:
    served.process.terminate()
    try:
        served.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()


def run_cli(*args: str, input: str | None = None) -> Result:
    """Run ``mlws ARGS`` in-process."""
    return CliRunner().invoke(app, list(args), input=input)


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """The command failed with exit code 1 and exactly one ``mlws CMD: error:`` line on stderr (no
    traceback, nothing on stdout); return that line."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mlws "), lines[0]
    assert ": error: " in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
