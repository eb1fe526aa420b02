"""The check engine: poll readiness, send the sample request, judge the answer, one deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from mlws.health.logs import read_log_tail
from mlws.health.spec import HealthCheckSpec, auth_headers

BODY_LIMIT = 2000
"""Longest response body (characters) kept in a result and shown in an error."""

RETRY_STATUSES = frozenset({502, 503, 504})
"""Sample-request statuses treated as "not ready yet" and retried until the deadline."""


@dataclass(frozen=True, slots=True)
class HttpReply:
    """One HTTP exchange as seen by the check: a status and body, or a transport error."""

    url: str
    status: int | None = None
    body: str = ""
    error: str | None = None
    request_id: str | None = None
    """The request id the service answered with (header or JSON body), to find it in the logs."""

    def describe(self) -> str:
        """One line: ``GET http://h/ready -> 503: not ready`` or the transport error."""
        if self.error is not None:
            return f"{self.url}: {self.error}"
        body = self.body.strip().replace("\n", " ")
        return f"{self.url} -> HTTP {self.status}" + (f": {body}" if body else "")


@dataclass(frozen=True, slots=True)
class HealthResult:
    """The outcome of a check: healthy or not, why, and what the service last said."""

    healthy: bool
    """Ready and answered the sample as expected."""
    ready: bool
    """The readiness probe answered 200 at least once."""
    reason: str
    """One line: what passed, or what failed."""
    last_reply: HttpReply | None = None
    """The last HTTP exchange (readiness poll or sample request)."""
    elapsed_seconds: float = 0.0
    """Time the check took."""
    attempts: int = 0
    """HTTP requests sent."""
    log_tail: str | None = None
    """Tail of the service's logs, fetched on failure when a log source was given."""
    checked_at: float = field(default_factory=time.time)
    """Unix time the check finished."""

    @property
    def last_status(self) -> int | None:
        """HTTP status of the last exchange, if it got one."""
        return None if self.last_reply is None else self.last_reply.status

    @property
    def last_body(self) -> str:
        """Body of the last exchange (truncated to :data:`BODY_LIMIT`)."""
        return "" if self.last_reply is None else self.last_reply.body

    def describe(self) -> str:
        """A multi-line message for a failed deployment: reason, last response, log tail."""
        lines = [self.reason]
        if self.last_reply is not None:
            lines.append(f"last response: {self.last_reply.describe()}")
        if self.log_tail is not None:
            lines.append("service log (tail):")
            lines.append(self.log_tail.rstrip("\n") or "(empty)")
        return "\n".join(lines)


class HealthCheckError(RuntimeError):
    """The service is not healthy; ``str(error)`` is the full report, ``.result`` the details."""

    def __init__(self, result: HealthResult) -> None:
        super().__init__(result.describe())
        self.result = result


def _truncate(text: str) -> str:
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + f"... ({len(text)} chars)"


