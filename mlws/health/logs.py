"""The service's log tail a failed check shows: from a log file and/or a log command, the lines of
the failed request first."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from mlws.health.spec import HealthCheckSpec

LOG_COMMAND_TIMEOUT_SECONDS = 30.0
"""Longest a log command may run."""


def tail_lines(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


LOG_READ_LIMIT = 256 * 1024
"""Bytes read from the end of a log file (or of a log command's output)."""

REQUEST_LOG_LINES = 20
"""Most log lines shown for the failed request."""


def read_log_tail(spec: HealthCheckSpec, request_id: str | None = None) -> str | None:
    """The tail of the spec's log file and/or log command output; None without a log source.

    Given the failed request's id, the log lines that mention it come first, with a JSON log
    line's ``traceback`` field shown as the traceback it is (the runtime logs the script's error
    that way). Problems reading the logs are reported in the returned text, never raised: the
    logs decorate an error and must not replace it.
    """
    texts: list[str] = []
    if spec.log_file is not None:
        path = Path(spec.log_file)
        try:
            with path.open("rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                handle.seek(max(0, size - LOG_READ_LIMIT))
                texts.append(handle.read().decode("utf-8", errors="replace"))
        except OSError as exc:
            texts.append(f"(cannot read log file {path}: {exc.strerror or exc})")
    if spec.log_command is not None:
        texts.append(_run_log_command(spec.log_command))
    if not texts:
        return None
    if not request_id:
        return "\n".join(tail_lines(text, spec.log_tail_lines) for text in texts)
    mentions = [line for text in texts for line in text.splitlines() if request_id in line]
    others = [
        "\n".join(line for line in text.splitlines() if request_id not in line) for text in texts
    ]
    tail = "\n".join(tail_lines(text, spec.log_tail_lines) for text in others)
    if not mentions:
        return tail
    rendered = "\n".join(_render_log_line(line) for line in mentions[-REQUEST_LOG_LINES:])
    return f"[lines for request {request_id}]\n{rendered}\n[other lines, last]\n{tail}"


def _render_log_line(line: str) -> str:
    """A JSON log line with a ``traceback`` as its message and the traceback, else the line."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or not isinstance(record.get("traceback"), str):
        return line
    return f"{record.get('message', '')}\n{record['traceback'].rstrip()}"


def _run_log_command(command: str) -> str:
    argv = shlex.split(command)
    try:
        done = subprocess.run(  # noqa: S603 - argv from the user's own program, no shell
            argv,
            capture_output=True,
            timeout=LOG_COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        return f"(log command not found: {argv[0]})"
    except subprocess.TimeoutExpired:
        return f"(log command did not finish within {LOG_COMMAND_TIMEOUT_SECONDS:.0f}s)"
    out = done.stdout[-LOG_READ_LIMIT:].decode("utf-8", errors="replace")
    err = done.stderr[-LOG_READ_LIMIT:].decode("utf-8", errors="replace")
    text = out + err
    if done.returncode != 0:
        text += f"\n(log command exited with {done.returncode})"
    return text
