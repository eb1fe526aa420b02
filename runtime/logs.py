"""Structured logging: every line the server writes is one JSON object on stderr.

Request lines (:class:`AccessLog`, ``"logger": "mlws.access"``) carry ``ts``, ``level``, ``logger``,
``message`` (``"request"``), ``request_id``, ``method``, ``path``, ``status`` and ``latency_ms``.
Other lines (start-up, script errors with their ``traceback``) share the same shape. Nothing here
ever sees an ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

ACCESS_LOGGER = "mlws.access"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line; ``record.fields`` (a dict), if set, is merged in."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            data.update(fields)
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


def configure_logging(level: str = "info") -> None:
    """Send the root, uvicorn and mlws loggers to stderr as JSON lines at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, logging.ERROR))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # mlws writes its own request line


class AccessLog:
    """Writes the request lines: one JSON object per line, straight to a file descriptor.

    The ``logging`` machinery costs more per request than the rest of the request path, so the
    request line bypasses it: lines are buffered and written in chunks of whole lines no larger
    than ``PIPE_BUF`` (atomic on a pipe, so workers sharing stderr never interleave mid-line), at
    the latest ``flush_after_s`` after the first buffered line. ``sink`` replaces the descriptor
    (tests); ``enabled`` is false when the log level is above ``info``.
    """

    CHUNK = 4000

    def __init__(
        self,
        *,
        enabled: bool = True,
        fd: int = 2,
        sink: Callable[[bytes], None] | None = None,
        flush_after_s: float = 0.1,
    ) -> None:
        self.enabled = enabled
        self._fd = fd
        self._sink = sink
        self._flush_after_s = flush_after_s
        self._lines: list[bytes] = []
        self._size = 0
        self._second = -1
        self._stamp = ""
        self._flush_handle: asyncio.TimerHandle | None = None

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def write(
        self, request_id: str, method: str, path: str, status: int, latency_ms: float
    ) -> None:
        """Record one request."""
        line = orjson.dumps(
            {
                "ts": self._timestamp(time.time()),
                "level": "info",
                "logger": ACCESS_LOGGER,
                "message": "request",
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "latency_ms": round(latency_ms, 3),
            }
        )
        self._lines.append(line + b"\n")
        self._size += len(line) + 1
        if self._size >= self.CHUNK:
            self.flush()
        elif self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush_handle = loop.call_later(self._flush_after_s, self.flush)

    def flush(self) -> None:
        """Write out the buffered lines."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        lines, self._lines, self._size = self._lines, [], 0
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > self.CHUNK:
                self._emit(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._emit(b"".join(chunk))

    def _emit(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink(data)
            return
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except OSError:
                return  # a closed stderr must not break serving
            view = view[written:]
