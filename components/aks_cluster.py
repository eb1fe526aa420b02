"""``AksCluster`` and ``GpuNodePool``: the Kubernetes side of an ``AksWebService``.

``AksCluster`` creates an azure-native ``ManagedCluster`` with a system node pool and exposes its
kubeconfig as a secret, or attaches an existing cluster given its kubeconfig. Given
``acr_pull_registry_ids`` it grants the cluster's kubelet identity ``AcrPull`` on those container
registries (one ``RoleAssignment`` each), so pods can pull images from them. ``GpuNodePool`` adds
an ``AgentPool`` of GPU (N-series) VMs with a taint (``sku=gpu:NoSchedule``) and a label
(``accelerator=nvidia``) so only GPU workloads land there, node autoscaling between
``min_count`` and ``max_count``, and the NVIDIA device plugin DaemonSet that advertises
``nvidia.com/gpu`` on those nodes. Its ``toleration`` and ``node_selector`` are the strings to pass
to ``AksWebService`` as ``gpu_toleration`` and ``gpu_node_selector``.

The ARM arguments and the DaemonSet are built by the pure functions of
:mod:`mlws.components.aks_cluster_spec` (tested without Pulumi); this module only wires them.
"""

import base64
from collections.abc import Mapping
from typing import Any, Required, TypedDict

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, containerservice

from mlws.components._package import type_token
from mlws.components.aks_cluster_spec import (
    AksClusterConfig,
    GpuNodePoolConfig,
    acr_pull_role_definition_id,
    agent_pool_args,
    kubelet_object_id,
    managed_cluster_args,
    nvidia_device_plugin,
    nvidia_device_plugin_network_policy,
)
from mlws.components.errors import Problem, parse_config


