"""The endpoint guardrails: traffic weights sum to 100, mirroring only to a deployment without
live traffic, and production availability for every deployment of an endpoint."""

import copy
from typing import Any

from mlws_guardrails import policies
from mlws_guardrails.rules import DEPLOYMENT, HPA, HTTP_ROUTE, PDB

from mlws.components import aks_endpoint_manifests
from mlws.components.aks_endpoint_config import AksEndpointConfig, parse_endpoint_config
from tests.policy.policy_support import validate, validate_stack

DIGEST = "myacr.azurecr.io/svc@sha256:" + "a" * 64


def endpoint(**overrides: Any) -> AksEndpointConfig:
    args: dict[str, Any] = {
        "hostname": "svc.example.com",
        "gateway_class_name": "istio",
        "deployments": {
            "blue": {"image": DIGEST, "autoscale_min_replicas": 2},
            "green": {"image": DIGEST, "autoscale_min_replicas": 2},
        },
        "traffic": {"blue": 90, "green": 10},
        **overrides,
    }
    config, _ = parse_endpoint_config(args, subject="AksEndpoint 'svc'", name="svc", references=())
    return config


def route(config: AksEndpointConfig) -> dict[str, Any]:
    manifest = aks_endpoint_manifests.http_route(config)
    return {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}


def check(props: dict[str, Any]) -> list[str]:
    return validate(policies.TRAFFIC, HTTP_ROUTE, "svc-route", props, stack="dev")


def test_traffic_passes_what_aks_endpoint_sends() -> None:
    assert check(route(endpoint())) == []
    assert check(route(endpoint(traffic={"blue": 100}, mirror_traffic={"green": 10}))) == []
    assert check(route(endpoint(deployments={"blue": {"image": DIGEST}}, traffic=None))) == []


def test_traffic_fails_weights_not_summing_to_100() -> None:
    edited = route(endpoint())
    edited["spec"]["rules"][-1]["backendRefs"][1]["weight"] = 20
    (message,) = check(edited)
    assert message == (
        "HTTPRoute 'svc-route': spec.rules[2].backendRefs weights sum to 110, not 100 "
        "(svc-blue: 90, svc-green: 20); traffic is split in percent"
    )
    del edited["spec"]["rules"][-1]["backendRefs"][1]["weight"]  # Gateway API's default: 1
    assert "sum to 91, not 100" in check(edited)[0]


def test_traffic_fails_mirroring_to_live_traffic_or_out_of_range() -> None:
    mirrored = route(endpoint(traffic={"blue": 100}, mirror_traffic={"green": 10}))
    live = copy.deepcopy(mirrored)
    live["spec"]["rules"][-1]["backendRefs"][0]["weight"] = 90
    live["spec"]["rules"][-1]["backendRefs"][1]["weight"] = 10
    (message,) = check(live)
    assert "filters[0].requestMirror mirrors to 'svc-green', which takes live traffic" in message
    mirrored["spec"]["rules"][-1]["filters"][0]["requestMirror"]["percent"] = 0
    (message,) = check(mirrored)
    assert "requestMirror.percent is 0; mirror 1 to 100 percent" in message


def test_traffic_leaves_other_routes_and_unknown_weights_alone() -> None:
    other = route(endpoint())
    other["spec"]["rules"][-1]["backendRefs"][1]["weight"] = 20
    del other["metadata"]["labels"][aks_endpoint_manifests.ENDPOINT_LABEL]
    assert check(other) == []  # not an mlws endpoint: Gateway API weights are relative
    unknown = route(endpoint())
    unknown["spec"]["rules"][-1]["backendRefs"][1]["weight"] = "[unknown]"
    assert check(unknown) == []


def _endpoint_objects(config: AksEndpointConfig) -> list[tuple[str, str, dict[str, Any]]]:
    types = {"deployment": DEPLOYMENT, "hpa": HPA, "pdb": PDB}
    objects = aks_endpoint_manifests.manifests(
        config, images=dict.fromkeys(config.deployments, DIGEST)
    )
    found = []
    for key, manifest in objects.items():
        role = key.rsplit("-", 1)[-1]
        if role in types:
            props = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
            found.append((types[role], f"svc-{key}", props))
    return found


def test_availability_covers_each_deployment_of_an_endpoint() -> None:
    assert validate_stack(policies.PROD_AVAILABILITY, _endpoint_objects(endpoint())) == []
    green_small = endpoint(
        deployments={
            "blue": {"image": DIGEST, "autoscale_min_replicas": 2},
            "green": {"image": DIGEST, "num_replicas": 1},
        }
    )
    ((message, where),) = validate_stack(policies.PROD_AVAILABILITY, _endpoint_objects(green_small))
    assert "Deployment 'svc-green-deployment': spec.replicas is 1" in message
    assert where is not None
    assert where.endswith("::svc-green-deployment")
