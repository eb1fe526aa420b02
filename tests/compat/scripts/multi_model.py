"""Several models in one service: $AZUREML_MODEL_DIR/$MODEL_NAME/$VERSION/ as in the seed."""

import json
import os
from typing import Any

import joblib
import numpy as np

models: dict[str, Any] = {}


def init() -> None:
    root = os.environ["AZUREML_MODEL_DIR"]
    for name, version in (("doubler", "1"), ("doubler", "2"), ("negator", "1")):
        models[f"{name}:{version}"] = joblib.load(os.path.join(root, name, version, "model.joblib"))


def run(raw_data: str) -> dict[str, Any]:
    request = json.loads(raw_data)
    factor = models[request["model"]]
    predictions = np.array(request["data"], dtype=float) @ factor
    return {"model": request["model"], "predictions": predictions.tolist()}
