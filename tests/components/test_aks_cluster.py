"""AksCluster and GpuNodePool: ARM args vs azure-native's types, validation, graphs under mocks."""

from typing import Any

import pulumi
import pytest
from pulumi.provider.experimental.analyzer import Analyzer
from pulumi_azure_native.containerservice import _inputs as aks_inputs
from pulumi_azure_native.containerservice import agent_pool, managed_cluster

from mlws.components.aci_web_service import REFERENCES as ACI_REFERENCES
from mlws.components.aci_web_service import AciWebService, AciWebServiceArgs
from mlws.components.aks_cluster import (
    CLUSTER_REFERENCES,
    POOL_REFERENCES,
    AksCluster,
    AksClusterArgs,
    GpuNodePool,
    GpuNodePoolArgs,
)
from mlws.components.aks_cluster_spec import (
    ACR_PULL_ROLE,
    AksClusterConfig,
    GpuNodePoolConfig,
    acr_pull_role_definition_id,
    agent_pool_args,
    kubelet_object_id,
    managed_cluster_args,
)
from mlws.components.aks_web_service import REFERENCES as AKS_REFERENCES
from mlws.components.aks_web_service import AksWebService, AksWebServiceArgs
from mlws.components.deployment_config import (
    AciDeploymentConfig,
    AksDeploymentConfig,
)
from mlws.components.errors import ConfigError, parse_config
from mlws.mocks import MOCK_SUBSCRIPTION_ID
from mlws.provider.schema_builder import args_type, field_docstrings
from mlws.provider.wire import to_snake
from tests.components.azure_sdk_check import sdk_problems

CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ACR_PULL = (
    f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/providers/Microsoft.Authorization"
    "/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
)


def test_cluster_args_match_the_sdk() -> None:
    config = AksClusterConfig(
        cluster_name="ml-aks", kubernetes_version="1.31", system_node_count=3, tags={"env": "dev"}
    )
    args = managed_cluster_args(config, name="ml", resource_group_name="rg", location="westeurope")
    assert sdk_problems(args, managed_cluster.ManagedClusterArgs, aks_inputs) == []
    (system,) = args["agent_pool_profiles"]
    assert (system["mode"], system["count"]) == ("System", 3)
    assert args["identity"] == {"type": "SystemAssigned"}
    broken = {**args, "agent_pool_profiles": [{**system, "mode": "Primary"}]}
    assert sdk_problems(broken, managed_cluster.ManagedClusterArgs, aks_inputs) != []


def test_pool_args_match_the_sdk() -> None:
    config = GpuNodePoolConfig(pool_name="a100", vm_size="Standard_NC24ads_A100_v4", max_count=5)
    args = agent_pool_args(config, resource_group_name="rg", cluster_name="ml-aks")
    assert sdk_problems(args, agent_pool.AgentPoolArgs, aks_inputs) == []
    assert args["node_taints"] == ["sku=gpu:NoSchedule"]
    assert args["node_labels"] == {"accelerator": "nvidia"}
    assert (args["min_count"], args["max_count"], args["enable_auto_scaling"]) == (0, 5, True)
    fixed = agent_pool_args(
        GpuNodePoolConfig(enable_auto_scaling=False, node_count=2),
        resource_group_name="rg",
        cluster_name="c",
    )
    assert "min_count" not in fixed
    assert fixed["count"] == 2


def test_pool_validation_reports_everything_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(
            GpuNodePoolConfig,
            {
                "pool_name": "GPU-Pool",
                "vm_size": "Standard_D4s_v5",
                "min_count": 4,
                "max_count": 2,
                "node_taint": "gpu",
                "device_plugin_version": "latest",
            },
            subject="GpuNodePool 'gpu'",
        )
    assert set(error.value.fields) == {
        "pool_name",
        "vm_size",
        "min_count",
        "node_taint",
        "device_plugin_version",
    }


def test_cluster_needs_a_resource_group_or_a_kubeconfig(pulumi_mocks: Any) -> None:
    errors: list[ConfigError] = []

    def run() -> None:
        try:
            AksCluster("ml", {"dns_prefix": "-bad"})
        except ConfigError as error:
            errors.append(error)

    assert len(pulumi_mocks.run(run)) == 0
    assert set(errors[0].fields) == {"resource_group_name", "dns_prefix"}


def test_new_cluster_exposes_a_secret_kubeconfig(pulumi_mocks: Any) -> None:
    def run() -> None:
        cluster = AksCluster("ml", {"resource_group_name": "rg", "kubernetes_version": "1.31"})
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export("cluster_name", cluster.cluster_name)

    recording = pulumi_mocks.run(run)
    assert recording.type_counts() == {"mlws:index:AksCluster": 1, CLUSTER: 1}
    cluster = recording.named("ml-cluster")
    assert cluster.parent == recording.named("ml").urn
    assert cluster.inputs["kubernetesVersion"] == "1.31"
    assert recording.stack_outputs["cluster_name"] == "ml-cluster"
    assert recording.masked_stack_outputs["kubeconfig"] == "[secret]"
    assert "current-context: ml-cluster" in recording.stack_outputs["kubeconfig"]


