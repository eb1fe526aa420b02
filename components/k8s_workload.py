"""The workload of an ``AksWebService`` (pure: config in, dicts out).

A Deployment (the pod template of :mod:`mlws.components.k8s_pod`, rolling update with
``maxUnavailable`` 0), a Service (LoadBalancer, or ClusterIP behind an Ingress or a Gateway), a
HorizontalPodAutoscaler (``autoscaling/v2``, unless the replica count is fixed), a
PodDisruptionBudget, and with TLS an Ingress. They refer to the objects of
:mod:`mlws.components.k8s_setup` by name.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from mlws.components.deployment_config import AksDeploymentConfig
from mlws.components.k8s_metadata import (
    SELECTOR_LABEL,
    Manifest,
    metadata,
    secret_name,
    tls_secret_name,
)
from mlws.components.k8s_pod import pod_template

#: Deployment annotation holding the service's tags as JSON (tag values need not be label-safe).
TAGS_ANNOTATION = "mlws.io/tags"


def deployment(
    config: AksDeploymentConfig,
    *,
    image: Any,
    auth_secret_name: Any = None,
    secret_settings: Collection[str] | None = None,
) -> Manifest:
    """The Deployment running ``image``, reading keys from the Secret ``auth_secret_name``.

    ``secret_settings`` are the secrets the Secret holds (default: every one the auth mode uses),
    e.g. only ``primary_key`` when no secondary key is given; they are mounted read-only as files
    under ``SECRETS_MOUNT`` and only their paths enter the environment. Pulumi gives the keys
    Secret a fresh name whenever a key rotates (Secrets are replaced, not mutated), so the
    Deployment rolls its pods onto the new key without a secret in its spec.
    """
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {SELECTOR_LABEL: config.name_in_cluster}},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": pod_template(
            config,
            image=image,
            auth_secret_name=auth_secret_name or secret_name(config),
            secret_settings=secret_settings,
        ),
    }
    if not config.autoscale:
        spec["replicas"] = config.num_replicas or 1
    result = metadata(config)
    if config.tags:
        result["annotations"] = {TAGS_ANNOTATION: json.dumps(config.tags, sort_keys=True)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": result, "spec": spec}


def service(config: AksDeploymentConfig, *, cluster_ip: bool = False) -> Manifest:
    """The Service: a LoadBalancer on port 80, or ClusterIP when an Ingress (or, with
    ``cluster_ip``, a Gateway) fronts it."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(config),
        "spec": {
            "type": "ClusterIP" if config.ssl_enabled or cluster_ip else "LoadBalancer",
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
        "metadata": metadata(config),
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
        "metadata": metadata(config),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {SELECTOR_LABEL: config.name_in_cluster}},
        },
    }


def ingress(config: AksDeploymentConfig, *, tls_secret: Any = None) -> Manifest | None:
    """Ingress with TLS for ``ssl_cname`` to the Service, or ``None`` without ``ssl_enabled``."""
    if not config.ssl_enabled or not config.ssl_cname:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(config),
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


def workload_objects(
    config: AksDeploymentConfig,
    *,
    image: Any,
    auth_secret_name: Any = None,
    tls_secret: Any = None,
    secret_settings: Collection[str] | None = None,
    cluster_ip: bool = False,
) -> dict[str, Manifest]:
    """The workload by role: Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget and
    Ingress (those the config asks for). ``auth_secret_name``/``tls_secret``: the names of the
    Secrets of ``setup_objects`` (default: their fixed names); ``secret_settings``: see
    :func:`deployment`; ``cluster_ip``: see :func:`service`."""
    objects: dict[str, Manifest | None] = {
        "deployment": deployment(
            config,
            image=image,
            auth_secret_name=auth_secret_name,
            secret_settings=secret_settings,
        ),
        "service": service(config, cluster_ip=cluster_ip),
        "hpa": horizontal_pod_autoscaler(config),
        "pdb": pod_disruption_budget(config),
        "ingress": ingress(config, tls_secret=tls_secret),
    }
    return {role: manifest for role, manifest in objects.items() if manifest is not None}
