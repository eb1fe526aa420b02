"""The interface between the HTTP layer and a user's entry script, whatever its language.

The HTTP layer knows only :class:`EntryScript`; ``python_script.py`` and ``r_script.py``
implement it, and ``loader.load_entry_script`` picks the implementation from the file's suffix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlws.runtime.settings import RuntimeSettings


class EntryScriptError(Exception):
    """The entry script could not be loaded or its ``init()`` failed; the message says why.

    ``detail`` holds the script's own traceback (or an R error message) when there is one; the
    server logs it beside the message on start-up failure.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class ScoreInputError(Exception):
    """A request the script cannot take: answered with ``status`` and ``{"message": ...}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ScoreOutputError(Exception):
    """The script answered something that cannot be sent (e.g. not JSON-serialisable): a 500."""


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """One scoring request as the entry script sees it."""

    body: bytes
    """The raw request body of POST /score; for GET /score, the query parameters as a JSON object
    (values parsed as JSON when they are JSON, repeated names as lists: azmlinfsrv's way)."""
    query: Mapping[str, str] = field(default_factory=dict)
    """Query parameters (GET /score)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Request headers, lower-case names, without ``authorization``."""
    request_id: str = ""
    """The request id the response echoes."""
    method: str = "POST"
    """``POST`` or ``GET`` (``OPTIONS`` for a script that takes raw requests)."""
    path: str = "/score"
    """The request path."""
    query_string: bytes = b""
    """The raw query string (``@rawhttp`` scripts read it; others get :attr:`body`)."""
    scheme: str = "http"
    """``http`` or ``https``, as the server was reached."""
    server: tuple[str, int] | None = None
    """The address the request arrived at."""
    client: tuple[str, int] | None = None
    """The peer's address."""


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """What the entry script answered, ready to send."""

    body: bytes
    """The response body."""
    status: int = 200
    """HTTP status."""
    content_type: str = "application/json"
    """Response content type."""
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = field(default_factory=dict)
    """Extra response headers (pairs, when a name repeats)."""
    run_failed: bool = False
    """The script says its run failed (``x-ms-run-function-failed: True``)."""


class EntryScript(ABC):
    """A loaded entry script. ``init`` runs once; ``score`` runs per request, off the event loop."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.settings = settings

    @abstractmethod
    def init(self) -> None:
        """Load the script and run its ``init()``; raise :class:`EntryScriptError` on failure."""

    @abstractmethod
    def score(self, request: ScoreRequest) -> ScoreResult:
        """Score one request. Called from a worker thread; may block."""

    @property
    def supports_batch(self) -> bool:
        """Whether :meth:`score_batch` scores (the script has a batch form)."""
        return False

    def score_batch(
        self, requests: list[ScoreRequest]
    ) -> Sequence[ScoreResult | BaseException] | None:
        """Score several requests in one call, or return None when the script has no batch form.

        The answer has one item per request, in order: its result, or the exception that request
        alone failed with (e.g. :class:`ScoreInputError`). Raising fails the whole batch.
        """
        return None

    @property
    def takes_raw_requests(self) -> bool:
        """Whether the script reads whole requests (``@rawhttp``): no body checks before it, and
        ``OPTIONS`` reaches it too."""
        return False

    def openapi_schemas(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """JSON schemas of the input and output, when the script declares them."""
        return None, None

    @property
    def expects_json_object(self) -> bool:
        """Whether request bodies must be JSON objects (an empty body's 400 message says so)."""
        return False

    def openapi_versions(self) -> frozenset[str]:
        """OpenAPI versions the script's schemas can be written in (``2.0``, ``3.0``, ``3.1``)."""
        return frozenset({"2.0", "3.0", "3.1"})

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``init`` acquired (processes, files)."""
