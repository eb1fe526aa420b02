"""What every log source shares: the line type, the error, the source protocol, and the rules
that pick the start-up part of a runtime log."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from mlws.service import ServiceError


class LogError(ServiceError):
    """Logs could not be read; the message names what is missing."""


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line and where it came from (a pod or container name, or None)."""

    text: str
    source: str | None = None

    def render(self) -> str:
        """The line as printed: ``[source] text`` when labelled."""
        return f"[{self.source}] {self.text}" if self.source else self.text


class LogSource(Protocol):
    """Something that can produce a service's log lines."""

    def lines(
        self, *, tail: int | None, follow: bool, init: bool, stop: threading.Event
    ) -> Iterator[LogLine]:
        """Yield the last ``tail`` lines (all when None), then new ones while ``follow`` until
        ``stop`` is set. ``init`` selects the start-up (init container) logs."""
        ...


#: Paths of health probes and scrapes; their request lines do not end the start-up section.
PROBE_PATHS = frozenset({"/", "/live", "/ready", "/metrics"})


def request_path(text: str) -> str | None:
    """The path of the runtime's per-request JSON log line, or None for any other line."""
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or "status" not in data:
        return None
    if "request_id" not in data and "path" not in data and "method" not in data:
        return None
    path = data.get("path")
    return path if isinstance(path, str) else ""


def is_request_line(text: str) -> bool:
    """True for the runtime's per-request JSON log line (it has a status and a request id)."""
    return request_path(text) is not None


def startup_lines(lines: Iterable[str]) -> Iterator[str]:
    """The start-up part of a log: every line before the first real (non-probe) request,
    without the probe request lines."""
    for line in lines:
        path = request_path(line)
        if path is None:
            yield line
        elif path not in PROBE_PATHS:
            return


def tail_of(lines: Iterable[str], tail: int | None) -> list[str]:
    if tail is None:
        return list(lines)
    if tail <= 0:
        return []
    return list(deque(lines, maxlen=tail))
