"""Construct over gRPC: the plugin builds components for another language's program.

A fake ResourceMonitor stands in for the engine; the plugin constructs the component in preview
mode (as ``pulumi preview`` of a YAML/TypeScript program would) and registers its children there.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from mlws.provider.wire import encode
from plugin_harness import FakeMonitor, Plugin
from pulumi.runtime import proto

IMAGE = "myacr.azurecr.io/accidents@sha256:" + "ab" * 32


def _construct(
    plugin: Plugin, monitor: str, token: str, inputs: dict[str, Any], secret: tuple[str, ...] = ()
) -> proto.ConstructResponse:
    response: proto.ConstructResponse = plugin.stub.Construct(
        proto.ConstructRequest(
            project="proj",
            stack="dev",
            dryRun=True,
            parallel=4,
            monitorEndpoint=monitor,
            type=token,
            name="svc",
            inputs=encode(inputs, secret),
            organization="org",
        )
    )
    return response


def test_aci_web_service_is_constructed_with_the_plugins_health_gate(
    plugin: Plugin, fake_monitor: tuple[str, FakeMonitor]
) -> None:
    address, monitor = fake_monitor
    response = _construct(
        plugin,
        address,
        "mlws:index:AciWebService",
        {
            "image": IMAGE,
            "resource_group_name": "rg-ml",
            "auth_enabled": True,
            "primary_key": "pk-secret-1",
            "sample_request": '{"data": [[1, 2]]}',
        },
        secret=("primary_key",),
    )
    assert response.urn == "urn:pulumi:dev::proj::mlws:index:AciWebService::svc"
    assert "scoringUri" in response.state.fields

    (component,) = monitor.of_type("mlws:index:AciWebService")
    assert not component.custom
    (group,) = monitor.of_type("azure-native:containerinstance:ContainerGroup")
    assert group.custom
    assert "containers" in group.secret  # the key travels as a secure environment variable

    assert monitor.of_type("pulumi-python:dynamic/mlws:HealthGate") == []
    (gate,) = monitor.of_type("mlws:index:HealthGate")
    assert gate.custom
    assert gate.inputs["sampleRequest"] == '{"data": [[1, 2]]}'
    assert gate.inputs["imageDigest"] == IMAGE
    assert gate.inputs["key"] == "pk-secret-1"
    assert "key" in gate.secret
    assert {"key", "token", "tokenSecret"} <= set(gate.additional_secret_outputs)


def test_construct_reports_a_missing_required_input(
    plugin: Plugin, fake_monitor: tuple[str, FakeMonitor]
) -> None:
    address, _ = fake_monitor
    with pytest.raises(grpc.RpcError) as raised:
        _construct(plugin, address, "mlws:index:AciWebService", {"image": IMAGE})
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
