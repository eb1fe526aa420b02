"""Construct over gRPC: the plugin builds components for another language's program.

A fake ResourceMonitor stands in for the engine; the plugin constructs the component in preview
mode (as ``pulumi preview`` of a YAML/TypeScript program would) and registers its children there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.runtime import proto
from pulumi.runtime.proto import errors_pb2, status_pb2

from mlws.provider.package import COMPONENTS
from tests.provider.plugin_harness import FakeMonitor, Plugin, details, encode

REPO = Path(__file__).resolve().parents[2]

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
    assert "volumes" in group.secret  # the key travels as a file of the secret volume
    assert "containers" not in group.secret  # the containers' environment holds only its path

    assert monitor.of_type("pulumi-python:dynamic/mlws:HealthGate") == []
    (gate,) = monitor.of_type("mlws:index:HealthGate")
    assert gate.custom
    assert gate.inputs["sampleRequest"] == '{"data": [[1, 2]]}'
    assert gate.inputs["imageDigest"] == IMAGE
    assert gate.inputs["key"] == "pk-secret-1"
    assert "key" in gate.secret
    assert {"key", "token", "tokenSecret"} <= set(gate.additional_secret_outputs)


def _property_errors(error: grpc.RpcError) -> dict[str, str]:
    """The per-property details of an INVALID_ARGUMENT answer, as the engine reads them."""
    metadata: dict[str, Any] = {m.key: m.value for m in error.trailing_metadata() or ()}
    status = status_pb2.Status.FromString(metadata["grpc-status-details-bin"])
    details = errors_pb2.InputPropertiesError()
    status.details[0].Unpack(details)
    return {e.property_path: e.reason for e in details.errors}


def test_invalid_component_configuration_names_each_property(
    plugin: Plugin, fake_monitor: tuple[str, FakeMonitor]
) -> None:
    address, monitor = fake_monitor
    with pytest.raises(grpc.RpcError) as raised:
        _construct(
            plugin,
            address,
            "mlws:index:AciWebService",
            {"image": IMAGE, "resource_group_name": "rg", "auth_enabled": True, "memory_gb": 64},
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    problems = _property_errors(raised.value)
    assert set(problems) >= {"primaryKey", "memoryGb"}
    assert "Traceback" not in details(raised.value)
    assert 'File "' not in details(raised.value)
    assert monitor.of_type("azure-native:containerinstance:ContainerGroup") == []


def test_construct_reports_a_missing_required_input(
    plugin: Plugin, fake_monitor: tuple[str, FakeMonitor]
) -> None:
    address, _ = fake_monitor
    with pytest.raises(grpc.RpcError) as raised:
        _construct(plugin, address, "mlws:index:AciWebService", {"image": IMAGE})
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


SCORING = REPO / "examples" / "local-sklearn"
"""A real source folder and model for ScoringImage."""

MINIMAL_INPUTS: dict[str, dict[str, Any]] = {
    "ScoringImage": {
        "entry_script": "score.py",
        "source_directory": str(SCORING / "scoring"),
        "models": [{"name": "diabetes", "path": str(SCORING / "model")}],
    },
    "ServiceKeys": {},
    "LocalWebService": {"image": "diabetes:abc123", "auth_enabled": True, "primary_key": "pk"},
    "AciWebService": {"image": IMAGE, "resource_group_name": "rg-ml"},
    "AksCluster": {"resource_group_name": "rg-ml"},
    "GpuNodePool": {"cluster_name": "aks-ml", "resource_group_name": "rg-ml"},
    "AksWebService": {
        "image": IMAGE,
        "kubeconfig": "apiVersion: v1\nkind: Config\n",
        "primary_key": "pk",
    },
}


@pytest.mark.parametrize("component", [name for _, name in COMPONENTS])
def test_every_hosted_component_constructs_in_preview(
    plugin: Plugin, fake_monitor: tuple[str, FakeMonitor], component: str, tmp_path: Path
) -> None:
    address, monitor = fake_monitor
    inputs = dict(MINIMAL_INPUTS[component])
    if component == "ScoringImage":
        inputs["build_dir"] = str(tmp_path / "build")
    response = _construct(plugin, address, f"mlws:index:{component}", inputs)
    assert response.urn.endswith(f"mlws:index:{component}::svc")
    (registered,) = monitor.of_type(f"mlws:index:{component}")
    assert not registered.custom
    children = [r for r in monitor.registrations if r.custom]
    assert children, f"{component} registered no resources"
    assert monitor.of_type("pulumi-python:dynamic/mlws:HealthGate") == []