def _request(
    client: httpx.Client,
    method: str,
    url: str,
    timeout: float,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> HttpReply:
    try:
        response = client.request(method, url, headers=headers, content=content, timeout=timeout)
    except httpx.TimeoutException:
        return HttpReply(url=url, error=f"no answer within {timeout:.1f}s")
    except httpx.HTTPError as exc:
        return HttpReply(url=url, error=_transport_error(exc))
    return HttpReply(
        url=url,
        status=response.status_code,
        body=_truncate(response.text),
        request_id=_request_id(response),
    )


REQUEST_ID_HEADERS = ("x-ms-request-id", "x-request-id")
"""Response headers carrying the request id (the runtime sets both, as Azure ML does)."""


def _request_id(response: httpx.Response) -> str | None:
    for header in REQUEST_ID_HEADERS:
        if response.headers.get(header):
            return response.headers[header]
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        found = body.get("request_id") or body.get("requestId")
        return str(found) if found else None
    return None


def _transport_error(exc: httpx.HTTPError) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and "refused" in f"{text} {cause}".lower():
        return "connection refused"
    return text


def _sample_problem(spec: HealthCheckSpec, reply: HttpReply) -> str | None:
    """Why the sample reply is not what the spec expects, or None when it is."""
    if reply.status != spec.expected_status:
        return f"sample request got HTTP {reply.status}, expected {spec.expected_status}"
    if spec.expected_response is not None:
        try:
            got: Any = json.loads(reply.body)
        except json.JSONDecodeError:
            return "sample response is not JSON, expected the JSON in expected_response"
        if got != json.loads(spec.expected_response):
            return "sample response differs from expected_response"
    if spec.expected_response_contains is not None:
        if spec.expected_response_contains not in reply.body:
            return (
                f"sample response does not contain {_truncate(spec.expected_response_contains)!r}"
            )
    return None


AbortCheck = Callable[[], str | None]
"""Called between polls; returns a reason to give up early (e.g. "the process exited") or None."""


def check_health(
    spec: HealthCheckSpec,
    *,
    abort: AbortCheck | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> HealthResult:
    """Poll readiness, then send the sample; never raises for an unhealthy service.

    Readiness is polled every ``poll_interval_seconds`` until it answers 200. The sample request is
    retried while it gets a transport error or 502/503/504 (a replica still warming up behind a
    load balancer); any other unexpected answer fails at once. Everything shares one deadline.
    """
    start = clock()
    deadline = start + spec.timeout_seconds
    attempts = 0
    last: HttpReply | None = None
    ready = False

    def finish(healthy: bool, reason: str) -> HealthResult:
        tail = None if healthy else read_log_tail(spec, last.request_id if last else None)
        return HealthResult(
            healthy=healthy,
            ready=ready,
            reason=reason,
            last_reply=last,
            elapsed_seconds=round(clock() - start, 3),
            attempts=attempts,
            log_tail=tail,
        )

    def left() -> float:
        return deadline - clock()

    with httpx.Client(transport=transport, follow_redirects=False) as client:
        ready_url = spec.effective_readiness_uri
        while True:
            attempts += 1
            wait = max(0.1, min(spec.request_timeout_seconds, left()))
            last = _request(client, "GET", ready_url, wait)
            if last.status == 200:
                ready = True
                break
            reason = abort() if abort is not None else None
            if reason is not None:
                return finish(False, f"gave up waiting for {ready_url}: {reason}")
            if left() <= 0:
                return finish(
                    False,
                    f"not ready after {spec.timeout_seconds:g}s: {ready_url} never answered 200",
                )
            sleep(max(0.0, min(spec.poll_interval_seconds, left())))

        if spec.sample_request is None:
            return finish(True, f"ready ({ready_url} answered 200)")

        headers = {"Content-Type": "application/json", **auth_headers(spec)}
        body = spec.sample_request.encode("utf-8")
        while True:
            attempts += 1
            last = _request(
                client,
                "POST",
                spec.scoring_uri,
                max(0.1, min(spec.request_timeout_seconds, left())),
                headers=headers,
                content=body,
            )
            transient = last.error is not None or last.status in RETRY_STATUSES
            if not transient or last.status == spec.expected_status:
                problem = _sample_problem(spec, last)
                if problem is None:
                    return finish(True, f"ready and the sample request got HTTP {last.status}")
                return finish(False, problem)
            reason = abort() if abort is not None else None
            if reason is not None:
                return finish(False, f"gave up on the sample request: {reason}")
            if left() <= 0:
                return finish(
                    False, f"the sample request did not succeed within {spec.timeout_seconds:g}s"
                )
            sleep(max(0.0, min(spec.poll_interval_seconds, left())))


def require_healthy(spec: HealthCheckSpec, *, abort: AbortCheck | None = None) -> HealthResult:
    """Like :func:`check_health`, but raise :class:`HealthCheckError` when not healthy."""
    result = check_health(spec, abort=abort)
    if not result.healthy:
        raise HealthCheckError(result)
    return result
