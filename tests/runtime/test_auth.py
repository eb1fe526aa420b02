"""Auth modes without HTTP: keys, HS256 tokens, RS256/ES256 tokens from a JWKS served locally."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from mlws.runtime.auth import (
    AuthFailure,
    KeyAuth,
    NoAuth,
    TokenAuth,
    bearer_credential,
    build_authenticator,
)
from tests.runtime.runtime_helpers import make_settings

SECRET = "a-test-signing-secret-of-at-least-32-bytes"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {"sub": "client", "exp": now + 300, "nbf": now - 10}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def hs256(**overrides: Any) -> bytes:
    return b"Bearer " + jwt.encode(claims(**overrides), SECRET, algorithm="HS256").encode()


class TestKeys:
    auth = KeyAuth(["primary-key", "secondary-key"])

    @pytest.mark.parametrize(
        "header", [b"Bearer primary-key", b"Bearer secondary-key", b"bearer  primary-key "]
    )
    def test_either_key_is_accepted(self, header: bytes) -> None:
        assert self.auth.check(header) is None

    def test_a_missing_header_gets_a_plain_challenge(self) -> None:
        failure = self.auth.check(None)
        assert failure is not None
        assert not failure.credentials_given
        assert failure.www_authenticate == b'Bearer realm="mlws"'

    @pytest.mark.parametrize(
        "header", [b"Bearer wrong", b"Bearer primary-ke", b"Basic primary-key", b"primary-key"]
    )
    def test_wrong_credentials_are_invalid_tokens(self, header: bytes) -> None:
        failure = self.auth.check(header)
        assert failure is not None
        assert b'error="invalid_token"' in failure.www_authenticate
        assert b"primary-key" not in failure.www_authenticate

    def test_key_mode_needs_a_key(self) -> None:
        with pytest.raises(ValueError, match="at least one key"):
            KeyAuth([])


@given(st.binary(max_size=300))
def test_header_parsing_never_crashes(header: bytes) -> None:
    for auth in (KeyAuth(["k"]), TokenAuth(secret=SECRET), NoAuth()):
        result = auth.check(header)
        assert result is None or isinstance(result, AuthFailure)
    parsed = bearer_credential(header)
    assert isinstance(parsed, bytes | AuthFailure)


class TestHs256:
    auth = TokenAuth(secret=SECRET, audience="mlws-tests", issuer="https://issuer.test")

    def good(self, **overrides: Any) -> bytes:
        return hs256(aud="mlws-tests", iss="https://issuer.test", **overrides)

    def test_a_valid_token_passes(self) -> None:
        assert self.auth.check(self.good()) is None

    @pytest.mark.parametrize(
        ("overrides", "description"),
        [
            ({"exp": -5}, "the token has expired"),
            ({"nbf": 300}, "the token is not valid yet"),
            ({"exp": None}, "the token has no exp claim"),
            ({"nbf": None}, "the token has no nbf claim"),
            ({"aud": "someone-else"}, "the token has the wrong audience"),
            ({"iss": "https://evil.test"}, "the token has the wrong issuer"),
        ],
    )
    def test_bad_claims_are_refused(self, overrides: dict[str, Any], description: str) -> None:
        # exp and nbf are given as seconds from now, resolved here: a time taken when the tests
        # were collected is minutes old by the time a long suite gets here.
        now = int(time.time())
        timed = {
            k: now + v if k in ("exp", "nbf") and v is not None else v for k, v in overrides.items()
        }
        token = hs256(**{"aud": "mlws-tests", "iss": "https://issuer.test", **timed})
        failure = self.auth.check(token)
        assert failure is not None
        assert failure.description == description
        assert description.encode() in failure.www_authenticate

    def test_a_wrong_signature_is_refused(self) -> None:
        token = jwt.encode(claims(aud="mlws-tests", iss="https://issuer.test"), "x" * 40)
        failure = self.auth.check(b"Bearer " + token.encode())
        assert failure is not None
        assert failure.description == "the token signature is invalid"

    def test_alg_none_is_refused(self) -> None:
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=")
        payload = base64.urlsafe_b64encode(
            json.dumps(claims(aud="mlws-tests", iss="https://issuer.test")).encode()
        ).rstrip(b"=")
        failure = self.auth.check(b"Bearer " + header + b"." + payload + b".")
        assert failure is not None
        assert failure.description == "the token algorithm is not allowed"

    def test_unexpected_algorithms_are_refused(self) -> None:
        token = jwt.encode(claims(aud="mlws-tests"), SECRET * 2, algorithm="HS512")
        failure = self.auth.check(b"Bearer " + token.encode())
        assert failure is not None
        assert failure.description == "the token algorithm is not allowed"

    def test_audience_and_issuer_are_optional_when_not_configured(self) -> None:
        assert TokenAuth(secret=SECRET).check(hs256(aud="anyone")) is None

    def test_garbage_is_an_invalid_token(self) -> None:
        failure = self.auth.check(b"Bearer not.a.jwt")
        assert failure is not None
        assert failure.description == "the token is invalid"


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    documents: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = self.documents.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body or b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def signing_keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
    }


@pytest.fixture
def jwks_server(signing_keys: dict[str, Any]) -> Iterator[str]:
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_keys["rsa"].public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(signing_keys["ec"].public_key()))
    rsa_jwk.update(kid="rsa-1", use="sig", alg="RS256")
    ec_jwk.update(kid="ec-1", use="sig", alg="ES256")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _JwksHandler.documents = {
        "/keys": json.dumps({"keys": [rsa_jwk, ec_jwk]}).encode(),
        "/.well-known/openid-configuration": json.dumps(
            {"issuer": base, "jwks_uri": f"{base}/keys"}
        ).encode(),
    }
    _JwksHandler.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()
    thread.join()


def signed(key: Any, algorithm: str, kid: str, **overrides: Any) -> bytes:
    token = jwt.encode(claims(**overrides), key, algorithm=algorithm, headers={"kid": kid})
    return b"Bearer " + token.encode()


class TestJwks:
    def test_rs256_and_es256_tokens_verify_against_the_jwks(
        self, jwks_server: str, signing_keys: dict[str, Any]
    ) -> None:
        auth = TokenAuth(jwks_url=f"{jwks_server}/keys", audience="api")
        assert auth.blocking
        assert auth.check(signed(signing_keys["rsa"], "RS256", "rsa-1", aud="api")) is None
        assert auth.check(signed(signing_keys["ec"], "ES256", "ec-1", aud="api")) is None
        assert _JwksHandler.hits.count("/keys") == 1  # the key set is cached

    def test_an_oidc_discovery_url_leads_to_the_jwks(
        self, jwks_server: str, signing_keys: dict[str, Any]
    ) -> None:
        auth = TokenAuth(jwks_url=f"{jwks_server}/.well-known/openid-configuration")
        assert auth.check(signed(signing_keys["rsa"], "RS256", "rsa-1")) is None
        assert _JwksHandler.hits[0] == "/.well-known/openid-configuration"

    def test_expired_jwks_tokens_are_refused(
        self, jwks_server: str, signing_keys: dict[str, Any]
    ) -> None:
        auth = TokenAuth(jwks_url=f"{jwks_server}/keys")
        token = signed(signing_keys["rsa"], "RS256", "rsa-1", exp=int(time.time()) - 60)
        failure = auth.check(token)
        assert failure is not None
        assert failure.description == "the token has expired"

    def test_a_token_signed_by_another_key_is_refused(self, jwks_server: str) -> None:
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        failure = TokenAuth(jwks_url=f"{jwks_server}/keys").check(signed(other, "RS256", "rsa-1"))
        assert failure is not None
        assert failure.description == "the token signature is invalid"

    def test_unknown_key_ids_are_refused(
        self, jwks_server: str, signing_keys: dict[str, Any]
    ) -> None:
        auth = TokenAuth(jwks_url=f"{jwks_server}/keys")
        failure = auth.check(signed(signing_keys["rsa"], "RS256", "nope"))
        assert failure is not None
        assert failure.description == "no signing key for the token"

    def test_hs256_is_refused_when_only_a_jwks_is_configured(self, jwks_server: str) -> None:
        failure = TokenAuth(jwks_url=f"{jwks_server}/keys").check(hs256())
        assert failure is not None
        assert failure.description == "the token algorithm is not allowed"


def test_build_authenticator_follows_the_mode(tmp_path: Any) -> None:
    assert isinstance(build_authenticator(make_settings(tmp_path)), NoAuth)
    keyed = make_settings(tmp_path, auth_mode="key", secondary_key=SecretStr("only-secondary"))
    auth = build_authenticator(keyed)
    assert isinstance(auth, KeyAuth)
    assert auth.check(b"Bearer only-secondary") is None
    token = build_authenticator(make_settings(tmp_path, auth_mode="token", token_secret=SECRET))
    assert isinstance(token, TokenAuth)
    assert token.check(hs256()) is None
    assert not token.blocking


def test_an_issuer_alone_means_its_oidc_discovery(
    tmp_path: Any, jwks_server: str, signing_keys: dict[str, Any]
) -> None:
    settings = make_settings(tmp_path, auth_mode="token", token_issuer=jwks_server)
    assert settings.token_keys_url == f"{jwks_server}/.well-known/openid-configuration"
    auth = build_authenticator(settings)
    assert auth.check(signed(signing_keys["rsa"], "RS256", "rsa-1", iss=jwks_server)) is None
    failure = auth.check(signed(signing_keys["rsa"], "RS256", "rsa-1", iss="https://other"))
    assert failure is not None
    assert failure.description == "the token has the wrong issuer"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth_mode": "key"}, "needs MLWS_PRIMARY_KEY"),
        ({"auth_mode": "key", "primary_key": ""}, "needs MLWS_PRIMARY_KEY"),
        ({"auth_mode": "token"}, "needs MLWS_TOKEN_SECRET, MLWS_TOKEN_JWKS_URL or"),
        ({"auth_mode": "token", "token_secret": ""}, "needs MLWS_TOKEN_SECRET"),
    ],
)
def test_auth_modes_need_credentials(
    tmp_path: Any, overrides: dict[str, Any], message: str
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        make_settings(tmp_path, **overrides)