def test_acr_pull_role_and_kubelet_identity_helpers() -> None:
    assert acr_pull_role_definition_id("sub") == (
        f"/subscriptions/sub/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL_ROLE}"
    )
    assert kubelet_object_id({"kubeletidentity": {"object_id": "abc", "client_id": "x"}}) == "abc"
    assert kubelet_object_id(None) == ""
    assert kubelet_object_id({}) == ""


def test_new_cluster_kubelet_may_pull_from_each_registry(pulumi_mocks: Any) -> None:
    registries: list[pulumi.Input[str]] = [
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/a",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/b",
    ]

    def run() -> None:
        cluster = AksCluster(
            "ml", {"resource_group_name": "rg", "acr_pull_registry_ids": registries}
        )
        pulumi.export("kubelet", cluster.kubelet_identity_object_id)

    recording = pulumi_mocks.run(run)
    assert recording.type_counts() == {"mlws:index:AksCluster": 1, CLUSTER: 1, ROLE_ASSIGNMENT: 2}
    cluster = recording.named("ml-cluster")
    kubelet = cluster.outputs["identityProfile"]["kubeletidentity"]["objectId"]
    assert recording.stack_outputs["kubelet"] == kubelet
    for index, registry in enumerate(registries):
        grant = recording.named(f"ml-acrpull-{index}", ROLE_ASSIGNMENT)
        assert grant.parent == recording.named("ml").urn
        assert grant.inputs == {
            "principalId": kubelet,
            "principalType": "ServicePrincipal",
            "roleDefinitionId": ACR_PULL,
            "scope": registry,
        }
        assert cluster.urn in grant.dependencies
    assert [token for token, _ in pulumi_mocks.mocks.invokes].count(
        "azure-native:authorization:getClientConfig"
    ) == 1


def test_cluster_without_registries_grants_nothing(pulumi_mocks: Any) -> None:
    def run() -> None:
        AksCluster("ml", {"resource_group_name": "rg"})

    recording = pulumi_mocks.run(run)
    assert recording.of_type(ROLE_ASSIGNMENT) == []
    assert "azure-native:authorization:getClientConfig" not in {
        token for token, _ in pulumi_mocks.mocks.invokes
    }


def test_attached_cluster_grants_acr_pull_to_the_given_kubelet(pulumi_mocks: Any) -> None:
    def run() -> None:
        cluster = AksCluster(
            "ml",
            {
                "kubeconfig": "apiVersion: v1",
                "kubelet_identity_object_id": "kubelet-oid",
                "acr_pull_registry_ids": ["registry-id"],
            },
        )
        pulumi.export("kubelet", cluster.kubelet_identity_object_id)

    recording = pulumi_mocks.run(run)
    assert recording.type_counts() == {"mlws:index:AksCluster": 1, ROLE_ASSIGNMENT: 1}
    grant = recording.named("ml-acrpull-0").inputs
    assert (grant["principalId"], grant["scope"]) == ("kubelet-oid", "registry-id")
    assert recording.stack_outputs["kubelet"] == "kubelet-oid"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"kubeconfig": "apiVersion: v1", "acr_pull_registry_ids": ["registry-id"]},
            "required to grant AcrPull",
        ),
        (
            {"resource_group_name": "rg", "kubelet_identity_object_id": "oid"},
            "only for an attached cluster",
        ),
        ({"resource_group_name": "rg", "acr_pull_registry_ids": "registry-id"}, "must be a list"),
    ],
)
def test_acr_pull_argument_errors(pulumi_mocks: Any, args: Any, message: str) -> None:
    errors: list[ConfigError] = []

    def run() -> None:
        try:
            AksCluster("ml", args)
        except ConfigError as error:
            errors.append(error)

    assert len(pulumi_mocks.run(run)) == 0
    assert message in str(errors[0])


def test_attached_cluster_creates_nothing(pulumi_mocks: Any) -> None:
    def run() -> None:
        cluster = AksCluster("ml", {"kubeconfig": "apiVersion: v1", "cluster_name": "prod"})
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export("cluster_name", cluster.cluster_name)

    recording = pulumi_mocks.run(run)
    assert recording.type_counts() == {"mlws:index:AksCluster": 1}
    assert recording.masked_stack_outputs == {"kubeconfig": "[secret]", "cluster_name": "prod"}
    assert recording.named("ml").outputs["kubelet_identity_object_id"] == ""