def resource_kwargs(args: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor keywords from ``*Args`` keywords: the SDK spells ARM's ``resource_name``
    ``resource_name_`` there, since ``resource_name`` is the Pulumi resource's own name."""
    return {("resource_name_" if k == "resource_name" else k): v for k, v in args.items()}


# --- AksCluster --------------------------------------------------------------------------------


class AksClusterArgs(TypedDict, total=False):
    """Inputs of :class:`AksCluster`: create one in a resource group, or attach by kubeconfig."""

    resource_group_name: pulumi.Input[str]
    """Resource group of a new cluster (required unless ``kubeconfig`` is given)."""
    location: pulumi.Input[str]
    """Azure region of a new cluster (default: the resource group's)."""
    kubeconfig: pulumi.Input[str]
    """Attach an existing cluster by its kubeconfig instead of creating one (kept secret)."""
    cluster_name: str
    """Cluster name (new: default autonamed; attached: reported as ``cluster_name``)."""
    dns_prefix: str
    """DNS prefix of a new cluster's API server (default: the component name)."""
    kubernetes_version: str
    """Kubernetes version of a new cluster (default: AKS's default)."""
    system_vm_size: str
    """VM size of the system node pool (default ``Standard_D4s_v5``)."""
    system_node_count: int
    """Nodes in the system pool (default 2)."""
    tags: dict[str, str]
    """Azure tags of a new cluster."""
    acr_pull_registry_ids: list[pulumi.Input[str]]
    """Container registry IDs on which the kubelet identity gets ``AcrPull`` (to pull images)."""
    kubelet_identity_object_id: pulumi.Input[str]
    """Attached cluster only: kubelet identity object ID, needed with ``acr_pull_registry_ids``."""


#: AksCluster args that are resource references rather than settings.
CLUSTER_REFERENCES = frozenset(
    {
        "resource_group_name",
        "location",
        "kubeconfig",
        "acr_pull_registry_ids",
        "kubelet_identity_object_id",
    }
)


def _reference_problems(args: Mapping[str, Any]) -> list[Problem]:
    problems = []
    attached = args.get("kubeconfig") is not None
    if not attached and args.get("resource_group_name") is None:
        problems.append(
            Problem("resource_group_name", "required to create a cluster (or give kubeconfig)")
        )
    if not attached and args.get("kubelet_identity_object_id") is not None:
        problems.append(
            Problem(
                "kubelet_identity_object_id",
                "only for an attached cluster (a new cluster's is read from Azure)",
            )
        )
    registries = args.get("acr_pull_registry_ids")
    if registries is not None and not isinstance(registries, list | tuple):
        problems.append(Problem("acr_pull_registry_ids", "must be a list of registry IDs"))
    elif registries and attached and args.get("kubelet_identity_object_id") is None:
        problems.append(
            Problem(
                "kubelet_identity_object_id",
                "required to grant AcrPull on an attached cluster's registries",
            )
        )
    return problems


class AksCluster(pulumi.ComponentResource):
    """An AKS cluster, new (azure-native ``ManagedCluster``) or attached by kubeconfig."""

    SECRET_PROPERTIES = frozenset({"kubeconfig"})
    """Inputs and outputs the plugin's schema marks secret (declared, not guessed from names)."""

    kubeconfig: pulumi.Output[str]
    """Kubeconfig for ``AksWebService`` and ``GpuNodePool`` (secret)."""
    cluster_name: pulumi.Output[str]
    """Name of the cluster (``GpuNodePool.cluster_name``)."""
    resource_group_name: pulumi.Output[str]
    """Resource group of the cluster (empty when attached without one)."""
    kubelet_identity_object_id: pulumi.Output[str]
    """Object ID of the kubelet identity that pulls images (attached: as given, else empty)."""

    def __init__(
        self,
        name: str,
        args: AksClusterArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        problems = _reference_problems(args)
        config = parse_config(
            AksClusterConfig,
            args,
            subject=f"AksCluster {name!r}",
            references=CLUSTER_REFERENCES,
            problems=problems,
        )
        super().__init__(type_token("AksCluster"), name, None, opts)
        resource_group = args.get("resource_group_name")
        self.resource_group_name = pulumi.Output.from_input(resource_group or "")
        if args.get("kubeconfig") is not None:
            self.kubeconfig = pulumi.Output.secret(args["kubeconfig"])
            self.cluster_name = pulumi.Output.from_input(config.cluster_name or name)
            self.kubelet_identity_object_id = pulumi.Output.from_input(
                args.get("kubelet_identity_object_id") or ""
            )
        else:
            cluster = containerservice.ManagedCluster(
                f"{name}-cluster",
                opts=pulumi.ResourceOptions(parent=self),
                **resource_kwargs(
                    managed_cluster_args(
                        config,
                        name=name,
                        resource_group_name=resource_group,
                        location=args.get("location"),
                    )
                ),
            )
            credentials = containerservice.list_managed_cluster_user_credentials_output(
                resource_group_name=resource_group,
                resource_name=cluster.name,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            self.kubeconfig = pulumi.Output.secret(
                credentials.kubeconfigs.apply(
                    lambda configs: base64.b64decode(configs[0].value).decode()
                )
            )
            self.cluster_name = cluster.name
            self.kubelet_identity_object_id = cluster.identity_profile.apply(kubelet_object_id)
        self._grant_acr_pull(name, args.get("acr_pull_registry_ids") or [])
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "cluster_name": self.cluster_name,
                "resource_group_name": self.resource_group_name,
                "kubelet_identity_object_id": self.kubelet_identity_object_id,
            }
        )

    def _grant_acr_pull(self, name: str, registry_ids: list[pulumi.Input[str]]) -> None:
        if not registry_ids:
            return
        client = authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        )
        role = client.subscription_id.apply(acr_pull_role_definition_id)
        for index, registry_id in enumerate(registry_ids):
            authorization.RoleAssignment(
                f"{name}-acrpull-{index}",
                principal_id=self.kubelet_identity_object_id,
                principal_type="ServicePrincipal",
                role_definition_id=role,
                scope=registry_id,
                opts=pulumi.ResourceOptions(parent=self),
            )


# --- GpuNodePool -------------------------------------------------------------------------------


