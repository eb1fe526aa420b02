"""The servers under test: how to install, start, call and check each one.

Each non-mlws system gets its own virtual environment under ``build/bench/venvs`` (made once,
reused while its requirements are unchanged), pinned to the harness's numpy and scikit-learn so
every server loads the very same pickled model.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.models import REPO, BenchModel
from benchmarks.procs import Server, free_port

SERVERS_DIR = Path(__file__).resolve().parent / "servers"
MLWS_WORKERS = 2
GRANIAN_VERSION = "2.8.9"
BATCH_MAX_SIZE = 32
BATCH_MAX_WAIT_MS = 0.0
QUEUE_WAIT_MS = 30_000
MLWS_R_PROCESSES = MLWS_WORKERS
"""R processes behind mlws serving an R model: each HTTP worker has its own pool of
``r_workers`` (default 1)."""


@dataclass(frozen=True)
class System:
    """One way of serving a model."""

    name: str
    description: str
    languages: tuple[str, ...]
    """Model languages it serves."""
    venv: str | None
    """Name of its virtual environment, or None for the repo's own (mlws)."""


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in (
        System(
            "mlws",
            f"mlws serve, {MLWS_WORKERS} workers, key auth, request ids, request log, metrics",
            ("python", "r"),
            None,
        ),
        System(
            "mlws-batch",
            f"mlws as above + micro-batching (max {BATCH_MAX_SIZE}, {BATCH_MAX_WAIT_MS:g} ms)",
            ("python",),
            None,
        ),
        System("azmlinfsrv", "azmlinfsrv 1.5.1, default (1 worker)", ("python",), "azmlinfsrv"),
        System("azmlinfsrv-2w", "azmlinfsrv 1.5.1, --worker_count 2", ("python",), "azmlinfsrv"),
        System(
            "mlserver",
            "MLServer 1.7.1 + mlserver-sklearn, default settings",
            ("python",),
            "mlserver",
        ),
        System(
            "minimal",
            "uvicorn + Starlette + orjson, 2 workers, predict only",
            ("python",),
            "minimal",
        ),
        System(
            "constant", "same stack answering a constant (transport limit)", ("python",), "minimal"
        ),
        System(
            "bare",
            "httptools + uvloop + orjson, 2 processes, predict only, no ASGI (a ceiling)",
            ("python",),
            "minimal",
        ),
        System("rscript", "one Rscript process per request (baseline for R)", ("r",), "minimal"),
        System(
            "mlws-granian",
            f"mlws's ASGI app (create_app) under granian {GRANIAN_VERSION}, "
            f"{MLWS_WORKERS} workers, settings as mlws",
            ("python",),
            "granian",
        ),
        System(
            "mlws-uvicorn",
            f"mlws's ASGI app (create_app) under stock uvicorn, {MLWS_WORKERS} workers, "
            "settings as mlws",
            ("python",),
            "granian",
        ),
        System(
            "plumber",
            "R's own plumber 1.2.1 (Debian r-cran-plumber) in one R process, same score.R",
            ("r",),
            None,
        ),
    )
}


def venv_requirements() -> dict[str, list[str]]:
    """Requirements of each benchmark venv, pinned to this interpreter's numpy and scikit-learn."""
    import numpy
    import sklearn

    pins = [f"numpy=={numpy.__version__}", f"scikit-learn=={sklearn.__version__}", "joblib"]
    return {
        "azmlinfsrv": ["azureml-inference-server-http==1.5.1", *pins],
        # MLServer 1.7.1's workers crash at start with uvloop 0.23.
        "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22", *pins],
        "minimal": ["uvicorn[standard]", "starlette", "orjson", *pins],
        # mlws's own app (this checkout, editable) under granian and under stock uvicorn.
        "granian": [f"granian=={GRANIAN_VERSION}", "-e", f"{REPO}[runtime]", *pins],
    }