def test_gpu_pool_graph(pulumi_mocks: Any) -> None:
    def run() -> None:
        pool = GpuNodePool(
            "gpu",
            {
                "resource_group_name": "rg",
                "cluster_name": "ml-aks",
                "kubeconfig": "apiVersion: v1",
                "min_count": 1,
                "max_count": 4,
            },
        )
        pulumi.export("taint", pool.node_taint)
        pulumi.export("label", pool.node_label)
        pulumi.export("pool", pool.pool_name)
        assert (pool.toleration, pool.node_selector) == ("sku=gpu:NoSchedule", "accelerator=nvidia")

    recording = pulumi_mocks.run(run)
    assert recording.type_counts() == {
        "mlws:index:GpuNodePool": 1,
        POOL: 1,
        "pulumi:providers:kubernetes": 1,
        DAEMONSET: 1,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 1,
    }
    policy = recording.named("gpu-device-plugin-policy")
    assert policy.provider.startswith(recording.named("gpu-k8s").urn)
    assert policy.inputs["spec"]["policyTypes"] == ["Ingress", "Egress"]  # and no rule: all denied
    pool = recording.named("gpu-pool")
    assert pool.inputs["resourceName"] == "ml-aks"
    assert pool.inputs["vmSize"].startswith("Standard_N")
    assert (pool.inputs["minCount"], pool.inputs["maxCount"]) == (1, 4)
    plugin = recording.named("gpu-device-plugin")
    assert pool.urn in plugin.dependencies
    assert plugin.provider.startswith(recording.named("gpu-k8s").urn)
    assert recording.stack_outputs == {
        "taint": "sku=gpu:NoSchedule",
        "label": "accelerator=nvidia",
        "pool": "gpu",
    }


def test_gpu_pool_without_device_plugin(pulumi_mocks: Any) -> None:
    def run() -> None:
        GpuNodePool(
            "gpu",
            {"resource_group_name": "rg", "cluster_name": "c", "install_device_plugin": False},
        )

    assert pulumi_mocks.run(run).type_counts() == {"mlws:index:GpuNodePool": 1, POOL: 1}


# --- the multi-language schema the provider serves ---------------------------------------------


def test_schema_of_the_azure_components() -> None:
    result = Analyzer("mlws").analyze([AciWebService, AksWebService, AksCluster, GpuNodePool])
    components = result["component_definitions"]
    assert set(components) == {"AciWebService", "AksWebService", "AksCluster", "GpuNodePool"}
    assert result["type_definitions"] == {}
    classes = {c.__name__: c for c in (AciWebService, AksWebService, AksCluster, GpuNodePool)}
    for component in components.values():
        assert component.description
        # Fields of base args classes get their docs in the plugin's schema (schema_builder).
        inherited = field_docstrings(args_type(classes[component.name]))
        for name, prop in component.inputs.items():
            assert prop.description or inherited.get(to_snake(name)), f"{component.name}.{name}"
        for name, prop in component.outputs.items():
            assert prop.description, f"{component.name}.{name} has no docstring"
    aks = components["AksWebService"]
    assert [k for k, p in aks.inputs.items() if not p.optional] == ["image"]
    assert aks.inputs["cpuCores"].plain  # settings are plain (validated at preview)
    assert not aks.inputs["primaryKey"].plain  # references are inputs
    assert {"scoringUri", "swaggerUri"} <= set(aks.outputs)
    aci = components["AciWebService"]
    assert sorted(k for k, p in aci.inputs.items() if not p.optional) == [
        "image",
        "resourceGroupName",
    ]
    assert set(components["GpuNodePool"].outputs) == {"poolName", "nodeTaint", "nodeLabel"}
    cluster = components["AksCluster"]
    assert {"kubeconfig", "kubeletIdentityObjectId"} <= set(cluster.outputs)
    registries = cluster.inputs["acrPullRegistryIds"]
    assert registries.plain  # its length decides how many role assignments exist
    assert registries.items is not None
    assert not registries.items.plain  # each ID may be another resource's output


@pytest.mark.parametrize(
    ("args", "config", "references"),
    [
        (AciWebServiceArgs, AciDeploymentConfig, ACI_REFERENCES),
        (AksWebServiceArgs, AksDeploymentConfig, AKS_REFERENCES),
        (AksClusterArgs, AksClusterConfig, CLUSTER_REFERENCES),
        (GpuNodePoolArgs, GpuNodePoolConfig, POOL_REFERENCES),
    ],
)
def test_args_are_settings_plus_references(args: Any, config: Any, references: Any) -> None:
    renamed = getattr(config, "renamed", {})  # deprecated names, each setting a field
    settings = set(args.__annotations__) - set(references) - set(renamed)
    assert settings == set(config.model_fields)
    assert set(renamed.values()) <= settings
    assert set(references) <= set(args.__annotations__)
