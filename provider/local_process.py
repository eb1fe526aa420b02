"""Background ``mlws serve`` processes: start detached, recognise, stop. No Pulumi here.

A process is recorded by its pid *and* its start time (clock ticks since boot, as
``/proc/<pid>/stat`` field 22 has it), so a later run of the plugin never mistakes a new process
that reused the pid for the service it started. Processes run in their own session
(``start_new_session``), so they outlive the plugin process and a stop signals the whole group (the
server's worker processes included). Start times, states and process groups are read with psutil.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

HASH_EXCLUDED_DIRS = frozenset({"__pycache__", ".git", ".mlws", ".ipynb_checkpoints", ".venv"})
"""Folders left out of content hashes (caches and tool state, not what is served)."""

HASH_EXCLUDED_SUFFIXES = frozenset({".pyc", ".log"})
"""Files left out of content hashes: bytecode, and logs (a service logging into its own source
folder must not look changed, and restart, on every ``pulumi up``)."""

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Processes started by this plugin process, kept so they can be reaped (no zombies)."""


@dataclass(frozen=True)
class ProcessRecord:
    """What identifies a started process."""

    pid: int
    """Process id (also its process group and session id)."""
    start_ticks: int | None
    """Start time in clock ticks since boot, None where unavailable."""


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if unknown or gone."""
    try:
        created = psutil.Process(pid).create_time()
        booted = psutil.boot_time()
    except (psutil.Error, OSError):
        return None
    return round((created - booted) * os.sysconf("SC_CLK_TCK"))


def _status(pid: int) -> str | None:
    try:
        return str(psutil.Process(pid).status())
    except psutil.ZombieProcess:
        return str(psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return None


def _is_zombie(pid: int) -> bool:
    """Exited, only its exit status left. A multi-threaded process whose main thread is already
    a zombie while other threads still exit is *not* one yet: those threads still hold its files
    (the listening socket), so it counts as running until every thread is gone."""
    if _status(pid) != psutil.STATUS_ZOMBIE:
        return False
    try:
        threads = psutil.Process(pid).threads()
    except psutil.Error:
        return True
    gone = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD, None)
    return all(_status(thread.id) in gone for thread in threads)


def is_alive(record: ProcessRecord) -> bool:
    """Whether the recorded process still runs (not exited, not a zombie, pid not reused)."""
    child = _CHILDREN.get(record.pid)
    if child is not None:  # our own child: exited only once reaped (all its threads gone)
        if child.poll() is not None:
            _CHILDREN.pop(record.pid, None)
            return False
        ticks = process_start_ticks(record.pid)
        return record.start_ticks is None or ticks is None or ticks == record.start_ticks
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else: the start-time check decides
    if _is_zombie(record.pid):
        return False
    if record.start_ticks is not None:
        return process_start_ticks(record.pid) == record.start_ticks
    return True


def exit_code(record: ProcessRecord) -> int | None:
    """The exit status when this plugin process started it and it has exited, else None."""
    child = _CHILDREN.get(record.pid)
    return None if child is None else child.poll()


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_port_free(host: str, port: int, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``host:port`` to stop accepting; True once it is free."""
    deadline = time.monotonic() + seconds
    while port_in_use(host, port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def tree_hash(root: Path) -> str:
    """SHA-256 over a folder's files (relative paths and contents), caches excluded; or a file's."""
    digest = hashlib.sha256()
    if root.is_file():
        with root.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    files = sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not any(part in HASH_EXCLUDED_DIRS for part in path.relative_to(root).parts)
        and path.suffix not in HASH_EXCLUDED_SUFFIXES
    )
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def mlws_command() -> list[str]:
    """How to run the ``mlws`` CLI of this Python environment."""
    script = Path(sys.executable).with_name("mlws")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from mlws.cli.main import app; app()"]


def start(argv: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> ProcessRecord:
    """Start ``argv`` detached (own session), output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n=== mlws local service starting at {time.ctime()}: {argv[-1]}\n".encode())
        log.flush()
        child = subprocess.Popen(  # noqa: S603 - argv is built by this module, no shell
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[child.pid] = child
    return ProcessRecord(pid=child.pid, start_ticks=process_start_ticks(child.pid))


def stop(record: ProcessRecord, grace_seconds: float) -> bool:
    """SIGTERM the process group, SIGKILL it after ``grace_seconds``; True if it was running.

    Returns once the whole group is gone, worker processes included, so the port is free for a
    restart.
    """
    if not is_alive(record) and not _leftovers(record):
        _CHILDREN.pop(record.pid, None)
        return False
    _signal_group(record.pid, signal.SIGTERM)
    if not _wait_gone(record, grace_seconds):
        _signal_group(record.pid, signal.SIGKILL)
        _wait_gone(record, 5.0)
    _CHILDREN.pop(record.pid, None)
    return True


def _leftovers(record: ProcessRecord) -> bool:
    """Workers of the recorded group still running after their leader exited."""
    ticks = process_start_ticks(record.pid)
    if ticks is not None and record.start_ticks is not None and ticks != record.start_ticks:
        return False  # the pid (and so possibly the group id) belongs to another process now
    return group_alive(record.pid)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process of group ``pgid`` is left: a dead leader's workers
    may linger and hold the port. Zombies do not count: they hold nothing, and whether they are
    reaped depends on the machine's init."""
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                return True
        except (psutil.Error, OSError):
            continue  # exited while we looked
    return False


def _wait_gone(record: ProcessRecord, seconds: float) -> bool:
    def gone() -> bool:
        return not is_alive(record) and not group_alive(record.pid)

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone():
            return True
        time.sleep(0.05)
    return gone()