def ensure_venv(name: str, build_dir: Path, log: Callable[[str], None]) -> Path:
    """Create or reuse venv ``name``; return its ``bin`` folder."""
    requirements = venv_requirements()[name]
    venv = build_dir / "venvs" / name
    marker = venv / "bench-requirements.json"
    if marker.is_file() and json.loads(marker.read_text()) == requirements:
        return venv / "bin"
    log(f"setting up venv {venv} ({' '.join(requirements)}) ...")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    result = subprocess.run([*pip, *requirements], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip install into {venv} failed:\n{result.stderr[-3000:]}")
    marker.write_text(json.dumps(requirements))
    return venv / "bin"


# --- response checks --------------------------------------------------------------------------


class WrongAnswer(AssertionError):
    """A server answered, but not what the model predicts."""


def _close_lists(got: Any, expected: list[float]) -> bool:
    return (
        isinstance(got, list)
        and len(got) == len(expected)
        and all(
            isinstance(g, int | float) and math.isclose(g, e, rel_tol=1e-6, abs_tol=1e-9)
            for g, e in zip(got, expected, strict=True)
        )
    )


def check_predictions(body: bytes, expected: list[float]) -> None:
    """The body is the JSON list of predictions ``expected``."""
    got = json.loads(body)
    if not _close_lists(got, expected):
        raise WrongAnswer(f"expected {expected}, got {body[:300]!r}")


def check_v2(body: bytes, expected: list[float]) -> None:
    """The body is a V2 inference response whose first output holds ``expected``."""
    got = json.loads(body)
    data = got.get("outputs", [{}])[0].get("data") if isinstance(got, dict) else None
    if not _close_lists(data, expected):
        raise WrongAnswer(f"expected outputs[0].data == {expected}, got {body[:300]!r}")


def check_constant(body: bytes, expected: list[float]) -> None:
    """The constant baseline answers ``[0.0]`` whatever the model."""
    if json.loads(body) != [0.0]:
        raise WrongAnswer(f"expected [0.0], got {body[:300]!r}")


# --- launch specs -----------------------------------------------------------------------------


@dataclass
class Launch:
    """Everything needed to start one system with one model and call it."""

    server: Server
    url: str
    body: bytes
    check: Callable[[bytes, list[float]], None]
    authorization: str | None = None
    metrics_url: str | None = None
    unauthorized_status: int | None = None
    """What a request without credentials must get (proves auth is on), or None."""


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLWS_", "AZUREML_"))}
    env.pop("PYTHONPATH", None)
    return env


def _mlws(system: str, model: BenchModel, build_dir: Path, log_dir: Path) -> Launch:
    port = free_port()
    key = secrets.token_urlsafe(24)
    batch = system == "mlws-batch"
    env = _base_env() | {
        "AML_APP_ROOT": str(model.source_dir),
        "AZUREML_ENTRY_SCRIPT": (model.batch_entry_script if batch else None) or model.entry_script,
        "AZUREML_MODEL_DIR": str(model.model_dir),
        "MLWS_HOST": "127.0.0.1",
        "MLWS_PORT": str(port),
        "MLWS_WORKERS": str(MLWS_WORKERS),
        "MLWS_AUTH_MODE": "key",
        "MLWS_PRIMARY_KEY": key,
        "MLWS_LOG_LEVEL": "info",
        # The other servers queue without limit (gunicorn's backlog, uvicorn's): let mlws queue
        # too rather than shed load with 503s after its default 500 ms wait (Azure ML's).
        "MLWS_MAX_REQUEST_WAIT_MS": str(QUEUE_WAIT_MS),
    }
    if batch:
        env["MLWS_BATCH_MAX_SIZE"] = str(BATCH_MAX_SIZE)
        env["MLWS_BATCH_MAX_WAIT_MS"] = str(BATCH_MAX_WAIT_MS)
    mlws = Path(sys.executable).parent / "mlws"
    base = f"http://127.0.0.1:{port}"
    server = Server(
        name=f"{system}/{model.name}",
        command=[str(mlws), "serve"],
        env=env,
        cwd=REPO,
        ready_url=f"{base}{MLWS_READY_PATH}",
        log_file=log_dir / f"{system}-{model.name}.log",
    )
    return Launch(
        server=server,
        url=f"{base}/score",
        body=model.body,
        check=check_predictions,
        authorization=f"Bearer {key}",
        metrics_url=f"{base}/metrics",
        unauthorized_status=401,
    )


def _mlws_app(
    system: str, model: BenchModel, bin_dir: Path, build_dir: Path, log_dir: Path
) -> Launch:
    """mlws's ASGI app (``create_app`` reads the same settings from the environment) under
    another server: the comparison of servers on the same app."""
    launch = _mlws("mlws", model, build_dir, log_dir)
    port = launch.server.ready_url.rsplit(":", 1)[1].split("/", 1)[0]
    metrics_dir = build_dir / "metrics" / system
    metrics_dir.mkdir(parents=True, exist_ok=True)
    env = launch.server.env | {"MLWS_METRICS_DIR": str(metrics_dir)}
    factory = "mlws.runtime.app:create_app"
    common = ["--host", "127.0.0.1", "--port", port, "--workers", str(MLWS_WORKERS)]
    if system == "mlws-granian":
        command = [
            str(bin_dir / "granian"),
            "--interface",
            "asgi",
            "--factory",
            "--loop",
            "uvloop",
            "--no-ws",
            "--log-level",
            "warning",
            *common,
            factory,
        ]
    else:
        command = [
            str(bin_dir / "python"),
            "-m",
            "uvicorn",
            "--factory",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "none",
            "--no-access-log",
            "--log-level",
            "warning",
            *common,
            factory,
        ]
    launch.server = replace(
        launch.server,
        name=f"{system}/{model.name}",
        command=command,
        env=env,
        log_file=log_dir / f"{system}-{model.name}.log",
    )
    return launch


#: mlws's readiness probe route.
MLWS_READY_PATH = "/ready"


def _azmlinfsrv(system: str, model: BenchModel, bin_dir: Path, log_dir: Path) -> Launch:
    port = free_port()
    workers = "2" if system == "azmlinfsrv-2w" else "1"
    command = [
        str(bin_dir / "python"),
        str(SERVERS_DIR / "azmlinfsrv_local.py"),
        "--entry_script",
        str(model.source_dir / model.entry_script),
        "--model_dir",
        str(model.model_dir),
        "--port",
        str(port),
    ]
    if workers != "1":
        command += ["--worker_count", workers]
    base = f"http://127.0.0.1:{port}"
    server = Server(
        name=f"{system}/{model.name}",
        command=command,
        env=_base_env(),
        cwd=model.source_dir,
        ready_url=f"{base}/",
        log_file=log_dir / f"{system}-{model.name}.log",
    )
    return Launch(server=server, url=f"{base}/score", body=model.body, check=check_predictions)


def _mlserver(model: BenchModel, bin_dir: Path, build_dir: Path, log_dir: Path) -> Launch:
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    folder = build_dir / "mlserver" / model.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": http_port,
                "grpc_port": grpc_port,
                "metrics_port": metrics_port,
            }
        )
    )
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": model.name,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": str(model.model_dir / "model.joblib")},
            }
        )
    )
    body = json.dumps(
        {
            "inputs": [
                {
                    "name": "predict",
                    "shape": [1, len(model.row)],
                    "datatype": "FP64",
                    "data": model.row,
                }
            ]
        }
    ).encode()
    base = f"http://127.0.0.1:{http_port}"
    server = Server(
        name=f"mlserver/{model.name}",
        command=[str(bin_dir / "mlserver"), "start", str(folder)],
        env=_base_env(),
        cwd=folder,
        ready_url=f"{base}/v2/models/{model.name}/ready",
        log_file=log_dir / f"mlserver-{model.name}.log",
    )
    return Launch(
        server=server, url=f"{base}/v2/models/{model.name}/infer", body=body, check=check_v2
    )


