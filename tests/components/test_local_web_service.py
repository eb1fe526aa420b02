"""LocalWebService under Pulumi mocks: the container, secrets, validation and diffs."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from mlws.components.deployment_config import CONTAINER_PORT
from mlws.components.errors import ConfigError
from mlws.components.local_web_service import (
    LocalWebService,
    container_args,
    env_list,
    parse_local_config,
)
from mlws.components.scoring_image import ScoringImage
from mlws.components.service_keys import ServiceKeys
from mlws.components.service_wiring import output_names
from mlws.mocks import MockHarness, Recording, diff_programs
from mlws.runtime.settings import env_var_name
from tests.components.scoring_project import Project, make_project

CONTAINER = "docker:index/container:Container"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def service_program(
    project: Project, *, version: int = 1, rotation: str = "0", **service: Any
) -> Callable[[], None]:
    """The local example's shape: image, keys, service with key auth."""

    def program() -> None:
        model = {"name": "toy", "version": version, "path": str(project.model)}
        image = ScoringImage("toy", project.image_args(models=[model]))
        keys = ServiceKeys("toy-keys", {"primary_rotation": rotation})
        args: Any = {
            "image": image.image_ref,
            "auth_enabled": True,
            "primary_key": keys.primary_key,
            "secondary_key": keys.secondary_key,
            **service,
        }
        svc = LocalWebService("web", args)
        pulumi.export("scoring_uri", svc.scoring_uri)
        pulumi.export("swagger_uri", svc.swagger_uri)
        pulumi.export("container_name", svc.container_name)
        pulumi.export("auth_mode", svc.auth_mode)
        pulumi.export("primary_key", keys.primary_key)
        pulumi.export("secondary_key", keys.secondary_key)
        pulumi.export("image_ref", image.image_ref)

    return program


def env_of(recording: Recording) -> dict[str, str]:
    envs = recording.named("web-container").inputs["envs"]
    return dict(item.split("=", 1) for item in envs)


def test_graph(pulumi_mocks: MockHarness, project: Project) -> None:
    recording = pulumi_mocks.run(service_program(project))
    assert recording.type_counts() == {
        "mlws:index:ScoringImage": 1,
        "mlws:index:ServiceKeys": 1,
        "mlws:index:LocalWebService": 1,
        "docker:index/image:Image": 1,
        "random:index/randomPassword:RandomPassword": 2,
        "docker:index/container:Container": 1,
        "pulumi-python:dynamic/mlws:HealthGate": 1,
    }
    web = recording.named("web", "mlws:index:LocalWebService")
    assert sorted(r.name for r in recording.children(web)) == ["web-container", "web-health"]
    for resource in recording:
        if resource.custom:
            parent = next(r for r in recording if r.urn == resource.parent)
            assert parent.type.startswith("mlws:index:"), resource.name

    container = recording.named("web-container")
    assert container.inputs["image"] == recording.stack_outputs["image_ref"]
    assert container.inputs["ports"] == [
        {"internal": CONTAINER_PORT, "external": 8890, "ip": "127.0.0.1"}
    ]
    assert container.inputs["name"] == "mlws-web"
    assert recording.stack_outputs["scoring_uri"] == "http://127.0.0.1:8890/score"
    assert recording.stack_outputs["swagger_uri"] == "http://127.0.0.1:8890/swagger.json"
    assert recording.stack_outputs["container_name"] == "mlws-web"
    assert recording.stack_outputs["auth_mode"] == "key"
    # WebService registers what the class declares: the schema's outputs, no more, no fewer.
    assert (
        set(web.outputs)
        == set(output_names(LocalWebService))
        == {
            "scoring_uri",
            "swagger_uri",
            "auth_mode",
            "container_name",
        }
    )


def test_keys_reach_the_container_only_as_secrets(
    pulumi_mocks: MockHarness, project: Project
) -> None:
    recording = pulumi_mocks.run(service_program(project))
    primary = recording.stack_outputs["primary_key"]
    secondary = recording.stack_outputs["secondary_key"]
    env = env_of(recording)
    assert env[env_var_name("primary_key")] == primary
    assert env[env_var_name("secondary_key")] == secondary
    assert env[env_var_name("auth_mode")] == "key"
    assert env[env_var_name("port")] == str(CONTAINER_PORT)
    assert "envs" in recording.named("web-container").secret_paths
    gate = recording.named("web-health")
    assert "key" in gate.secret_paths
    rendered = json.dumps(recording.to_json())
    assert primary not in rendered
    assert secondary not in rendered
    for resource in recording:
        plain = json.dumps(resource.masked_inputs) + json.dumps(resource.masked_outputs)
        assert primary not in plain, resource.name
        assert secondary not in plain, resource.name


