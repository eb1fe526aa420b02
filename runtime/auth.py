"""Who may call ``/score``: no auth, service keys, or JWTs.

The HTTP layer calls :meth:`Authenticator.check` with the raw ``Authorization`` header value
(or ``None``) and gets ``None`` (allowed) or an :class:`AuthFailure` it turns into a 401. Keys
and tokens never leave this module: failures carry fixed descriptions only.
"""

from __future__ import annotations

import hmac
import json
import threading
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mlws.runtime.settings import RuntimeSettings

if TYPE_CHECKING:
    import jwt

#: Algorithms accepted for tokens signed with the shared secret (``MLWS_TOKEN_SECRET``).
SECRET_ALGORITHMS = ("HS256",)
#: Algorithms accepted for tokens verified with the JWKS (``MLWS_TOKEN_JWKS_URL``).
JWKS_ALGORITHMS = ("RS256", "ES256")
#: Seconds a fetched JWKS (or OIDC configuration) is reused before it is fetched again.
JWKS_CACHE_SECONDS = 300
_FETCH_TIMEOUT_SECONDS = 5.0
_OIDC_SUFFIX = "/.well-known/openid-configuration"


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """Why a request was refused; safe to show to the caller and to log."""

    description: str
    """A fixed description (never contains the presented key or token)."""
    credentials_given: bool
    """True when the request carried credentials (then ``error="invalid_token"`` is added)."""

    @property
    def www_authenticate(self) -> bytes:
        """The ``WWW-Authenticate`` header value for the 401 response (RFC 6750)."""
        if not self.credentials_given:
            return b'Bearer realm="mlws"'
        return (
            f'Bearer realm="mlws", error="invalid_token", error_description="{self.description}"'
        ).encode("ascii")


MISSING = AuthFailure("missing Authorization header", credentials_given=False)
NOT_BEARER = AuthFailure("the Authorization header must be 'Bearer <credential>'", True)
BAD_KEY = AuthFailure("invalid key", credentials_given=True)
REPEATED = AuthFailure("more than one Authorization header", credentials_given=True)


class Authenticator(Protocol):
    """Decides whether a request's ``Authorization`` header is good enough."""

    blocking: bool
    """True when :meth:`check` may do network I/O (fetch a JWKS): call it off the event loop."""

    def check(self, authorization: bytes | None) -> AuthFailure | None:
        """Return ``None`` when the request may proceed, else why not."""
        ...


def bearer_credential(authorization: bytes | None) -> bytes | AuthFailure:
    """Extract the credential from ``Bearer <credential>`` (scheme case-insensitive)."""
    if not authorization:
        return MISSING
    scheme, _, credential = authorization.strip().partition(b" ")
    credential = credential.strip()
    if scheme.lower() != b"bearer" or not credential:
        return NOT_BEARER
    return credential


class NoAuth:
    """``MLWS_AUTH_MODE=none``: everyone may call."""

    blocking = False

    def check(self, authorization: bytes | None) -> AuthFailure | None:
        """Always allow."""
        return None


class KeyAuth:
    """``MLWS_AUTH_MODE=key``: ``Authorization: Bearer <primary or secondary key>``."""

    blocking = False

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("key auth needs at least one key")
        self._keys = [key.encode("utf-8") for key in keys]

    def check(self, authorization: bytes | None) -> AuthFailure | None:
        """Compare the credential with every key in constant time (no early exit)."""
        credential = bearer_credential(authorization)
        if isinstance(credential, AuthFailure):
            return credential
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(credential, key)
        return None if matched else BAD_KEY


