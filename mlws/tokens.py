"""Issue service access tokens locally, like ``get_webservice_token``, without a remote call.

A service in token mode (``MLWS_AUTH_MODE=token`` with ``MLWS_TOKEN_SECRET``) accepts JWTs signed
with HS256 by its signing secret, carrying ``exp`` and ``nbf`` and, when the service sets them,
``aud`` and ``iss``. Whoever holds the secret (it is a secret stack output) can mint one; nothing
depends on a workspace region being up. The JWT is encoded by PyJWT, the library the runtime
checks it with.
"""

from __future__ import annotations

import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

DEFAULT_TTL_SECONDS = 3600
"""Lifetime of an issued token, as Azure ML's (one hour)."""
DEFAULT_SUBJECT = "mlws-cli"
"""The ``sub`` claim of tokens mlws mints (``mlws token --subject`` changes it)."""

MIN_TTL_SECONDS = 10
"""Shortest lifetime :func:`issue_token` accepts."""

MAX_TTL_SECONDS = 7 * 24 * 3600
"""Longest lifetime :func:`issue_token` accepts (a week)."""

CLOCK_SKEW_SECONDS = 60
"""``iat`` and ``nbf`` are back-dated this much, so a service whose clock runs a little behind the
client's does not refuse a fresh token as "not valid yet" (the runtime allows no leeway)."""

REFRESH_FRACTION = 0.75
"""A token should be refreshed after this fraction of its lifetime has passed."""


class TokenError(ValueError):
    """A token could not be issued; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token and when to replace it, as ``get_webservice_token`` returns."""

    access_token: str
    """The JWT to send as ``Authorization: Bearer <access_token>``."""
    refresh_after: int
    """Unix time after which a client should get a new token."""
    expires_on: int
    """Unix time the token stops being accepted (its ``exp``)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: times as Unix seconds and ISO 8601 UTC strings."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "refresh_after": _iso(self.refresh_after),
            "expires_on": _iso(self.expires_on),
            "refresh_after_unix": self.refresh_after,
            "expires_on_unix": self.expires_on,
        }


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def encode_hs256(claims: dict[str, Any], secret: str) -> str:
    """Encode ``claims`` as a compact JWS signed with HMAC-SHA256 (RFC 7515/7519)."""
    with warnings.catch_warnings():
        # The service's secret is what it is (ServiceKeys makes long ones); minting for it must
        # not print PyJWT's advice about short HMAC keys on every call.
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})


def issue_token(
    secret: str,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    audience: str | None = None,
    issuer: str | None = None,
    subject: str = DEFAULT_SUBJECT,
    now: float | None = None,
) -> IssuedToken:
    """Mint a token the service accepts: HS256, ``iat``/``nbf``/``exp``, ``aud``/``iss`` if given.

    The token is valid from :data:`CLOCK_SKEW_SECONDS` ago until ``ttl_seconds`` from now.
    ``refresh_after`` is :data:`REFRESH_FRACTION` of the way to ``exp``, so a client that follows
    it never sends an expired token.
    """
    if not secret:
        raise TokenError("the token signing secret is empty")
    if not MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL_SECONDS:
        raise TokenError(
            f"token lifetime must be between {MIN_TTL_SECONDS}s and {MAX_TTL_SECONDS}s, "
            f"got {ttl_seconds}s"
        )
    issued = int(time.time() if now is None else now)
    expires = issued + ttl_seconds
    claims: dict[str, Any] = {
        "iat": issued - CLOCK_SKEW_SECONDS,
        "nbf": issued - CLOCK_SKEW_SECONDS,
        "exp": expires,
        "sub": subject,
        "jti": uuid.uuid4().hex,
    }
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return IssuedToken(
        access_token=encode_hs256(claims, secret),
        refresh_after=issued + int(ttl_seconds * REFRESH_FRACTION),
        expires_on=expires,
    )


def parse_duration(text: str) -> int:
    """Parse a lifetime such as ``3600``, ``90s``, ``15m``, ``2h`` or ``1d`` into seconds."""
    value = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    factor = 1
    if value and value[-1] in units:
        factor = units[value[-1]]
        value = value[:-1]
    if not value.isdigit():
        raise TokenError(f"not a duration: {text!r} (use e.g. 3600, 90s, 15m, 2h, 1d)")
    return int(value) * factor
