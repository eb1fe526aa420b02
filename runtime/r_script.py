"""R entry scripts (``score.R``), served by a pool of long-lived R worker processes.

The seed's contract: ``score.R`` defines ``init()``, which loads the model from
``Sys.getenv("AZUREML_MODEL_DIR")`` and returns ``function(data)``; that function gets the request's
JSON text and returns JSON. :class:`REntryScript` starts ``settings.r_workers`` processes running
``r_worker.R`` (``Rscript`` is started once per worker, never per request). Each sources the script,
calls ``init()`` once and then answers framed requests over its own pair of pipes, so whatever the
script prints cannot corrupt the protocol; the worker's stdout and stderr go to the
``mlws.runtime.r`` log.

What the R function returns: a single string that is valid JSON (what ``jsonlite::toJSON`` gives)
is the response body as it is; any other value is serialised with
``jsonlite::toJSON(digits = NA, auto_unbox = FALSE)``, so predictions are always a JSON array.
An R error raises :class:`RScriptError` carrying R's message: the HTTP layer answers 500 as for a
Python ``run()`` that raises and logs R's text. ``settings.r_workers`` only helps when the HTTP
layer lets that many requests in at once (``max_concurrent_requests``).

``GET /score?a=1&b=x`` hands the function the JSON object ``{"a": 1, "b": "x"}`` (values parsed as
JSON where they are JSON, as azmlinfsrv does for Python scripts).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import os
import queue
import select
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from mlws.runtime.entry_script import EntryScript, EntryScriptError, ScoreRequest, ScoreResult
from mlws.runtime.settings import RuntimeSettings

#: The R side of the pool, shipped as package data next to this module.
WORKER_SCRIPT = Path(__file__).with_name("r_worker.R")

logger = logging.getLogger("mlws.runtime.r")

_HEADER = struct.Struct(">I")
_STOP_GRACE_S = 3.0
_READ_SIZE = 65536  # a pipe's buffer on Linux
_RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class RScriptError(Exception):
    """The R scoring function failed; the message is R's error text (``Error in f(x): ...``)."""


class RWorkerCrashedError(RScriptError):
    """The R process died while scoring; the request fails and the worker is restarted."""


class RWorkerTimeoutError(TimeoutError):
    """The R function did not answer within ``scoring_timeout_ms``; its worker is restarted."""


class _WorkerGoneError(Exception):
    """The worker's pipe closed: the R process exited."""


def query_as_json(query: Mapping[str, str]) -> str:
    """The JSON text an R function gets for ``GET /score``: the parameters as one JSON object.

    Each value is parsed as JSON when it is JSON (``a=1`` gives ``1``, ``b=[1,2]`` a list) and kept
    as a string otherwise, like azmlinfsrv's query-parameter parsing.
    """
    parsed: dict[str, object] = {}
    for name, value in query.items():
        try:
            parsed[name] = json.loads(value)
        except ValueError:
            parsed[name] = value
    return json.dumps(parsed)


