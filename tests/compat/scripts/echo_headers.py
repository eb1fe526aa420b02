"""Echo what run() received: the parsed body and, when asked, request headers or odd results."""

import json
from typing import Any


def init() -> None:
    pass


def run(raw_data: str, request_headers: dict[str, str]) -> Any:
    request = json.loads(raw_data)
    ask = request.get("return") if isinstance(request, dict) else None
    if ask == "none":
        return None
    if ask == "nan":
        return {"value": float("nan")}
    if ask == "header":
        # Azure ML scripts read headers by their usual spelling.
        return {
            "custom": request_headers.get("X-Custom"),
            "type": request_headers.get("Content-Type"),
        }
    return request