def _minimal(system: str, model: BenchModel, bin_dir: Path, log_dir: Path) -> Launch:
    port = free_port()
    env = _base_env()
    if system == "constant":
        env["BENCH_CONSTANT"] = "1"
    else:
        env["BENCH_MODEL_FILE"] = str(model.model_dir / "model.joblib")
    base = f"http://127.0.0.1:{port}"
    server = Server(
        name=f"{system}/{model.name}",
        command=[
            str(bin_dir / "python"),
            "-m",
            "uvicorn",
            "--app-dir",
            str(SERVERS_DIR),
            "minimal:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=SERVERS_DIR,
        ready_url=f"{base}/ready",
        log_file=log_dir / f"{system}-{model.name}.log",
    )
    check = check_constant if system == "constant" else check_predictions
    return Launch(server=server, url=f"{base}/score", body=model.body, check=check)


def _bare(model: BenchModel, bin_dir: Path, log_dir: Path) -> Launch:
    port = free_port()
    env = _base_env() | {"BENCH_MODEL_FILE": str(model.model_dir / "model.joblib")}
    base = f"http://127.0.0.1:{port}"
    server = Server(
        name=f"bare/{model.name}",
        command=[str(bin_dir / "python"), str(SERVERS_DIR / "bare.py"), str(port)],
        env=env,
        cwd=SERVERS_DIR,
        ready_url=f"{base}/ready",
        log_file=log_dir / f"bare-{model.name}.log",
    )
    return Launch(server=server, url=f"{base}/score", body=model.body, check=check_predictions)


def _rscript(model: BenchModel, bin_dir: Path, log_dir: Path) -> Launch:
    port = free_port()
    env = _base_env() | {
        "BENCH_R_SCRIPT": str(model.source_dir / model.entry_script),
        "AZUREML_MODEL_DIR": str(model.model_dir),
    }
    base = f"http://127.0.0.1:{port}"
    server = Server(
        name=f"rscript/{model.name}",
        command=[
            str(bin_dir / "python"),
            "-m",
            "uvicorn",
            "--app-dir",
            str(SERVERS_DIR),
            "rscript_per_request:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=SERVERS_DIR,
        ready_url=f"{base}/ready",
        log_file=log_dir / f"rscript-{model.name}.log",
    )
    return Launch(server=server, url=f"{base}/score", body=model.body, check=check_predictions)


def _plumber(model: BenchModel, log_dir: Path) -> Launch:
    port = free_port()
    env = _base_env() | {"AZUREML_MODEL_DIR": str(model.model_dir)}
    base = f"http://127.0.0.1:{port}"
    server = Server(
        name=f"plumber/{model.name}",
        command=[
            "Rscript",
            "--vanilla",
            str(SERVERS_DIR / "plumber_server.R"),
            str(model.source_dir / model.entry_script),
            str(port),
        ],
        env=env,
        cwd=model.source_dir,
        ready_url=f"{base}/ready",
        log_file=log_dir / f"plumber-{model.name}.log",
    )
    return Launch(server=server, url=f"{base}/score", body=model.body, check=check_predictions)


def launch(system: str, model: BenchModel, build_dir: Path, log: Callable[[str], None]) -> Launch:
    """The launch spec for ``system`` serving ``model`` (creating its venv when needed)."""
    spec = SYSTEMS[system]
    log_dir = build_dir / "logs"
    bin_dir = ensure_venv(spec.venv, build_dir, log) if spec.venv else Path(sys.executable).parent
    if system in ("mlws", "mlws-batch"):
        return _mlws(system, model, build_dir, log_dir)
    if system in ("mlws-granian", "mlws-uvicorn"):
        return _mlws_app(system, model, bin_dir, build_dir, log_dir)
    if system.startswith("azmlinfsrv"):
        return _azmlinfsrv(system, model, bin_dir, log_dir)
    if system == "mlserver":
        return _mlserver(model, bin_dir, build_dir, log_dir)
    if system in ("minimal", "constant"):
        return _minimal(system, model, bin_dir, log_dir)
    if system == "bare":
        return _bare(model, bin_dir, log_dir)
    if system == "rscript":
        return _rscript(model, bin_dir, log_dir)
    if system == "plumber":
        return _plumber(model, log_dir)
    raise ValueError(f"unknown system {system!r}")
