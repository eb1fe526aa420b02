"""Deployment health checks: is a scoring service up and does it answer a sample request?

This is the transport-level logic behind the ``HealthGate`` resources (the provider plugin's
``mlws:index:HealthGate`` and the Python-only :mod:`mlws.components.health_gate`) and the local
process service: poll the readiness probe until it answers 200, then send a sample request with the
service's key or token and check the answer, all within one timeout. When the service is not
healthy the result carries the last response and, given a log source, the tail of the service's
logs, so a failed ``pulumi up`` says *why* (the seed's "deploy failed -> get_webservice_logs" loop,
made automatic).

Nothing here knows about Pulumi. Secrets (key, token, token signing secret) are ``SecretStr`` and
never appear in messages.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

BODY_LIMIT = 2000
"""Longest response body (characters) kept in a result and shown in an error."""

RETRY_STATUSES = frozenset({502, 503, 504})
"""Sample-request statuses treated as "not ready yet" and retried until the deadline."""

LOG_COMMAND_TIMEOUT_SECONDS = 30.0
"""Longest a log command may run."""


class HealthCheckSpec(BaseModel):
    """What to check, how to authenticate, and how long to wait."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    scoring_uri: str
    """The scoring endpoint, e.g. ``http://20.1.2.3/score``."""

    readiness_uri: str | None = None
    """Readiness probe URL; default: the scoring URI with its last path segment replaced by
    ``ready`` (``http://20.1.2.3/ready``)."""

    key: SecretStr | None = None
    """Service key, sent as ``Authorization: Bearer <key>`` (key auth)."""

    token: SecretStr | None = None
    """Access token (JWT), sent as ``Authorization: Bearer <token>`` (token auth)."""

    token_secret: SecretStr | None = None
    """HS256 token signing secret: a short-lived token is minted from it for the check."""

    token_audience: str | None = None
    """``aud`` claim of a minted token (when the service checks one)."""

    token_issuer: str | None = None
    """``iss`` claim of a minted token (when the service checks one)."""

    sample_request: str | None = None
    """JSON body POSTed to the scoring URI once the service is ready; none: readiness only."""

    expected_status: int = Field(default=200, ge=100, le=599)
    """HTTP status the sample request must get."""

    expected_response: str | None = None
    """JSON the sample response must equal (compared as parsed JSON)."""

    expected_response_contains: str | None = None
    """Text the sample response body must contain."""

    timeout_seconds: float = Field(default=300.0, gt=0, le=3600)
    """Overall time allowed for readiness plus the sample request."""

    poll_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    """Pause between readiness polls."""

    request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """Longest a single HTTP request may take (capped by what is left of the overall timeout)."""

    log_file: str | None = None
    """A local file holding the service's log; its tail is attached to a failure."""

    log_command: str | None = None
    """A command printing the service's log (e.g. ``kubectl logs deploy/x --tail 100``); run
    without a shell, its output's tail is attached to a failure."""

    log_tail_lines: int = Field(default=50, ge=1, le=10_000)
    """How many log lines to attach."""

    @field_validator("scoring_uri", "readiness_uri")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
        return value

    @field_validator("sample_request", "expected_response")
    @classmethod
    def _json_text(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be JSON text: {exc}") from None
        return value

    @field_validator("log_command")
    @classmethod
    def _command_splits(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                words = shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"cannot be split into words: {exc}") from None
            if not words:
                raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> HealthCheckSpec:
        given = [n for n in ("key", "token", "token_secret") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of key, token, token_secret (got {given})")
        return self

    @property
    def effective_readiness_uri(self) -> str:
        """The readiness probe URL actually polled."""
        return self.readiness_uri or readiness_uri_for(self.scoring_uri)


def readiness_uri_for(scoring_uri: str) -> str:
    """``http://h/a/score`` -> ``http://h/a/ready``: the runtime serves ``/ready`` by ``/score``."""
    parts = urlsplit(scoring_uri)
    path = parts.path.rstrip("/")
    base = path.rsplit("/", 1)[0] if "/" in path else ""
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/ready", "", ""))


def auth_headers(spec: HealthCheckSpec, now: float | None = None) -> dict[str, str]:
    """The ``Authorization`` header for the spec's credential, or no header."""
    if spec.key is not None:
        return {"Authorization": f"Bearer {spec.key.get_secret_value()}"}
    if spec.token is not None:
        return {"Authorization": f"Bearer {spec.token.get_secret_value()}"}
    if spec.token_secret is not None:
        from mlws.tokens import issue_token

        issued = issue_token(
            spec.token_secret.get_secret_value(),
            ttl_seconds=600,
            audience=spec.token_audience,
            issuer=spec.token_issuer,
            subject="mlws-health-gate",
            now=now,
        )
        return {"Authorization": f"Bearer {issued.access_token}"}
    return {}


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


def tail_lines(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


LOG_READ_LIMIT = 256 * 1024
"""Bytes read from the end of a log file (or of a log command's output)."""

REQUEST_LOG_LINES = 20
"""Most log lines shown for the failed request."""


def read_log_tail(spec: HealthCheckSpec, request_id: str | None = None) -> str | None:
    """The tail of the spec's log file and/or log command output; None without a log source.

    Given the failed request's id, the log lines that mention it come first, with a JSON log
    line's ``traceback`` field shown as the traceback it is (the runtime logs the script's error
    that way). Problems reading the logs are reported in the returned text, never raised: the
    logs decorate an error and must not replace it.
    """
    texts: list[str] = []
    if spec.log_file is not None:
        path = Path(spec.log_file)
        try:
            with path.open("rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                handle.seek(max(0, size - LOG_READ_LIMIT))
                texts.append(handle.read().decode("utf-8", errors="replace"))
        except OSError as exc:
            texts.append(f"(cannot read log file {path}: {exc.strerror or exc})")
    if spec.log_command is not None:
        texts.append(_run_log_command(spec.log_command))
    if not texts:
        return None
    if not request_id:
        return "\n".join(tail_lines(text, spec.log_tail_lines) for text in texts)
    mentions = [line for text in texts for line in text.splitlines() if request_id in line]
    others = [
        "\n".join(line for line in text.splitlines() if request_id not in line) for text in texts
    ]
    tail = "\n".join(tail_lines(text, spec.log_tail_lines) for text in others)
    if not mentions:
        return tail
    rendered = "\n".join(_render_log_line(line) for line in mentions[-REQUEST_LOG_LINES:])
    return f"[lines for request {request_id}]\n{rendered}\n[other lines, last]\n{tail}"


def _render_log_line(line: str) -> str:
    """A JSON log line with a ``traceback`` as its message and the traceback, else the line."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or not isinstance(record.get("traceback"), str):
        return line
    return f"{record.get('message', '')}\n{record['traceback'].rstrip()}"


def _run_log_command(command: str) -> str:
    argv = shlex.split(command)
    try:
        done = subprocess.run(  # noqa: S603 - argv from the user's own program, no shell
            argv,
            capture_output=True,
            timeout=LOG_COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        return f"(log command not found: {argv[0]})"
    except subprocess.TimeoutExpired:
        return f"(log command did not finish within {LOG_COMMAND_TIMEOUT_SECONDS:.0f}s)"
    out = done.stdout[-LOG_READ_LIMIT:].decode("utf-8", errors="replace")
    err = done.stderr[-LOG_READ_LIMIT:].decode("utf-8", errors="replace")
    text = out + err
    if done.returncode != 0:
        text += f"\n(log command exited with {done.returncode})"
    return text


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


# --- resource helpers shared by the plugin's HealthGate and the Python dynamic HealthGate --------

GATE_ONLY_FIELDS = ("image_digest",)
"""Gate inputs that are not part of the check itself (they only trigger re-checks)."""

SECRET_FIELDS = ("key", "token", "token_secret")
"""Inputs that are always kept secret."""

RECHECK_FIELDS = (
    "scoring_uri",
    "readiness_uri",
    "key",
    "token",
    "token_secret",
    "token_audience",
    "token_issuer",
    "sample_request",
    "expected_status",
    "expected_response",
    "expected_response_contains",
    "image_digest",
)
"""A change to any of these re-runs the check on ``pulumi up``; other changes are just recorded."""

GATE_INPUT_FIELDS = (*HealthCheckSpec.model_fields, *GATE_ONLY_FIELDS)
"""Every input a HealthGate takes (snake_case)."""

REFRESH_TIMEOUT_SECONDS = 15.0
"""Longest a ``pulumi refresh`` health read waits."""


def gate_spec(inputs: dict[str, Any]) -> HealthCheckSpec:
    """The check described by a gate's inputs (``None`` values and gate-only fields dropped).

    Raises pydantic's ``ValidationError`` naming the bad fields.
    """
    given = {k: v for k, v in inputs.items() if v is not None and k not in GATE_ONLY_FIELDS}
    for name in ("expected_status", "log_tail_lines"):  # numbers arrive as floats over the wire
        if isinstance(given.get(name), float) and float(given[name]).is_integer():
            given[name] = int(given[name])
    return HealthCheckSpec.model_validate(given)


GATE_OUTPUT_FIELDS = (
    "healthy",
    "reason",
    "last_status",
    "last_response",
    "checked_at",
    "elapsed_seconds",
)
"""What a gate reports after each check (see :func:`gate_outputs`)."""


def gate_check_failures(
    inputs: dict[str, Any], unknown: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """``(field, reason)`` for each bad input; fields in ``unknown`` (not yet computed) pass."""
    failures = [
        (name, f"unknown HealthGate input {name!r}")
        for name in inputs
        if name not in GATE_INPUT_FIELDS
    ]
    known = {k: v for k, v in inputs.items() if k in GATE_INPUT_FIELDS and k not in unknown}
    try:
        gate_spec(known)
    except ValidationError as exc:
        for error in exc.errors():
            loc = error.get("loc") or ()
            if loc:
                names = [str(loc[0])]
            else:  # the model-level rule: more than one credential; blame all but the first
                names = [f for f in SECRET_FIELDS if known.get(f) is not None][1:] or ["key"]
            reason = error["msg"].removeprefix("Value error, ")
            failures += [(name, reason) for name in names if name not in unknown]
    return failures


def gate_recheck_fields(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """The re-check-triggering inputs that differ between the recorded and the new inputs."""
    return [f for f in RECHECK_FIELDS if olds.get(f) != news.get(f)]


def gate_changed_fields(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Every gate input that differs between the recorded and the new inputs."""
    return [f for f in GATE_INPUT_FIELDS if olds.get(f) != news.get(f)]


def gate_outputs(result: HealthResult) -> dict[str, Any]:
    """A gate's outputs after a check (snake_case; JSON-ready, no secrets)."""
    return {
        "healthy": result.healthy,
        "reason": result.reason,
        "last_status": result.last_status,
        "last_response": result.last_body,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.checked_at)),
        "elapsed_seconds": result.elapsed_seconds,
    }


def refresh_spec(spec: HealthCheckSpec) -> HealthCheckSpec:
    """The spec used by ``pulumi refresh``: same check, at most :data:`REFRESH_TIMEOUT_SECONDS`."""
    timeout = min(spec.timeout_seconds, REFRESH_TIMEOUT_SECONDS)
    return spec.model_copy(
        update={
            "timeout_seconds": timeout,
            "request_timeout_seconds": min(spec.request_timeout_seconds, timeout),
            "poll_interval_seconds": min(spec.poll_interval_seconds, 1.0),
        }
    )
