"""Azure ML style entry script for the benchmark's scikit-learn models (mlws and azmlinfsrv).

``run`` is the per-request contract; ``run_batch`` is mlws's opt-in micro-batching contract: a
list of raw request bodies in, one result per body out, in order (see docs/runtime.md).
"""

from __future__ import annotations

import json
import os
from typing import Any

import joblib
import numpy as np

model: Any = None


def init() -> None:
    """Load the model from ``AZUREML_MODEL_DIR``."""
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


def run(raw_data: str) -> list[float]:
    """Predict for the rows in ``{"data": [[...], ...]}``."""
    data = np.asarray(json.loads(raw_data)["data"], dtype=np.float64)
    result: list[float] = model.predict(data).tolist()
    return result


def run_batch(raw_data_list: list[str]) -> list[Any]:
    """Predict for several requests with one ``predict`` call, then split the rows back."""
    rows: list[np.ndarray[Any, Any]] = []
    results: list[Any] = [None] * len(raw_data_list)
    owners: list[tuple[int, int]] = []
    for index, raw in enumerate(raw_data_list):
        try:
            data = np.asarray(json.loads(raw)["data"], dtype=np.float64)
            if data.ndim != 2:
                raise ValueError("data must be a list of rows")
        except (ValueError, KeyError, TypeError) as exc:
            results[index] = exc
            continue
        rows.append(data)
        owners.append((index, len(data)))
    if rows:
        predictions = model.predict(np.concatenate(rows)).tolist()
        start = 0
        for index, count in owners:
            results[index] = predictions[start : start + count]
            start += count
    return results
