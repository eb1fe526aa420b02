"""A script that returns a JSON string (as many Azure ML scripts do): it is sent JSON-encoded."""

import json
import os

import joblib
import numpy as np

weights = np.zeros(4)


def init() -> None:
    global weights
    weights = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "weights.joblib"))


def run(raw_data: str) -> str:
    rows = np.array(json.loads(raw_data)["data"], dtype=float)
    return json.dumps({"result": (rows @ weights[:3] + weights[3]).tolist()})
