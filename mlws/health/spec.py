"""What a health check checks: the :class:`HealthCheckSpec` model, its readiness URL and the
``Authorization`` header for its credential."""

from __future__ import annotations

import json
import shlex
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)


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
