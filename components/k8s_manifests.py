"""Pure builders for the Kubernetes objects of an ``AksWebService``.

Each function takes the validated :class:`AksDeploymentConfig` and returns one complete manifest
(``apiVersion``, ``kind``, ``metadata``, ``spec``) as a dict, in the Kubernetes API's own camelCase,
so it can be validated against the Kubernetes OpenAPI schema and passed to pulumi-kubernetes as is.
Values that come from other resources (image, keys, checksums) are placed, never parsed.

Objects: a Deployment (requests/limits incl. ``nvidia.com/gpu``, GPU pool toleration and node
selector, liveness ``/live`` and readiness ``/ready`` probes, rolling update with ``maxUnavailable``
0), a Service (LoadBalancer, or ClusterIP behind an Ingress), a HorizontalPodAutoscaler
(``autoscaling/v2``), a PodDisruptionBudget, an Opaque Secret for keys/token secret, and with TLS an
Ingress (plus a ``kubernetes.io/tls`` Secret when a certificate is given).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from typing import Any

from mlws.components.deployment_config import (
    CONTAINER_PORT,
    AksDeploymentConfig,
    parse_label,
    parse_taint,
    runtime_env,
    secret_env_names,
)

Manifest = dict[str, Any]

#: Label that ties the Deployment, its pods, the Service and the PDB together.
SELECTOR_LABEL = "mlws.io/service"
#: Deployment annotation holding the service's tags as JSON (tag values need not be label-safe).
TAGS_ANNOTATION = "mlws.io/tags"
#: Extended resource name of NVIDIA GPUs (from the NVIDIA device plugin).
GPU_RESOURCE = "nvidia.com/gpu"
#: Name of the scoring container.
CONTAINER_NAME = "scoring"


def secret_key(setting: str) -> str:
    """Key in the Secret for runtime setting ``setting`` (``primary_key``: ``primary-key``)."""
    return setting.replace("_", "-")


def labels(config: AksDeploymentConfig) -> dict[str, str]:
    """Labels on every object of the service."""
    return {
        SELECTOR_LABEL: config.name_in_cluster,
        "app.kubernetes.io/name": config.name_in_cluster,
        "app.kubernetes.io/managed-by": "mlws",
    }


def _metadata(config: AksDeploymentConfig, name: str | None = "") -> dict[str, Any]:
    """Metadata named ``name`` (default: the service name; ``None``: left to Pulumi autonaming)."""
    metadata: dict[str, Any] = {"namespace": config.namespace, "labels": labels(config)}
    if name is not None:
        metadata["name"] = name or config.name_in_cluster
    return metadata


def cpu_quantity(cores: float) -> str:
    """Kubernetes CPU quantity in millicores (at least ``1m``)."""
    return f"{max(1, round(cores * 1000))}m"


def memory_quantity(gib: float) -> str:
    """Kubernetes memory quantity in MiB (at least ``1Mi``)."""
    return f"{max(1, round(gib * 1024))}Mi"


def secret_name(config: AksDeploymentConfig) -> str:
    """Fixed name of the keys Secret when rendered standalone (Pulumi autonames it instead)."""
    return f"{config.name_in_cluster}-auth"


def tls_secret_name(config: AksDeploymentConfig) -> str:
    """Name of the TLS Secret: the given one, or a fixed name when rendered standalone."""
    return config.tls_secret_name or f"{config.name_in_cluster}-tls"


def _resources(config: AksDeploymentConfig) -> dict[str, Any]:
    requests: dict[str, Any] = {
        "cpu": cpu_quantity(config.cpu_cores),
        "memory": memory_quantity(config.memory_gb),
    }
    limits: dict[str, Any] = {
        "cpu": cpu_quantity(config.cpu_cores_limit or config.cpu_cores),
        "memory": memory_quantity(config.memory_gb_limit or config.memory_gb),
    }
    if config.gpu_cores:
        limits[GPU_RESOURCE] = str(config.gpu_cores)
    return {"requests": requests, "limits": limits}


def _probe(config: AksDeploymentConfig, path: str, *, liveness: bool) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": config.initial_delay_seconds if liveness else 0,
        "periodSeconds": config.period_seconds,
        "timeoutSeconds": config.timeout_seconds,
        # Kubernetes requires successThreshold 1 on liveness probes.
        "successThreshold": 1 if liveness else config.success_threshold,
        "failureThreshold": config.failure_threshold,
    }


def _env(
    config: AksDeploymentConfig, auth_secret_name: Any, secret_settings: Collection[str] | None
) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": name, "value": value}
        for name, value in runtime_env(config, port=CONTAINER_PORT).items()
    ]
    env += [
        {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": auth_secret_name, "key": secret_key(setting)}},
        }
        for setting, name in secret_env_names(config).items()
        if secret_settings is None or setting in secret_settings
    ]
    return env


def _gpu_placement(config: AksDeploymentConfig) -> dict[str, Any]:
    if not config.gpu_cores:
        return {}
    key, value, effect = parse_taint(config.gpu_toleration)
    label_key, label_value = parse_label(config.gpu_node_selector)
    return {
        "tolerations": [
            {"key": key, "operator": "Equal", "value": value, "effect": effect},
            {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
        ],
        "nodeSelector": {label_key: label_value},
    }


def deployment(
    config: AksDeploymentConfig,
    *,
    image: Any,
    auth_secret_name: Any = None,
    secret_settings: Collection[str] | None = None,
) -> Manifest:
    """The Deployment running ``image``, reading keys from the Secret ``auth_secret_name``.

    ``secret_settings`` are the secrets the Secret holds (default: every one the auth mode uses),
    e.g. only ``primary_key`` when no secondary key is given. Pulumi gives the keys Secret a fresh
    name whenever a key rotates (Secrets are replaced, not mutated), so the Deployment rolls its
    pods onto the new key without a secret in its spec.
    """
    selector = {SELECTOR_LABEL: config.name_in_cluster}
    pod_metadata: dict[str, Any] = {"labels": labels(config)}
    container = {
        "name": CONTAINER_NAME,
        "image": image,
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": _env(config, auth_secret_name or secret_name(config), secret_settings),
        "resources": _resources(config),
        "livenessProbe": _probe(config, "/live", liveness=True),
        "readinessProbe": _probe(config, "/ready", liveness=False),
    }
    pod_spec: dict[str, Any] = {
        "containers": [container],
        # Let in-flight scoring calls finish on scale-down and rollouts.
        "terminationGracePeriodSeconds": math.ceil(config.scoring_timeout_ms / 1000) + 5,
        **_gpu_placement(config),
    }
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": {"metadata": pod_metadata, "spec": pod_spec},
    }
    if not config.autoscale:
        spec["replicas"] = config.num_replicas or 1
    metadata = _metadata(config)
    if config.tags:
        metadata["annotations"] = {TAGS_ANNOTATION: json.dumps(config.tags, sort_keys=True)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def namespace(config: AksDeploymentConfig) -> Manifest | None:
    """The Namespace, when ``create_namespace`` asks for it."""
    if not config.create_namespace:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": config.namespace, "labels": {"app.kubernetes.io/managed-by": "mlws"}},
    }


def service(config: AksDeploymentConfig) -> Manifest:
    """The Service: a LoadBalancer on port 80, or ClusterIP when an Ingress fronts it."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(config),
        "spec": {
            "type": "ClusterIP" if config.ssl_enabled else "LoadBalancer",
            "selector": {SELECTOR_LABEL: config.name_in_cluster},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def horizontal_pod_autoscaler(config: AksDeploymentConfig) -> Manifest | None:
    """The ``autoscaling/v2`` HPA on CPU utilisation, or ``None`` with a fixed replica count."""
    if not config.autoscale:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(config),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": config.name_in_cluster,
            },
            "minReplicas": config.autoscale_min_replicas,
            "maxReplicas": config.autoscale_max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": config.autoscale_target_utilization,
                        },
                    },
                }
            ],
        },
    }