def test_without_auth_no_secret_env(pulumi_mocks: MockHarness, project: Project) -> None:
    recording = pulumi_mocks.run(
        service_program(project, auth_enabled=False, health_check=False, port=9000)
    )
    container = recording.named("web-container")
    assert container.secret_paths == frozenset()
    assert env_of(recording)[env_var_name("auth_mode")] == "none"
    assert env_var_name("primary_key") not in env_of(recording)
    assert "pulumi-python:dynamic/mlws:HealthGate" not in recording.type_counts()
    assert recording.stack_outputs["scoring_uri"] == "http://127.0.0.1:9000/score"


def test_new_model_version_changes_image_and_container_not_keys(project: Project) -> None:
    diff, before, after = diff_programs(
        lambda version: service_program(project, version=version), 1, 2
    )
    assert diff.changed_names == {"toy-image", "web-container", "web-health"}
    assert diff.updated["web-container"] == ("image",)
    assert before.stack_outputs["primary_key"] == after.stack_outputs["primary_key"]


def test_rotating_the_primary_key_changes_it_and_its_consumers_only(project: Project) -> None:
    diff, before, after = diff_programs(
        lambda rotation: service_program(project, rotation=rotation), "0", "1"
    )
    assert diff.changed_names == {"toy-keys-primary", "web-container", "web-health"}
    assert all(path.startswith("envs") for path in diff.updated["web-container"])
    assert before.stack_outputs["secondary_key"] == after.stack_outputs["secondary_key"]
    assert before.stack_outputs["image_ref"] == after.stack_outputs["image_ref"]
    assert env_of(before)[env_var_name("primary_key")] != env_of(after)[env_var_name("primary_key")]


def test_changing_cpu_changes_only_the_container(project: Project) -> None:
    diff, _, _ = diff_programs(lambda cpu: service_program(project, cpu_cores=cpu), 1.0, 2.0)
    assert diff.updated == {"web-container": ("cpus",)}


def test_gpu_and_other_problems_are_rejected_at_once(
    pulumi_mocks: MockHarness, project: Project
) -> None:
    with pytest.raises(ConfigError) as caught:
        pulumi_mocks.run(
            service_program(project, gpu_cores=1, port=70000, host_ip="localhost", primary_key=None)
        )
    assert set(caught.value.fields) == {"gpu_cores", "port", "host_ip", "primary_key"}
    message = str(caught.value)
    assert message.startswith("invalid LocalWebService 'web': 4 problems")
    assert "gpu_cores: GPU inference is only available on Azure Kubernetes Service" in message
    registered = [name for _, name in pulumi_mocks.mocks.registrations]
    assert "web" not in registered
    assert "web-container" not in registered


def test_token_auth_needs_a_token_secret() -> None:
    with pytest.raises(ConfigError, match="token_secret: required when token_auth_enabled"):
        parse_local_config("web", {"image": "x", "token_auth_enabled": True})
    with pytest.raises(ConfigError, match="token_auth_enabled: key auth and token auth"):
        parse_local_config(
            "web",
            {
                "image": "x",
                "auth_enabled": True,
                "primary_key": "k",
                "token_auth_enabled": True,
                "token_secret": "s",
            },
        )


def test_container_args_are_pure() -> None:
    config = parse_local_config(
        "web",
        {"image": "x", "memory_gb": 1.5, "tags": {"team": "ml"}, "host_ip": "0.0.0.0"},
    )
    args = container_args(config)
    assert args["memory"] == 1536
    assert "cpus" not in args
    assert args["labels"] == [
        {"label": "mlws.service", "value": "mlws-web"},
        {"label": "team", "value": "ml"},
    ]
    assert args["healthcheck"]["retries"] == 3
    assert f"127.0.0.1:{CONTAINER_PORT}/ready" in args["healthcheck"]["tests"][-1]
    assert config.base_url == "http://127.0.0.1:8890"
    assert env_list({"B": "2"}, {"A": "1"}) == ["A=1", "B=2"]


def test_container_args_lock_the_container_down() -> None:
    config = parse_local_config("web", {"image": "x", "cpu_cores": 2, "memory_gb": 1})
    args = container_args(config)
    assert args["read_only"] is True
    assert args["init"] is True
    assert args["tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=1024m"}
    assert args["capabilities"] == {"drops": ["ALL"]}
    assert args["security_opts"] == ["no-new-privileges"]
    assert args["ulimits"] == [{"name": "nproc", "soft": 1024, "hard": 1024}]
    assert (args["cpus"], args["memory"], args["memory_swap"]) == ("2", 1024, 1024)
    tuned = container_args(
        parse_local_config("web", {"image": "x", "tmp_size_gb": 0.25, "pids_limit": 64})
    )
    assert tuned["tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=256m"}
    assert tuned["ulimits"] == [{"name": "nproc", "soft": 64, "hard": 64}]
    assert "memory" not in tuned  # no limit unless memory_gb is given
    assert "cpus" not in tuned
