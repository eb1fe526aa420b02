"""ACI container group spec: checked against pulumi-azure-native's ContainerGroup input types."""

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_azure_native.containerinstance import _inputs as aci_inputs
from pulumi_azure_native.containerinstance import container_group

from mlws.components.aci_spec import (
    CADDY_IMAGE,
    SCORING_CONTAINER,
    SECRETS_VOLUME,
    TLS_CONTAINER,
    RegistryCredentials,
    aci_fqdn,
    caddyfile,
    container_group_args,
    scoring_base_url,
    secrets_volume,
)
from mlws.components.deployment_config import SECRETS_MOUNT, AciDeploymentConfig
from mlws.runtime.settings import env_var_name
from tests.components.azure_sdk_check import sdk_problems

IMAGE = "myacr.azurecr.io/accidents@sha256:" + "b" * 64
PLAIN_KEYS = {"primary_key": "p" * 32, "secondary_key": "s" * 32}
#: What the component passes: each secret setting's value, base64-encoded for the secret volume.
KEYS = {setting: base64.b64encode(value.encode()).decode() for setting, value in PLAIN_KEYS.items()}


def sdk_check(args: dict[str, Any]) -> list[str]:
    return sdk_problems(args, container_group.ContainerGroupArgs, aci_inputs)


def render(config: AciDeploymentConfig, **kwargs: Any) -> dict[str, Any]:
    return container_group_args(config, image=IMAGE, resource_group_name="rg", **kwargs)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container["environment_variables"]}


def test_the_sdk_check_can_fail() -> None:
    args = render(AciDeploymentConfig())
    args["containers"][0]["resources"]["requests"]["memory_gb"] = 1  # SDK says memory_in_gb
    args["os_type"] = "Linux-ish"
    args["ipAddress"] = {}
    problems = sdk_check(args)
    assert "ipAddress: unknown argument" in problems
    assert "containers[0].resources.requests.memory_gb: unknown field" in problems
    assert any(p.startswith("os_type: 'Linux-ish' not one of") for p in problems)


def test_default_group_matches_the_sdk() -> None:
    args = render(AciDeploymentConfig())
    assert sdk_check(args) == []
    (scoring,) = args["containers"]
    assert scoring["name"] == SCORING_CONTAINER
    assert scoring["image"] == IMAGE
    assert scoring["resources"] == {"requests": {"cpu": 0.1, "memory_in_gb": 0.5}}
    assert args["ip_address"]["ports"] == [{"port": 5001, "protocol": "TCP"}]
    assert "dns_name_label" not in args["ip_address"]
    assert "image_registry_credentials" not in args
    env = env_of(scoring)
    assert env[env_var_name("auth_mode")]["value"] == "none"
    assert env[env_var_name("port")]["value"] == "5001"
    assert env[env_var_name("host")]["value"] == "0.0.0.0"


def test_keys_only_as_secret_volume_files_and_registry_password() -> None:
    config = AciDeploymentConfig(
        auth_enabled=True, cpu_cores=2, memory_gb=4, dns_name_label="accidents"
    )
    args = render(
        config,
        secrets=KEYS,
        location="westeurope",
        registry=RegistryCredentials("myacr.azurecr.io", "myacr", "hunter2"),
    )
    assert sdk_check(args) == []
    scoring = args["containers"][0]
    env = env_of(scoring)
    assert env[env_var_name("auth_mode")]["value"] == "key"
    assert env[env_var_name("primary_key_file")]["value"] == f"{SECRETS_MOUNT}/primary-key"
    assert env[env_var_name("secondary_key_file")]["value"] == f"{SECRETS_MOUNT}/secondary-key"
    assert env_var_name("primary_key") not in env
    assert all(set(item) == {"name", "value"} for item in env.values())  # no secure_value
    assert not {item["value"] for item in env.values()} & {*KEYS.values(), *PLAIN_KEYS.values()}
    assert scoring["volume_mounts"] == [
        {"name": SECRETS_VOLUME, "mount_path": SECRETS_MOUNT, "read_only": True}
    ]
    assert args["volumes"] == [
        {
            "name": SECRETS_VOLUME,
            "secret": {"primary-key": KEYS["primary_key"], "secondary-key": KEYS["secondary_key"]},
        }
    ]
    assert args["image_registry_credentials"] == [
        {"server": "myacr.azurecr.io", "username": "myacr", "password": "hunter2"}
    ]
    assert args["ip_address"]["dns_name_label"] == "accidents"
    assert args["containers"][0]["resources"]["requests"] == {"cpu": 2, "memory_in_gb": 4}


