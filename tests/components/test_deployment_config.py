"""Deployment config models: Azure ML names and defaults, all-at-once validation, runtime env."""

from typing import Any

import pytest
from pydantic import ValidationError

from mlws.components.deployment_config import (
    AciDeploymentConfig,
    AksDeploymentConfig,
    parse_label,
    parse_taint,
    runtime_env,
    secret_env_names,
)
from mlws.components.errors import ConfigError, parse_config
from mlws.runtime.settings import RuntimeSettings, env_var_name


def aks(**settings: Any) -> AksDeploymentConfig:
    return parse_config(
        AksDeploymentConfig,
        settings,
        subject="AksWebService 'svc'",
        defaults={"service_name": "svc"},
    )


def aci(**settings: Any) -> AciDeploymentConfig:
    return parse_config(AciDeploymentConfig, settings, subject="AciWebService 'svc'")


def problems_of(error: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return {p.field: p.message for p in error.value.problems}


def test_aks_defaults_follow_azure_ml() -> None:
    config = aks()
    assert (config.cpu_cores, config.memory_gb, config.gpu_cores) == (0.1, 0.5, 0)
    assert config.auth_mode == "key"  # auth on by default on AKS
    assert config.autoscale
    assert (config.autoscale_min_replicas, config.autoscale_max_replicas) == (1, 10)
    assert config.autoscale_target_utilization == 70
    assert config.scoring_timeout_ms == 60_000
    assert config.replica_max_concurrent_requests == 1
    assert config.max_request_wait_time == 500
    assert (
        config.period_seconds,
        config.initial_delay_seconds,
        config.timeout_seconds,
        config.success_threshold,
        config.failure_threshold,
    ) == (10, 310, 2, 1, 3)
    assert config.namespace == "default"
    assert config.name_in_cluster == "svc"


def test_aci_defaults_follow_azure_ml() -> None:
    config = aci()
    assert config.auth_mode == "none"  # auth off by default on ACI
    assert (config.public_port, config.runtime_port) == (5001, 5001)


def test_aks_token_auth_turns_key_auth_off_by_default() -> None:
    assert aks(token_auth_enabled=True).auth_mode == "token"
    assert aks(auth_enabled=False).auth_mode == "none"


def test_num_replicas_turns_autoscale_off() -> None:
    config = aks(num_replicas=3)
    assert not config.autoscale


def test_aks_contradictions_all_reported_at_once_each_naming_its_field() -> None:
    with pytest.raises(ConfigError) as error:
        aks(
            autoscale_enabled=True,
            num_replicas=2,
            autoscale_min_replicas=5,
            autoscale_max_replicas=3,
            namespace="Not_A_Namespace",
            cpu_cores=1,
            cpu_cores_limit=0.5,
            auth_enabled=True,
            token_auth_enabled=True,
        )
    found = problems_of(error)
    assert set(found) == {
        "autoscale_enabled",
        "autoscale_min_replicas",
        "namespace",
        "cpu_cores_limit",
        "token_auth_enabled",
    }
    assert "num_replicas" in found["autoscale_enabled"]
    assert "'Not_A_Namespace'" in found["namespace"]
    assert "AksWebService 'svc'" in str(error.value)


def test_aci_contradictions_all_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        aci(token_auth_enabled=True, gpu_cores=1, memory_gb=48, cpu_cores=8)
    found = problems_of(error)
    assert set(found) == {"token_auth_enabled", "gpu_cores", "memory_gb", "cpu_cores"}
    assert "48 GB" in found["memory_gb"]
    assert "Kubernetes" in found["gpu_cores"]


def test_field_errors_and_contradictions_are_reported_together() -> None:
    with pytest.raises(ConfigError) as error:
        aci(memory_gb=64, scoring_timeout_ms=0, dns_name_label="-bad-")
    assert set(problems_of(error)) == {"memory_gb", "scoring_timeout_ms", "dns_name_label"}


@pytest.mark.parametrize("memory", [47.9, 1, 0.5])
def test_aci_memory_below_48_gb_is_fine(memory: float) -> None:
    assert aci(memory_gb=memory).memory_gb == memory


def test_unknown_setting_is_named() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(
            AksDeploymentConfig, {"cpu_core": 1}, subject="x", defaults={"service_name": "a"}
        )
    assert "cpu_core" in problems_of(error)


def test_references_are_not_settings() -> None:
    config = parse_config(
        AciDeploymentConfig, {"image": "x", "cpu_cores": 1}, subject="x", references={"image"}
    )
    assert config.cpu_cores == 1


def test_direct_construction_also_rejects_contradictions() -> None:
    with pytest.raises(ValidationError, match="num_replicas"):
        AksDeploymentConfig(autoscale_enabled=True, num_replicas=2)


def test_aci_tls_needs_a_host_name_and_port_443() -> None:
    with pytest.raises(ConfigError) as error:
        aci(ssl_enabled=True, port=8080)
    assert set(problems_of(error)) == {"ssl_enabled", "port"}
    config = aci(ssl_enabled=True, dns_name_label="svc")
    assert (config.public_port, config.runtime_port) == (443, 5001)


@pytest.mark.parametrize("namespace", ["a", "ml-prod", "x" * 63, "0abc"])
def test_valid_namespaces(namespace: str) -> None:
    assert aks(namespace=namespace).namespace == namespace


@pytest.mark.parametrize("namespace", ["", "A", "-a", "a-", "a_b", "a.b", "x" * 64])
def test_invalid_namespaces(namespace: str) -> None:
    with pytest.raises(ConfigError) as error:
        aks(namespace=namespace)
    assert list(problems_of(error)) == ["namespace"]


@pytest.mark.parametrize("namespace", ["", "A", "a_b", "x" * 64])
def test_invalid_ingress_controller_namespaces(namespace: str) -> None:
    with pytest.raises(ConfigError) as error:
        aks(ingress_controller_namespace=namespace)
    assert list(problems_of(error)) == ["ingress_controller_namespace"]


def test_component_name_that_is_no_service_name_is_reported() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(AksDeploymentConfig, {}, subject="x", defaults={"service_name": "My_Service"})
    assert list(problems_of(error)) == ["service_name"]


def test_sample_request_must_be_json() -> None:
    with pytest.raises(ConfigError) as error:
        aci(sample_request="{not json")
    assert list(problems_of(error)) == ["sample_request"]


def test_taint_and_label_parsing() -> None:
    assert parse_taint("sku=gpu:NoSchedule") == ("sku", "gpu", "NoSchedule")
    assert parse_label("accelerator=nvidia") == ("accelerator", "nvidia")
    with pytest.raises(ValueError, match="Effect"):
        parse_taint("sku=gpu")
    with pytest.raises(ConfigError) as error:
        aks(gpu_toleration="sku=gpu:Sometimes", gpu_node_selector="no-equals")
    assert set(problems_of(error)) == {"gpu_toleration", "gpu_node_selector"}


def test_runtime_env_uses_the_runtime_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    config = aks(
        token_auth_enabled=True,
        token_audience="scoring",
        scoring_timeout_ms=1234,
        replica_max_concurrent_requests=4,
        max_request_wait_time=99,
    )
    env = runtime_env(config, port=5001)
    assert env[env_var_name("auth_mode")] == "token"
    assert env[env_var_name("token_audience")] == "scoring"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in secret_env_names(config).values():
        monkeypatch.setenv(name, "s3cret")
    settings = RuntimeSettings()
    assert settings.port == 5001
    assert settings.host == "0.0.0.0"
    assert settings.auth_mode == "token"
    assert settings.scoring_timeout_ms == 1234
    assert settings.max_concurrent_requests == 4
    assert settings.max_request_wait_ms == 99
    assert settings.token_audience == "scoring"


def test_secret_env_names_follow_auth_mode() -> None:
    assert secret_env_names(aks()) == {
        "primary_key": "MLWS_PRIMARY_KEY",
        "secondary_key": "MLWS_SECONDARY_KEY",
    }
    assert secret_env_names(aks(token_auth_enabled=True)) == {"token_secret": "MLWS_TOKEN_SECRET"}
    assert secret_env_names(aci()) == {}
    assert not any("KEY" in name for name in runtime_env(aks(), port=1))


def test_as_args_mirrors_the_azure_ml_call() -> None:
    config = AksDeploymentConfig(cpu_cores=1, memory_gb=1, token_auth_enabled=True)
    assert config.as_args() == {"cpu_cores": 1, "memory_gb": 1, "token_auth_enabled": True}
    again = parse_config(
        AksDeploymentConfig, config.as_args(), subject="x", defaults={"service_name": "a"}
    )
    assert again.auth_mode == "token"


def test_defaulted_service_name_problem_says_so() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(AksDeploymentConfig, {}, subject="x", defaults={"service_name": "Bad_Name"})
    assert "set service_name explicitly" in str(error.value)


def test_aci_tls_sidecar_counts_against_the_group_budget() -> None:
    assert aci(cpu_cores=4, memory_gb=47.5).cpu_cores == 4
    with pytest.raises(ConfigError) as error:
        aci(cpu_cores=4, memory_gb=47.9, ssl_enabled=True, dns_name_label="svc")
    found = problems_of(error)
    assert set(found) == {"cpu_cores", "memory_gb"}
    assert "TLS sidecar" in found["cpu_cores"]
    assert aci(cpu_cores=3.9, memory_gb=47.7, ssl_enabled=True, dns_name_label="svc")


@pytest.mark.parametrize("make", [aks, aci])
def test_only_the_liveness_probe_waits_and_it_passes_on_one_success(make: Any) -> None:
    config = make(initial_delay_seconds=60, success_threshold=3)
    assert config.probe_timing(liveness=True) == {
        "initial_delay_seconds": 60,
        "period_seconds": 10,
        "timeout_seconds": 2,
        "success_threshold": 1,
        "failure_threshold": 3,
    }
    readiness = config.probe_timing(liveness=False)
    assert (readiness["initial_delay_seconds"], readiness["success_threshold"]) == (0, 3)