class _RWorker:
    """One ``Rscript r_worker.R`` process and its request and response pipes."""

    def __init__(self, index: int, rscript: str, script: Path, cwd: Path, env: dict[str, str]):
        self.index = index
        self._command = [rscript, str(WORKER_SCRIPT), str(script)]
        self._cwd = cwd
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._request_fd = -1
        self._response_fd = -1
        self._log_thread: threading.Thread | None = None
        self.recent_output: collections.deque[str] = collections.deque(maxlen=40)

    @property
    def pid(self) -> int | None:
        """The R process id, once started."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Spawn the process and wait until ``init()`` finished; raise RScriptError if it failed."""
        request_r, request_w = os.pipe()
        response_r, response_w = os.pipe()
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [*self._command, str(request_r), str(response_w)],
                pass_fds=(request_r, response_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self._cwd,
                env=self._env,
                start_new_session=True,
            )
        except OSError as exc:
            for fd in (request_r, request_w, response_r, response_w):
                os.close(fd)
            raise RScriptError(f"could not start {self._command[0]}: {exc}") from exc
        os.close(request_r)
        os.close(response_w)
        self._request_fd = request_w
        self._response_fd = response_r
        self._log_thread = threading.Thread(
            target=self._forward_output, name=f"mlws-r-log-{self.index}", daemon=True
        )
        self._log_thread.start()
        try:
            kind, text = self._read_frame(deadline=None)
        except _WorkerGoneError:
            raise RScriptError(self._exit_description("exited during start-up")) from None
        if kind == "E":
            raise RScriptError(text)
        if kind != "R":
            raise RScriptError(f"R worker sent an unexpected start-up frame {kind!r}")

    def call(self, data: bytes, timeout_s: float) -> tuple[str, str]:
        """Send one request and wait for its answer: ``("O", json)`` or ``("E", message)``."""
        deadline = time.monotonic() + timeout_s
        frame = _HEADER.pack(len(data) + 1) + b"S" + data  # one write for a small request
        try:
            view = memoryview(frame)
            while view:
                written = os.write(self._request_fd, view)
                view = view[written:]
        except OSError:
            raise _WorkerGoneError from None
        return self._read_frame(deadline)

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, grace_s: float = _STOP_GRACE_S) -> None:
        """Close the request pipe (the worker finishes its request and exits at end of file),
        then terminate or kill; the response pipe is closed last, once the process is gone."""
        self._close_fd("_request_fd")
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(grace_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._close_fd("_response_fd")
        if self._log_thread is not None:
            self._log_thread.join(grace_s)

    def _close_fd(self, attr: str) -> None:
        fd: int = getattr(self, attr)
        if fd >= 0:
            setattr(self, attr, -1)
            with contextlib.suppress(OSError):
                os.close(fd)

    def kill(self) -> None:
        """Stop at once (a hung or crashed worker)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self.stop(grace_s=1.0)

    def _exit_description(self, what: str) -> str:
        status: int | None = None
        if self._proc is not None:
            try:
                status = self._proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                status = self._proc.wait()
        if self._log_thread is not None:
            self._log_thread.join(1.0)
        tail = "\n".join(self.recent_output) or "(no output)"
        return f"the R worker {what} (exit status {status}); its last output:\n{tail}"

    def _forward_output(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        with proc.stdout:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                self.recent_output.append(line)
                logger.info("R worker %d: %s", self.index, line)

    def _read_at_least(self, size: int, deadline: float | None, have: bytes = b"") -> bytes:
        """At least ``size`` bytes from the response pipe, counting those already in ``have``.

        Each read asks for what is missing or a pipe's buffer (``_READ_SIZE``), whichever is more:
        the worker answers one frame per request and sends nothing unasked, so a read past the
        header can only hold that frame's payload, usually all of it (one read per answer).
        """
        chunks: list[bytes] = [have] if have else []
        got = len(have)
        while got < size:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                ready, _, _ = select.select([self._response_fd], [], [], remaining)
                if not ready:
                    raise TimeoutError
            try:
                chunk = os.read(self._response_fd, max(size - got, _READ_SIZE))
            except OSError:
                raise _WorkerGoneError from None
            if not chunk:
                raise _WorkerGoneError
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _read_frame(self, deadline: float | None) -> tuple[str, str]:
        start = self._read_at_least(_HEADER.size, deadline)
        (size,) = _HEADER.unpack_from(start)
        frame = self._read_at_least(_HEADER.size + size, deadline, have=start)
        payload = memoryview(frame)[_HEADER.size : _HEADER.size + size]
        return bytes(payload[:1]).decode("ascii", "replace"), str(payload[1:], "utf-8", "replace")


class REntryScript(EntryScript):
    """A ``score.R`` entry script behind a pool of ``settings.r_workers`` long-lived R processes.

    ``score`` is thread-safe: each call checks out a free worker, so up to ``r_workers`` requests
    are scored at once. An R error raises :class:`RScriptError` with R's message; a worker that
    dies or hangs fails its request (:class:`RWorkerCrashedError`, :class:`RWorkerTimeoutError`)
    and is replaced in the background.
    """

    def __init__(self, settings: RuntimeSettings) -> None:
        super().__init__(settings)
        self._idle: queue.Queue[_RWorker] = queue.Queue()
        self._workers: dict[int, _RWorker] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._rscript = ""
        self._env: dict[str, str] = {}

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the current R workers (for tests and diagnostics)."""
        with self._lock:
            return [pid for w in self._workers.values() if (pid := w.pid) is not None]

    def init(self) -> None:
        """Start the R workers; each sources the script and runs its ``init()`` once."""
        rscript = shutil.which("Rscript")
        if rscript is None:
            raise EntryScriptError(
                "Rscript was not found on PATH; .R entry scripts need R "
                "(Debian/Ubuntu: apt-get install r-base-core r-cran-jsonlite)"
            )
        script = self.settings.entry_script_path
        if not script.is_file():
            raise EntryScriptError(f"entry script {script} does not exist")
        if not WORKER_SCRIPT.is_file():
            raise EntryScriptError(f"the mlws R worker {WORKER_SCRIPT} is missing from the install")
        self._rscript = rscript
        self._env = dict(os.environ)
        if self.settings.model_dir is not None:
            self._env["AZUREML_MODEL_DIR"] = str(self.settings.model_dir.resolve())
        self._closed.clear()

        workers = [self._new_worker(i) for i in range(self.settings.r_workers)]
        errors: list[tuple[str, str]] = []

        def start(worker: _RWorker) -> None:
            try:
                worker.start()
            except RScriptError as exc:
                errors.append((str(exc), "\n".join(worker.recent_output)))

        threads = [threading.Thread(target=start, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            for worker in workers:
                worker.kill()
            message, output = errors[0]
            raise EntryScriptError(f"{script.name}: init() failed in R: {message}", detail=output)
        with self._lock:
            self._workers = {w.index: w for w in workers}
        for worker in workers:
            self._idle.put(worker)
        logger.info(
            "R entry script %s ready: %d worker(s), pids %s", script, len(workers), self.worker_pids
        )

    def score(self, request: ScoreRequest) -> ScoreResult:
        """Hand the request's JSON text to a free R worker and return what it answered."""
        if request.body or not request.query:
            data = request.body
        else:
            data = query_as_json(request.query).encode()
        timeout_s = self.settings.scoring_timeout_ms / 1000
        worker = self._checkout(timeout_s)
        try:
            kind, text = worker.call(data, timeout_s)
        except _WorkerGoneError:
            description = worker._exit_description("exited while scoring")
            self._replace(worker)
            raise RWorkerCrashedError(f"{description}\n(the worker is being restarted)") from None
        except TimeoutError:
            worker.kill()
            self._replace(worker)
            raise RWorkerTimeoutError(
                f"the R scoring function did not answer within {self.settings.scoring_timeout_ms}"
                " ms; its worker was stopped and is being restarted"
            ) from None
        self._idle.put(worker)
        if kind == "E":
            raise RScriptError(text)
        if kind != "O":
            raise RScriptError(f"R worker sent an unexpected frame {kind!r}")
        return ScoreResult(body=text.encode())

    def close(self) -> None:
        """Stop every R worker."""
        self._closed.set()
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.stop()
        while not self._idle.empty():
            self._idle.get_nowait()

    def _new_worker(self, index: int) -> _RWorker:
        return _RWorker(
            index,
            self._rscript,
            self.settings.entry_script_path,
            self.settings.source_directory.resolve(),
            self._env,
        )

    def _checkout(self, timeout_s: float) -> _RWorker:
        deadline = time.monotonic() + timeout_s
        while True:
            if self._closed.is_set():
                raise RScriptError("the R entry script has been closed")
            remaining = deadline - time.monotonic()
            try:
                worker = self._idle.get(timeout=max(remaining, 0.0))
            except queue.Empty:
                raise RWorkerTimeoutError(
                    f"no R worker became free within {self.settings.scoring_timeout_ms} ms"
                ) from None
            if worker.alive():
                return worker
            logger.warning("R worker %d (pid %s) had exited while idle", worker.index, worker.pid)
            self._replace(worker)

    def _replace(self, dead: _RWorker) -> None:
        """Start a new worker in dead's slot, in the background, retrying with back-off (the
        last pause repeats) until it starts or the pool is closed."""
        dead.kill()

        def restart() -> None:
            pauses = (0.0, *_RESTART_BACKOFF_S)
            for attempt in itertools.count():
                if self._closed.wait(pauses[min(attempt, len(pauses) - 1)]):
                    return
                worker = self._new_worker(dead.index)
                try:
                    worker.start()
                except RScriptError as exc:
                    worker.kill()
                    logger.error(
                        "restarting R worker %d failed (try %d): %s", dead.index, attempt + 1, exc
                    )
                    continue
                with self._lock:
                    if self._closed.is_set():
                        worker.stop()
                        return
                    self._workers[dead.index] = worker
                self._idle.put(worker)
                logger.info("R worker %d restarted: pid %s", dead.index, worker.pid)
                return

        threading.Thread(target=restart, name=f"mlws-r-restart-{dead.index}", daemon=True).start()
