"""The Python-only HealthGate (components/health_gate.py): its dynamic provider and registration.

Registration runs programs under the shared ``pulumi_mocks`` fixture (STYLE #6).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from pulumi.runtime.rpc import UNKNOWN

from mlws.components import health_gate
from mlws.components.health_gate import HealthGate, HealthGateProvider, PluginHealthGate
from tests.provider.plugin_harness import ToyServer

PROVIDER = HealthGateProvider()


def test_check_reports_bad_fields_and_tolerates_unknowns() -> None:
    bad = PROVIDER.check({}, {"scoring_uri": "nope", "sample_request": "{", "healthy": None})
    assert {f.property for f in bad.failures} == {"scoring_uri", "sample_request"}
    unknown = PROVIDER.check({}, {"scoring_uri": UNKNOWN, "__provider": "x"})
    assert unknown.failures == []


def test_diff_rechecks_on_triggers_and_unhealthy_state() -> None:
    olds = {"scoring_uri": "http://h/score", "image_digest": "a", "healthy": True}
    assert (
        PROVIDER.diff("id", olds, {"scoring_uri": "http://h/score", "image_digest": "a"}).changes
        is False
    )
    assert PROVIDER.diff("id", olds, {"scoring_uri": "http://h/score", "image_digest": "b"}).changes
    assert PROVIDER.diff(
        "id", {**olds, "healthy": False}, {"scoring_uri": "http://h/score", "image_digest": "a"}
    ).changes
    assert (
        PROVIDER.diff("id", olds, {"scoring_uri": "http://h/score", "image_digest": "b"}).replaces
        == []
    )


def test_create_update_read_against_a_server(toy_server: ToyServer) -> None:
    toy_server.behaviour.key = "k"
    props = {
        "scoring_uri": toy_server.scoring_uri,
        "key": "k",
        "sample_request": json.dumps({"data": 1}),
        "timeout_seconds": 5,
        "healthy": None,
    }
    created = PROVIDER.create(props)
    assert created.outs is not None
    assert created.outs["healthy"] is True
    assert "healthy" in created.outs
    toy_server.behaviour.requests.clear()
    same = PROVIDER.update(created.id, created.outs, {**props, "timeout_seconds": 6})
    assert toy_server.behaviour.requests == []
    assert same.outs is not None
    assert same.outs["timeout_seconds"] == 6
    toy_server.behaviour.score_status = 400
    toy_server.behaviour.score_body = lambda _: b'{"error": "bad input shape"}'
    with pytest.raises(Exception, match="bad input shape"):
        PROVIDER.update(created.id, created.outs, {**props, "sample_request": "[]"})
    read = PROVIDER.read(created.id, {**props, "timeout_seconds": 1})
    assert read.outs is not None
    assert read.outs["healthy"] is False
    assert read.outs["last_status"] == 400


def _program() -> None:
    gate = health_gate.health_gate(
        "gate",
        {"scoring_uri": "http://h/score", "key": "plain-key", "sample_request": "{}"},
    )
    pulumi.export("gate_type", type(gate).__name__)


def _plugin_program() -> None:
    with health_gate.plugin_gates():  # what the plugin's Construct does around each component
        _program()


def test_registers_a_dynamic_resource_with_the_key_secret(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(_program)
    (gate,) = recording.of_type("pulumi-python:dynamic/mlws:HealthGate")
    assert gate.inputs["scoring_uri"] == "http://h/score"
    assert "key" in gate.secret_paths
    assert "plain-key" not in json.dumps(gate.to_json())


def test_inside_the_plugin_it_registers_the_plugin_resource(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(_plugin_program)
    assert recording.of_type("pulumi-python:dynamic/mlws:HealthGate") == []
    (gate,) = recording.of_type("mlws:index:HealthGate")
    assert gate.inputs["scoringUri"] == "http://h/score"
    assert gate.inputs["sampleRequest"] == "{}"
    assert "key" in gate.secret_paths
    assert issubclass(PluginHealthGate, HealthGate)


def test_both_gates_take_the_same_inputs() -> None:
    from mlws import health
    from mlws.components.health_gate import HealthGateArgs
    from mlws.provider.health_gate_resource import HealthGateInputs

    assert set(HealthGateArgs.__annotations__) == set(health.GATE_INPUT_FIELDS)
    assert set(HealthGateInputs.model_fields) == set(health.GATE_INPUT_FIELDS)
