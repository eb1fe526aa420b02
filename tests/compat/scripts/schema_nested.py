"""The Azure ML studio style schema: nested "Inputs" and "GlobalParameters" objects."""

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

INPUTS_SAMPLE = StandardPythonParameterType(
    {"data": NumpyParameterType(np.array([[0.1, 0.2, 0.3]]))}
)
GLOBALS_DEFAULT = {"round": 2}
GLOBALS_SAMPLE = StandardPythonParameterType(GLOBALS_DEFAULT)
OUTPUT_SAMPLE = StandardPythonParameterType({"Results": [0.5]})


def init() -> None:
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


@input_schema("Inputs", INPUTS_SAMPLE)  # type: ignore[untyped-decorator]
@input_schema("GlobalParameters", GLOBALS_SAMPLE)  # type: ignore[untyped-decorator]
@output_schema(OUTPUT_SAMPLE)  # type: ignore[untyped-decorator]
def run(
    Inputs: dict[str, Any], GlobalParameters: dict[str, Any] = GLOBALS_DEFAULT
) -> dict[str, Any]:
    digits = GlobalParameters.get("round", 2)
    data = Inputs["data"]
    assert isinstance(data, np.ndarray), type(data)
    return {"Results": np.round(model.predict(data), digits).tolist(), "dtype": str(data.dtype)}
