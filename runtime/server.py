"""Run the scoring app with uvicorn (uvloop and httptools when installed) in one or more processes.

:func:`serve` binds the socket itself, then supervises ``workers`` worker processes sharing it
(one by default): a worker that dies is restarted, one with a call stuck past the scoring timeout
is replaced, one whose event loop stops (a call holding the GIL) is killed and restarted, and while
no worker is ready this process answers the probes. Exit codes: 0 after
SIGTERM/SIGINT (in-flight requests are finished first), :data:`INIT_FAILED_EXIT` when the entry
script cannot start or workers keep dying during ``init()`` (every worker is stopped), 1 for other
failures.

Over 500 lines because the supervisor's loop and its worker's side (start-up, signals, recycling)
are one protocol between two processes, read together; the probe responder, the heartbeat and the
HTTP protocol live in their own modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import faulthandler
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Protocol

import uvicorn
from pydantic import ValidationError

from mlws.runtime import heartbeat
from mlws.runtime.app import ScoringApp
from mlws.runtime.direct_score import DirectScoreProtocol
from mlws.runtime.entry_script import EntryScriptError
from mlws.runtime.logs import configure_logging
from mlws.runtime.scoring_service import ScoringService
from mlws.runtime.settings import RuntimeSettings, env_var_name, scrub_secret_environment
from mlws.runtime.standby import StandbyResponder
from mlws.runtime.transport import limited_http_protocol

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
    events: WorkerEvents | None = None,
) -> int:
    """Serve ``settings`` on ``sock`` in this process until a signal; return the exit code.

    By default the worker accepts connections at once and runs ``init()`` in the background.
    With ``init_first`` it runs ``init()`` before accepting anything and sets ``events.ready``
    after. A call that outlives the scoring timeout sets ``events.replace`` (the supervisor starts
    a successor and stops this worker once the successor is ready); when every scoring thread is
    stuck, the worker clears ``events.ready`` and stops accepting at once.
    """
    configure_logging(settings.log_level)
    exit_code = 0
    recycled = False

    def init_failed(error: EntryScriptError) -> None:
        nonlocal exit_code
        exit_code = INIT_FAILED_EXIT
        server.should_exit = True

    def stuck(count: int) -> None:
        nonlocal recycled
        if events is None:
            return
        events.replace.set()
        if app.service.executor is not None and app.service.executor.all_stuck:
            logger.error("every scoring thread is stuck: this worker stops taking requests")
            events.ready.clear()
            recycled = True
            server.should_exit = True

    app = ScoringApp(ScoringService(settings, on_init_failure=init_failed))
    app.service.on_stuck = stuck
    supervised = events is not None
    if init_first:
        # Nothing is in flight before serving starts: a stop signal may end the process at once.
        signal.signal(signal.SIGTERM, _exit_now)
        signal.signal(signal.SIGINT, signal.SIG_IGN if supervised else _exit_now)
        if app.initialise() is not None:
            return INIT_FAILED_EXIT
        if events is not None:
            events.started.set()
            events.ready.set()
    config = uvicorn.Config(
        app,
        loop="auto",
        # one write per response, bounded request heads (mlws.runtime.transport), small
        # POST /score requests without the ASGI cycle (mlws.runtime.direct_score)
        http=limited_http_protocol(
            settings.max_header_bytes,
            settings.max_headers,
            settings.header_timeout_ms / 1000,
            DirectScoreProtocol,
        ),
        timeout_keep_alive=settings.keep_alive_timeout_ms / 1000,  # type: ignore[arg-type]
        # The app never reads the client address or scheme: skip the X-Forwarded-* middleware.
        proxy_headers=False,
        lifespan="on",
        ws="none",  # no WebSocket routes: do not import a WebSocket library at start-up
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.scoring_timeout_ms // 1000 + 5,
        log_level=settings.log_level,
    )
    server = _WorkerServer(config, supervised, events.beat if events is not None else None)
    # uvicorn re-raises the signal it caught once it has shut down gracefully; with these
    # handlers in place that re-raise is harmless and the process exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _ignore_signal)
    server.run(sockets=[sock])
    # A supervisor killed while it held the event's lock would block clear() forever: an orphan
    # (stopping on the SIGTERM its supervisor's death sent) has nobody to tell anyway.
    if events is not None and os.getppid() == events.supervisor:
        events.ready.clear()
        heartbeat.stamp(events.beat)  # the loop has stopped: the exit has a full window
    if recycled:  # the stuck threads cannot be joined: leave them behind
        logging.shutdown()
        sys.stderr.flush()
        os._exit(exit_code)
    _exit_if_threads_hang(exit_code)
    return exit_code


class _WorkerServer(uvicorn.Server):
    """uvicorn's server, stopping once per stop request.

    A terminal's Ctrl-C sends SIGINT to the whole process group, so a supervised worker would get
    it beside the SIGTERM its supervisor sends on the same SIGINT (and uvicorn takes a second
    signal as "force quit", dropping requests in flight). A supervised worker therefore leaves the
    first SIGINT to its supervisor and stops on the SIGTERM; a SIGINT after that (a second Ctrl-C,
    which the supervisor forwards) forces the exit, as uvicorn's own Ctrl-C twice does.
    """

    def __init__(
        self, config: uvicorn.Config, supervised: bool, beat: heartbeat.Cell | None = None
    ) -> None:
        super().__init__(config)
        self.supervised = supervised
        self.beat = beat

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, and the heartbeat the supervisor watches."""
        await super().startup(sockets)
        if self.beat is not None:
            heartbeat.start(self.beat, asyncio.get_running_loop())

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Act on SIGTERM (graceful) and SIGINT (graceful alone, forcing after a SIGTERM)."""
        if self.supervised and sig == signal.SIGINT and not self.should_exit:
            return
        if self.should_exit and sig == signal.SIGINT:
            logger.warning("worker %s: stopping now, dropping requests in flight", os.getpid())
        elif not self.should_exit:
            logger.info(
                "worker %s: stopping on %s (finishing requests in flight)",
                os.getpid(),
                signal.Signals(sig).name,
            )
        super().handle_exit(sig, frame)


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    return None


def _exit_now(signum: int, frame: FrameType | None) -> None:
    sys.stderr.flush()
    os._exit(0)


class EventLike(Protocol):
    """``threading.Event`` or ``multiprocessing.Event``."""

    def set(self) -> None: ...

    def clear(self) -> None: ...

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class WorkerEvents:
    """What a worker tells its supervisor, through events shared across ``fork``."""

    started: EventLike
    """``init()`` succeeded (never cleared): a death after this is not a start-up failure."""
    ready: EventLike
    """The worker takes requests now (cleared when it stops taking them)."""
    replace: EventLike
    """A call outlived the scoring timeout: start a successor, then stop this worker."""
    beat: heartbeat.Cell
    """Stamped by the worker's event loop while it serves (:mod:`mlws.runtime.heartbeat`)."""
    supervisor: int = dataclasses.field(default_factory=os.getpid)
    """The supervisor's pid (the events are made there)."""


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


