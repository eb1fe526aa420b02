"""Entry script serving two models from one image: ``diabetes`` (regression) and ``iris`` (classes).

With several models, ``AZUREML_MODEL_DIR`` holds one ``$MODEL_NAME/$VERSION/`` folder per model
(as Azure ML lays them out); ``init()`` loads each model from its one version folder.

Request: ``{"model": "diabetes" | "iris", "data": [[features...], ...]}`` (10 features per row for
diabetes, 4 for iris). Response: ``{"model": ..., "version": ..., "predictions": [...]}``; for iris
the predictions are class names.
"""

import json
import os
from pathlib import Path

import joblib
import numpy as np

IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
FEATURES = {"diabetes": 10, "iris": 4}

models = {}


def _only_version(model_root):
    versions = sorted(p for p in model_root.iterdir() if p.is_dir())
    if len(versions) != 1:
        raise RuntimeError(f"expected one version folder in {model_root}, found {len(versions)}")
    return versions[0]


def init():
    """Load every model under AZUREML_MODEL_DIR/$MODEL_NAME/$VERSION/model.joblib."""
    root = Path(os.environ["AZUREML_MODEL_DIR"])
    for name in FEATURES:
        folder = _only_version(root / name)
        models[name] = (folder.name, joblib.load(folder / "model.joblib"))


def run(raw_data):
    """Score ``data`` with the model the request names."""
    request = json.loads(raw_data)
    name = request.get("model")
    if name not in models:
        raise ValueError(f"unknown model {name!r}; this service has {sorted(models)}")
    data = np.asarray(request["data"], dtype=float)
    if data.ndim != 2 or data.shape[1] != FEATURES[name]:
        raise ValueError(
            f"{name} expects rows of {FEATURES[name]} features, got shape {data.shape}"
        )
    version, model = models[name]
    predictions = model.predict(data).tolist()
    if name == "iris":
        predictions = [IRIS_CLASSES[int(p)] for p in predictions]
    return {"model": name, "version": version, "predictions": predictions}
