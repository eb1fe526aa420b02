"""Echo what run() received: the parsed body and, when asked, request headers or odd results."""

import datetime
import json
from typing import Any

import numpy as np


def init() -> None:
    pass


def run(raw_data: str, request_headers: dict[str, str]) -> Any:
    request = json.loads(raw_data)
    ask = request.get("return") if isinstance(request, dict) else None
    if ask == "none":
        return None
    if ask == "big_int":
        return {"id": 2**70}
    if ask == "numpy_int":
        return {"count": np.int64(3)}
    if ask == "datetime":
        return {"at": datetime.datetime(2026, 1, 2, 3, 4, 5)}
    if ask == "nan":
        return {"value": float("nan")}
    if ask == "header":
        # Azure ML scripts read headers by their usual spelling.
        return {
            "custom": request_headers.get("X-Custom"),
            "type": request_headers.get("Content-Type"),
        }
    return request