class _JwksSource:
    """A JWKS client created lazily from a JWKS URL or an OIDC discovery URL (both cached)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks_url(self) -> str:
        if not self.url.rstrip("/").endswith(_OIDC_SUFFIX):
            return self.url
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310 - configured URL
        with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            config: Any = json.load(response)
        jwks_uri = config.get("jwks_uri") if isinstance(config, dict) else None
        if not isinstance(jwks_uri, str):
            import jwt

            raise jwt.PyJWKClientError("the OpenID configuration has no jwks_uri")
        return jwks_uri

    def client(self) -> jwt.PyJWKClient:
        import jwt

        with self._lock:
            if self._client is None:
                self._client = jwt.PyJWKClient(
                    self._jwks_url(),
                    cache_keys=True,
                    lifespan=JWKS_CACHE_SECONDS,
                    timeout=int(_FETCH_TIMEOUT_SECONDS),
                )
            return self._client


def _token_errors() -> tuple[tuple[type[Exception], str], ...]:
    import jwt

    return (
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.ImmatureSignatureError, "the token is not valid yet"),
        (jwt.InvalidAudienceError, "the token has the wrong audience"),
        (jwt.InvalidIssuerError, "the token has the wrong issuer"),
        (jwt.InvalidSignatureError, "the token signature is invalid"),
        (jwt.InvalidAlgorithmError, "the token algorithm is not allowed"),
    )


class TokenAuth:
    """``MLWS_AUTH_MODE=token``: a JWT signed with the HS256 secret or a key of the JWKS.

    ``exp`` and ``nbf`` must be present and are checked; ``aud`` and ``iss`` are checked when an
    audience or issuer is configured. ``alg: none`` and algorithms outside
    :data:`SECRET_ALGORITHMS`/:data:`JWKS_ALGORITHMS` are refused before any key is looked up.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        leeway_seconds: float = 0.0,
    ) -> None:
        if secret is None and jwks_url is None:
            raise ValueError("token auth needs a signing secret or a JWKS URL")
        self._secret = secret
        self._jwks = _JwksSource(jwks_url) if jwks_url else None
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway_seconds
        self._allowed = (SECRET_ALGORITHMS if secret else ()) + (
            JWKS_ALGORITHMS if jwks_url else ()
        )
        self.blocking = self._jwks is not None
        import jwt  # only token auth pays for importing it (and cryptography) at start-up

        self._jwt = jwt.PyJWT(
            options={
                "require": ["exp", "nbf"],
                "verify_aud": audience is not None,
                "verify_iss": issuer is not None,
            }
        )

    def check(self, authorization: bytes | None) -> AuthFailure | None:
        """Verify the bearer JWT; never raises."""
        credential = bearer_credential(authorization)
        if isinstance(credential, AuthFailure):
            return credential
        try:
            self.verify(credential.decode("ascii"))
        except Exception as exc:
            return AuthFailure(_describe(exc), credentials_given=True)
        return None

    def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims or raise (``jwt.InvalidTokenError`` and friends)."""
        import jwt

        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._allowed:
            raise jwt.InvalidAlgorithmError("algorithm not allowed")
        key: Any
        if algorithm in SECRET_ALGORITHMS:
            key = self._secret
        else:
            assert self._jwks is not None
            key = self._jwks.client().get_signing_key_from_jwt(token).key
        claims: dict[str, Any] = self._jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
        )
        return claims


def _describe(exc: Exception) -> str:
    import jwt

    for kind, text in _token_errors():
        if isinstance(exc, kind):
            return text
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token has no {exc.claim} claim"
    if isinstance(exc, jwt.PyJWKClientError):
        return "no signing key for the token"
    return "the token is invalid"


def build_authenticator(settings: RuntimeSettings) -> Authenticator:
    """The :class:`Authenticator` for ``settings.auth_mode``."""
    if settings.auth_mode == "key":
        keys = [
            key.get_secret_value()
            for key in (settings.primary_key, settings.secondary_key)
            if key is not None and key.get_secret_value()
        ]
        return KeyAuth(keys)
    if settings.auth_mode == "token":
        secret = settings.token_secret.get_secret_value() if settings.token_secret else None
        return TokenAuth(
            secret=secret or None,
            jwks_url=settings.token_keys_url,
            audience=settings.token_audience,
            issuer=settings.token_issuer,
        )
    return NoAuth()
