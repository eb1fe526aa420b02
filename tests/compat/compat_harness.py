"""Harness of the compatibility suite: azmlinfsrv in its own venv, tiny models, both servers.

The reference server ``azureml-inference-server-http`` is installed from PyPI into its own venv
under ``~/.cache/mlws/tool-venvs/`` (``tests/tool_venvs.py``; once, reused while its requirement
list is unchanged), so its pins never touch mlws's environment. scikit-learn, numpy and
inference-schema are pinned there to the versions of the environment running the tests, so the
same model pickles load in both servers.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port
from tests.tool_venvs import ToolVenvError, tool_venv

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"
AZMLINFSRV_VERSION = "1.5.1"
READY_TIMEOUT_S = 90.0

# azmlinfsrv hard-codes DEFAULT_HOST = "0.0.0.0"; this launcher keeps its own CLI (argument parsing,
# environment set-up, gunicorn) and only narrows the bind address to 127.0.0.1.
AZMLINFSRV_LAUNCHER = (
    "import sys; import azureml_inference_server_http.constants as c; "
    "c.DEFAULT_HOST = '127.0.0.1'; "
    "from azureml_inference_server_http.amlserver import run; "
    "sys.argv[0] = 'azmlinfsrv'; run()"
)


def compat_requirements() -> list[str]:
    """What the reference venv holds: azmlinfsrv plus the test models' libraries, pinned to ours."""
    pins = [f"azureml-inference-server-http=={AZMLINFSRV_VERSION}"]
    for dist in ("scikit-learn", "numpy", "joblib", "inference-schema"):
        pins.append(f"{dist}=={importlib.metadata.version(dist)}")
    return pins


def ensure_compat_venv() -> Path:
    """The reference venv's python (made or reused, ``tool_venvs``); skip with pip's error."""
    try:
        return tool_venv("compat", compat_requirements()) / "bin" / "python"
    except ToolVenvError as error:
        pytest.skip(str(error))


@dataclass
class Server:
    """One running server process and where to reach it."""

    name: str
    command: list[str]
    cwd: Path
    log_path: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    stop_signal: int = signal.SIGTERM
    """gunicorn (azmlinfsrv) stops at once on SIGINT; SIGTERM waits for a graceful period."""
    ready_path: str = "/"
    """What says "init() finished": azmlinfsrv answers nothing before; mlws has /ready."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        env = {**os.environ, **self.env}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode} before it was ready:\n"
                    f"{self.log()[-3000:]}"
                )
            try:
                if httpx.get(self.url + self.ready_path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready in {timeout_s} s:\n{self.log()[-3000:]}")

    def wait_exit(self, timeout_s: float = READY_TIMEOUT_S) -> int:
        assert self.process is not None
        return self.process.wait(timeout_s)

    def signal_stop(self) -> None:
        """Ask the server to stop (SIGTERM, or ``stop_signal``) without waiting."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(self.stop_signal)

    def stop(self) -> None:
        """Stop the server and wait for it; kill it after 15 s."""
        process = self.process
        if process is None:
            return
        self.signal_stop()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_all(servers: list[Server]) -> None:
    """Stop several servers at once rather than one after the other."""
    for server in servers:
        server.signal_stop()
    for server in servers:
        server.stop()


def azmlinfsrv_server(
    python: Path, script: Path, model_dir: Path, log_dir: Path, port: int | None = None
) -> Server:
    port = port or free_port()
    command = [
        str(python),
        "-c",
        AZMLINFSRV_LAUNCHER,
        "--entry_script",
        str(script),
        "--model_dir",
        str(model_dir),
        "--port",
        str(port),
    ]
    return Server(
        name=f"azmlinfsrv[{script.name}]",
        command=command,
        cwd=script.parent,
        log_path=log_dir / f"azmlinfsrv-{script.stem}-{port}.log",
        port=port,
        # A run-from-anywhere server must not pick up the caller's App Insights settings.
        env={"AML_APP_INSIGHTS_ENABLED": "false"},
        stop_signal=signal.SIGINT,
    )