def test_probes_use_the_runtime_routes_and_settings() -> None:
    args = render(AciDeploymentConfig(initial_delay_seconds=30, failure_threshold=5, port=80))
    scoring = args["containers"][0]
    assert scoring["liveness_probe"]["http_get"] == {"path": "/live", "port": 80, "scheme": "http"}
    assert scoring["liveness_probe"]["initial_delay_seconds"] == 30
    assert scoring["liveness_probe"]["failure_threshold"] == 5
    assert scoring["readiness_probe"]["http_get"]["path"] == "/ready"


def test_tls_sidecar_with_certificate() -> None:
    config = AciDeploymentConfig(ssl_enabled=True, ssl_cname="ml.example.com")
    args = render(
        config,
        tls_site="ml.example.com",
        tls_certificate_b64="Y2VydA==",
        tls_key_b64="a2V5",
    )
    assert sdk_check(args) == []
    scoring, proxy = args["containers"]
    assert proxy["name"] == TLS_CONTAINER
    assert proxy["image"] == CADDY_IMAGE
    assert env_of(scoring)[env_var_name("port")]["value"] == "5001"
    assert [p["port"] for p in args["ip_address"]["ports"]] == [443, 80]
    assert scoring["ports"] == [{"port": 5001, "protocol": "TCP"}]
    (volume,) = args["volumes"]
    assert set(volume["secret"]) == {"Caddyfile", "cert.pem", "key.pem"}
    rendered = base64.b64decode(volume["secret"]["Caddyfile"]).decode()
    assert "reverse_proxy 127.0.0.1:5001" in rendered
    assert "tls /etc/caddy/mlws/cert.pem /etc/caddy/mlws/key.pem" in rendered


def test_tls_sidecar_without_certificate_uses_acme() -> None:
    text = caddyfile(has_certificate=False, upstream_port=5001)
    assert "tls " not in text
    assert "{$SITE_ADDRESS}" in text
    config = AciDeploymentConfig(ssl_enabled=True, dns_name_label="accidents")
    args = render(config, tls_site=aci_fqdn("accidents", "West Europe"))
    assert sdk_check(args) == []
    assert env_of(args["containers"][1])["SITE_ADDRESS"]["value"] == (
        "accidents.westeurope.azurecontainer.io"
    )
    with pytest.raises(ValueError, match="tls_site"):
        render(config)


def test_scoring_urls() -> None:
    assert scoring_base_url(AciDeploymentConfig(), "h") == "http://h:5001"
    assert scoring_base_url(AciDeploymentConfig(port=80), "h") == "http://h"
    assert scoring_base_url(AciDeploymentConfig(port=8890), "h") == "http://h:8890"
    tls = AciDeploymentConfig(ssl_enabled=True, dns_name_label="x")
    assert scoring_base_url(tls, "h") == "https://h"


@settings(max_examples=60, deadline=None)
@given(
    cpu=st.floats(min_value=0.1, max_value=3.9),  # 4 minus the TLS sidecar
    memory=st.floats(min_value=0.1, max_value=47.7),
    auth=st.booleans(),
    tls=st.booleans(),
    label=st.one_of(st.none(), st.from_regex(r"\A[a-z][a-z0-9-]{2,20}[a-z0-9]\Z")),
    tags=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3),
    with_registry=st.booleans(),
)
def test_generated_groups_match_the_sdk(
    cpu: float,
    memory: float,
    auth: bool,
    tls: bool,
    label: str | None,
    tags: dict[str, str],
    with_registry: bool,
) -> None:
    config = AciDeploymentConfig(
        cpu_cores=cpu,
        memory_gb=memory,
        auth_enabled=auth,
        ssl_enabled=tls,
        dns_name_label=label,
        ssl_cname=None if label else ("ml.example.com" if tls else None),
        tags=tags,
    )
    args = render(
        config,
        secrets=KEYS if auth else {},
        registry=RegistryCredentials("r.io", "u", "p") if with_registry else None,
        tls_site="host.example.com" if tls else None,
    )
    assert sdk_check(args) == []
    env = [item for container in args["containers"] for item in container["environment_variables"]]
    assert all("secure_value" not in item for item in env)
    assert (env_var_name("primary_key_file") in {item["name"] for item in env}) == auth
    volumes = {volume["name"]: volume for volume in args.get("volumes", [])}
    assert (SECRETS_VOLUME in volumes) == auth
    for container in args["containers"][1:]:  # the TLS sidecar never sees the keys
        assert all(m["name"] != SECRETS_VOLUME for m in container.get("volume_mounts", []))


def test_the_secrets_volume_takes_only_secret_settings() -> None:
    assert secrets_volume({}) is None
    with pytest.raises(ValueError, match="not secret settings"):
        secrets_volume({env_var_name("primary_key"): "x"})
