"""The pure side of ``AksCluster`` and ``GpuNodePool``: config models in, ARM arguments and
Kubernetes manifests out (as :mod:`mlws.components.aci_spec` and
:mod:`mlws.components.k8s_manifests` are for the web services), tested without Pulumi.

- :class:`AksClusterConfig` -> :func:`managed_cluster_args` (the ``ManagedCluster``), plus the
  ``AcrPull`` role id (:func:`acr_pull_role_definition_id`) and the kubelet identity
  (:func:`kubelet_object_id`) its grants need;
- :class:`GpuNodePoolConfig` -> :func:`agent_pool_args` (the GPU ``AgentPool``),
  :func:`nvidia_device_plugin` (the DaemonSet advertising ``nvidia.com/gpu``) and
  :func:`nvidia_device_plugin_network_policy`.
"""

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlws.components.deployment_config import (
    GPU_LABEL,
    GPU_TAINT,
    NodeLabel,
    Taint,
    parse_label,
    parse_taint,
)
from mlws.components.errors import CrossCheckedModel, Problem

#: NVIDIA's device plugin image (pinned).
DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin"
#: Label AKS puts on every node with its pool's name.
AGENTPOOL_LABEL = "kubernetes.azure.com/agentpool"
#: Where kubelet looks for device plugin sockets.
DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"
#: Requests and limits of the device plugin (it idles, watching the GPUs through NVML).
DEVICE_PLUGIN_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "200m", "memory": "256Mi"},
}

_DNS_PREFIX = r"[A-Za-z0-9][A-Za-z0-9-]{0,52}[A-Za-z0-9]"

#: Azure's built-in ``AcrPull`` role (pull images from a container registry).
ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


