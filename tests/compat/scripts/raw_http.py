"""A @rawhttp script as Azure ML's docs write them: whole requests in, AMLResponse out."""

import json
from typing import Any

from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init() -> None:
    pass


def describe(request: AMLRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "full_path": request.full_path,
        "args": {key: request.args.getlist(key) for key in request.args},
        "content_type": request.content_type,
        "mimetype": request.mimetype,
        "is_json": request.is_json,
        "custom": request.headers.get("X-Custom"),
        "has_content_length": "Content-Length" in request.headers,
    }


@rawhttp  # type: ignore[untyped-decorator]
def run(request: AMLRequest) -> Any:
    if request.method == "GET":
        if request.args.get("fail"):
            raise ValueError("asked to fail")
        if "teapot" in request.args:
            headers = {"Content-Type": "text/plain", "X-Custom": "a, b", "X-Single": "one"}
            return AMLResponse("short and stout", 418, headers)
        if "none" in request.args:
            return AMLResponse(None, 202)
        if "describe" in request.args:
            return describe(request)  # a plain value: sent as JSON, as for any script
        return AMLResponse(str.encode(request.full_path), 200)
    if request.method == "OPTIONS":
        cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, POST"}
        return AMLResponse("", 204, cors)
    if request.method == "POST":
        if request.is_json:
            payload = request.get_json()
            return AMLResponse({"got": payload, **describe(request)}, 201, json_str=True)
        if request.files:
            upload = request.files["image"]
            data = upload.read()
            answer = {
                "filename": upload.filename,
                "size": len(data),
                "first": data[:4].hex(),
                "form": request.form.to_dict(),
            }
            return AMLResponse(json.dumps(answer), 200, {"Content-Type": "application/json"})
        if request.mimetype == "application/octet-stream":
            body = request.get_data(False)
            headers = {"Content-Type": "application/octet-stream", "X-Length": str(len(body))}
            return AMLResponse(bytes(reversed(body)), 200, headers)
        if request.headers.get("X-Fail-Softly"):
            return AMLResponse("the script says no", 200, run_function_failed=True)
        if request.headers.get("X-Server-Error"):
            return AMLResponse({"error": "model unavailable"}, 503, json_str=True)
        return AMLResponse(request.get_data(as_text=True).upper(), 200)
    return AMLResponse("bad request", 500)
