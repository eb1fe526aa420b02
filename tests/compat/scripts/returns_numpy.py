"""A script returning a numpy array, which azmlinfsrv's json.dumps cannot serialise."""

import json
import os
from typing import Any

import joblib
import numpy as np

weights = np.zeros(4)


def init() -> None:
    global weights
    weights = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "weights.joblib"))


def run(raw_data: str) -> Any:
    rows = np.array(json.loads(raw_data)["data"], dtype=float)
    return rows @ weights[:3] + weights[3]
