"""``AMLResponse`` for entry scripts, as azmlinfsrv offers it.

Scripts import it as ``azureml.contrib.services.aml_response`` (or
``azureml_inference_server_http.api.aml_response``); when no real package of that name is
installed, :mod:`mlws.runtime.azureml_modules` makes those names this module. ``run`` may return
an :class:`AMLResponse` (or any werkzeug/Flask ``Response``): it is sent as it is, with its status,
headers and body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response

__all__ = ["AMLResponse"]


class AMLResponse(Response):
    """A response ``run`` returns as it is: ``AMLResponse(body, status, headers)``.

    As azmlinfsrv's: ``json_str=True`` sends ``json.dumps(message)`` as ``application/json``;
    ``message=None`` sends ``{}``; otherwise ``message`` (``str`` or ``bytes``) is the body, sent as
    ``text/html`` unless ``response_headers`` names a ``Content-Type``. A header value with commas
    becomes one header per item. ``run_function_failed`` sets ``x-ms-run-function-failed``.
    """

    #: Flask's default, which azmlinfsrv's AMLResponse inherits.
    default_mimetype = "text/html"

    def __init__(
        self,
        message: Any,
        status_code: int,
        response_headers: Mapping[str, str] | None = None,
        json_str: bool = False,
        run_function_failed: bool = False,
    ) -> None:
        headers = dict(response_headers or {})
        if message is None:
            super().__init__(json.dumps({}), status=status_code, mimetype="application/json")
        elif json_str:
            super().__init__(json.dumps(message), status=status_code, mimetype="application/json")
        else:
            super().__init__(message, status=status_code)
            if "Content-Type" in headers:
                self.headers.remove("Content-Type")  # the loop below adds the script's
        self.headers["x-ms-run-function-failed"] = str(run_function_failed)
        for name, value in headers.items():
            for item in value.split(","):
                self.headers.add_header(name, item.strip())
