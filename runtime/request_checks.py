"""Request checks and their azmlinfsrv-compatible messages, beside the entry-script contract.

One place for what makes a body or a content type acceptable and for how azmlinfsrv reads a
``GET /score``: the HTTP layer (``app.py``) uses them before a script sees a request
(``MLWS_STRICT_JSON``, deep nesting, the query as JSON), the Python entry script when it turns a
request into ``run()``'s arguments. Neither imports the other. A refusal is a
:class:`ScoreInputError` with its status (:class:`TooDeep` for JSON nested too deeply).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from mlws.runtime.entry_script import ScoreInputError

EMPTY_OBJECT_MESSAGE = "POST body is empty. Expecting a JSON dictionary."
EMPTY_JSON_MESSAGE = "POST body is empty. Expecting JSON."
NOT_JSON_CONTENT_TYPE_MESSAGE = "Expects Content-Type to be application/json"
TOO_DEEP_MESSAGE = "The request's JSON is nested too deeply to parse."


class TooDeep(ScoreInputError):
    """JSON nested too deeply to parse (answered 400 with the request id, and logged)."""

    def __init__(self) -> None:
        super().__init__(TOO_DEEP_MESSAGE)


def is_json_content_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` names JSON the way Flask's ``request.is_json`` decides it."""
    if not content_type:
        return False
    mimetype = content_type.split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def is_form_content_type(content_type: str | None) -> bool:
    """Whether Flask parses this body as a form, leaving ``request.data`` (what azmlinfsrv hands an
    undecorated ``run()``) empty."""
    if not content_type:
        return False
    mimetype = content_type.split(";", 1)[0].strip().lower()
    return mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")


def json_problem(body: bytes, wants_object: bool) -> str | None:
    """Why ``body`` is not acceptable JSON, or None when it is."""
    if not body:
        if wants_object:
            return EMPTY_OBJECT_MESSAGE
        return EMPTY_JSON_MESSAGE
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"Input cannot be decoded as UTF-8: {exc}"
        try:
            json.loads(text)  # Python's JSON also takes NaN and Infinity, as clients send them
        except ValueError as exc:
            return f"POST body could not be decoded as JSON: {exc}"
    return None


def parse_json_object(body: bytes) -> Mapping[str, Any]:
    """Parse a request body that must be a JSON object, with azmlinfsrv's error messages."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        if not body:
            raise ScoreInputError(EMPTY_OBJECT_MESSAGE) from None
        try:
            parsed = json.loads(body)  # NaN and Infinity, as azmlinfsrv's json.loads takes them
        except ValueError as exc:
            raise ScoreInputError(f"POST body could not be decoded as JSON: {exc}") from None
        except RecursionError:
            raise TooDeep from None
    if not isinstance(parsed, dict):
        raise ScoreInputError("POST body should be a JSON dictionary.")
    return parsed


def check_content_type(content_type: bytes | None, wants_object: bool) -> None:
    """``MLWS_STRICT_JSON``'s content-type check, before the body is read: 415 unless JSON.

    As azmlinfsrv orders its checks: a body without a content type passes unless the script's
    ``run()`` is schema-decorated (``wants_object``), whose 415 comes before any other check.
    """
    if content_type or wants_object:
        text = content_type.decode("latin-1") if content_type else None
        if not is_json_content_type(text):
            raise ScoreInputError(NOT_JSON_CONTENT_TYPE_MESSAGE, 415)


def check_json_body(body: bytes, wants_object: bool) -> None:
    """``MLWS_STRICT_JSON``'s body check: 400 unless ``body`` is JSON (:func:`json_problem`)."""
    try:
        problem = json_problem(body, wants_object)
    except RecursionError:
        raise TooDeep from None
    if problem is not None:
        raise ScoreInputError(problem)


def query_as_json(query_string: bytes) -> bytes:
    """azmlinfsrv's GET /score input: each value parsed as JSON if it is, repeats become lists."""
    parsed: dict[str, Any] = {}
    try:
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            try:
                item: Any = json.loads(value)
            except ValueError:
                item = value
            if key in parsed:
                previous = parsed[key]
                if isinstance(previous, _Repeated):
                    previous.append(item)
                else:
                    parsed[key] = _Repeated([previous, item])
            else:
                parsed[key] = item
        return json.dumps(parsed).encode()
    except RecursionError:
        raise TooDeep from None


class _Repeated(list[Any]):
    """Values of a repeated query parameter (a subclass, so a JSON list value stays one value)."""
