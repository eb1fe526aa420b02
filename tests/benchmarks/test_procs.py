"""Process helpers of the benchmark harness."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.procs import (
    Server,
    ServerError,
    free_port,
    group_cpu_by_command,
    group_cpu_seconds,
)


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_group_cpu_seconds_grows_with_work() -> None:
    pgid = os.getpgid(0)
    before = group_cpu_seconds(pgid)
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    assert group_cpu_seconds(pgid) - before >= 0.05
    assert group_cpu_seconds(2**22 + 12345) == 0.0  # no such group


def test_group_cpu_is_split_by_command_name() -> None:
    """The R workers' share is told apart by command name; here this process's own name."""
    pgid = os.getpgid(0)
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    by_command = group_cpu_by_command(pgid)
    own = Path(f"/proc/{os.getpid()}/stat").read_bytes()
    name = own[own.index(b"(") + 1 : own.rindex(b")")].decode()
    assert by_command[name] >= 0.15
    assert sum(by_command.values()) == pytest.approx(group_cpu_seconds(pgid), abs=0.05)


def test_group_cpu_counts_children_in_sessions_of_their_own() -> None:
    """mlws's R workers run in their own sessions; their CPU is still the server's."""
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import time\\nend = time.process_time() + 0.3\\nwhile time.process_time() < end: pass"
        "\\ntime.sleep(30)'], start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(30)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        try:
            assert os.getpgid(child) != parent.pid
            for _ in range(100):
                if group_cpu_seconds(parent.pid) >= 0.25:
                    break
                time.sleep(0.1)
            assert group_cpu_seconds(parent.pid) >= 0.25
        finally:
            for group in (child, parent.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, 9)


def test_server_that_dies_reports_its_output(tmp_path: Path) -> None:
    server = Server(
        name="dies",
        command=[sys.executable, "-c", "print('boom at start'); raise SystemExit(3)"],
        env=dict(os.environ),
        cwd=tmp_path,
        ready_url=f"http://127.0.0.1:{free_port()}/ready",
        log_file=tmp_path / "dies.log",
        ready_timeout_s=10,
    )
    with pytest.raises(ServerError, match="boom at start"):
        server.start()
    server.stop()
    assert server.process is not None
    assert server.process.returncode == 3
