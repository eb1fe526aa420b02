"""``AMLRequest`` and ``@rawhttp`` for entry scripts, as azmlinfsrv offers them.

Scripts import them as ``azureml.contrib.services.aml_request`` (or
``azureml_inference_server_http.api.aml_request``); when no real package of that name is
installed, :mod:`mlws.runtime.azureml_modules` makes those names this module. A ``run`` decorated
with :func:`rawhttp` gets the whole request, an :class:`AMLRequest`: a werkzeug ``Request`` as
Flask's, so ``.method``, ``.headers``, ``.args``, ``.full_path``, ``.get_data()``, ``.get_json()``,
``.form``, ``.files`` ... behave as under azmlinfsrv.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from werkzeug.wrappers import Request

from mlws.runtime.raw_http import RAWHTTP_ATTRIBUTE

__all__ = ["AMLRequest", "rawhttp"]

F = TypeVar("F", bound=Callable[..., Any])


def rawhttp(func: F) -> F:
    """Mark ``run`` as taking the raw request (an :class:`AMLRequest`) instead of the body."""
    setattr(func, RAWHTTP_ATTRIBUTE, True)
    return func


class AMLRequest(Request):
    """The HTTP request a ``@rawhttp`` ``run`` receives.

    Flask's request adds routing attributes to werkzeug's; its body and form limits are
    werkzeug's defaults, as azmlinfsrv leaves them.
    """
