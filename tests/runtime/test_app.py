"""The HTTP layer in-process (httpx + ASGITransport): every route, every limit and error status."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlws.runtime.app import ScoringApp
from mlws.runtime.entry_script import EntryScriptError
from mlws.runtime.http_errors import INTERNAL_ERROR_MESSAGE, RUN_FAILED_MESSAGE
from mlws.runtime.http_request import RequestIds
from mlws.runtime.logs import AccessLog
from mlws.runtime.request_checks import json_problem, query_as_json
from mlws.runtime.scoring_service import ScoringService
from tests.runtime.runtime_helpers import make_settings, write_script

JSON = {"content-type": "application/json"}
Serve = Callable[..., Any]


async def test_health_liveness_and_readiness(serve_app: Serve) -> None:
    _, client = await serve_app("echo")
    health = await client.get("/")
    assert (health.status_code, health.text) == (200, "Healthy")
    assert (await client.get("/live")).status_code == 200
    ready = await client.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_score_posts_the_body_to_run(serve_app: Serve, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    _, client = await serve_app("echo", model_dir=model)
    response = await client.post("/score", content=b'{"x": [1, 2]}', headers=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"echo": {"x": [1, 2]}, "model_dir": str(model.resolve())}


async def test_get_score_sends_query_parameters_as_json(serve_app: Serve) -> None:
    _, client = await serve_app("raw")
    response = await client.get("/score?a=1&b=[1,2]&c=text&d=null&e=x&e=y")
    assert response.status_code == 200
    raw = response.json()["raw"]
    assert json.loads(raw) == {"a": 1, "b": [1, 2], "c": "text", "d": None, "e": ["x", "y"]}


async def test_options_and_wrong_methods(serve_app: Serve) -> None:
    _, client = await serve_app("echo")
    assert (await client.options("/score")).status_code == 200
    put = await client.put("/score", content=b"{}")
    assert put.status_code == 405
    assert put.json() == {"message": "The method is not allowed for the requested URL."}
    assert (await client.post("/", content=b"{}")).status_code == 405


async def test_head_answers_get_routes_without_a_body(serve_app: Serve) -> None:
    _, client = await serve_app("echo")
    for path in ("/", "/live", "/ready", "/swagger.json"):
        response = await client.head(path)
        assert response.status_code == 200, path
        assert response.content == b""
    assert (await client.head("/score")).status_code == 405


async def test_unknown_paths_are_404_json(serve_app: Serve) -> None:
    _, client = await serve_app("echo")
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["message"].startswith("The requested URL was not found")


class TestRequestIds:
    async def test_a_generated_id_is_echoed_in_both_headers(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo")
        response = await client.post("/score", content=b"{}", headers=JSON)
        assert len(response.headers["x-request-id"]) == 36
        assert response.headers["x-ms-request-id"] == response.headers["x-request-id"]

    async def test_x_request_id_is_honoured(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo")
        response = await client.get("/", headers={"x-request-id": "abc-1"})
        assert response.headers["x-request-id"] == "abc-1"
        assert response.headers["x-ms-request-id"] == "abc-1"

    async def test_x_ms_request_id_is_honoured(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo")
        response = await client.get("/", headers={"x-ms-request-id": "ms-7"})
        assert response.headers["x-request-id"] == "ms-7"
        assert response.headers["x-ms-request-id"] == "ms-7"

    async def test_client_request_ids_as_azmlinfsrv(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo")
        both = await client.get(
            "/", headers={"x-ms-client-request-id": "client-1", "x-request-id": "req-2"}
        )
        assert both.headers["x-request-id"] == "req-2"
        assert both.headers["x-ms-request-id"] == "client-1"
        assert both.headers["x-ms-client-request-id"] == "client-1"
        legacy = await client.get("/", headers={"x-ms-request-id": "legacy-3"})
        assert legacy.headers["x-ms-client-request-id"] == "legacy-3"
        plain = await client.get("/")
        assert "x-ms-client-request-id" not in plain.headers

    async def test_overlong_ids_get_431_with_azmlinfsrv_messages(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo")
        response = await client.get("/", headers={"x-request-id": "x" * 101})
        assert response.status_code == 431
        assert response.json() == {"message": "x-request-id must not exceed 100 characters"}
        response = await client.get("/", headers={"x-ms-request-id": "x" * 101})
        assert response.status_code == 431
        assert response.json()["message"].startswith("x-ms-request-id and x-ms-client-request-id")
        response = await client.get("/", headers={"x-ms-client-request-id": "x" * 101})
        assert response.status_code == 431

    async def test_score_answers_say_whether_run_failed(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo", strict_json=True)
        ok = await client.post("/score", content=b"{}", headers=JSON)
        assert ok.headers["x-ms-run-function-failed"] == "False"
        bad = await client.post("/score", content=b"{x", headers=JSON)
        assert bad.headers["x-ms-run-function-failed"] == "False"
        failed = await client.post("/score", content=b'{"fail": 1}', headers=JSON)
        assert failed.headers["x-ms-run-function-failed"] == "True"
        assert "x-ms-run-function-failed" not in (await client.get("/")).headers


class TestBodyChecks:
    async def test_content_length_over_the_limit_is_413(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo", max_request_bytes=10)
        response = await client.post("/score", content=b'{"a": "0123456789"}', headers=JSON)
        assert response.status_code == 413
        assert "larger than 10 bytes" in response.json()["message"]

    async def test_a_streamed_body_over_the_limit_is_413(self, serve_app: Serve) -> None:
        app, _ = await serve_app("echo", max_request_bytes=10)
        chunks = [b'{"a": ', b'"0123', b'456789"}']
        messages = [
            {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
            for i, chunk in enumerate(chunks)
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/score",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json")],
        }
        await app(scope, receive, send)
        assert sent[0]["status"] == 413

    async def test_a_streamed_body_under_the_limit_is_scored(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo")

        async def body() -> Any:
            yield b'{"a": '
            yield b"1}"

        response = await client.post("/score", content=body(), headers=JSON)
        assert response.status_code == 200
        assert response.json()["echo"] == {"a": 1}

    async def test_non_json_content_types_are_415(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo", strict_json=True)
        response = await client.post(
            "/score", content=b"{}", headers={"content-type": "text/plain"}
        )
        assert response.status_code == 415
        assert response.json() == {"message": "Expects Content-Type to be application/json"}

    async def test_a_missing_content_type_is_accepted(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo")
        response = await client.post("/score", content=b'{"a": 1}')
        assert response.status_code == 200

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"{not json", "POST body could not be decoded as JSON: Expecting property name"),
            (b"", "POST body is empty. Expecting JSON."),
            (b'"\xff"', "Input cannot be decoded as UTF-8"),
        ],
    )
    async def test_bad_json_is_400(self, serve_app: Serve, body: bytes, message: str) -> None:
        _, client = await serve_app("echo", strict_json=True)
        response = await client.post("/score", content=body, headers=JSON)
        assert response.status_code == 400
        assert response.json()["message"].startswith(message)

    async def test_nan_and_infinity_reach_run_as_python_clients_send_them(
        self, serve_app: Serve
    ) -> None:
        _, client = await serve_app("raw")
        body = b'{"v": NaN, "w": [Infinity, -Infinity, 1.5]}'
        response = await client.post("/score", content=body, headers=JSON)
        assert response.status_code == 200
        assert response.json() == {"raw": body.decode()}

    async def test_strict_json_off_passes_any_body_like_azmlinfsrv(self, serve_app: Serve) -> None:
        _, client = await serve_app("raw", strict_json=False)
        response = await client.post(
            "/score", content=b"a,b\n1,2", headers={"content-type": "text/csv"}
        )
        assert response.status_code == 200
        assert response.json() == {"raw": "a,b\n1,2"}

    async def test_decorated_scripts_need_a_json_content_type(self, serve_app: Serve) -> None:
        _, client = await serve_app("decorated")
        assert (await client.post("/score", content=b'{"data": [1]}')).status_code == 415
        ok = await client.post("/score", content=b'{"data": [1, 2]}', headers=JSON)
        assert ok.json() == {"total": 3}
        missing = await client.post("/score", content=b'{"scale": 1}', headers=JSON)
        assert missing.status_code == 400
        empty = await client.post("/score", content=b"", headers=JSON)
        assert empty.json() == {"message": "POST body is empty. Expecting a JSON dictionary."}


class TestScoringFailures:
    async def test_an_exception_in_run_is_500_with_the_request_id_only(
        self, serve_app: Serve, caplog: pytest.LogCaptureFixture
    ) -> None:
        _, client = await serve_app("echo")
        response = await client.post(
            "/score", content=b'{"fail": true}', headers={**JSON, "x-request-id": "r-500"}
        )
        assert response.status_code == 500
        assert response.json() == {"message": RUN_FAILED_MESSAGE, "request_id": "r-500"}
        assert "the script failed on purpose" not in response.text
        errors = [r for r in caplog.records if r.name == "mlws.runtime" and r.exc_info]
        assert errors
        assert "the script failed on purpose" in caplog.text

    async def test_a_slow_run_is_504_and_its_slot_frees_when_it_ends(
        self, serve_app: Serve
    ) -> None:
        _, client = await serve_app("echo", scoring_timeout_ms=100, max_request_wait_ms=0)
        started = time.perf_counter()
        response = await client.post("/score", content=b'{"sleep": 0.8}', headers=JSON)
        assert response.status_code == 504
        assert response.json()["message"] == "Scoring timeout after 100 ms"
        assert "request_id" in response.json()
        assert time.perf_counter() - started < 0.6
        busy = await client.post("/score", content=b"{}", headers=JSON)
        assert busy.status_code == 503  # the timed-out run still holds the only slot
        await asyncio.sleep(0.8)
        assert (await client.post("/score", content=b"{}", headers=JSON)).status_code == 200

    async def test_ready_and_health_fail_while_every_slot_is_stuck(self, serve_app: Serve) -> None:
        app, client = await serve_app("echo", scoring_timeout_ms=100, max_request_wait_ms=0)
        stuck: list[int] = []
        app.service.on_stuck = stuck.append
        assert (
            await client.post("/score", content=b'{"sleep": 1.0}', headers=JSON)
        ).status_code == 504
        assert stuck == [1]
        ready = await client.get("/ready")
        assert (ready.status_code, ready.json()["status"]) == (503, "stuck")
        assert (await client.get("/")).status_code == 503
        assert (await client.get("/live")).status_code == 200
        for _ in range(300):  # the call returns after its 1 s: the slot and readiness come back
            if (await client.get("/ready")).status_code == 200:
                break
            await asyncio.sleep(0.02)
        assert (await client.get("/ready")).status_code == 200
        assert (await client.get("/")).text == "Healthy"

    async def test_the_concurrency_cap_queues_then_refuses_with_retry_after(
        self, serve_app: Serve
    ) -> None:
        _, client = await serve_app("echo", max_concurrent_requests=1, max_request_wait_ms=50)
        slow = asyncio.create_task(client.post("/score", content=b'{"sleep": 0.3}', headers=JSON))
        await asyncio.sleep(0.05)
        refused = await client.post("/score", content=b"{}", headers=JSON)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "all scoring slots stayed busy for 50 ms" in refused.json()["message"]
        assert (await slow).status_code == 200

    async def test_a_queued_request_gets_the_slot_when_it_frees(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo", max_concurrent_requests=1, max_request_wait_ms=2000)
        first = asyncio.create_task(client.post("/score", content=b'{"sleep": 0.2}', headers=JSON))
        await asyncio.sleep(0.05)
        second = await client.post("/score", content=b'{"n": 2}', headers=JSON)
        assert second.status_code == 200
        assert (await first).status_code == 200

    async def test_several_slots_score_concurrently(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo", max_concurrent_requests=4, max_request_wait_ms=0)
        started = time.perf_counter()
        responses = await asyncio.gather(
            *(client.post("/score", content=b'{"sleep": 0.2}', headers=JSON) for _ in range(4))
        )
        assert [r.status_code for r in responses] == [200] * 4
        assert time.perf_counter() - started < 0.6

    async def test_unserialisable_output_is_500(self, serve_app: Serve) -> None:
        _, client = await serve_app("unserialisable")
        response = await client.post("/score", content=b"{}", headers=JSON)
        assert response.status_code == 500
        assert response.json()["message"] == INTERNAL_ERROR_MESSAGE  # as azmlinfsrv


class TestStartup:
    async def test_score_and_ready_are_503_while_init_runs(self, serve_app: Serve) -> None:
        app, client = await serve_app("slow_init", wait=False)
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "starting"
        assert (await client.get("/live")).status_code == 200
        score = await client.post("/score", content=b"{}", headers=JSON)
        assert score.status_code == 503
        assert score.headers["retry-after"] == "1"
        assert "still running" in score.json()["message"]
        assert (await client.get("/swagger.json")).status_code == 503
        await app.wait_ready()
        assert (await client.get("/ready")).status_code == 200

    async def test_init_failure_is_reported_and_signalled(self, script_dir: Path) -> None:
        write_script(script_dir, "init_fails")
        failures: list[EntryScriptError] = []
        app = ScoringApp(ScoringService(make_settings(script_dir), on_init_failure=failures.append))
        await app.startup()
        with pytest.raises(EntryScriptError, match="cannot find the model file"):
            await app.wait_ready()
        assert len(failures) == 1
        assert "Traceback" in failures[0].detail
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/ready")
            assert (ready.status_code, ready.json()["status"]) == (503, "failed")
            score = await client.post("/score", content=b"{}", headers=JSON)
            assert score.status_code == 503
            assert "failed to start" in score.json()["message"]
        await app.shutdown()

    async def test_an_unknown_script_type_fails_start_up(self, tmp_path: Path) -> None:
        (tmp_path / "score.js").write_text("")
        app = ScoringApp(make_settings(tmp_path, entry_script=Path("score.js")))
        await app.startup()
        with pytest.raises(EntryScriptError, match="unknown suffix"):
            await app.wait_ready()
        await app.shutdown()

    async def test_lifespan_protocol(self, script_dir: Path) -> None:
        write_script(script_dir, "echo")
        app = ScoringApp(make_settings(script_dir))
        inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[str] = []

        async def receive() -> dict[str, Any]:
            if len(inbox) == 1:
                await app.wait_ready()
            return inbox.pop(0)

        async def send(message: Any) -> None:
            sent.append(message["type"])

        await app({"type": "lifespan"}, receive, send)
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


class TestAuth:
    async def test_key_auth_guards_score_only(self, serve_app: Serve) -> None:
        _, client = await serve_app(
            "echo", auth_mode="key", primary_key="key-one", secondary_key="key-two"
        )
        refused = await client.post("/score", content=b"{}", headers=JSON)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="mlws"'
        wrong = await client.post(
            "/score", content=b"{}", headers={**JSON, "authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
        for key in ("key-one", "key-two"):
            ok = await client.post(
                "/score", content=b"{}", headers={**JSON, "authorization": f"Bearer {key}"}
            )
            assert ok.status_code == 200
        for path in ("/", "/live", "/ready", "/metrics", "/swagger.json"):  # swagger: as Azure ML
            assert (await client.get(path)).status_code == 200, path

    async def test_metrics_auth_can_be_required(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo", auth_mode="key", primary_key="k", metrics_auth=True)
        assert (await client.get("/metrics")).status_code == 401
        authorized = await client.get("/metrics", headers={"authorization": "Bearer k"})
        assert authorized.status_code == 200

    async def test_token_auth(self, serve_app: Serve) -> None:
        secret = "token-secret-for-the-app-tests-0123456789"
        _, client = await serve_app(
            "echo", auth_mode="token", token_secret=secret, token_audience="svc"
        )
        now = int(time.time())
        token = jwt.encode({"aud": "svc", "exp": now + 60, "nbf": now}, secret)
        ok = await client.post(
            "/score", content=b"{}", headers={**JSON, "authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 200
        stale = jwt.encode({"aud": "svc", "exp": now - 60, "nbf": now - 120}, secret)
        refused = await client.post(
            "/score", content=b"{}", headers={**JSON, "authorization": f"Bearer {stale}"}
        )
        assert refused.status_code == 401
        assert "expired" in refused.headers["www-authenticate"]

    async def test_credentials_never_reach_logs_or_scripts(
        self, serve_app: Serve, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO)
        _, client = await serve_app("headers", auth_mode="key", primary_key="sekrit-key")
        response = await client.post(
            "/score", content=b"{}", headers={**JSON, "authorization": "Bearer sekrit-key"}
        )
        assert response.status_code == 200
        assert "Authorization" not in response.json()["headers"]
        await client.post("/score", content=b"{}", headers={"authorization": "Bearer sekrit-kex"})
        assert "sekrit" not in caplog.text


class TestSwagger:
    async def test_version_2_is_the_default(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo")
        doc = (await client.get("/swagger.json")).json()
        assert doc["swagger"] == "2.0"
        assert doc["definitions"]["ServiceInput"] == {"type": "object", "example": {}}
        assert "/score" in doc["paths"]

    @pytest.mark.parametrize(("version", "openapi"), [("3", "3.0.3"), ("3.1", "3.1.0")])
    async def test_version_3_on_request(self, serve_app: Serve, version: str, openapi: str) -> None:
        _, client = await serve_app("decorated")
        doc = (await client.get(f"/swagger.json?version={version}")).json()
        assert doc["openapi"] == openapi
        schema = doc["components"]["schemas"]["ServiceInput"]
        assert set(schema["properties"]) == {"data", "scale"}

    async def test_unknown_versions_are_404(self, serve_app: Serve) -> None:
        _, client = await serve_app("echo")
        response = await client.get("/swagger.json?version=9")
        assert response.status_code == 404
        assert response.json() == {
            "message": "Swagger version [9] is not valid. Supported versions: [2, 3, 3.1]."
        }

    async def test_a_swagger_file_in_the_source_directory_wins(
        self, serve_app: Serve, script_dir: Path
    ) -> None:
        script_dir.mkdir(parents=True)
        (script_dir / "swagger.json").write_text('{"swagger": "2.0", "custom": true}')
        _, client = await serve_app("echo")
        assert (await client.get("/swagger.json")).json() == {"swagger": "2.0", "custom": True}


async def test_metrics_count_requests_by_route_and_status(serve_app: Serve) -> None:
    _, client = await serve_app("echo", strict_json=True)
    await client.post("/score", content=b"{}", headers=JSON)
    await client.post("/score", content=b"{x", headers=JSON)
    await client.get("/")
    text = (await client.get("/metrics")).text
    assert 'mlws_requests_total{route="/score",status="200"} 1' in text
    assert 'mlws_requests_total{route="/score",status="400"} 1' in text
    assert 'mlws_requests_total{route="/",status="200"} 1' in text
    assert 'mlws_request_duration_seconds_bucket{route="/score",le="+Inf"} 2' in text
    assert 'mlws_request_duration_seconds_count{route="/score"} 2' in text


async def test_one_structured_log_line_per_request(serve_app: Serve) -> None:
    app, client = await serve_app("echo")
    chunks: list[bytes] = []
    app.access_log = AccessLog(sink=chunks.append)
    await client.post("/score?x=1", content=b"{}", headers={**JSON, "x-request-id": "log-1"})
    await client.get("/live")
    app.access_log.flush()
    lines = b"".join(chunks).splitlines()
    assert len(lines) == 2
    first = orjson.loads(lines[0])
    assert first["request_id"] == "log-1"
    assert (first["method"], first["path"], first["status"]) == ("POST", "/score", 200)
    assert first["logger"] == "mlws.access"
    assert first["latency_ms"] >= 0
    assert first["ts"].endswith("Z")
    assert orjson.loads(lines[1])["path"] == "/live"


def test_access_log_chunks_stay_whole_lines() -> None:
    chunks: list[bytes] = []
    log = AccessLog(sink=chunks.append)
    for i in range(100):
        log.write(f"id-{i}", "POST", "/score", 200, 1.0)
    log.flush()
    assert all(len(chunk) <= AccessLog.CHUNK and chunk.endswith(b"\n") for chunk in chunks)
    ids = [orjson.loads(line)["request_id"] for chunk in chunks for line in chunk.splitlines()]
    assert ids == [f"id-{i}" for i in range(100)]


def test_generated_request_ids_are_unique_and_uuid_shaped() -> None:
    import uuid

    first, second = RequestIds(), RequestIds()
    ids = {first.next() for _ in range(1000)} | {second.next() for _ in range(1000)}
    assert len(ids) == 2000
    assert all(uuid.UUID(i.decode()).version == 4 for i in ids)


async def test_multi_model_layout(serve_app: Serve, tmp_path: Path) -> None:
    root = tmp_path / "models"
    for name, version in (("alpha", "1"), ("alpha", "2"), ("beta", "7")):
        folder = root / name / version
        folder.mkdir(parents=True)
        (folder / "weights.txt").write_text(f"{name}-{version}")
    _, client = await serve_app("multi_model", model_dir=root)
    response = await client.post("/score", content=b"{}", headers=JSON)
    assert response.json() == {"alpha/1": "alpha-1", "alpha/2": "alpha-2", "beta/7": "beta-7"}


async def test_a_custom_submit_replaces_the_thread_pool(serve_app: Serve) -> None:
    """The batching hook: what ``app.service.submit`` returns is awaited with the same limits."""
    from mlws.runtime.entry_script import ScoreRequest, ScoreResult

    app, client = await serve_app("echo")
    seen: list[ScoreRequest] = []

    def submit(request: ScoreRequest) -> asyncio.Future[ScoreResult]:
        seen.append(request)
        future: asyncio.Future[ScoreResult] = asyncio.get_running_loop().create_future()
        future.set_result(ScoreResult(body=orjson.dumps({"batched": True}), status=201))
        return future

    app.service.submit = submit
    response = await client.post("/score", content=b'{"q": 1}', headers=JSON)
    assert (response.status_code, response.json()) == (201, {"batched": True})
    assert seen[0].body == b'{"q": 1}'


@given(st.binary(max_size=200))
def test_body_checks_never_crash(body: bytes) -> None:
    for wants_object in (False, True):
        problem = json_problem(body, wants_object)
        assert problem is None or problem.startswith(("POST body", "Input cannot"))


@given(st.binary(max_size=200))
def test_any_query_string_becomes_a_json_object(query: bytes) -> None:
    assert isinstance(json.loads(query_as_json(query)), dict)


class TestMicroBatching:
    async def test_concurrent_requests_share_a_batch(self, serve_app: Serve) -> None:
        app, client = await serve_app("batch", batch_max_size=8, batch_max_wait_ms=50)
        assert app.service.batcher is not None
        responses = await asyncio.gather(
            *(client.post("/score", content=str(i).encode(), headers=JSON) for i in range(5))
        )
        assert [r.status_code for r in responses] == [200] * 5
        bodies = [r.json() for r in responses]
        assert [b.get("batched", b.get("single")) for b in bodies] == list(range(5))
        assert max(b.get("size", 1) for b in bodies) > 1
        assert app.service.batcher.batches < 5

    async def test_one_bad_request_fails_alone(self, serve_app: Serve) -> None:
        _, client = await serve_app("batch", batch_max_size=8, batch_max_wait_ms=50)
        good, bad = await asyncio.gather(
            client.post("/score", content=b"1", headers=JSON),
            client.post("/score", content=b'"bad"', headers=JSON),
        )
        assert good.status_code == 200
        assert bad.status_code == 500
        assert bad.json()["message"] == RUN_FAILED_MESSAGE

    async def test_scripts_without_a_batch_form_are_not_batched(self, serve_app: Serve) -> None:
        app, client = await serve_app("echo", batch_max_size=8)
        assert app.service.batcher is None
        assert (await client.post("/score", content=b"{}", headers=JSON)).status_code == 200
