"""Request checks and their azmlinfsrv-compatible messages, beside the entry-script contract.

One place for what makes a body or a content type acceptable: the HTTP layer (``app.py``) uses
them before a script sees a request (``MLWS_STRICT_JSON``, deep nesting), the Python entry script
when it turns a request into ``run()``'s arguments. Neither imports the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from mlws.runtime.entry_script import ScoreInputError

EMPTY_OBJECT_MESSAGE = "POST body is empty. Expecting a JSON dictionary."
EMPTY_JSON_MESSAGE = "POST body is empty. Expecting JSON."
NOT_JSON_CONTENT_TYPE_MESSAGE = "Expects Content-Type to be application/json"
TOO_DEEP_MESSAGE = "The request's JSON is nested too deeply to parse."


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
            raise ScoreInputError(TOO_DEEP_MESSAGE) from None
    if not isinstance(parsed, dict):
        raise ScoreInputError("POST body should be a JSON dictionary.")
    return parsed
