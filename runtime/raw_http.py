"""Whole requests in, whole responses out: azmlinfsrv's ``@rawhttp`` and ``AMLResponse`` contract.

A ``run`` marked with ``@rawhttp`` gets an :class:`~mlws.runtime.aml_request.AMLRequest` (a
werkzeug request, as Flask's) built from the :class:`ScoreRequest` by :func:`build_request`. What
any ``run`` returns may be a werkzeug/Flask ``Response`` (an ``AMLResponse``):
:func:`response_result` sends its status, headers and body as they are, as azmlinfsrv does.

Why werkzeug rather than an own request class: scripts use Flask's request API (``.args`` and
``.form`` multi-dicts, ``.files``, ``.get_json()`` and its errors, ``.full_path``...); werkzeug *is*
that API, and reimplementing its form and multipart parsing would be worse and larger.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlws.runtime.entry_script import ScoreOutputError, ScoreRequest, ScoreResult

if TYPE_CHECKING:
    from mlws.runtime.aml_request import AMLRequest

#: Set on a function by ``@rawhttp`` (azmlinfsrv sets a module flag instead).
RAWHTTP_ATTRIBUTE = "__mlws_rawhttp__"
#: Modules whose ``_rawHttpRequested`` flag marks raw scripts when they, not mlws's, were imported.
FOREIGN_FLAG_MODULES = (
    "azureml.contrib.services.aml_request",
    "azureml_inference_server_http.api.aml_request",
)
#: Response headers the server sets itself (azmlinfsrv overwrites the script's, as mlws does).
_SERVER_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "x-request-id",
        "x-ms-request-id",
        "x-ms-client-request-id",
        "x-ms-run-function-failed",
    }
)


def takes_raw_request(run: Callable[..., Any]) -> bool:
    """Whether ``run`` was decorated with ``@rawhttp`` (mlws's, or a real package's)."""
    if getattr(run, RAWHTTP_ATTRIBUTE, False):
        return True
    ours = sys.modules.get("mlws.runtime.aml_request")
    for name in FOREIGN_FLAG_MODULES:
        module = sys.modules.get(name)
        if (
            module is not None
            and module is not ours
            and getattr(module, "_rawHttpRequested", False)
        ):
            return True
    return False


def build_request(request: ScoreRequest) -> AMLRequest:
    """The WSGI request a Flask server would have made of ``request``."""
    from mlws.runtime.aml_request import AMLRequest

    body = b"" if request.method == "GET" else request.body  # GET's body is the query as JSON
    server_name, server_port = request.server or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path,
        "QUERY_STRING": request.query_string.decode("latin-1"),
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,  # the whole body, also when it came chunked
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if request.client is not None:
        environ["REMOTE_ADDR"], port = request.client
        environ["REMOTE_PORT"] = str(port)
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ[f"HTTP_{key}"] = value
    if body or "CONTENT_LENGTH" in environ:  # a chunked body was read whole: its length is known
        environ["CONTENT_LENGTH"] = str(len(body))
    return AMLRequest(environ)


def is_response(value: Any) -> bool:
    """Whether ``value`` is a werkzeug (so also Flask, ``AMLResponse``) response."""
    if "werkzeug" not in sys.modules:  # nothing imported werkzeug: no response can exist
        return False
    from werkzeug.sansio.response import Response

    return isinstance(value, Response)


def response_result(response: Any) -> ScoreResult:
    """What a werkzeug response says, as a :class:`ScoreResult` (body read whole)."""
    status = int(response.status_code)
    if not 100 <= status <= 599:
        raise ScoreOutputError(f"run() returned a response with the invalid status {status}")
    headers: list[tuple[str, str]] = []
    failed = status >= 500  # azmlinfsrv marks every 5xx from run() as a run failure
    for name, value in response.headers.items():
        lower = name.lower()
        if lower == "x-ms-run-function-failed":
            failed = failed or value == "True"
        elif lower not in _SERVER_HEADERS:
            headers.append((name, value))
    return ScoreResult(
        body=response.get_data(),
        status=status,
        content_type=response.headers.get("Content-Type", "application/octet-stream"),
        headers=headers,
        run_failed=failed,
    )