class AksClusterConfig(BaseModel):
    """Settings of a new AKS cluster (ignored when attaching by kubeconfig)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster_name: str | None = None
    """Name of the cluster (new: default autonamed; attached: for outputs and messages)."""
    dns_prefix: str | None = None
    """DNS prefix of the API server (default: the component name)."""
    kubernetes_version: str | None = None
    """Kubernetes version, e.g. ``1.31`` (default: AKS's default)."""
    system_vm_size: str = "Standard_D4s_v5"
    """VM size of the system node pool."""
    system_node_count: int = Field(default=2, ge=1, le=100)
    """Nodes in the system pool."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Azure tags of the cluster."""

    @field_validator("dns_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9-]{0,52}[A-Za-z0-9]", value
        ):
            raise ValueError(
                f"{value!r} is not a DNS prefix: 2-54 letters, digits or '-', "
                "starting and ending with a letter or digit"
            )
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+\.\d+(\.\d+)?", value):
            raise ValueError(f"{value!r} is not a Kubernetes version like 1.31 or 1.31.2")
        return value


def managed_cluster_args(
    config: AksClusterConfig,
    *,
    name: str,
    resource_group_name: Any,
    location: Any | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``containerservice.ManagedCluster`` (one system pool, RBAC, MSI)."""
    args: dict[str, Any] = {
        "resource_group_name": resource_group_name,
        "dns_prefix": config.dns_prefix or re.sub(r"[^A-Za-z0-9-]", "-", name)[:54].strip("-"),
        "enable_rbac": True,
        "identity": {"type": "SystemAssigned"},
        "agent_pool_profiles": [
            {
                "name": "system",
                "mode": "System",
                "vm_size": config.system_vm_size,
                "count": config.system_node_count,
                "os_type": "Linux",
                "type": "VirtualMachineScaleSets",
            }
        ],
    }
    if config.cluster_name:
        args["resource_name"] = config.cluster_name
    if config.kubernetes_version:
        args["kubernetes_version"] = config.kubernetes_version
    if location is not None:
        args["location"] = location
    if config.tags:
        args["tags"] = dict(config.tags)
    return args


def acr_pull_role_definition_id(subscription_id: str) -> str:
    """Resource ID of the built-in ``AcrPull`` role definition in a subscription."""
    return (
        f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization"
        f"/roleDefinitions/{ACR_PULL_ROLE}"
    )


def kubelet_object_id(identity_profile: Mapping[str, Any] | None) -> str:
    """The kubelet identity's object ID in a ``ManagedCluster``'s ``identity_profile``, or ""."""
    kubelet = (identity_profile or {}).get("kubeletidentity") or {}
    return str(kubelet.get("object_id") or "")


class GpuNodePoolConfig(CrossCheckedModel):
    """Settings of a GPU node pool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool_name: str = "gpu"
    """AKS pool name: 1-12 lowercase letters or digits, starting with a letter."""
    vm_size: str = "Standard_NC4as_T4_v3"
    """GPU VM size: an N-series size such as ``Standard_NC4as_T4_v3`` (NVIDIA T4)."""
    enable_auto_scaling: bool = True
    """Let the cluster autoscaler add and remove GPU nodes between min_count and max_count."""
    node_count: int = Field(default=1, ge=0, le=1000)
    """Initial nodes (the fixed count without autoscaling)."""
    min_count: int = Field(default=0, ge=0, le=1000)
    """Fewest nodes when autoscaling (0 lets an idle GPU pool cost nothing)."""
    max_count: int = Field(default=3, ge=1, le=1000)
    """Most nodes when autoscaling."""
    node_taint: Taint = GPU_TAINT
    """Taint keeping non-GPU pods off the pool, ``key=value:Effect``."""
    node_label: NodeLabel = GPU_LABEL
    """Label GPU workloads select, ``key=value``."""
    install_device_plugin: bool = True
    """Install the NVIDIA device plugin DaemonSet (advertises ``nvidia.com/gpu``)."""
    device_plugin_version: str = "v0.17.0"
    """Version (image tag) of the NVIDIA device plugin."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Azure tags of the pool."""

    @field_validator("pool_name")
    @classmethod
    def _pool_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9]{0,11}", value):
            raise ValueError(
                f"{value!r} is not an AKS pool name: 1-12 lowercase letters or digits, "
                "starting with a letter"
            )
        return value

    @field_validator("vm_size")
    @classmethod
    def _gpu_size(cls, value: str) -> str:
        if not re.fullmatch(r"Standard_N[A-Za-z0-9_]+", value):
            raise ValueError(f"{value!r} is not a GPU VM size (expected an N-series Standard_N...)")
        return value

    @field_validator("device_plugin_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"v\d+\.\d+\.\d+", value):
            raise ValueError(f"{value!r} is not a device plugin version like v0.17.0")
        return value

    @classmethod
    def contradictions(cls, raw: Mapping[str, Any]) -> list[Problem]:
        """min_count <= node_count <= max_count when autoscaling."""
        problems: list[Problem] = []
        low, high = raw.get("min_count", 0), raw.get("max_count", 3)
        count = raw.get("node_count", 1)
        if raw.get("enable_auto_scaling", True) is True and all(
            isinstance(v, int) for v in (low, high, count)
        ):
            if low > high:
                problems.append(
                    Problem("min_count", f"min_count ({low}) exceeds max_count ({high})")
                )
            elif not low <= count <= high:
                problems.append(
                    Problem("node_count", f"node_count ({count}) is outside {low}..{high}")
                )
        return problems


def agent_pool_args(
    config: GpuNodePoolConfig, *, resource_group_name: Any, cluster_name: Any
) -> dict[str, Any]:
    """Keyword arguments for ``containerservice.AgentPool``: a tainted, labelled GPU user pool."""
    label_key, label_value = parse_label(config.node_label)
    args: dict[str, Any] = {
        "resource_group_name": resource_group_name,
        "resource_name": cluster_name,
        "agent_pool_name": config.pool_name,
        "mode": "User",
        "os_type": "Linux",
        "type": "VirtualMachineScaleSets",
        "vm_size": config.vm_size,
        "count": config.node_count,
        "node_taints": [config.node_taint],
        "node_labels": {label_key: label_value},
        "enable_auto_scaling": config.enable_auto_scaling,
    }
    if config.enable_auto_scaling:
        args["min_count"] = config.min_count
        args["max_count"] = config.max_count
    if config.tags:
        args["tags"] = dict(config.tags)
    return args


#: What the NVIDIA device plugin must be allowed, and why (docs/security.md): each is also the
#: checkov check the DaemonSet still fails, skipped by annotation on the object with this reason.
DEVICE_PLUGIN_NEEDS: dict[str, str] = {
    "CKV_K8S_23": (
        "runs as root: it creates its socket in the kubelet's root-owned device-plugins folder"
    ),
    "CKV_K8S_40": "runs as UID 0 for the same reason (the kubelet's root-owned socket folder)",
    "CKV_K8S_8": (
        "serves no probe endpoint (NVIDIA ships none): the kubelet watches it through its "
        "registration socket and drops its GPUs when it stops"
    ),
    "CKV_K8S_9": "no readiness endpoint either, for the same reason (NVIDIA's manifest has none)",
    "CKV_K8S_43": (
        "NVIDIA publishes the plugin by version tag (device_plugin_version, pulled Always); "
        "mirror it to pin a digest"
    ),
}
#: Annotation prefix checkov reads skips from (``checkov.io/skipN: CHECK=reason``).
CHECKOV_SKIP_ANNOTATION = "checkov.io/skip"


def checkov_skips(reasons: Mapping[str, str]) -> dict[str, str]:
    """Annotations telling checkov which checks an object fails on purpose, each with its reason."""
    return {
        f"{CHECKOV_SKIP_ANNOTATION}{index}": f"{check}={reason}"
        for index, (check, reason) in enumerate(sorted(reasons.items()), start=1)
    }


def nvidia_device_plugin(config: GpuNodePoolConfig) -> dict[str, Any]:
    """The NVIDIA device plugin DaemonSet for this pool's nodes (NVIDIA's manifest, per pool).

    It is allowed what it needs and nothing else: root (UID 0) and one read-write hostPath, the
    kubelet's ``device-plugins`` folder, where it registers with the kubelet through a socket.
    No privileged mode, no capabilities, no privilege escalation, no host namespaces, a read-only
    root filesystem, the runtime's default seccomp profile and no API token: the GPUs reach it
    through the node's NVIDIA container runtime, not through privileges.
    """
    key, value, effect = parse_taint(config.node_taint)
    name = f"nvidia-device-plugin-{config.pool_name}"
    selector = {"name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": name,
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/managed-by": "mlws"},
            "annotations": checkov_skips(DEVICE_PLUGIN_NEEDS),
        },
        "spec": {
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": selector},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "nodeSelector": {AGENTPOOL_LABEL: config.pool_name},
                    "tolerations": [
                        {"key": key, "operator": "Equal", "value": value, "effect": effect},
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                    ],
                    "automountServiceAccountToken": False,
                    "hostNetwork": False,
                    "hostPID": False,
                    "hostIPC": False,
                    "securityContext": {
                        "runAsUser": 0,
                        "runAsGroup": 0,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "nvidia-device-plugin-ctr",
                            "image": f"{DEVICE_PLUGIN_IMAGE}:{config.device_plugin_version}",
                            "imagePullPolicy": "Always",
                            "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                            "resources": DEVICE_PLUGIN_RESOURCES,
                            "securityContext": {
                                "privileged": False,
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "volumeMounts": [
                                {
                                    "name": "device-plugin",
                                    "mountPath": DEVICE_PLUGIN_DIR,
                                }
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "device-plugin",
                            "hostPath": {"path": DEVICE_PLUGIN_DIR, "type": "Directory"},
                        }
                    ],
                },
            },
        },
    }


def nvidia_device_plugin_network_policy(config: GpuNodePoolConfig) -> dict[str, Any]:
    """A NetworkPolicy denying the device plugin's pods all traffic: it talks to the kubelet
    through a Unix socket in its hostPath, never over the network."""
    name = f"nvidia-device-plugin-{config.pool_name}"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/managed-by": "mlws"},
        },
        "spec": {
            "podSelector": {"matchLabels": {"name": name}},
            "policyTypes": ["Ingress", "Egress"],
        },
    }
