"""AksEndpoint's objects, validated against their schemas: the Kubernetes OpenAPI schemas
(``kubernetes_validate``, strict) and the Gateway API CRDs' (``gateway_api_schema``)."""

import copy
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest

from mlws.components.aks_endpoint_config import (
    DEPLOYMENT_HEADER,
    AksEndpointConfig,
    parse_endpoint_config,
)
from mlws.components.aks_endpoint_manifests import (
    DEPLOYMENT_LABEL,
    ENDPOINT_LABEL,
    http_route,
    manifests,
)
from mlws.components.deployment_config import CONTAINER_PORT
from mlws.components.k8s_metadata import SELECTOR_LABEL, Manifest
from tests.gateway_api_schema import validate as validate_gateway_api

K8S_VERSIONS = ("1.30", "1.33")
BLUE = "myacr.azurecr.io/diabetes@sha256:" + "b" * 64
GREEN = "myacr.azurecr.io/diabetes@sha256:" + "g" * 64
SECRETS = {"primary_key": "p" * 32, "secondary_key": "s" * 32}


@pytest.fixture(autouse=True, scope="module")
def _cached_schemas() -> Iterator[None]:
    cached = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubernetes_validate.utils, "schema_contents", cached)
        yield


def endpoint(**overrides: Any) -> AksEndpointConfig:
    args: dict[str, Any] = {
        "hostname": "diabetes.ml.example.com",
        "gateway_class_name": "istio",
        "namespace": "ml",
        "create_namespace": True,
        "deployments": {
            "blue": {"image": BLUE, "cpu_cores": 1, "num_replicas": 2},
            "green": {"image": GREEN, "cpu_cores": 2, "gpu_cores": 1, "autoscale_max_replicas": 4},
        },
        "traffic": {"blue": 90, "green": 10},
        **overrides,
    }
    config, _ = parse_endpoint_config(
        {k: v for k, v in args.items() if v is not None},
        subject="AksEndpoint 'diabetes'",
        name="diabetes",
        references=(),
    )
    return config


def render(config: AksEndpointConfig) -> dict[str, Manifest]:
    return manifests(config, images={"blue": BLUE, "green": GREEN}, secret_values=SECRETS)


def validate(manifest: Manifest) -> None:
    if manifest["apiVersion"].startswith("gateway.networking.k8s.io/"):
        validate_gateway_api(manifest)
    else:
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(manifest, version, strict=True)


def test_schema_check_rejects_broken_gateway_api_objects() -> None:
    route = http_route(endpoint())
    breakings: list[Callable[[Manifest], None]] = [
        lambda r: r["spec"]["rules"][-1]["backendRefs"][0].update(weight=-1),
        lambda r: r["spec"]["rules"][-1]["backendRefs"][0].update(wieght=1),
        lambda r: r["spec"]["rules"][0]["matches"][0]["headers"][0].update(type="Glob"),
        lambda r: r["spec"]["rules"].extend([r["spec"]["rules"][0]] * 16),
    ]
    for breaking in breakings:
        broken = copy.deepcopy(route)
        breaking(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"traffic": {"blue": 100}, "mirror_traffic": {"green": 10}},
        {"tls_secret_name": "diabetes-tls"},
        {"gateway_class_name": None, "gateway_name": "shared", "gateway_namespace": "infra"},
        {"token_auth_enabled": True, "token_jwks_url": "https://login.example.com/keys"},
    ],
)
def test_every_object_is_valid(overrides: dict[str, Any]) -> None:
    objects = render(endpoint(**overrides))
    for manifest in objects.values():
        validate(manifest)


