"""Structured logging: every line the server writes is one JSON object on stderr.

Request lines come from the ``mlws.access`` logger with ``ts``, ``level``, ``logger``, ``message``
(``"request"``), ``request_id``, ``method``, ``path``, ``status`` and ``latency_ms``. Other lines
(start-up, script errors with their ``traceback``) share the same shape. Nothing here ever sees an
``Authorization`` header.
"""

from __future__ import annotations

import logging
import sys
import time
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


def access_record(
    request_id: str, method: str, path: str, status: int, latency_ms: float
) -> dict[str, Any]:
    """The fields of one request line."""
    return {
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "latency_ms": round(latency_ms, 3),
    }
