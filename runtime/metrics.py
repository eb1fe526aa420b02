"""Prometheus metrics: request counts by route and status, and a latency histogram by route.

Counting is plain in-process arithmetic (a dict lookup and two additions per request). With several
worker processes each one writes a snapshot to ``metrics_dir`` about once a second (and when it
stops); ``GET /metrics``, whichever worker answers it, adds its live numbers to the other workers'
latest snapshots. So other workers' counts can be up to a second old, never lost.
"""

from __future__ import annotations

import bisect
import contextlib
import os
from pathlib import Path
from typing import Any

import orjson

#: Histogram bucket upper bounds, seconds.
BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class _Histogram:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.count = 0
        self.sum = 0.0


class Metrics:
    """Request metrics of one worker process, optionally merged with its siblings' snapshots."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.counts: dict[str, dict[int, int]] = {}
        self.latency: dict[str, _Histogram] = {}
        self._dirty = False
        self._file = directory / f"worker-{os.getpid()}.json" if directory else None

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        by_status = self.counts.get(route)
        if by_status is None:
            by_status = self.counts[route] = {}
            self.latency[route] = _Histogram()
        by_status[status] = by_status.get(status, 0) + 1
        histogram = self.latency[route]
        histogram.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        histogram.count += 1
        histogram.sum += seconds
        self._dirty = True

    def snapshot(self) -> dict[str, Any]:
        """This process's numbers as plain JSON-able data."""
        return {
            "counts": {r: {str(s): n for s, n in c.items()} for r, c in self.counts.items()},
            "latency": {
                r: {"buckets": h.buckets, "count": h.count, "sum": h.sum}
                for r, h in self.latency.items()
            },
        }

    def flush(self) -> None:
        """Write this process's snapshot for the other workers (atomically), if it changed."""
        if self._file is None or not self._dirty:
            return
        self._dirty = False
        temporary = self._file.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps(self.snapshot()))
        temporary.replace(self._file)

    def _merged(self) -> dict[str, Any]:
        snapshots = [self.snapshot()]
        if self.directory is not None:
            for path in sorted(self.directory.glob("worker-*.json")):
                if path == self._file:
                    continue
                with contextlib.suppress(OSError, orjson.JSONDecodeError):
                    snapshots.append(orjson.loads(path.read_bytes()))
        counts: dict[str, dict[str, int]] = {}
        latency: dict[str, dict[str, Any]] = {}
        for snap in snapshots:
            for route, by_status in snap.get("counts", {}).items():
                target = counts.setdefault(route, {})
                for status, n in by_status.items():
                    target[status] = target.get(status, 0) + int(n)
            for route, hist in snap.get("latency", {}).items():
                merged = latency.setdefault(
                    route, {"buckets": [0] * (len(BUCKETS) + 1), "count": 0, "sum": 0.0}
                )
                for i, n in enumerate(hist["buckets"][: len(BUCKETS) + 1]):
                    merged["buckets"][i] += int(n)
                merged["count"] += int(hist["count"])
                merged["sum"] += float(hist["sum"])
        return {"counts": counts, "latency": latency}

    def render(self) -> bytes:
        """The Prometheus text exposition of all workers' metrics."""
        data = self._merged()
        lines = [
            "# HELP mlws_requests_total Requests answered, by route and status.",
            "# TYPE mlws_requests_total counter",
        ]
        for route in sorted(data["counts"]):
            for status in sorted(data["counts"][route]):
                n = data["counts"][route][status]
                lines.append(f'mlws_requests_total{{route="{route}",status="{status}"}} {n}')
        lines += [
            "# HELP mlws_request_duration_seconds Time from request to response, by route.",
            "# TYPE mlws_request_duration_seconds histogram",
        ]
        for route in sorted(data["latency"]):
            hist = data["latency"][route]
            cumulative = 0
            for bound, n in zip((*BUCKETS, float("inf")), hist["buckets"], strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                labels = f'route="{route}",le="{le}"'
                lines.append(f"mlws_request_duration_seconds_bucket{{{labels}}} {cumulative}")
            lines.append(f'mlws_request_duration_seconds_sum{{route="{route}"}} {hist["sum"]}')
            lines.append(f'mlws_request_duration_seconds_count{{route="{route}"}} {hist["count"]}')
        return ("\n".join(lines) + "\n").encode()