def pod_disruption_budget(config: AksDeploymentConfig) -> Manifest:
    """At most one replica evicted at a time (never blocks a node drain, unlike minAvailable)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(config),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {SELECTOR_LABEL: config.name_in_cluster}},
        },
    }


def auth_secret(
    config: AksDeploymentConfig, values: Mapping[str, Any], *, autoname: bool = False
) -> Manifest | None:
    """Opaque Secret with the keys or token secret (``values`` by runtime setting), or ``None``.

    ``autoname`` leaves ``metadata.name`` out so Pulumi names (and on change replaces) it.
    """
    needed = [setting for setting in secret_env_names(config) if setting in values]
    if not needed:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(config, None if autoname else secret_name(config)),
        "type": "Opaque",
        "stringData": {secret_key(setting): values[setting] for setting in needed},
    }


def tls_secret(
    config: AksDeploymentConfig, *, certificate: Any, key: Any, autoname: bool = False
) -> Manifest:
    """A ``kubernetes.io/tls`` Secret from PEM certificate and key (``autoname``: see above)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(config, None if autoname else tls_secret_name(config)),
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": certificate, "tls.key": key},
    }


def ingress(config: AksDeploymentConfig, *, tls_secret: Any = None) -> Manifest | None:
    """Ingress with TLS for ``ssl_cname`` to the Service, or ``None`` without ``ssl_enabled``."""
    if not config.ssl_enabled or not config.ssl_cname:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(config),
        "spec": {
            "ingressClassName": config.ingress_class_name,
            "tls": [
                {"hosts": [config.ssl_cname], "secretName": tls_secret or tls_secret_name(config)}
            ],
            "rules": [
                {
                    "host": config.ssl_cname,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {
                                        "name": config.name_in_cluster,
                                        "port": {"name": "http"},
                                    }
                                },
                            }
                        ]
                    },
                }
            ],
        },
    }


def manifests(
    config: AksDeploymentConfig,
    *,
    image: Any,
    secret_values: Mapping[str, Any] | None = None,
    tls_certificate: Any | None = None,
    tls_key: Any | None = None,
) -> dict[str, Manifest]:
    """Every object of the service by role, with fixed names (for rendering and validation).

    ``AksWebService`` builds the same objects one by one so the Secrets are autonamed by Pulumi.
    """
    objects: dict[str, Manifest | None] = {
        "namespace": namespace(config),
        "auth": auth_secret(config, secret_values or {}),
        "deployment": deployment(config, image=image, secret_settings=list(secret_values or {})),
        "service": service(config),
        "hpa": horizontal_pod_autoscaler(config),
        "pdb": pod_disruption_budget(config),
        "ingress": ingress(config),
    }
    if config.ssl_enabled and not config.tls_secret_name:
        if tls_certificate is None or tls_key is None:
            raise ValueError("ssl_enabled without tls_secret_name needs a certificate and key")
        objects["tls"] = tls_secret(config, certificate=tls_certificate, key=tls_key)
    return {role: manifest for role, manifest in objects.items() if manifest is not None}
