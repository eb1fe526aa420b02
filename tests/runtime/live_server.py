"""A real server process for the over-HTTP tests: start, wait for a state, read its log, stop.

Everything waits by polling with generous deadlines (the test machine is shared and often loaded).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.ports import free_port

MLWS = str(Path(sys.executable).with_name("mlws"))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until true; the seconds it took. Fails naming ``what`` on timeout."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


class Server:
    """A started server process and its base URL; its stderr is collected as it runs."""

    def __init__(
        self,
        args: list[str],
        port: int,
        env: dict[str, str] | None = None,
        *,
        new_session: bool = False,
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            args,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=new_session,  # its own process group, as a terminal gives it
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.append(line)

    @property
    def log(self) -> str:
        """What the server wrote on stderr so far."""
        return "".join(self._lines)

    def status(self, path: str) -> int | None:
        """The status of ``GET path``, or None when nothing answers."""
        try:
            return httpx.get(f"{self.url}{path}", timeout=5).status_code
        except httpx.TransportError:
            return None

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait for ``/ready`` 200; the seconds it took."""

        def ready() -> bool:
            if self.process.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"server exited early:\n{self.log}")
            return self.status("/ready") == 200

        return wait_until(ready, timeout, "/ready 200")

    def wait_log(self, text: str, timeout: float = 60.0) -> float:
        """Wait until ``text`` appears in the log; the seconds it took."""
        return wait_until(lambda: text in self.log, timeout, f"{text!r} in the log")

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self._reader.join(10)
        return self.process.returncode, self.log

    def wait_exit(self, timeout: float = 120.0) -> tuple[int, str]:
        self.process.wait(timeout=timeout)
        self._reader.join(10)
        return self.process.returncode, self.log

    def kill(self) -> None:
        """Kill it if it still runs and release its pipe (the fixtures' clean-up)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._reader.join(10)
        # Closing the pipe while the reader still blocks on it (a worker left behind holds it
        # open) would block this thread too: leave it to the reader, which ends at end of file.
        if self.process.stderr is not None and not self._reader.is_alive():
            self.process.stderr.close()


def start_serve(
    servers: list[Server], source: Path, *extra: str, env: dict[str, str] | None = None
) -> Server:
    """``mlws serve SOURCE --port <free> EXTRA...``, recorded in ``servers`` for clean-up."""
    port = free_port()
    server = Server([MLWS, "serve", str(source), "--port", str(port), *extra], port, env)
    servers.append(server)
    return server
