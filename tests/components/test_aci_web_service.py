"""AciWebService under Pulumi mocks: graph, secrets, validation before registration, diffs."""

import base64
from collections.abc import Callable
from typing import Any

import pulumi

from mlws.components.aci_web_service import AciWebService, AciWebServiceArgs, az_logs_command
from mlws.components.errors import ConfigError
from mlws.mocks import RecordedResource, diff_programs
from mlws.runtime.settings import env_var_name
from tests.components.secret_checks import assert_only_secret

GROUP = "azure-native:containerinstance:ContainerGroup"
GATE = "pulumi-python:dynamic/mlws:HealthGate"
IMAGE = "myacr.azurecr.io/accidents@sha256:" + "1" * 64
PRIMARY, SECONDARY, PASSWORD = "primary-" + "p" * 24, "secondary-" + "s" * 22, "registry-pw-123"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def base_args(**overrides: Any) -> AciWebServiceArgs:
    args: dict[str, Any] = {
        "image": IMAGE,
        "resource_group_name": "ml-rg",
        "location": "westeurope",
        "auth_enabled": True,
        "primary_key": PRIMARY,
        "secondary_key": SECONDARY,
        "registry_server": "myacr.azurecr.io",
        "registry_username": "myacr",
        "registry_password": PASSWORD,
        "dns_name_label": "accidents",
        "cpu_cores": 1,
        "memory_gb": 1,
        "sample_request": '{"data": [[1, 2]]}',
    }
    args.update(overrides)
    for key in ("primary_key", "secondary_key"):  # as ServiceKeys gives them: secret outputs
        if args[key] is not None:
            args[key] = pulumi.Output.secret(args[key])
    return {k: v for k, v in args.items() if v is not None}  # type: ignore[return-value]


def program(**overrides: Any) -> Callable[[], None]:
    def run() -> None:
        svc = AciWebService("accidents", base_args(**overrides))
        pulumi.export("scoring_uri", svc.scoring_uri)
        pulumi.export("swagger_uri", svc.swagger_uri)
        pulumi.export("auth_mode", svc.auth_mode)
        pulumi.export("container_group_name", svc.container_group_name)

    return run


def containers(group: RecordedResource) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in group.inputs["containers"]}


def test_graph_and_outputs(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program())
    component = recording.named("accidents", "mlws:index:AciWebService")
    assert sorted((r.type, r.name) for r in recording.children(component)) == [
        (GROUP, "accidents-group"),
        (GATE, "accidents-health"),
    ]
    assert len(recording) == 3
    group = recording.named("accidents-group")
    assert group.inputs["resourceGroupName"] == "ml-rg"
    assert group.inputs["ipAddress"]["dnsNameLabel"] == "accidents"
    scoring = containers(group)["scoring"]
    assert scoring["image"] == IMAGE
    assert scoring["resources"]["requests"] == {"cpu": 1, "memoryInGB": 1}
    env = {e["name"]: e for e in scoring["environmentVariables"]}
    assert env[env_var_name("auth_mode")]["value"] == "key"
    assert env_var_name("primary_key") not in env
    assert env[env_var_name("primary_key_file")]["value"] == "/etc/mlws/secrets/primary-key"
    (keys,) = group.inputs["volumes"]
    assert keys["secret"]["primary-key"] == b64(PRIMARY)
    assert recording.stack_outputs == {
        "scoring_uri": "http://accidents.westeurope.azurecontainer.io:5001/score",
        "swagger_uri": "http://accidents.westeurope.azurecontainer.io:5001/swagger.json",
        "auth_mode": "key",
        "container_group_name": "accidents-group",
    }
    gate = recording.named("accidents-health")
    assert group.urn in gate.dependencies
    assert gate.inputs["scoring_uri"] == recording.stack_outputs["scoring_uri"]
    assert gate.inputs["image_digest"] == IMAGE
    assert gate.inputs["sample_request"] == '{"data": [[1, 2]]}'
    assert gate.inputs["key"] == PRIMARY
    assert gate.inputs["log_command"] == (
        "az container logs --resource-group ml-rg --name accidents-group --container-name scoring"
    )
    assert component.outputs["scoring_uri"] == recording.stack_outputs["scoring_uri"]


def test_keys_and_registry_password_only_ever_secret(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program())
    assert assert_only_secret(recording, PRIMARY) == 1  # the health gate's key
    assert assert_only_secret(recording, b64(PRIMARY)) == 1  # the secret volume's file
    assert assert_only_secret(recording, b64(SECONDARY)) == 1
    assert assert_only_secret(recording, PASSWORD) == 1


