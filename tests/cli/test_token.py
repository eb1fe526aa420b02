"""``mlws token`` and :mod:`mlws.tokens`: tokens the service accepts, with refresh_after."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jwt
import pytest

from mlws.tokens import (
    CLOCK_SKEW_SECONDS,
    DEFAULT_TTL_SECONDS,
    TokenError,
    encode_hs256,
    issue_token,
    parse_duration,
)
from tests.cli.cli_helpers import (
    AUDIENCE,
    ISSUER,
    TOKEN_SECRET,
    Served,
    assert_one_line_error,
    run_cli,
)


def test_encoded_tokens_verify_with_pyjwt() -> None:
    issued = issue_token(TOKEN_SECRET, audience=AUDIENCE, issuer=ISSUER, ttl_seconds=600)
    claims = jwt.decode(
        issued.access_token,
        TOKEN_SECRET,
        algorithms=["HS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "nbf", "iat"]},
    )
    assert claims["exp"] == issued.expires_on
    assert claims["exp"] - claims["nbf"] == 600 + CLOCK_SKEW_SECONDS
    assert claims["nbf"] < issued.refresh_after < issued.expires_on


def test_claims_are_signed_not_just_encoded() -> None:
    token = encode_hs256({"exp": 1}, TOKEN_SECRET)
    header, _, signature = token.split(".")
    forged = encode_hs256({"exp": 2}, TOKEN_SECRET).split(".")[1]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            f"{header}.{forged}.{signature}",
            TOKEN_SECRET,
            algorithms=["HS256"],
            options={"verify_exp": False},
        )


def test_no_aud_or_iss_unless_asked() -> None:
    claims = jwt.decode(
        issue_token(TOKEN_SECRET).access_token,
        TOKEN_SECRET,
        algorithms=["HS256"],
    )
    assert "aud" not in claims
    assert "iss" not in claims
    assert claims["exp"] - claims["iat"] == DEFAULT_TTL_SECONDS + CLOCK_SKEW_SECONDS


@pytest.mark.parametrize("ttl", [0, 5, 8 * 24 * 3600])
def test_lifetime_bounds(ttl: int) -> None:
    with pytest.raises(TokenError, match="lifetime"):
        issue_token(TOKEN_SECRET, ttl_seconds=ttl)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(TokenError, match="empty"):
        issue_token("")


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1.5h", "-5", "ten"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(TokenError, match="not a duration"):
        parse_duration(text)


@pytest.mark.slow
def test_token_command_gives_a_token_the_server_accepts(
    token_service: Served, tmp_path: Path
) -> None:
    before = int(time.time())
    result = run_cli("token", str(token_service.outputs_file(tmp_path)), "--ttl", "10m")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= {"access_token", "refresh_after", "expires_on"}
    assert answer["refresh_after_unix"] > before
    assert answer["refresh_after_unix"] < answer["expires_on_unix"] <= before + 600 + 2
    assert answer["refresh_after"].endswith("Z")
    response = httpx.post(
        token_service.scoring_uri,
        json={"ok": True},
        headers={"Authorization": f"Bearer {answer['access_token']}"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"echo": {"ok": True}}


@pytest.mark.slow
def test_raw_token_from_a_url_and_secret(token_service: Served) -> None:
    result = run_cli(
        "token",
        token_service.url,
        "--token-secret",
        TOKEN_SECRET,
        "--audience",
        AUDIENCE,
        "--issuer",
        ISSUER,
        "--raw",
    )
    assert result.exit_code == 0
    token = result.stdout.strip()
    assert token.count(".") == 2
    invoked = run_cli("invoke", token_service.url, "--token", token, "-d", "{}")
    assert invoked.exit_code == 0, invoked.stderr


@pytest.mark.slow
def test_an_expired_token_is_refused(token_service: Served) -> None:
    expired = issue_token(
        TOKEN_SECRET, audience=AUDIENCE, issuer=ISSUER, ttl_seconds=60, now=time.time() - 120
    )
    response = httpx.post(
        token_service.scoring_uri,
        json={},
        headers={"Authorization": f"Bearer {expired.access_token}"},
    )
    assert response.status_code == 401
    assert "expired" in response.headers["www-authenticate"]
    result = run_cli("invoke", token_service.url, "--token", expired.access_token, "-d", "{}")
    assert_one_line_error(result, "HTTP 401", "expired")


def test_token_for_a_key_service_says_so(tmp_path: Path) -> None:
    outputs = tmp_path / "o.json"
    outputs.write_text(json.dumps({"scoring_uri": "http://h/score", "primary_key": "k"}))
    assert_one_line_error(run_cli("token", str(outputs)), "'key' auth", "mlws keys")


def test_token_for_an_oidc_issuer_explains_where_to_get_one(tmp_path: Path) -> None:
    outputs = tmp_path / "o.json"
    outputs.write_text(
        json.dumps(
            {
                "scoring_uri": "http://h/score",
                "token_jwks_url": "https://login.example/keys",
                "token_audience": "api://accidents",
            }
        )
    )
    assert_one_line_error(
        run_cli("token", str(outputs)),
        "https://login.example/keys",
        "api://accidents",
        "--token",
    )


def test_bad_ttl_is_one_line() -> None:
    result = run_cli("token", "http://h", "--token-secret", TOKEN_SECRET, "--ttl", "soon")
    assert_one_line_error(result, "not a duration")


@pytest.mark.slow
def test_a_token_from_a_client_clock_slightly_ahead_is_accepted(token_service: Served) -> None:
    ahead = issue_token(TOKEN_SECRET, audience=AUDIENCE, issuer=ISSUER, now=time.time() + 30)
    response = httpx.post(
        token_service.scoring_uri,
        json={},
        headers={"Authorization": f"Bearer {ahead.access_token}"},
    )
    assert response.status_code == 200, response.text
