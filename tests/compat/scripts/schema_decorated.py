"""An inference_schema-decorated entry script: parsed, typed input and a schema for swagger."""

import os
from typing import Any

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema

model: Any = None


def init() -> None:
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


DATA_SAMPLE = NumpyParameterType(np.array([[0.1, 0.2, 0.3]]))
SCALE_SAMPLE = StandardPythonParameterType(1.0)
OUTPUT_SAMPLE = StandardPythonParameterType({"predictions": [0.5], "scale": 1.0})


@input_schema("data", DATA_SAMPLE)  # type: ignore[untyped-decorator]
@input_schema("scale", SCALE_SAMPLE)  # type: ignore[untyped-decorator]
@output_schema(OUTPUT_SAMPLE)  # type: ignore[untyped-decorator]
def run(data: Any, scale: float = 1.0) -> dict[str, Any]:
    return {"predictions": (model.predict(data) * scale).tolist(), "scale": scale}