@functools.cache
def mlws_runtime_missing() -> str | None:
    """Why `mlws serve` cannot run in this checkout, or None.

    Only an absent runtime skips; once it is there, a broken `mlws serve` fails the tests (the
    server's start-up error is in the assertion message).
    """
    if shutil.which("mlws", path=str(Path(sys.executable).parent)) is None:
        return "the mlws command is not installed next to this python"
    if importlib.util.find_spec("mlws.runtime.app") is None:
        return "the mlws runtime (mlws.runtime.app) is not in this checkout yet"
    return None


def mlws_server(
    script: Path,
    model_dir: Path | None,
    log_dir: Path,
    extra: list[str] | None = None,
    port: int | None = None,
) -> Server:
    port = port or free_port()
    mlws = str(Path(sys.executable).parent / "mlws")
    command = [
        mlws,
        "serve",
        str(script.parent),
        "--entry-script",
        script.name,
        "--port",
        str(port),
    ]
    if model_dir is not None:
        command += ["--model-dir", str(model_dir)]
    command += extra or []
    return Server(
        name=f"mlws[{script.name}]",
        command=command,
        cwd=script.parent,
        log_path=log_dir / f"mlws-{script.stem}-{port}.log",
        port=port,
        ready_path="/ready",
    )


def make_models(root: Path) -> Path:
    """Tiny models, made at test time so no pickle is committed.

    ``single/model.joblib``: a scikit-learn LinearRegression, y = 1*x0 + 2*x1 + 3*x2 + 0.5;
    ``single/weights.joblib``: the same model as a numpy vector (scripts that need no sklearn start
    faster); ``multi/doubler/{1,2}/model.joblib`` and ``multi/negator/1/model.joblib``: the
    factors 2, 4 and -1 as numpy arrays, in the ``$MODEL_NAME/$VERSION`` layout.
    """
    import joblib
    import numpy as np
    from sklearn.linear_model import LinearRegression

    x = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=float)
    single = root / "single"
    single.mkdir()
    joblib.dump(LinearRegression().fit(x, x @ [1.0, 2.0, 3.0] + 0.5), single / "model.joblib")
    joblib.dump(np.array([1.0, 2.0, 3.0, 0.5]), single / "weights.joblib")
    for name, version, factor in (
        ("doubler", "1", 2.0),
        ("doubler", "2", 4.0),
        ("negator", "1", -1),
    ):
        folder = root / "multi" / name / version
        folder.mkdir(parents=True)
        joblib.dump(np.array([factor]), folder / "model.joblib")
    return root


@dataclass
class Pair:
    """The reference server and mlws serving the same script and models."""

    reference: Server
    mlws: Server | None
    mlws_missing: str | None

    def require_mlws(self) -> Server:
        if self.mlws is None:
            pytest.skip(self.mlws_missing or "mlws server not started")
        return self.mlws


def start_pair(
    compat_python: Path,
    script_name: str,
    model_dir: Path,
    log_dir: Path,
    *,
    reference_env: dict[str, str] | None = None,
    mlws_args: list[str] | None = None,
) -> Iterator[Pair]:
    """Start azmlinfsrv and mlws on the same script and models; stop both afterwards.

    ``reference_env`` adds environment variables for azmlinfsrv (its settings are variables, e.g.
    ``SCORING_TIMEOUT_MS``); ``mlws_args`` adds ``mlws serve`` flags of the same meaning.
    """
    script = SCRIPTS / script_name
    reference = azmlinfsrv_server(compat_python, script, model_dir, log_dir)
    reference.env.update(reference_env or {})
    missing = mlws_runtime_missing()
    ours = None if missing else mlws_server(script, model_dir, log_dir, extra=mlws_args)
    servers = [s for s in (reference, ours) if s is not None]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield Pair(reference=reference, mlws=ours, mlws_missing=missing)
    finally:
        stop_all(servers)