def test_each_deployment_has_its_own_workload_and_the_endpoint_shares_the_rest() -> None:
    objects = render(endpoint())
    per_deployment = {"serviceaccount", "networkpolicy", "deployment", "service", "hpa", "pdb"}
    assert set(objects) == {
        "namespace",
        "auth",
        "gateway",
        "route",
        *(f"blue-{role}" for role in per_deployment - {"hpa"}),  # fixed replicas: no HPA
        *(f"green-{role}" for role in per_deployment),
    }
    blue = objects["blue-deployment"]
    assert blue["metadata"]["name"] == "diabetes-blue"
    assert blue["spec"]["replicas"] == 2
    pods = blue["spec"]["template"]
    assert pods["metadata"]["labels"][SELECTOR_LABEL] == "diabetes-blue"
    assert pods["metadata"]["labels"][ENDPOINT_LABEL] == "diabetes"
    assert pods["metadata"]["labels"][DEPLOYMENT_LABEL] == "blue"
    assert pods["spec"]["containers"][0]["image"] == BLUE
    green_pods = objects["green-deployment"]["spec"]["template"]["spec"]
    assert green_pods["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # one keys Secret, mounted by both deployments
    for name in ("blue", "green"):
        volumes = objects[f"{name}-deployment"]["spec"]["template"]["spec"]["volumes"]
        assert {"diabetes-auth"} == {v["secret"]["secretName"] for v in volumes if "secret" in v}
        assert objects[f"{name}-service"]["spec"]["type"] == "ClusterIP"
        admitted = objects[f"{name}-networkpolicy"]["spec"]["ingress"][0]
        assert admitted["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ml"}}}
        ]
        assert admitted["ports"] == [{"protocol": "TCP", "port": CONTAINER_PORT}]
    assert objects["auth"]["metadata"]["labels"][ENDPOINT_LABEL] == "diabetes"


def test_route_weights_header_rules_and_mirror() -> None:
    route = http_route(endpoint(traffic={"blue": 100}, mirror_traffic={"green": 10}))
    spec = route["spec"]
    assert spec["parentRefs"] == [{"name": "diabetes"}]
    assert spec["hostnames"] == ["diabetes.ml.example.com"]
    *pinned, weighted = spec["rules"]
    assert [rule["matches"][0]["headers"] for rule in pinned] == [
        [{"type": "Exact", "name": DEPLOYMENT_HEADER, "value": "blue"}],
        [{"type": "Exact", "name": DEPLOYMENT_HEADER, "value": "green"}],
    ]
    assert [rule["backendRefs"] for rule in pinned] == [
        [{"name": "diabetes-blue", "port": 80}],
        [{"name": "diabetes-green", "port": 80}],
    ]
    assert weighted["backendRefs"] == [
        {"name": "diabetes-blue", "port": 80, "weight": 100},
        {"name": "diabetes-green", "port": 80, "weight": 0},
    ]
    assert weighted["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "diabetes-green", "port": 80}, "percent": 10},
        }
    ]
    assert "filters" not in http_route(endpoint())["spec"]["rules"][-1]


def test_shared_gateway_in_another_namespace() -> None:
    config = endpoint(gateway_class_name=None, gateway_name="shared", gateway_namespace="infra")
    objects = render(config)
    assert "gateway" not in objects
    assert objects["route"]["spec"]["parentRefs"] == [{"name": "shared", "namespace": "infra"}]
    admitted = objects["blue-networkpolicy"]["spec"]["ingress"][0]["from"]
    assert admitted == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "infra"}}}
    ]


def test_own_gateway_listens_for_the_endpoint() -> None:
    (plain,) = render(endpoint())["gateway"]["spec"]["listeners"]
    assert (plain["protocol"], plain["port"], plain["hostname"]) == (
        "HTTP",
        80,
        "diabetes.ml.example.com",
    )
    gateway = render(endpoint(tls_secret_name="diabetes-tls"))["gateway"]
    assert gateway["spec"]["gatewayClassName"] == "istio"
    (tls,) = gateway["spec"]["listeners"]
    assert (tls["protocol"], tls["port"]) == ("HTTPS", 443)
    assert tls["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "diabetes-tls"}]
