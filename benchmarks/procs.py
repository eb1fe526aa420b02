"""Server processes: start in their own process group, wait for readiness, always stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


class ServerError(RuntimeError):
    """A server did not start, or answered wrongly; the message carries its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) used so far by the live processes of process group ``pgid`` and
    their descendants in other groups (mlws starts its R workers in sessions of their own).

    Read from ``/proc``; on a machine shared with other work this is steadier than req/s, because
    what other processes do barely changes how much CPU one request costs.
    """
    return sum(group_cpu_by_command(pgid).values())


def group_cpu_by_command(pgid: int) -> dict[str, float]:
    """:func:`group_cpu_seconds` split by command name (``R`` for R processes, ``python``...)."""
    ticks = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, int, str, int]] = {}  # pid: (parent, group, command, ticks)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after its last ")".
        end = stat.rindex(b")")
        fields = stat[end + 2 :].split()
        command = stat[stat.index(b"(") + 1 : end].decode("utf-8", "replace")
        used = int(fields[11]) + int(fields[12])
        procs[int(entry.name)] = (int(fields[1]), int(fields[2]), command, used)
    members = {pid for pid, (_, group, _, _) in procs.items() if group == pgid}
    grown = True
    while grown:
        children = {pid for pid, (parent, *_) in procs.items() if parent in members}
        grown = not children <= members
        members |= children
    totals: dict[str, float] = {}
    for pid in members:
        _, _, command, used = procs[pid]
        totals[command] = totals.get(command, 0.0) + used / ticks
    return totals


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """One HTTP request; returns (status, body) for any status instead of raising."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


@dataclass
class Server:
    """One server process and where its output goes."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    ready_url: str
    log_file: Path
    ready_timeout_s: float = 120.0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)

    def start(self) -> float:
        """Start the process and block until ``ready_url`` answers 200; return seconds to ready."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("wb")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = started + self.ready_timeout_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with {self.process.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            with contextlib.suppress(OSError):
                status, _ = http("GET", self.ready_url, timeout=1.0)
                if status == 200:
                    ready_s = time.perf_counter() - started
                    self._settle(deadline)
                    return ready_s
            time.sleep(0.01)
        raise ServerError(
            f"{self.name} was not ready after {self.ready_timeout_s:.0f} s:\n" + self.log_tail()
        )

    def _settle(self, deadline: float, needed: int = 20) -> None:
        """Wait for ``needed`` 200s in a row from the readiness URL, each on a new connection.

        Worker processes share the listening socket and each becomes ready on its own, so one 200
        may come from the first worker only; a run of them means every worker is serving.
        """
        streak = 0
        while streak < needed and time.perf_counter() < deadline:
            try:
                status, _ = http("GET", self.ready_url, timeout=1.0)
            except OSError:
                status = 0
            streak = streak + 1 if status == 200 else 0
            if streak == 0:
                time.sleep(0.01)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's output."""
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after ``grace_s``."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        if proc is not None:
            # Workers (gunicorn, uvicorn, R) share the group; make sure none outlives the run.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def running(server: Server) -> Iterator[float]:
    """Start ``server`` (yielding seconds to ready); stop it on the way out, whatever happened."""
    try:
        yield server.start()
    finally:
        server.stop()