def test_invalid_config_registers_nothing_and_names_every_field(pulumi_mocks: Any) -> None:
    errors: list[ConfigError] = []

    def run() -> None:
        try:
            AciWebService(
                "accidents",
                base_args(
                    token_auth_enabled=True,
                    gpu_cores=1,
                    memory_gb=48,
                    primary_key=None,
                    registry_password=None,
                ),
            )
        except ConfigError as error:
            errors.append(error)

    recording = pulumi_mocks.run(run)
    assert len(recording) == 0
    (error,) = errors
    assert set(error.fields) == {
        "token_auth_enabled",
        "gpu_cores",
        "memory_gb",
        "primary_key",
        "registry_server",
    }
    assert "AciWebService 'accidents'" in str(error)


def test_without_auth_or_health_check(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(
        program(
            auth_enabled=False,
            primary_key=None,
            secondary_key=None,
            health_check=False,
            dns_name_label=None,
        )
    )
    assert sorted(r.name for r in recording) == ["accidents", "accidents-group"]
    env = {
        e["name"]: e
        for e in containers(recording.named("accidents-group"))["scoring"]["environmentVariables"]
    }
    assert env[env_var_name("auth_mode")]["value"] == "none"
    assert env_var_name("primary_key") not in env
    assert recording.stack_outputs["scoring_uri"].startswith("http://20.")


def test_tls_with_certificate(pulumi_mocks: Any) -> None:
    cert, key = "-----BEGIN CERTIFICATE-----x", "-----BEGIN PRIVATE KEY-----y"
    recording = pulumi_mocks.run(
        program(ssl_enabled=True, ssl_cname="ml.example.com", ssl_certificate=cert, ssl_key=key)
    )
    group = recording.named("accidents-group")
    assert set(containers(group)) == {"scoring", "tls-proxy"}
    assert [p["port"] for p in group.inputs["ipAddress"]["ports"]] == [443, 80]
    assert "volumes" in group.secret_paths
    assert recording.stack_outputs["scoring_uri"] == "https://ml.example.com/score"


def test_tls_on_the_aci_host_name(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program(ssl_enabled=True, location="West Europe"))
    proxy = containers(recording.named("accidents-group"))["tls-proxy"]
    site = {e["name"]: e["value"] for e in proxy["environmentVariables"]}["SITE_ADDRESS"]
    assert site == "accidents.westeurope.azurecontainer.io"


def test_resource_options_pass_through(pulumi_mocks: Any) -> None:
    def run() -> None:
        AciWebService("accidents", base_args(), pulumi.ResourceOptions(protect=True))

    recording = pulumi_mocks.run(run)
    assert recording.named("accidents").protect
    assert recording.named("accidents-group").protect  # inherited from the component


# --- diffs: run, change one input, run again ------------------------------------------------------


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    result, _, _ = diff_programs(lambda overrides: program(**overrides), old, new)
    assert not result.created
    assert not result.deleted
    return result.updated


def test_cpu_change_touches_only_the_container_group() -> None:
    updated = diff({"cpu_cores": 1}, {"cpu_cores": 2})
    assert set(updated) == {"accidents-group"}
    assert updated["accidents-group"] == ("containers[0].resources.requests.cpu",)


def test_new_image_changes_the_workload_and_its_health_check() -> None:
    new_image = IMAGE.replace("1" * 64, "2" * 64)
    updated = diff({}, {"image": new_image})
    assert set(updated) == {"accidents-group", "accidents-health"}
    assert updated["accidents-group"] == ("containers[0].image",)
    assert updated["accidents-health"] == ("image_digest",)


def test_key_rotation_changes_only_the_secret_file_and_its_consumer() -> None:
    rotated = "primary-" + "q" * 24
    result, _, after = diff_programs(
        lambda overrides: program(**overrides), {}, {"primary_key": rotated}
    )
    updated = result.updated
    assert set(updated) == {"accidents-group", "accidents-health"}
    assert updated["accidents-group"] == ("volumes[0].secret.primary-key",)
    assert updated["accidents-health"] == ("key",)
    assert assert_only_secret(after, "q" * 24) == 1
    assert assert_only_secret(after, b64(rotated)) == 1


def test_secondary_key_rotation_changes_only_the_container_group() -> None:
    updated = diff({}, {"secondary_key": "secondary-" + "r" * 22})
    assert set(updated) == {"accidents-group"}
    assert updated["accidents-group"] == ("volumes[0].secret.secondary-key",)


def test_logs_command_waits_for_both_names() -> None:
    assert az_logs_command(None, "group") is None
    assert az_logs_command("rg", "") is None
    assert az_logs_command("rg", "g") == (
        "az container logs --resource-group rg --name g --container-name scoring"
    )
