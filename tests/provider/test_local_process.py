"""mlws.provider.local_process: content hashes, process records, stopping (no plugin, no Pulumi)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlws.provider import local_process
from mlws.provider.local_process import ProcessRecord


def _wait_for_line(log: Path, wanted: Callable[[str], bool], seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if wanted(line.strip()):
                return line.strip()
        time.sleep(0.05)
    raise AssertionError(f"no such line in {log}: {log.read_text()!r}")


def test_tree_hash_follows_content_not_caches_or_logs(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text("def run(x): return x\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "util.py").write_text("A = 1\n")
    first = local_process.tree_hash(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "score.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "service.log").write_text("request 1\n")
    assert local_process.tree_hash(tmp_path) == first
    (tmp_path / "lib" / "util.py").write_text("A = 2\n")
    assert local_process.tree_hash(tmp_path) != first
    (tmp_path / "lib" / "util.py").write_text("A = 1\n")
    assert local_process.tree_hash(tmp_path) == first
    (tmp_path / "lib" / "util.py").rename(tmp_path / "lib" / "other.py")
    assert local_process.tree_hash(tmp_path) != first  # names count, not just bytes
    single = tmp_path / "model.bin"
    single.write_bytes(b"weights")
    assert local_process.tree_hash(single) == local_process.tree_hash(single)


def test_a_record_is_alive_only_for_the_same_process(tmp_path: Path) -> None:
    record = local_process.start(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
        {"PATH": "/usr/bin:/bin"},
        tmp_path,
        tmp_path / "out.log",
    )
    try:
        assert _wait_for_line(tmp_path / "out.log", lambda line: line == "up") == "up"
        assert local_process.is_alive(record)
        assert record.start_ticks is not None
        reused = ProcessRecord(record.pid, record.start_ticks + 1)  # same pid, other start time
        assert not local_process.is_alive(reused)
    finally:
        assert local_process.stop(record, grace_seconds=5)
    assert not local_process.is_alive(record)
    assert not local_process.stop(record, grace_seconds=5)  # already gone: nothing to do


def test_stop_escalates_to_sigkill_and_reaches_the_group(tmp_path: Path) -> None:
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    log = tmp_path / "out.log"
    record = local_process.start([sys.executable, "-c", stubborn], {}, tmp_path, log)
    child_pid = int(_wait_for_line(log, str.isdigit))
    started = time.monotonic()
    assert local_process.stop(record, grace_seconds=0.5)
    assert time.monotonic() - started < 10
    assert not local_process.is_alive(record)
    child = ProcessRecord(child_pid, None)
    deadline = time.monotonic() + 5
    while local_process.is_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not local_process.is_alive(child)  # the worker in the same group went too


def test_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert local_process.port_in_use("127.0.0.1", port)
    assert not local_process.port_in_use("127.0.0.1", port)


def test_mlws_command_is_this_environments_cli() -> None:
    command = local_process.mlws_command()
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "serve" in done.stdout


def test_group_alive_sees_a_leftover_worker(tmp_path: Path) -> None:
    # The leader exits at once; its worker (same process group) stays and would hold the port.
    leader = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
    )
    log = tmp_path / "out.log"
    record = local_process.start([sys.executable, "-c", leader], {}, tmp_path, log)
    worker = int(_wait_for_line(log, str.isdigit))
    deadline = time.monotonic() + 10
    while local_process.is_alive(record) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not local_process.is_alive(record)
    assert local_process.group_alive(record.pid)
    assert local_process.stop(record, grace_seconds=5)  # stops the leftover worker
    assert not local_process.group_alive(record.pid)
    assert not local_process.is_alive(ProcessRecord(worker, None))


def test_inputs_take_their_defaults_and_bounds_from_the_runtime_settings() -> None:
    from mlws.provider.local_process_resource import LocalProcessServiceInputs
    from mlws.runtime.settings import RuntimeSettings

    ours, runtime = LocalProcessServiceInputs.model_fields, RuntimeSettings.model_fields
    for name in ("entry_script", "host", "port", "workers", "auth_mode"):
        assert str(ours[name].default) == str(runtime[name].default), name
    assert ours["workers"].metadata == runtime["workers"].metadata
    assert [getattr(m, "ge", None) for m in ours["port"].metadata] == [1, None]  # no ephemeral port
