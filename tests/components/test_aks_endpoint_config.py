"""AksEndpoint's config: traffic and mirror rules, endpoint vs deployment settings, every problem
named under its field (no Pulumi)."""

from typing import Any

import pytest

from mlws.components.aks_endpoint_config import (
    AksEndpointConfig,
    parse_endpoint_config,
    traffic_problems,
)
from mlws.components.errors import ConfigError

IMAGE = "myacr.azurecr.io/diabetes@sha256:" + "b" * 64
REFS = frozenset({"kubeconfig", "primary_key", "secondary_key", "token_secret"})


def endpoint_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "hostname": "diabetes.ml.example.com",
        "gateway_class_name": "istio",
        "deployments": {
            "blue": {"image": IMAGE, "cpu_cores": 1, "num_replicas": 2},
            "green": {"image": IMAGE, "cpu_cores": 2, "autoscale_max_replicas": 4},
        },
        "traffic": {"blue": 90, "green": 10},
    }
    args.update(overrides)
    return {k: v for k, v in args.items() if v is not None}


def parse(**overrides: Any) -> AksEndpointConfig:
    config, _ = parse_endpoint_config(
        endpoint_args(**overrides),
        subject="AksEndpoint 'diabetes'",
        name="diabetes",
        references=REFS,
    )
    return config


def problems(**overrides: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse(**overrides)
    return {p.field: p.message for p in caught.value.problems}


def test_each_deployment_gets_its_own_settings_and_the_endpoints() -> None:
    config = parse(namespace="ml", token_auth_enabled=True, token_audience="diabetes")
    blue, green = config.deployments["blue"], config.deployments["green"]
    assert (blue.cpu_cores, blue.num_replicas, blue.autoscale) == (1, 2, False)
    assert (green.cpu_cores, green.autoscale_max_replicas, green.autoscale) == (2, 4, True)
    assert blue.name_in_cluster == "diabetes-blue"
    for dep in (blue, green, config.settings):
        assert (dep.namespace, dep.auth_mode, dep.token_audience) == ("ml", "token", "diabetes")
    assert config.live_traffic == {"blue": 90, "green": 10}
    assert config.gateway_ref == ("diabetes", "ml")
    assert config.scoring_scheme == "http"


def test_one_deployment_takes_all_traffic_by_default() -> None:
    config = parse(deployments={"blue": {"image": IMAGE}}, traffic=None)
    assert config.live_traffic == {"blue": 100}


def test_deployment_left_out_of_traffic_gets_none() -> None:
    config = parse(traffic={"blue": 100})
    assert config.live_traffic == {"blue": 100, "green": 0}


@pytest.mark.parametrize(
    ("traffic", "field", "message"),
    [
        ({"blue": 90, "green": 5}, "traffic", "weights sum to 95, not 100 (blue: 90, green: 5)"),
        ({"blue": 60, "green": 60}, "traffic", "weights sum to 120, not 100"),
        ({"blue": 90, "purple": 10}, "traffic.purple", "no deployment named 'purple'"),
        ({"blue": 110, "green": -10}, "traffic.blue", "less than or equal to 100"),
    ],
)
def test_bad_traffic_is_named(traffic: dict[str, int], field: str, message: str) -> None:
    found = problems(traffic=traffic)
    assert message in found[field]


def test_traffic_is_required_with_several_deployments() -> None:
    assert "required with several deployments" in problems(traffic=None)["traffic"]


def test_mirror_goes_to_a_deployment_without_live_traffic() -> None:
    config = parse(traffic={"blue": 100}, mirror_traffic={"green": 10})
    assert config.mirror_traffic == {"green": 10}
    found = problems(mirror_traffic={"green": 10})
    assert found["mirror_traffic.green"] == (
        "'green' takes 10% of live traffic: mirror only to a deployment with 0 live traffic"
    )


@pytest.mark.parametrize(
    ("mirror", "field", "message"),
    [
        ({"purple": 10}, "mirror_traffic.purple", "no deployment named 'purple'"),
        ({"green": 0}, "mirror_traffic.green", "a percentage from 1 to 100"),
        ({"green": 101}, "mirror_traffic.green", "less than or equal to 100"),
        ({"green": 5, "red": 5}, "mirror_traffic", "mirror to one deployment at most"),
    ],
)
def test_bad_mirror_is_named(mirror: dict[str, int], field: str, message: str) -> None:
    deployments = {name: {"image": IMAGE} for name in ("blue", "green", "red")}
    found = problems(deployments=deployments, traffic={"blue": 100}, mirror_traffic=mirror)
    assert message in found[field]


def test_every_problem_is_listed_at_once() -> None:
    found = problems(
        traffic={"blue": 90, "purple": 5},
        mirror_traffic={"blue": 10},
        deployments={
            "blue": {"image": IMAGE, "cpu_cores": -1, "namespace": "other"},
            "Green": {"image": IMAGE},
            "red": {"memory_gb": 1, "ssl_enabled": True, "cpu_corez": 1},
        },
        namespace="Bad_NS",
        num_replicas=3,
        gateway_class_name=None,
    )
    assert set(found) >= {
        "traffic",
        "traffic.purple",
        "mirror_traffic.blue",
        "deployments.blue.cpu_cores",
        "deployments.blue.namespace",
        "deployments.Green",
        "deployments.red.image",
        "deployments.red.ssl_enabled",
        "deployments.red.cpu_corez",
        "namespace",
        "num_replicas",
        "gateway_class_name",
    }
    assert found["deployments.blue.namespace"] == "an endpoint setting: set it once on the endpoint"
    assert found["num_replicas"] == "a deployment setting: set it under deployments.<name>"
    assert found["deployments.red.cpu_corez"] == "unknown argument (check the spelling)"


def test_deployment_settings_are_checked_with_the_endpoints() -> None:
    found = problems(
        deployments={"blue": {"image": IMAGE, "num_replicas": 2, "autoscale_enabled": True}},
        traffic=None,
    )
    assert "autoscaling cannot be enabled" in found["deployments.blue.autoscale_enabled"]


def test_gateway_choices() -> None:
    assert "one of the two" in problems(gateway_name="shared")["gateway_class_name"]
    assert problems(gateway_namespace="infra")["gateway_namespace"] == "only used with gateway_name"
    assert "required" in problems(hostname=None)["hostname"]
    assert (
        "only for the Gateway the endpoint creates"
        in (
            problems(gateway_class_name=None, gateway_name="shared", tls_secret_name="tls")[
                "tls_secret_name"
            ]
        )
    )
    shared = parse(gateway_class_name=None, gateway_name="shared", gateway_namespace="infra")
    assert shared.gateway_ref == ("shared", "infra")
    assert parse(tls_secret_name="diabetes-tls").scoring_scheme == "https"


def test_names_fit_kubernetes() -> None:
    found = problems(endpoint_name="x" * 60)
    assert set(found) == {"deployments.blue", "deployments.green"}
    assert "x" * 60 + "-blue' is not a valid <endpoint>-<deployment>" in found["deployments.blue"]
    assert "is not a valid endpoint name" in problems(endpoint_name="Diabetes")["endpoint_name"]


def test_traffic_problems_on_raw_values() -> None:
    assert traffic_problems(["blue", "green"], {"blue": 50, "green": 50}, None) == []
    assert traffic_problems(["blue"], None, None) == []
    assert [p.field for p in traffic_problems(["blue"], {"blue": "50"}, {"x": 1})] == [
        "mirror_traffic.x"
    ]
