"""Run the scoring app with uvicorn (uvloop and httptools when installed) in one or more processes.

:func:`serve` binds the socket itself, then runs one worker in this process or, with
``workers > 1``, supervises that many worker processes sharing the socket. Exit codes:
0 after SIGTERM/SIGINT (in-flight requests are finished first), :data:`INIT_FAILED_EXIT` when the
entry script cannot start (every worker is stopped), 1 for other failures.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Protocol

import uvicorn
from mlws.runtime.app import ScoringApp
from mlws.runtime.entry_script import EntryScriptError
from mlws.runtime.logs import configure_logging
from mlws.runtime.settings import RuntimeSettings, env_var_name
from mlws.runtime.standby import StandbyResponder
from mlws.runtime.transport import http_protocol
from pydantic import ValidationError

#: Exit code when the entry script cannot be loaded or its ``init()`` fails (azmlinfsrv uses 3 too).
INIT_FAILED_EXIT = 3
logger = logging.getLogger("mlws.runtime")


def settings_error_message(error: ValidationError) -> str:
    """One readable line per invalid setting, naming its environment variable."""
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        try:
            name = env_var_name(field)
        except KeyError:
            name = field or "settings"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{field} ({name}): {message}" if field else message)
    return "; ".join(lines)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one), inheritable by workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serving_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_worker(
    settings: RuntimeSettings,
    sock: socket.socket,
    *,
    init_first: bool = False,
    ready: EventLike | None = None,
) -> int:
    """Serve ``settings`` on ``sock`` in this process until a signal; return the exit code.

    By default the worker accepts connections at once and runs ``init()`` in the background.
    With ``init_first`` it runs ``init()`` before accepting anything and sets ``ready`` after.
    """
    configure_logging(settings.log_level)
    exit_code = 0

    def init_failed(error: EntryScriptError) -> None:
        nonlocal exit_code
        exit_code = INIT_FAILED_EXIT
        server.should_exit = True

    app = ScoringApp(settings, on_init_failure=init_failed)
    if init_first:
        # Nothing is in flight before serving starts: a stop signal may end the process at once.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _exit_now)
        if app.initialise() is not None:
            return INIT_FAILED_EXIT
        if ready is not None:
            ready.set()
    config = uvicorn.Config(
        app,
        loop="auto",
        http=http_protocol(),  # one write per response (mlws.runtime.transport)
        # The app never reads the client address or scheme: skip the X-Forwarded-* middleware.
        proxy_headers=False,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.scoring_timeout_ms // 1000 + 5,
        log_level=settings.log_level,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it caught once it has shut down gracefully; with these
    # handlers in place that re-raise is harmless and the process exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _ignore_signal)
    server.run(sockets=[sock])
    _exit_if_threads_hang(exit_code)
    return exit_code


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    return None


def _exit_now(signum: int, frame: FrameType | None) -> None:
    sys.stderr.flush()
    os._exit(0)


class EventLike(Protocol):
    """``threading.Event`` or ``multiprocessing.Event``."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


def _exit_if_threads_hang(exit_code: int, grace_seconds: float = 2.0) -> None:
    """A scoring thread stuck past its timeout must not keep the process alive after shutdown."""
    deadline = time.monotonic() + grace_seconds
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [
        t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
    ]
    if stuck:
        logger.warning("exiting with scoring still running in threads %s", ", ".join(stuck))
        logging.shutdown()
        sys.stderr.flush()
        os._exit(exit_code)


def _worker_main(settings: RuntimeSettings, sock: socket.socket, ready: EventLike) -> None:
    sys.exit(run_worker(settings, sock, init_first=True, ready=ready))


def _worker_context() -> multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext:
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def supervise(settings: RuntimeSettings, sock: socket.socket) -> int:
    """Run ``settings.workers`` workers on ``sock``; restart crashed ones; stop on a signal."""
    # fork on Linux: workers inherit the imported modules and start in milliseconds (this process
    # runs no threads yet when it forks them); spawn elsewhere.
    context = _worker_context()
    stop: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    ready = context.Event()

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_worker_main, args=(settings, sock, ready), name="mlws-worker"
        )
        process.start()
        return process

    # Workers accept only once their init() succeeded; until the first one is ready this process
    # answers the probes itself (/live 200, the rest 503).
    workers = [start() for _ in range(settings.workers)]
    sock.setblocking(False)
    standby = StandbyResponder(sock, ready.is_set)
    standby.start()
    code = 0
    while not stop:
        time.sleep(0.1)
        for i, process in enumerate(workers):
            if process.exitcode is None:
                continue
            if process.exitcode == INIT_FAILED_EXIT:
                logger.error("a worker could not start the entry script; stopping all workers")
                stop.append(0)
                code = INIT_FAILED_EXIT
                break
            logger.error(
                "worker %s exited with %s; starting another", process.pid, process.exitcode
            )
            workers[i] = start()
    standby.stop()
    for process in workers:
        if process.exitcode is None and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    for process in workers:
        process.join()
    if code == 0 and any(p.exitcode not in (0, INIT_FAILED_EXIT) for p in workers):
        code = 1
    return code


def serve(settings: RuntimeSettings) -> int:
    """Bind, announce where it serves, and run until stopped; returns the process exit code."""
    configure_logging(settings.log_level)
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        print(
            f"mlws: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    auth = settings.auth_mode
    print(
        f"mlws: serving {settings.entry_script_path} on {serving_url(sock)} "
        f"(workers: {settings.workers}, auth: {auth})",
        file=sys.stderr,
        flush=True,
    )
    try:
        if settings.workers == 1:
            return run_worker(settings, sock)
        if settings.metrics_dir is not None:
            return supervise(settings, sock)
        with tempfile.TemporaryDirectory(prefix="mlws-metrics-") as directory:
            return supervise(settings.model_copy(update={"metrics_dir": Path(directory)}), sock)
    finally:
        sock.close()


def main() -> int:
    """``python -m mlws.runtime``: serve from environment variables only."""
    try:
        settings = RuntimeSettings()
    except ValidationError as exc:
        print(f"mlws: invalid settings: {settings_error_message(exc)}", file=sys.stderr)
        return 2
    return serve(settings)
