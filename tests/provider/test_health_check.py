"""mlws.health: the transport-level check shared by both HealthGates (no Pulumi, no sockets).

Requests go through ``httpx.MockTransport`` and time through a fake clock, so waiting and timeouts
are tested exactly and instantly; the gRPC tests exercise the same code over real sockets.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from mlws import health
from mlws.tokens import encode_hs256


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(
    spec: health.HealthCheckSpec,
    handler: Callable[[httpx.Request], httpx.Response],
    abort: health.AbortCheck | None = None,
) -> tuple[health.HealthResult, list[httpx.Request], FakeTime]:
    seen: list[httpx.Request] = []
    fake = FakeTime()

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    result = health.check_health(
        spec,
        abort=abort,
        transport=httpx.MockTransport(record),
        sleep=fake.sleep,
        clock=fake.clock,
    )
    return result, seen, fake


URI = "http://svc.example/api/score"


def test_readiness_uri_sits_beside_the_scoring_uri() -> None:
    assert health.readiness_uri_for("http://h:8890/score") == "http://h:8890/ready"
    assert health.readiness_uri_for("https://h/api/v1/score?x=1") == "https://h/api/v1/ready"
    assert health.readiness_uri_for("http://h") == "http://h/ready"
    spec = health.HealthCheckSpec(scoring_uri=URI, readiness_uri="http://h/healthz")
    assert spec.effective_readiness_uri == "http://h/healthz"


def test_polls_until_ready_then_sends_the_sample_with_the_key() -> None:
    answers = iter([503, 503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/ready":
            return httpx.Response(next(answers), text="init running")
        return httpx.Response(200, json={"echo": json.loads(request.content)})

    spec = health.HealthCheckSpec(
        scoring_uri=URI, key="k-1", sample_request='{"data": [1]}', poll_interval_seconds=2
    )
    result, seen, fake = run(spec, handler)
    assert result.healthy
    assert result.ready
    assert [r.method for r in seen] == ["GET", "GET", "GET", "POST"]
    assert seen[-1].headers["Authorization"] == "Bearer k-1"
    assert seen[-1].headers["Content-Type"] == "application/json"
    assert result.attempts == 4
    assert fake.now == pytest.approx(4.0)
    assert result.last_status == 200


def test_minted_token_is_a_valid_hs256_jwt_for_the_audience() -> None:
    spec = health.HealthCheckSpec(
        scoring_uri=URI, token_secret="s3cret", token_audience="mlws", token_issuer="me"
    )
    header = health.auth_headers(spec, now=1_000_000)["Authorization"]
    token = header.removeprefix("Bearer ")
    signing_input, _, _ = token.rpartition(".")
    _, _, body = signing_input.partition(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert claims["aud"] == "mlws"
    assert claims["iss"] == "me"
    assert claims["nbf"] <= 1_000_000 < claims["exp"]
    assert claims["exp"] > claims["nbf"]
    assert token == encode_hs256(claims, "s3cret")
    assert health.auth_headers(health.HealthCheckSpec(scoring_uri=URI)) == {}


def test_times_out_with_the_last_answer() -> None:
    spec = health.HealthCheckSpec(scoring_uri=URI, timeout_seconds=10, poll_interval_seconds=3)
    result, seen, fake = run(spec, lambda r: httpx.Response(503, text="loading model"))
    assert not result.healthy
    assert not result.ready
    assert result.reason == ("not ready after 10s: http://svc.example/api/ready never answered 200")
    assert "HTTP 503: loading model" in result.describe()
    assert fake.now == pytest.approx(10.0)
    assert len(seen) == 5  # t=0, 3, 6, 9, 10


def test_transport_errors_are_reported_not_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    spec = health.HealthCheckSpec(scoring_uri=URI, timeout_seconds=1, poll_interval_seconds=1)
    result, _, _ = run(spec, refuse)
    assert not result.healthy
    assert result.last_reply is not None
    assert result.last_reply.error == "connection refused"


def test_a_failing_sample_fails_at_once_with_the_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200)
        return httpx.Response(500, json={"error": "KeyError: 'data'", "request_id": "abc"})

    spec = health.HealthCheckSpec(scoring_uri=URI, sample_request="{}", timeout_seconds=60)
    result, seen, fake = run(spec, handler)
    assert not result.healthy
    assert result.reason == "sample request got HTTP 500, expected 200"
    assert "KeyError: 'data'" in result.describe()
    assert len(seen) == 2
    assert fake.now == 0


def test_busy_answers_are_retried_until_success() -> None:
    answers = iter([503, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200)
        return httpx.Response(next(answers), json={"ok": True})

    spec = health.HealthCheckSpec(scoring_uri=URI, sample_request="{}", poll_interval_seconds=1)
    result, seen, _ = run(spec, handler)
    assert result.healthy
    assert len(seen) == 4


@pytest.mark.parametrize(
    ("expected", "contains", "body", "problem"),
    [
        ('{"y": [1]}', None, {"y": [1]}, None),
        ('{"y": [2]}', None, {"y": [1]}, "sample response differs from expected_response"),
        (None, '"y"', {"y": [1]}, None),
        (None, "z", {"y": [1]}, "sample response does not contain 'z'"),
    ],
)
def test_expected_response_checks(
    expected: str | None, contains: str | None, body: object, problem: str | None
) -> None:
    spec = health.HealthCheckSpec(
        scoring_uri=URI,
        sample_request="{}",
        expected_response=expected,
        expected_response_contains=contains,
    )
    result, _, _ = run(spec, lambda r: httpx.Response(200, json=body))
    assert result.healthy is (problem is None)
    if problem is not None:
        assert result.reason == problem


def test_abort_stops_waiting_early() -> None:
    calls = iter([None, "the server process exited with code 3"])
    spec = health.HealthCheckSpec(scoring_uri=URI, timeout_seconds=100)
    result, seen, _ = run(spec, lambda r: httpx.Response(503), abort=lambda: next(calls))
    assert result.reason.endswith("the server process exited with code 3")
    assert len(seen) == 2


def test_log_tail_from_file_and_command(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text("\n".join(f"line {i}" for i in range(100)) + "\n")
    command = f"{sys.executable} -c \"print('from command'); raise SystemExit(4)\""
    spec = health.HealthCheckSpec(
        scoring_uri=URI, log_file=str(log), log_command=command, log_tail_lines=3
    )
    tail = health.read_log_tail(spec)
    assert tail is not None
    assert tail.splitlines()[:3] == ["line 97", "line 98", "line 99"]
    assert "from command" in tail
    assert "(log command exited with 4)" in tail
    missing = health.read_log_tail(
        health.HealthCheckSpec(scoring_uri=URI, log_file=str(tmp_path / "nope"))
    )
    assert missing is not None
    assert "cannot read log file" in missing
    gone = health.read_log_tail(
        health.HealthCheckSpec(scoring_uri=URI, log_command="no-such-binary-xyz --tail 5")
    )
    assert gone == "(log command not found: no-such-binary-xyz)"


def test_secrets_never_reach_messages_or_reprs() -> None:
    spec = health.HealthCheckSpec(scoring_uri=URI, key="super-secret-key", sample_request="{}")
    result, _, _ = run(
        spec,
        lambda r: httpx.Response(401 if r.method == "POST" else 200, text="unauthorized"),
    )
    assert "super-secret-key" not in result.describe()
    assert "super-secret-key" not in repr(spec)
    assert "super-secret-key" not in str(health.HealthCheckError(result))


def test_spec_validation_names_fields() -> None:
    with pytest.raises(ValidationError, match="scoring_uri"):
        health.HealthCheckSpec(scoring_uri="not a url")
    with pytest.raises(ValidationError, match="at most one of key, token, token_secret"):
        health.HealthCheckSpec(scoring_uri=URI, key="a", token_secret="b")
    with pytest.raises(ValidationError, match="log_command"):
        health.HealthCheckSpec(scoring_uri=URI, log_command="unbalanced 'quote")


def test_gate_helpers() -> None:
    failures = health.gate_check_failures(
        {"scoring_uri": "x", "key": "a", "token": "b", "nope": 1}, unknown=frozenset()
    )
    assert ("nope", "unknown HealthGate input 'nope'") in failures
    assert [f for f, _ in failures if f == "scoring_uri"] == ["scoring_uri"]
    assert health.gate_check_failures({"scoring_uri": URI, "key": "a", "token": "b"}) == [
        ("token", "give at most one of key, token, token_secret (got ['key', 'token'])")
    ]
    assert health.gate_check_failures({}, unknown=frozenset({"scoring_uri"})) == []
    olds = {"scoring_uri": URI, "timeout_seconds": 10, "image_digest": "a"}
    news = {**olds, "timeout_seconds": 20, "image_digest": "b"}
    assert health.gate_recheck_fields(olds, news) == ["image_digest"]
    assert health.gate_changed_fields(olds, news) == ["timeout_seconds", "image_digest"]
    quick = health.refresh_spec(health.HealthCheckSpec(scoring_uri=URI, timeout_seconds=600))
    assert quick.timeout_seconds == health.REFRESH_TIMEOUT_SECONDS


def test_log_lines_of_the_failed_request_come_first_with_their_traceback(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    error_line = json.dumps(
        {
            "level": "error",
            "message": "run() raised ZeroDivisionError",
            "request_id": "req-42",
            "traceback": 'Traceback (most recent call last):\n  File "score.py", line 6\n'
            "ZeroDivisionError: division by zero\n",
        }
    )
    noise = [json.dumps({"level": "info", "message": f"request {i}"}) for i in range(80)]
    log.write_text("\n".join(["starting", error_line, *noise]) + "\n")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200)
        return httpx.Response(
            500,
            json={"message": "error in scoring script", "request_id": "x"},
            headers={"x-ms-request-id": "req-42"},
        )

    spec = health.HealthCheckSpec(
        scoring_uri=URI, sample_request="{}", log_file=str(log), log_tail_lines=5
    )
    result, _, _ = run(spec, handler)
    assert result.last_reply is not None
    assert result.last_reply.request_id == "req-42"
    report = result.describe()
    assert "[lines for request req-42]" in report
    assert "\nZeroDivisionError: division by zero" in report  # the traceback, unescaped
    assert report.index("ZeroDivisionError") < report.index("[other lines, last]")
    assert report.count("req-42") == 1  # shown once, rendered, not again in the tail
    assert "request 79" in report  # the tail is still there
    assert "request 10" not in report  # ...but only its last 5 lines


def test_request_id_from_the_body_when_no_header() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200)
        return httpx.Response(500, json={"request_id": "from-body"})

    result, _, _ = run(health.HealthCheckSpec(scoring_uri=URI, sample_request="{}"), handler)
    assert result.last_reply is not None
    assert result.last_reply.request_id == "from-body"
