"""AksEndpoint under Pulumi mocks: graph, objects valid against their schemas, secrets, errors."""

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pulumi
import pytest

from mlws.components.aks_endpoint import AksEndpoint, AksEndpointArgs
from mlws.components.errors import ConfigError
from tests.components.secret_checks import assert_only_secret
from tests.gateway_api_schema import validate as validate_gateway_api

BLUE = "myacr.azurecr.io/diabetes@sha256:" + "b" * 64
GREEN = "myacr.azurecr.io/diabetes@sha256:" + "g" * 64
PRIMARY, SECONDARY = "pk-" + "p" * 29, "sk-" + "s" * 29
KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: kube-s3cret\n"
)
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"


def endpoint_args(**overrides: Any) -> AksEndpointArgs:
    args: dict[str, Any] = {
        "kubeconfig": KUBECONFIG,
        "primary_key": PRIMARY,
        "secondary_key": SECONDARY,
        "namespace": "ml",
        "hostname": "diabetes.ml.example.com",
        "gateway_class_name": "istio",
        "deployments": {
            "blue": {"image": BLUE, "cpu_cores": 1, "autoscale_min_replicas": 2},
            "green": {"image": GREEN, "cpu_cores": 1, "autoscale_min_replicas": 2},
        },
        "traffic": {"blue": 90, "green": 10},
        "sample_request": '{"data": [[1, 2]]}',
    }
    args.update(overrides)
    for key in ("kubeconfig", "primary_key", "secondary_key", "token_secret"):
        if args.get(key) is not None:
            args[key] = pulumi.Output.secret(args[key])
    return {k: v for k, v in args.items() if v is not None}  # type: ignore[return-value]


def program(**overrides: Any) -> Callable[[], None]:
    def run() -> None:
        endpoint = AksEndpoint("diabetes", endpoint_args(**overrides))
        pulumi.export("scoring_uri", endpoint.scoring_uri)
        pulumi.export("deployments", endpoint.deployment_names)
        pulumi.export("traffic", endpoint.traffic)
        pulumi.export("label_selector", endpoint.label_selector)

    return run


def test_graph_outputs_and_valid_objects(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program())
    component = recording.named("diabetes", "mlws:index:AksEndpoint")
    children = {r.name: r.type for r in recording.children(component)}
    per_deployment = {
        "serviceaccount": "kubernetes:core/v1:ServiceAccount",
        "networkpolicy": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "deployment": "kubernetes:apps/v1:Deployment",
        "service": "kubernetes:core/v1:Service",
        "hpa": "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "pdb": "kubernetes:policy/v1:PodDisruptionBudget",
    }
    assert children == {
        "diabetes-k8s": "pulumi:providers:kubernetes",
        "diabetes-auth": "kubernetes:core/v1:Secret",
        **{
            f"diabetes-{d}-{role}": t
            for d in ("blue", "green")
            for role, t in per_deployment.items()
        },
        "diabetes-gateway": GATEWAY,
        "diabetes-route": ROUTE,
        "diabetes-health": "pulumi-python:dynamic/mlws:HealthGate",
    }
    provider = recording.named("diabetes-k8s")
    for resource in recording:
        if not resource.type.startswith("kubernetes:"):
            continue
        assert resource.provider.startswith(provider.urn)
        if resource.type in (ROUTE, GATEWAY):
            validate_gateway_api(dict(resource.inputs))
        else:
            kubernetes_validate.validate(dict(resource.inputs), "1.30", strict=True)
    out = recording.stack_outputs
    assert out["scoring_uri"] == "http://diabetes.ml.example.com/score"
    assert out["deployments"] == ["blue", "green"]
    assert out["traffic"] == {"blue": 90, "green": 10}
    assert out["label_selector"] == "mlws.io/endpoint=diabetes"
    route = recording.named("diabetes-route")
    services = {recording.named(f"diabetes-{d}-service").urn for d in ("blue", "green")}
    assert services <= set(route.dependencies)
    # both deployments mount the one keys Secret, under the name Pulumi gave it
    secret_name = recording.named("diabetes-auth").outputs["metadata"]["name"]
    for name in ("blue", "green"):
        volumes = recording.named(f"diabetes-{name}-deployment").inputs["spec"]["template"]["spec"][
            "volumes"
        ]
        assert [v["secret"]["secretName"] for v in volumes if "secret" in v] == [secret_name]
    gate = recording.named("diabetes-health")
    assert gate.inputs["scoring_uri"] == out["scoring_uri"]
    assert route.urn in gate.dependencies


def test_keys_and_kubeconfig_only_ever_secret(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program())
    for needle in (PRIMARY, SECONDARY, "kube-s3cret"):
        assert assert_only_secret(recording, needle) >= 1


def test_invalid_config_registers_nothing_and_names_every_field(pulumi_mocks: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        pulumi_mocks.run(
            program(
                traffic={"blue": 90, "green": 20},
                mirror_traffic={"green": 5},
                primary_key=None,
            )
        )
    assert set(caught.value.fields) == {"traffic", "mirror_traffic.green", "primary_key"}
    assert "weights sum to 110, not 100" in str(caught.value)
    assert not pulumi_mocks.recording.resources


def test_token_auth_endpoint(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(
        program(
            primary_key=None,
            secondary_key=None,
            token_auth_enabled=True,
            token_secret="ts-" + "t" * 29,
            token_audience="diabetes",
        )
    )
    secret = recording.named("diabetes-auth")
    assert set(secret.inputs["stringData"]) == {"token-secret"}
    env = recording.named("diabetes-green-deployment").inputs["spec"]["template"]["spec"][
        "containers"
    ][0]["env"]
    assert {"name": "MLWS_AUTH_MODE", "value": "token"} in env