def _worker_main(
    settings: RuntimeSettings, sock: socket.socket, events: WorkerEvents, supervisor: int
) -> None:
    # Workers stay in the supervisor's process group, so tools that stop or measure a server by
    # its group (the benchmark, LocalProcessService) reach them too.
    _die_with_parent(supervisor)
    # A segfault or abort in the script or a native library prints every thread's stack, and so
    # does the supervisor's DUMP_STACKS before it kills a worker whose event loop has stopped.
    faulthandler.enable(all_threads=True)
    faulthandler.register(DUMP_STACKS, all_threads=True)
    sys.exit(run_worker(settings, sock, init_first=True, events=events))


def _die_with_parent(supervisor: int) -> None:
    """Linux: get SIGTERM when the supervisor (pid ``supervisor``) dies, so no orphan keeps
    serving on the socket. In a container the supervisor is PID 1 itself."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != supervisor:  # the supervisor died before prctl took effect
            os._exit(0)


_PR_SET_PDEATHSIG = 1
#: The signal on which a worker writes every thread's stack to stderr (faulthandler's C handler
#: needs no GIL, so it works while a call holds it).
DUMP_STACKS = signal.SIGUSR1
#: Seconds between asking an unresponsive worker for its stacks and killing it.
DUMP_WAIT_S = 0.2


def _worker_context() -> multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext:
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def describe_exit(exitcode: int) -> str:
    """``exited with 1``, ``killed by SIGSEGV``, ``killed by SIGKILL (out of memory?)``."""
    if exitcode >= 0:
        return f"exited with {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
    return f"killed by {name}{hint}"


#: Workers dying in a row before any finished ``init()``, after which the server gives up.
START_ATTEMPTS = 5
#: Wait before restarting a worker that died during ``init()``: doubled each time, capped.
RESTART_BACKOFF_S = 0.5
RESTART_BACKOFF_MAX_S = 8.0


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    events: WorkerEvents
    replacing: bool = False
    """A successor is (being) started; this one stops once every counted worker is ready."""
    retired: bool = False
    unresponsive: bool = False
    """Its event loop stopped stamping the heartbeat: it was killed."""


class Supervisor:
    """Keeps ``settings.workers`` worker processes serving on ``sock``.

    Hand-written because the servers' own supervisors (uvicorn's, gunicorn's) restart workers
    but know nothing of ``init()``: none waits for a model to load before a worker takes
    requests, answers probes meanwhile, replaces a worker with a stuck call only once its
    successor is ready, kills one whose event loop stopped (its heartbeat, a call holding the
    GIL), or gives up on an ``init()`` that kills its process.
    """

    def __init__(self, settings: RuntimeSettings, sock: socket.socket) -> None:
        self.settings = settings
        self.sock = sock
        # fork on Linux: workers start in milliseconds from this small process (which has not
        # imported the entry script); spawn elsewhere.
        self.context = _worker_context()
        self.workers: tuple[_Worker, ...] = ()
        self.stop: list[int] = []
        self.failures = 0
        self.next_start = 0.0
        self.code = 0

    def any_ready(self) -> bool:
        """Whether some worker takes requests (the standby responder stays quiet then)."""
        return any(w.events.ready.is_set() for w in self.workers)

    def run(self) -> int:
        """Supervise until a signal or a start-up failure; return the exit code."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self.stop and signum == signal.SIGINT:  # Ctrl-C again: the workers stop now
                self._signal_workers(signal.SIGINT)
            self.stop.append(signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        self._top_up()
        # Until a worker is ready (and whenever none is) this process answers the probes itself.
        self.sock.setblocking(False)
        standby = StandbyResponder(self.sock, self.any_ready)
        standby.start()
        while not self.stop:
            time.sleep(0.05)
            self._step()
        standby.stop()
        self._signal_workers(signal.SIGTERM)  # once: the workers ignore a group-wide SIGINT
        for worker in self.workers:
            worker.process.join()
        if self.code == 0 and any(
            w.process.exitcode not in (0, INIT_FAILED_EXIT) and not w.retired for w in self.workers
        ):
            self.code = 1
        return self.code

    def _signal_workers(self, signum: int) -> None:
        for worker in self.workers:
            if worker.process.exitcode is None and worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signum)

    def _start(self) -> _Worker:
        context = self.context
        events = WorkerEvents(
            context.Event(), context.Event(), context.Event(), context.RawValue("d", 0.0)
        )
        process = context.Process(
            target=_worker_main,
            args=(self.settings, self.sock, events, os.getpid()),
            name="mlws-worker",
        )
        process.start()
        return _Worker(process, events)

    def _top_up(self) -> None:
        counted = [w for w in self.workers if not w.replacing]
        missing = self.settings.workers - len(counted)
        if missing > 0 and time.monotonic() >= self.next_start:
            self.workers = (*self.workers, *(self._start() for _ in range(missing)))

    def _step(self) -> None:
        alive: list[_Worker] = []
        for worker in self.workers:
            exitcode = worker.process.exitcode
            if exitcode is None:
                alive.append(worker)
            elif not self._reap(worker, exitcode):
                return
        for worker in alive:
            self._check_heartbeat(worker)
            if worker.events.started.is_set():
                self.failures = 0
            if worker.events.replace.is_set() and not worker.replacing:
                worker.replacing = True
                logger.warning(
                    "worker %s has a call stuck past the scoring timeout; starting its successor",
                    worker.process.pid,
                )
        self.workers = tuple(alive)
        self._top_up()
        counted = [w for w in self.workers if not w.replacing]
        if len(counted) == self.settings.workers and all(w.events.ready.is_set() for w in counted):
            for worker in self.workers:
                if worker.replacing and not worker.retired and worker.process.pid is not None:
                    worker.retired = True
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker.process.pid, signal.SIGTERM)

    def _check_heartbeat(self, worker: _Worker) -> None:
        """Kill a worker whose event loop has been silent past the scoring timeout (plus grace)."""
        silent = heartbeat.silent_for(worker.events.beat)
        limit = heartbeat.silence_limit_s(self.settings.scoring_timeout_ms)
        pid = worker.process.pid
        if worker.unresponsive or silent is None or silent <= limit or pid is None:
            return
        worker.unresponsive = True
        logger.error(
            "worker %s has not answered for %.1f s (its event loop is blocked, e.g. by a call "
            "holding the GIL); its threads' stacks follow, then it is killed",
            pid,
            silent,
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, DUMP_STACKS)
            time.sleep(DUMP_WAIT_S)
            os.kill(pid, signal.SIGKILL)

    def _reap(self, worker: _Worker, exitcode: int) -> bool:
        """Account for a worker that ended; False when the server must stop."""
        worker.process.join()
        pid = worker.process.pid
        if exitcode == INIT_FAILED_EXIT:
            logger.error("a worker could not start the entry script; stopping all workers")
            self.code = INIT_FAILED_EXIT
            self.stop.append(0)
            return False
        if worker.unresponsive:
            logger.error("worker %s (unresponsive) was killed; starting another", pid)
            return True
        if worker.replacing or worker.events.replace.is_set():
            logger.info("worker %s with a stuck call has stopped", pid)
            return True
        how = describe_exit(exitcode)
        if worker.events.started.is_set():
            logger.error("worker %s %s; starting another", pid, how)
            return True
        self.failures += 1
        if self.failures >= START_ATTEMPTS:
            message = (
                f"workers keep dying during init() ({self.failures} times in a row, the last "
                f"{how}); giving up"
            )
            logger.error("%s", message)
            self.code = INIT_FAILED_EXIT
            self.stop.append(0)
            return False
        delay = min(RESTART_BACKOFF_MAX_S, RESTART_BACKOFF_S * 2 ** (self.failures - 1))
        logger.error(
            "worker %s %s during init(); restarting in %.1f s (attempt %d of %d)",
            pid,
            how,
            delay,
            self.failures + 1,
            START_ATTEMPTS,
        )
        self.next_start = max(self.next_start, time.monotonic() + delay)
        return True


def supervise(settings: RuntimeSettings, sock: socket.socket) -> int:
    """Run ``settings.workers`` workers on ``sock``; restart crashed ones; stop on a signal."""
    return Supervisor(settings, sock).run()


def serve(settings: RuntimeSettings) -> int:
    """Bind, announce where it serves, and run until stopped; returns the process exit code."""
    configure_logging(settings.log_level)
    scrub_secret_environment()  # before any worker (and its entry script) starts
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
        # Even one worker runs under the supervisor: it restarts a crashed or stuck worker.
        if settings.workers == 1 or settings.metrics_dir is not None:
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
