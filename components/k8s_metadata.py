"""What every Kubernetes object of an ``AksWebService`` carries: its labels, metadata and names.

Pure (config in, dicts out), shared by :mod:`mlws.components.k8s_setup` and
:mod:`mlws.components.k8s_workload`.
"""

from __future__ import annotations

from typing import Any

from mlws.components.deployment_config import AksDeploymentConfig, secret_file_name

Manifest = dict[str, Any]

#: Label that ties the Deployment, its pods, the Service and the PDB together.
SELECTOR_LABEL = "mlws.io/service"


def labels(config: AksDeploymentConfig) -> dict[str, str]:
    """Labels on every object of the service."""
    return {
        SELECTOR_LABEL: config.name_in_cluster,
        "app.kubernetes.io/name": config.name_in_cluster,
        "app.kubernetes.io/managed-by": "mlws",
    }


def metadata(config: AksDeploymentConfig, name: str | None = "") -> dict[str, Any]:
    """Metadata named ``name`` (default: the service name; ``None``: left to Pulumi autonaming)."""
    result: dict[str, Any] = {"namespace": config.namespace, "labels": labels(config)}
    if name is not None:
        result["name"] = name or config.name_in_cluster
    return result


def secret_key(setting: str) -> str:
    """Key in the Secret for runtime setting ``setting`` (``primary_key``: ``primary-key``)."""
    return secret_file_name(setting)


def secret_name(config: AksDeploymentConfig) -> str:
    """Fixed name of the keys Secret when rendered standalone (Pulumi autonames it instead)."""
    return f"{config.name_in_cluster}-auth"


def tls_secret_name(config: AksDeploymentConfig) -> str:
    """Name of the TLS Secret: the given one, or a fixed name when rendered standalone."""
    return config.tls_secret_name or f"{config.name_in_cluster}-tls"
