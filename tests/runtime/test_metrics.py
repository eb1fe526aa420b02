"""Prometheus metrics: counting, rendering, and merging the snapshots of several workers."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from mlws.runtime.metrics import BUCKETS, Metrics


def test_counts_and_histogram_render() -> None:
    metrics = Metrics()
    metrics.observe("/score", 200, 0.003)
    metrics.observe("/score", 200, 0.2)
    metrics.observe("/score", 500, 100.0)
    text = metrics.render().decode()
    assert 'mlws_requests_total{route="/score",status="200"} 2' in text
    assert 'mlws_requests_total{route="/score",status="500"} 1' in text
    assert 'mlws_request_duration_seconds_bucket{route="/score",le="0.001"} 0' in text
    assert 'mlws_request_duration_seconds_bucket{route="/score",le="0.005"} 1' in text
    assert 'mlws_request_duration_seconds_bucket{route="/score",le="0.25"} 2' in text
    assert 'mlws_request_duration_seconds_bucket{route="/score",le="60.0"} 2' in text
    assert 'mlws_request_duration_seconds_bucket{route="/score",le="+Inf"} 3' in text
    assert 'mlws_request_duration_seconds_count{route="/score"} 3' in text
    assert "# TYPE mlws_request_duration_seconds histogram" in text
    assert text.endswith("\n")


def test_workers_merge_through_snapshots(tmp_path: Path) -> None:
    other = {
        "counts": {"/score": {"200": 5}, "/": {"200": 1}},
        "latency": {
            "/score": {"buckets": [5] + [0] * len(BUCKETS), "count": 5, "sum": 0.004},
            "/": {"buckets": [1] + [0] * len(BUCKETS), "count": 1, "sum": 0.0001},
        },
    }
    (tmp_path / "worker-1.json").write_bytes(orjson.dumps(other))
    (tmp_path / "worker-2.json").write_text("{broken")  # a half-written file is skipped
    mine = Metrics(tmp_path)
    mine.observe("/score", 200, 0.0005)
    mine.flush()
    assert (tmp_path / f"worker-{os.getpid()}.json").is_file()
    text = mine.render().decode()
    assert 'mlws_requests_total{route="/score",status="200"} 6' in text
    assert 'mlws_requests_total{route="/",status="200"} 1' in text
    assert 'mlws_request_duration_seconds_count{route="/score"} 6' in text


def test_flush_writes_only_when_something_changed(tmp_path: Path) -> None:
    metrics = Metrics(tmp_path)
    metrics.flush()
    assert list(tmp_path.iterdir()) == []
    metrics.observe("/", 200, 0.001)
    metrics.flush()
    assert len(list(tmp_path.iterdir())) == 1
