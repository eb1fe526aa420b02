"""A plain Azure ML entry script: init() loads the model into a global, run() gets the raw body."""

import json
import os
from typing import Any

import joblib
import numpy as np

model: Any = None


def init() -> None:
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


def run(raw_data: str) -> list[float]:
    data = np.array(json.loads(raw_data)["data"], dtype=float)
    predictions: list[float] = model.predict(data).tolist()
    return predictions