class GpuNodePoolArgs(TypedDict, total=False):
    """Inputs of :class:`GpuNodePool`."""

    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the cluster (``AksCluster.resource_group_name``)."""
    cluster_name: Required[pulumi.Input[str]]
    """Name of the cluster (``AksCluster.cluster_name``)."""
    kubeconfig: pulumi.Input[str]
    """Kubeconfig for installing the device plugin (``AksCluster.kubeconfig``); none: inherited."""
    pool_name: str
    """AKS pool name (default ``gpu``; 1-12 lowercase letters or digits)."""
    vm_size: str
    """GPU VM size (default ``Standard_NC4as_T4_v3``)."""
    enable_auto_scaling: bool
    """Node autoscaling between ``min_count`` and ``max_count`` (default on)."""
    node_count: int
    """Initial (or fixed) node count (default 1)."""
    min_count: int
    """Fewest nodes when autoscaling (default 0)."""
    max_count: int
    """Most nodes when autoscaling (default 3)."""
    node_taint: str
    """Taint of the pool, ``key=value:Effect`` (default ``sku=gpu:NoSchedule``)."""
    node_label: str
    """Label of the pool's nodes, ``key=value`` (default ``accelerator=nvidia``)."""
    install_device_plugin: bool
    """Install the NVIDIA device plugin DaemonSet (default on)."""
    device_plugin_version: str
    """NVIDIA device plugin version (default ``v0.17.0``)."""
    tags: dict[str, str]
    """Azure tags of the pool."""


#: GpuNodePool args that are resource references rather than settings.
POOL_REFERENCES = frozenset({"resource_group_name", "cluster_name", "kubeconfig"})


class GpuNodePool(pulumi.ComponentResource):
    """A GPU node pool (azure-native ``AgentPool``) with the NVIDIA device plugin."""

    SECRET_PROPERTIES = frozenset({"kubeconfig"})
    """Inputs and outputs the plugin's schema marks secret (declared, not guessed from names)."""

    pool_name: pulumi.Output[str]
    """Name of the AKS pool."""
    node_taint: pulumi.Output[str]
    """The pool's taint: pass as ``AksWebService`` ``gpu_toleration``."""
    node_label: pulumi.Output[str]
    """The pool's node label: pass as ``AksWebService`` ``gpu_node_selector``."""

    def __init__(
        self,
        name: str,
        args: GpuNodePoolArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        problems = [
            Problem(field, "required")
            for field in ("resource_group_name", "cluster_name")
            if args.get(field) is None
        ]
        config = parse_config(
            GpuNodePoolConfig,
            args,
            subject=f"GpuNodePool {name!r}",
            references=POOL_REFERENCES,
            problems=problems,
        )
        super().__init__(type_token("GpuNodePool"), name, None, opts)
        self._config = config
        pool = containerservice.AgentPool(
            f"{name}-pool",
            opts=pulumi.ResourceOptions(parent=self),
            **resource_kwargs(
                agent_pool_args(
                    config,
                    resource_group_name=args["resource_group_name"],
                    cluster_name=args["cluster_name"],
                )
            ),
        )
        if config.install_device_plugin:
            child = pulumi.ResourceOptions(parent=self, depends_on=[pool])
            if args.get("kubeconfig") is not None:
                provider = k8s.Provider(
                    f"{name}-k8s",
                    kubeconfig=pulumi.Output.secret(args["kubeconfig"]),
                    opts=pulumi.ResourceOptions(parent=self),
                )
                child = pulumi.ResourceOptions(parent=self, depends_on=[pool], provider=provider)
            manifest = nvidia_device_plugin(config)
            k8s.apps.v1.DaemonSet(
                f"{name}-device-plugin",
                metadata=manifest["metadata"],
                spec=manifest["spec"],
                opts=child,
            )
            policy = nvidia_device_plugin_network_policy(config)
            k8s.networking.v1.NetworkPolicy(
                f"{name}-device-plugin-policy",
                metadata=policy["metadata"],
                spec=policy["spec"],
                opts=child,
            )
        self.pool_name = pool.name.apply(lambda _: config.pool_name)
        self.node_taint = pulumi.Output.from_input(config.node_taint)
        self.node_label = pulumi.Output.from_input(config.node_label)
        self.register_outputs(
            {
                "pool_name": self.pool_name,
                "node_taint": self.node_taint,
                "node_label": self.node_label,
            }
        )

    @property
    def toleration(self) -> str:
        """The taint as a plain string, for ``AksWebService``'s ``gpu_toleration`` argument."""
        return self._config.node_taint

    @property
    def node_selector(self) -> str:
        """The label as a plain string, for ``AksWebService``'s ``gpu_node_selector`` argument."""
        return self._config.node_label
