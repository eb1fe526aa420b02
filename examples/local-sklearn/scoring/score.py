"""Azure ML style entry script for the diabetes Ridge model.

Request: ``{"data": [[10 floats], ...]}``: rows of the ten standardised features of sklearn's
diabetes data.
Response: a list with one predicted disease-progression value per row.
"""

import json
import os

import joblib
import numpy as np

model = None


def init():
    """Load the model once, from the folder mlws (or Azure ML) names in AZUREML_MODEL_DIR."""
    global model
    model_path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib")
    model = joblib.load(model_path)


def run(raw_data):
    """Predict for each row of ``data``."""
    data = np.asarray(json.loads(raw_data)["data"], dtype=float)
    if data.ndim != 2 or data.shape[1] != 10:
        raise ValueError(f"expected rows of 10 features, got shape {data.shape}")
    return model.predict(data).tolist()
