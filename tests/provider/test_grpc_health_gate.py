"""mlws:index:HealthGate driven over gRPC in the real plugin process, against a toy HTTP server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.runtime import proto

from mlws.provider.wire import UNKNOWN
from tests.provider.plugin_harness import Plugin, ToyServer, decode, details, encode, state, urn

TOKEN = "mlws:index:HealthGate"


def _create(plugin: Plugin, inputs: dict[str, Any], preview: bool = False) -> proto.CreateResponse:
    checked = plugin.checked(TOKEN, inputs)
    response: proto.CreateResponse = plugin.stub.Create(
        proto.CreateRequest(urn=urn(TOKEN), properties=checked, timeout=60, preview=preview)
    )
    return response


def test_check_names_each_bad_field(plugin: Plugin) -> None:
    response = plugin.check(
        TOKEN,
        {
            "scoring_uri": "ftp://nowhere",
            "sample_request": "{not json",
            "timeout_seconds": -1,
            "expected_status": 42,
            "bogus": "x",
        },
    )
    by_field = {f.property: f.reason for f in response.failures}
    assert set(by_field) == {
        "scoringUri",
        "sampleRequest",
        "timeoutSeconds",
        "expectedStatus",
        "bogus",
    }
    assert "http(s) URL" in by_field["scoringUri"]
    assert "JSON" in by_field["sampleRequest"]


def test_check_requires_scoring_uri_and_one_credential(plugin: Plugin) -> None:
    missing = plugin.check(TOKEN, {"sample_request": "{}"})
    assert [f.property for f in missing.failures] == ["scoringUri"]
    both = plugin.check(TOKEN, {"scoring_uri": "http://h/score", "key": "a", "token": "b"})
    assert [f.property for f in both.failures] == ["token"]
    assert "at most one" in both.failures[0].reason


def test_check_skips_unknown_values_and_marks_credentials_secret(plugin: Plugin) -> None:
    response = plugin.check(TOKEN, {"scoring_uri": UNKNOWN, "key": "k-123"})
    assert list(response.failures) == []
    assert response.inputs.fields["scoringUri"].string_value == UNKNOWN
    assert "key" in decode(response.inputs).secret


def test_check_config_and_configure(plugin: Plugin) -> None:
    checked = plugin.stub.CheckConfig(
        proto.CheckRequest(
            urn="urn:pulumi:dev::proj::pulumi:providers:mlws::default", news=encode({})
        )
    )
    assert list(checked.failures) == []
    configured = plugin.stub.Configure(proto.ConfigureRequest(acceptSecrets=True))
    assert configured.acceptSecrets
    assert configured.supportsPreview
    diff = plugin.stub.DiffConfig(proto.DiffRequest(urn="urn:x", olds=encode({}), news=encode({})))
    assert diff.changes == proto.DiffResponse.DIFF_NONE


def _diff(plugin: Plugin, olds: dict[str, Any], news: dict[str, Any]) -> proto.DiffResponse:
    response: proto.DiffResponse = plugin.stub.Diff(
        proto.DiffRequest(
            urn=urn(TOKEN), id="healthgate-1", olds=encode(olds), news=plugin.checked(TOKEN, news)
        )
    )
    return response


def test_diff_rechecks_on_triggers_and_never_replaces(plugin: Plugin) -> None:
    base = {
        "scoring_uri": "http://h/score",
        "sample_request": '{"a": 1}',
        "image_digest": "sha256:1",
    }
    olds = {**base, "healthy": True, "reason": "ok"}
    same = _diff(plugin, olds, base)
    assert same.changes == proto.DiffResponse.DIFF_NONE

    for name, value in [
        ("sample_request", '{"a": 2}'),
        ("image_digest", "sha256:2"),
        ("scoring_uri", "http://h2/score"),
        ("timeout_seconds", 30),
    ]:
        diff = _diff(plugin, olds, {**base, name: value})
        assert diff.changes == proto.DiffResponse.DIFF_SOME, name
        assert list(diff.replaces) == [], name
        camel = "".join(w.capitalize() if i else w for i, w in enumerate(name.split("_")))
        assert list(diff.diffs) == [camel]
        assert diff.detailedDiff[camel].kind == proto.PropertyDiff.UPDATE

    unhealthy = _diff(plugin, {**olds, "healthy": False}, base)
    assert unhealthy.changes == proto.DiffResponse.DIFF_SOME


def test_create_passes_against_a_healthy_server(plugin: Plugin, toy_server: ToyServer) -> None:
    toy_server.behaviour.key = "k-123"
    response = _create(
        plugin,
        {
            "scoring_uri": toy_server.scoring_uri,
            "key": "k-123",
            "sample_request": json.dumps({"data": [1, 2]}),
            "expected_response": json.dumps({"echo": {"data": [1, 2]}}),
        },
    )
    assert response.id.startswith("healthgate-")
    values = state(response.properties)
    assert values["healthy"] is True
    assert values["last_status"] == 200
    assert json.loads(values["last_response"]) == {"echo": {"data": [1, 2]}}
    assert "key" in decode(response.properties).secret
    assert ("POST", "/score", "Bearer k-123") in toy_server.behaviour.requests


def test_create_in_preview_sends_nothing(plugin: Plugin, toy_server: ToyServer) -> None:
    response = _create(plugin, {"scoring_uri": toy_server.scoring_uri}, preview=True)
    assert state(response.properties)["healthy"] == UNKNOWN
    assert toy_server.behaviour.requests == []


def test_create_fails_with_the_servers_error_and_log_tail(
    plugin: Plugin, toy_server: ToyServer, tmp_path: Path
) -> None:
    toy_server.behaviour.score_status = 500
    toy_server.behaviour.score_body = lambda _: (
        b'{"error": "ZeroDivisionError in run()", "request_id": "r-1"}'
    )
    log = tmp_path / "service.log"
    log.write_text(
        "starting\nTraceback (most recent call last):\nZeroDivisionError: division by zero\n"
    )
    with pytest.raises(grpc.RpcError) as raised:
        _create(
            plugin,
            {"scoring_uri": toy_server.scoring_uri, "sample_request": "{}", "log_file": str(log)},
        )
    message = details(raised.value)
    assert "sample request got HTTP 500, expected 200" in message
    assert "ZeroDivisionError in run()" in message
    assert "service log (tail):" in message
    assert "division by zero" in message


def test_create_times_out_cleanly_against_a_closed_port(plugin: Plugin, closed_port: int) -> None:
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        _create(
            plugin,
            {
                "scoring_uri": f"http://127.0.0.1:{closed_port}/score",
                "timeout_seconds": 1.5,
                "poll_interval_seconds": 0.2,
                "log_command": f"{__import__('sys').executable} -c \"print('no such service')\"",
            },
        )
    elapsed = time.monotonic() - start
    message = details(raised.value)
    assert "not ready after 1.5s" in message
    assert "connection refused" in message
    assert "no such service" in message
    assert "Traceback" not in message
    assert 1.4 < elapsed < 10


def test_read_reports_current_health_without_failing(plugin: Plugin, toy_server: ToyServer) -> None:
    created = _create(
        plugin,
        {"scoring_uri": toy_server.scoring_uri, "poll_interval_seconds": 0.1, "timeout_seconds": 2},
    )
    toy_server.behaviour.ready_status = 503

    def read() -> dict[str, Any]:
        response = plugin.stub.Read(
            proto.ReadRequest(id=created.id, urn=urn(TOKEN), properties=created.properties)
        )
        assert response.id == created.id
        assert "scoringUri" in response.inputs.fields
        assert "healthy" not in response.inputs.fields
        return state(response.properties)

    started = time.monotonic()
    unhealthy = read()
    assert unhealthy["healthy"] is False
    assert unhealthy["last_status"] == 503
    assert 1.9 < time.monotonic() - started < 10  # a refresh waits at most the gate's timeout
    toy_server.behaviour.ready_status = 200
    assert read()["healthy"] is True


def test_update_rechecks_only_on_trigger_changes(plugin: Plugin, toy_server: ToyServer) -> None:
    first = {"scoring_uri": toy_server.scoring_uri, "sample_request": '{"n": 1}'}
    created = _create(plugin, first)
    toy_server.behaviour.requests.clear()

    def update(news: dict[str, Any]) -> proto.UpdateResponse:
        response: proto.UpdateResponse = plugin.stub.Update(
            proto.UpdateRequest(
                id=created.id,
                urn=urn(TOKEN),
                olds=created.properties,
                news=plugin.checked(TOKEN, news),
                timeout=60,
            )
        )
        return response

    quiet = update({**first, "timeout_seconds": 42})
    assert toy_server.behaviour.requests == []
    assert state(quiet.properties)["healthy"] is True
    assert state(quiet.properties)["timeout_seconds"] == 42

    rechecked = update({**first, "sample_request": '{"n": 2}'})
    assert [r[:2] for r in toy_server.behaviour.requests] == [("GET", "/ready"), ("POST", "/score")]
    assert json.loads(state(rechecked.properties)["last_response"]) == {"echo": {"n": 2}}

    toy_server.behaviour.score_status = 503
    toy_server.behaviour.score_body = lambda _: b"busy"
    with pytest.raises(grpc.RpcError) as raised:
        update(
            {
                **first,
                "sample_request": '{"n": 3}',
                "timeout_seconds": 1,
                "poll_interval_seconds": 0.2,
            }
        )
    assert "did not succeed within 1s" in details(raised.value)


def test_delete_is_a_no_op(plugin: Plugin, toy_server: ToyServer) -> None:
    created = _create(plugin, {"scoring_uri": toy_server.scoring_uri})
    plugin.stub.Delete(
        proto.DeleteRequest(id=created.id, urn=urn(TOKEN), properties=created.properties)
    )
    assert decode(created.properties).values["healthy"] is True


def test_unknown_resource_type_is_a_clear_error(plugin: Plugin) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        plugin.stub.Check(
            proto.CheckRequest(urn=urn("mlws:index:Nope"), olds=encode({}), news=encode({}))
        )
    assert "no custom resource 'mlws:index:Nope'" in details(raised.value)


def test_the_engines_timeout_caps_the_wait(plugin: Plugin, closed_port: int) -> None:
    checked = plugin.checked(
        TOKEN,
        {
            "scoring_uri": f"http://127.0.0.1:{closed_port}/score",
            "timeout_seconds": 300,
            "poll_interval_seconds": 0.2,
        },
    )
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        plugin.stub.Create(proto.CreateRequest(urn=urn(TOKEN), properties=checked, timeout=1))
    assert time.monotonic() - start < 10
    assert "not ready after 1s" in details(raised.value)


def test_reading_a_gate_without_inputs_is_a_clear_error(plugin: Plugin) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        plugin.stub.Read(proto.ReadRequest(urn=urn(TOKEN), id="imported", properties=encode({})))
    message = details(raised.value)
    assert "scoringUri: Field required" in message
    assert "Traceback" not in message
