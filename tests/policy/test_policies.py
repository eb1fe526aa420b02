"""Each guardrail against inputs that pass and that fail, through the policies' validate."""

import copy
from typing import Any

import pulumi
import pytest
from mlws_guardrails import policies
from mlws_guardrails.rules import (
    CONTAINER_GROUP,
    DAEMON_SET,
    DEPLOYMENT,
    HPA,
    K8S_SECRET,
    LOCAL_PROCESS,
    PDB,
)

from mlws.components import k8s_manifests, k8s_workload
from mlws.components.aci_web_service import AciWebService
from mlws.components.aks_cluster_spec import GpuNodePoolConfig, nvidia_device_plugin
from mlws.components.deployment_config import AciDeploymentConfig, AksDeploymentConfig
from mlws.mocks import MockHarness
from tests.policy.policy_support import validate, validate_stack

DIGEST = "myacr.azurecr.io/svc@sha256:" + "a" * 64


def props(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest as pulumi-kubernetes sends it: everything but apiVersion and kind."""
    return {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}


def aks(**settings: Any) -> AksDeploymentConfig:
    return AksDeploymentConfig(service_name="svc", **settings)


def deployment(image: str = DIGEST, **settings: Any) -> dict[str, Any]:
    return props(k8s_workload.deployment(aks(**settings), image=image))


def container(deploy: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = deploy["spec"]["template"]["spec"]["containers"][0]
    return found


def aci_group(harness: MockHarness, **overrides: Any) -> dict[str, Any]:
    """The inputs AciWebService really sends for its ContainerGroup."""

    def program() -> None:
        args: dict[str, Any] = {
            "image": DIGEST,
            "resource_group_name": "ml-rg",
            "auth_enabled": True,
            "primary_key": pulumi.Output.secret("primary-" + "p" * 24),
            "registry_server": "myacr.azurecr.io",
            "registry_username": "myacr",
            "registry_password": pulumi.Output.secret("registry-pw-123"),
            "health_check": False,
            **overrides,
        }
        AciWebService("svc", {k: v for k, v in args.items() if v is not None})  # type: ignore[arg-type]

    return dict(harness.run(program).named("svc-group").inputs)


# --- production auth ------------------------------------------------------------------------------


def test_auth_passes_key_and_token_auth_in_prod() -> None:
    assert validate(policies.PROD_AUTH, DEPLOYMENT, "svc-deployment", deployment()) == []
    token = deployment(auth_enabled=False, token_auth_enabled=True)
    assert validate(policies.PROD_AUTH, DEPLOYMENT, "svc-deployment", token) == []


def test_auth_fails_an_open_aks_service_in_prod_naming_resource_and_field() -> None:
    (message,) = validate(
        policies.PROD_AUTH, DEPLOYMENT, "svc-deployment", deployment(auth_enabled=False)
    )
    assert "Deployment 'svc-deployment'" in message
    assert "spec.template.spec.containers[0]" in message
    assert "MLWS_AUTH_MODE='none'" in message


def test_auth_only_applies_to_production_stacks_by_configurable_pattern() -> None:
    open_service = deployment(auth_enabled=False)
    assert validate(policies.PROD_AUTH, DEPLOYMENT, "d", open_service, stack="dev") == []
    assert validate(policies.PROD_AUTH, DEPLOYMENT, "d", open_service, stack="production-eu")
    live = {"production_stacks": ["live-*"]}
    assert validate(policies.PROD_AUTH, DEPLOYMENT, "d", open_service, config=live) == []
    assert validate(policies.PROD_AUTH, DEPLOYMENT, "d", open_service, stack="live-1", config=live)


def test_auth_fails_an_open_aci_service(pulumi_mocks: MockHarness) -> None:
    group = aci_group(pulumi_mocks, auth_enabled=False, primary_key=None)
    (message,) = validate(policies.PROD_AUTH, CONTAINER_GROUP, "svc-group", group)
    assert "ContainerGroup 'svc-group': containers[0]" in message


def test_auth_covers_the_plugins_local_process_service() -> None:
    keyed = {"sourceDirectory": "./scoring", "authMode": "key", "primaryKey": "k" * 24}
    assert validate(policies.PROD_AUTH, LOCAL_PROCESS, "svc", keyed) == []
    token = {"sourceDirectory": "./scoring", "authMode": "token", "tokenSecret": "t" * 32}
    assert validate(policies.PROD_AUTH, LOCAL_PROCESS, "svc", token) == []
    (message,) = validate(policies.PROD_AUTH, LOCAL_PROCESS, "svc", {**keyed, "authMode": "none"})
    assert message.startswith("LocalProcessService 'svc': authMode is 'none'")
    # Left out, authMode is the runtime's default: none.
    assert validate(policies.PROD_AUTH, LOCAL_PROCESS, "svc", {"sourceDirectory": "./s"})
    open_dev = {"authMode": "none"}
    assert validate(policies.PROD_AUTH, LOCAL_PROCESS, "svc", open_dev, stack="dev") == []


def test_auth_ignores_workloads_that_are_not_mlws_services() -> None:
    other = deployment()
    container(other)["env"] = []
    assert validate(policies.PROD_AUTH, DEPLOYMENT, "other", other) == []


# --- image by digest ------------------------------------------------------------------------------


def test_digest_passes_and_tag_fails_in_prod() -> None:
    assert validate(policies.PROD_DIGEST, DEPLOYMENT, "d", deployment()) == []
    (message,) = validate(policies.PROD_DIGEST, DEPLOYMENT, "d", deployment(image="acr.io/s:v1"))
    assert "spec.template.spec.containers[0].image 'acr.io/s:v1' is a mutable tag" in message
    tagged = deployment(image="s:v1")
    assert validate(policies.PROD_DIGEST, DEPLOYMENT, "d", tagged, stack="dev") == []


def test_digest_checks_aci_sidecars_too(pulumi_mocks: MockHarness) -> None:
    group = aci_group(pulumi_mocks, ssl_enabled=True, dns_name_label="svc", location="westeurope")
    (message,) = validate(policies.PROD_DIGEST, CONTAINER_GROUP, "svc-group", group)
    assert "containers[1].image 'caddy:" in message


# --- GPU placement --------------------------------------------------------------------------------


def test_gpu_placement_passes_with_the_components_defaults() -> None:
    assert validate(policies.GPU_PLACEMENT, DEPLOYMENT, "d", deployment(gpu_cores=1)) == []
    assert validate(policies.GPU_PLACEMENT, DEPLOYMENT, "cpu", deployment()) == []


def test_gpu_placement_fails_without_toleration_and_selector() -> None:
    gpu = deployment(gpu_cores=1)
    pod = gpu["spec"]["template"]["spec"]
    del pod["tolerations"], pod["nodeSelector"]
    messages = validate(policies.GPU_PLACEMENT, DEPLOYMENT, "d", gpu, stack="dev")
    assert len(messages) == 2
    assert "tolerations lacks the GPU pool's taint 'sku=gpu:NoSchedule'" in messages[0]
    assert "nodeSelector does not select the GPU pool's label 'accelerator=nvidia'" in messages[1]


def test_gpu_placement_follows_configured_pool() -> None:
    gpu = deployment(gpu_cores=1)
    config = {"gpu_taint": "pool=a100:NoSchedule", "gpu_label": "pool=a100"}
    assert len(validate(policies.GPU_PLACEMENT, DEPLOYMENT, "d", gpu, config=config)) == 2
    matching = deployment(
        gpu_cores=1, gpu_toleration="pool=a100:NoSchedule", gpu_node_selector="pool=a100"
    )
    assert validate(policies.GPU_PLACEMENT, DEPLOYMENT, "d", matching, config=config) == []


# --- ACI limits -----------------------------------------------------------------------------------


def test_aci_limits_pass_within_and_fail_beyond(pulumi_mocks: MockHarness) -> None:
    group = aci_group(pulumi_mocks, cpu_cores=2, memory_gb=16)
    assert validate(policies.ACI_LIMITS, CONTAINER_GROUP, "svc-group", group) == []
    big = copy.deepcopy(group)
    requests = big["containers"][0]["resources"]["requests"]
    requests["memoryInGB"] = AciDeploymentConfig.MAX_MEMORY_GB
    requests["cpu"] = AciDeploymentConfig.MAX_CPU_CORES + 0.5
    memory, cpu = validate(policies.ACI_LIMITS, CONTAINER_GROUP, "svc-group", big, stack="dev")
    assert "memoryInGB total 48 GB" in memory
    assert "less than 48 GB" in memory
    assert "cpu total 4.5 cores" in cpu


# --- secrets only ---------------------------------------------------------------------------------


def test_secrets_pass_for_what_the_components_send(pulumi_mocks: MockHarness) -> None:
    assert validate(policies.SECRETS_ONLY, DEPLOYMENT, "d", deployment()) == []
    group = aci_group(pulumi_mocks)
    assert validate(policies.SECRETS_ONLY, CONTAINER_GROUP, "svc-group", group) == []


def test_secrets_fail_a_key_in_plain_environment(pulumi_mocks: MockHarness) -> None:
    leaky = deployment()
    container(leaky)["env"].append({"name": "MLWS_PRIMARY_KEY", "value": "k" * 32})
    (message,) = validate(policies.SECRETS_ONLY, DEPLOYMENT, "d", leaky)
    assert "spec.template.spec.containers[0].env[" in message
    assert "MLWS_PRIMARY_KEY in plain text" in message
    group = aci_group(pulumi_mocks)
    group["containers"][0]["environmentVariables"].append(
        {"name": "MLWS_TOKEN_SECRET", "value": "t" * 32}
    )
    (message,) = validate(policies.SECRETS_ONLY, CONTAINER_GROUP, "g", group)
    assert "containers[0].environmentVariables[" in message


def test_secrets_want_kubernetes_secret_data_marked_secret() -> None:
    secret = {"metadata": {}, "stringData": {"primary-key": "k"}, "type": "Opaque"}
    (message,) = validate(policies.SECRETS_ONLY, K8S_SECRET, "auth", secret)
    assert "Secret 'auth': stringData is not a Pulumi secret" in message
    marked = validate(
        policies.SECRETS_ONLY, K8S_SECRET, "auth", secret, secret_outputs=["data", "stringData"]
    )
    assert marked == []


def test_secrets_with_visible_secretness_flag_plain_registry_passwords() -> None:
    config = {"inputs_show_secrets": True}
    group = {
        "containers": [],
        "imageRegistryCredentials": [{"server": "a", "username": "u", "password": "plain"}],
    }
    (message,) = validate(policies.SECRETS_ONLY, CONTAINER_GROUP, "g", group, config=config)
    assert "imageRegistryCredentials[0].password is not a Pulumi secret" in message
    group["imageRegistryCredentials"][0]["password"] = "[secret]"
    assert validate(policies.SECRETS_ONLY, CONTAINER_GROUP, "g", group, config=config) == []


# --- production availability ----------------------------------------------------------------------


def _objects(config: AksDeploymentConfig) -> list[tuple[str, str, dict[str, Any]]]:
    types = {"deployment": DEPLOYMENT, "hpa": HPA, "pdb": PDB}
    objects = k8s_manifests.manifests(config, image=DIGEST, secret_values={"primary_key": "k"})
    return [(types[role], f"svc-{role}", props(m)) for role, m in objects.items() if role in types]


def test_availability_passes_two_replicas_and_a_pdb() -> None:
    assert validate_stack(policies.PROD_AVAILABILITY, _objects(aks(num_replicas=2))) == []
    autoscaled = aks(autoscale_min_replicas=2, autoscale_max_replicas=4)
    assert validate_stack(policies.PROD_AVAILABILITY, _objects(autoscaled)) == []


def test_availability_fails_one_replica_and_a_missing_pdb() -> None:
    (message, where) = validate_stack(policies.PROD_AVAILABILITY, _objects(aks()))[0]
    assert "Deployment 'svc-deployment'" in message
    assert "HorizontalPodAutoscaler 'svc-hpa''s spec.minReplicas is 1" in message
    assert where is not None
    assert where.endswith("::svc-deployment")
    no_pdb = [o for o in _objects(aks(num_replicas=3)) if o[0] != PDB]
    ((message, _),) = validate_stack(policies.PROD_AVAILABILITY, no_pdb)
    assert "no PodDisruptionBudget selects its pods" in message
    assert validate_stack(policies.PROD_AVAILABILITY, _objects(aks()), stack="dev") == []


# --- hardening baseline ---------------------------------------------------------------------------


def test_hardening_passes_what_mlws_emits() -> None:
    assert validate(policies.HARDENING, DEPLOYMENT, "d", deployment(), stack="dev") == []


@pytest.mark.parametrize(
    ("field", "value", "needed"),
    [
        ("runAsNonRoot", False, "runAsNonRoot: true"),
        ("readOnlyRootFilesystem", False, "readOnlyRootFilesystem: true"),
        ("allowPrivilegeEscalation", True, "allowPrivilegeEscalation: false"),
        ("capabilities", {"drop": ["NET_RAW"]}, "capabilities.drop: [ALL]"),
    ],
)
def test_hardening_fails_each_missing_setting(field: str, value: Any, needed: str) -> None:
    weak = deployment()
    container(weak)["securityContext"][field] = value
    (message,) = validate(policies.HARDENING, DEPLOYMENT, "d", weak, stack="dev")
    assert (
        f"spec.template.spec.containers[0].securityContext needs {needed}"
        == message.split(": ", 1)[1]
    )


def test_hardening_covers_user_daemonsets_and_init_containers() -> None:
    daemon = {
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"name": "init", "image": "busybox"}],
                    "containers": [{"name": "agent", "image": "agent"}],
                }
            }
        }
    }
    messages = validate(policies.HARDENING, DAEMON_SET, "agent", daemon, stack="dev")
    assert [m.split(".securityContext")[0] for m in messages] == [
        "DaemonSet 'agent': spec.template.spec.initContainers[0]",
        "DaemonSet 'agent': spec.template.spec.containers[0]",
    ]


# --- reasoned exemptions (the components' checkov skip annotations) -------------------------------


def device_plugin() -> dict[str, Any]:
    return props(nvidia_device_plugin(GpuNodePoolConfig()))


def test_device_plugin_is_exempt_only_where_its_annotations_say_why() -> None:
    plugin = device_plugin()
    assert validate(policies.HARDENING, DAEMON_SET, "gpu-device-plugin", plugin) == []
    assert validate(policies.PROD_DIGEST, DAEMON_SET, "gpu-device-plugin", plugin) == []
    bare = copy.deepcopy(plugin)
    del bare["metadata"]["annotations"]
    (hardening,) = validate(policies.HARDENING, DAEMON_SET, "gpu-device-plugin", bare)
    assert hardening.endswith("securityContext needs runAsNonRoot: true")
    (digest,) = validate(policies.PROD_DIGEST, DAEMON_SET, "gpu-device-plugin", bare)
    assert "is a mutable tag" in digest


def test_an_exemption_waives_only_its_own_part_and_needs_a_reason() -> None:
    plugin = device_plugin()
    container(plugin)["securityContext"]["allowPrivilegeEscalation"] = True
    (message,) = validate(policies.HARDENING, DAEMON_SET, "p", plugin)
    assert message.endswith("needs allowPrivilegeEscalation: false")
    unreasoned = device_plugin()
    unreasoned["metadata"]["annotations"] = {"checkov.io/skip1": "CKV_K8S_23="}
    assert validate(policies.HARDENING, DAEMON_SET, "p", unreasoned)
