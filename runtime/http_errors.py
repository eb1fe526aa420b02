"""The HTTP layer's refusals and the one table that turns any failure into an error answer.

A route handler (``app.py``) or the scoring service raises; :func:`error_answer` looks the
exception's class up in :data:`ERROR_ANSWERS` (the most specific entry wins) and says what the
client gets: status, message, extra headers, whether the body carries the request id and whether
the answer marks ``run()`` as failed. Messages follow azmlinfsrv's where it has one. Pure: it
neither logs nor sends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlws.runtime.auth import AuthFailure
from mlws.runtime.entry_script import ScoreInputError, ScoreOutputError
from mlws.runtime.executor import Busy, ScoringTimeout
from mlws.runtime.request_checks import TooDeep
from mlws.runtime.scoring_service import RunFailed, State
from mlws.runtime.settings import RuntimeSettings
from mlws.runtime.swagger import SwaggerError

RUN_FAILED_MESSAGE = "An unexpected error occurred in scoring script. Check the logs for more info."
INTERNAL_ERROR_MESSAGE = "An unexpected internal error occurred. Check the logs for more info."
NOT_FOUND_MESSAGE = (
    "The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again."
)
METHOD_NOT_ALLOWED_MESSAGE = "The method is not allowed for the requested URL."
NOT_READY_MESSAGES: dict[State, str] = {
    "starting": "The entry script's init() is still running; retry shortly.",
    "failed": "The entry script failed to start: {error}",
    "stuck": "Every scoring thread is stuck past its timeout; retry shortly.",
}

Header = tuple[bytes, bytes]
_CLOSE: Header = (b"connection", b"close")
_RETRY_SOON: Header = (b"retry-after", b"1")


class NotFound(Exception):
    """No route for the path."""


class MethodNotAllowed(Exception):
    """The route does not take the method; ``allow`` is what it takes."""

    def __init__(self, allow: bytes) -> None:
        super().__init__(allow.decode("latin-1"))
        self.allow = allow


class Unauthorized(Exception):
    """The credentials were missing or wrong."""

    def __init__(self, failure: AuthFailure) -> None:
        super().__init__(failure.description)
        self.failure = failure


class NotReady(Exception):
    """The service cannot score yet (or any more): ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BodyTooLarge(Exception):
    """The body is over the size limit (the connection is closed, the rest never read)."""


class IdTooLong(Exception):
    """A request id header is over azmlinfsrv's limit: its 431 and message."""


class ClientDisconnected(Exception):
    """The client went away before its body was read (nothing can be answered)."""


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    """What a client gets for a failure: a JSON ``{"message": ...}`` body and these headers."""

    status: int
    message: str
    headers: tuple[Header, ...] = ()
    """Headers after the request id headers."""
    with_request_id: bool = False
    """The body carries ``request_id`` (the failures an operator looks up in the log)."""
    run_failed: bool = False
    """``x-ms-run-function-failed: True`` (azmlinfsrv's mark of a failed ``run()``)."""
    with_ids: bool = True
    """The request id headers are sent (azmlinfsrv's 431 has none)."""


def _busy(exc: Busy, settings: RuntimeSettings) -> ErrorAnswer:
    wait_ms = settings.max_request_wait_ms
    retry_after = str(max(1, round(wait_ms / 1000))).encode()
    message = f"Too many requests: all scoring slots stayed busy for {wait_ms} ms. Retry later."
    return ErrorAnswer(503, message, ((b"retry-after", retry_after),), with_request_id=True)


def _timeout(exc: ScoringTimeout, settings: RuntimeSettings) -> ErrorAnswer:
    message = f"Scoring timeout after {settings.scoring_timeout_ms} ms"
    return ErrorAnswer(504, message, with_request_id=True, run_failed=True)


def _too_large(exc: BodyTooLarge, settings: RuntimeSettings) -> ErrorAnswer:
    message = f"Request body is larger than {settings.max_request_bytes} bytes"
    return ErrorAnswer(413, message, (_CLOSE,))


Entry = Callable[[Any, RuntimeSettings], ErrorAnswer]

#: Exception class -> its answer. Looked up along the exception's MRO, so a subclass's own entry
#: (``TooDeep``) comes before its base's (``ScoreInputError``); ``Exception`` is a server bug.
ERROR_ANSWERS: dict[type[BaseException], Entry] = {
    IdTooLong: lambda exc, _: ErrorAnswer(431, str(exc), with_ids=False),
    NotFound: lambda exc, _: ErrorAnswer(404, NOT_FOUND_MESSAGE),
    MethodNotAllowed: lambda exc, _: ErrorAnswer(
        405, METHOD_NOT_ALLOWED_MESSAGE, ((b"allow", exc.allow),)
    ),
    Unauthorized: lambda exc, _: ErrorAnswer(
        401,
        f"Unauthorized: {exc.failure.description}",
        ((b"www-authenticate", exc.failure.www_authenticate),),
    ),
    NotReady: lambda exc, _: ErrorAnswer(503, exc.message, (_RETRY_SOON,)),
    BodyTooLarge: _too_large,
    TooDeep: lambda exc, _: ErrorAnswer(400, exc.message, with_request_id=True),
    ScoreInputError: lambda exc, _: ErrorAnswer(exc.status, exc.message),
    SwaggerError: lambda exc, _: ErrorAnswer(404, str(exc)),
    Busy: _busy,
    ScoringTimeout: _timeout,
    ScoreOutputError: lambda exc, _: ErrorAnswer(500, INTERNAL_ERROR_MESSAGE, with_request_id=True),
    RunFailed: lambda exc, _: ErrorAnswer(
        500, RUN_FAILED_MESSAGE, with_request_id=True, run_failed=True
    ),
    Exception: lambda exc, _: ErrorAnswer(500, INTERNAL_ERROR_MESSAGE, with_request_id=True),
}


def error_answer(exc: Exception, settings: RuntimeSettings) -> ErrorAnswer:
    """The answer to ``exc`` (:data:`ERROR_ANSWERS`' most specific entry for its class)."""
    for cls in type(exc).__mro__:
        entry = ERROR_ANSWERS.get(cls)
        if entry is not None:
            return entry(exc, settings)
    raise TypeError(f"no error answer for {type(exc).__name__}")  # pragma: no cover


def not_ready(state: State, init_error: str | None) -> NotReady:
    """The refusal while the service cannot score, saying why."""
    message = NOT_READY_MESSAGES["stuck" if state == "ready" else state]
    return NotReady(message.format(error=init_error or ""))
