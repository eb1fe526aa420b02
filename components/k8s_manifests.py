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

Locked down by default (docs/security.md): the pods run as the image's non-root user with a
read-only root filesystem (``/tmp`` and ``writable_paths`` are emptyDirs), no privilege
escalation, every capability dropped and the runtime's default seccomp profile, under a dedicated
ServiceAccount whose token is not mounted; keys arrive as files of a read-only Secret volume (only
their paths are in the environment); a NetworkPolicy admits only the scoring port; a Namespace mlws
creates enforces the ``restricted`` Pod Security Standard.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from mlws.components.deployment_config import (
    CONTAINER_PORT,
    SECRETS_MOUNT,
    AksDeploymentConfig,
    parse_label,
    parse_taint,
    runtime_env,
    secret_env_names,
    secret_file_env,
    secret_file_name,
)
from mlws.components.dockerfile import USER_ID

Manifest = dict[str, Any]

#: Label that ties the Deployment, its pods, the Service and the PDB together.
SELECTOR_LABEL = "mlws.io/service"
#: Deployment annotation holding the service's tags as JSON (tag values need not be label-safe).
TAGS_ANNOTATION = "mlws.io/tags"
#: Extended resource name of NVIDIA GPUs (from the NVIDIA device plugin).
GPU_RESOURCE = "nvidia.com/gpu"
#: Name of the scoring container.
CONTAINER_NAME = "scoring"
#: Pod Security Standard the namespaces mlws creates enforce (and audit and warn about).
POD_SECURITY_LEVEL = "restricted"
#: The writable scratch folder (the images set ``HOME`` to it).
TMP_DIR = "/tmp"  # noqa: S108 - an emptyDir of the pod, not the host's /tmp
#: Volume holding the keys Secret's files.
SECRETS_VOLUME = "secrets"
#: Mode of the secret files: readable by the pod's group (``fsGroup``) only.
SECRET_FILE_MODE = 0o440
#: Labels of the cluster DNS pods (CoreDNS on AKS) the pods may query.
CLUSTER_DNS_SELECTOR = {"k8s-app": "kube-dns"}


def secret_key(setting: str) -> str:
    """Key in the Secret for runtime setting ``setting`` (``primary_key``: ``primary-key``)."""
    return secret_file_name(setting)


def run_as_user(config: AksDeploymentConfig) -> int:
    """The UID (and GID) the scoring pods run as: ``run_as_user`` or the mlws image's user."""
    return config.run_as_user or USER_ID


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


def _mounted_secrets(
    config: AksDeploymentConfig, secret_settings: Collection[str] | None
) -> list[str]:
    """The secret settings the keys Secret holds (and the pod mounts), in render order."""
    return [
        setting
        for setting in secret_env_names(config)
        if secret_settings is None or setting in secret_settings
    ]


def _env(config: AksDeploymentConfig, mounted: Collection[str]) -> list[dict[str, Any]]:
    """Plain runtime settings plus the paths (never the values) of the mounted secret files."""
    env = {**runtime_env(config, port=CONTAINER_PORT), **secret_file_env(mounted)}
    return [{"name": name, "value": value} for name, value in env.items()]


def _empty_dir_name(path: str) -> str:
    return "tmp" if path == TMP_DIR else "writable" + path.replace("/", "-").replace(".", "-")


def _volumes(
    config: AksDeploymentConfig, auth_secret_name: Any, mounted: Collection[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pod volumes and container mounts: emptyDirs where the runtime writes, the secret files."""
    size = memory_quantity(config.tmp_size_gb)
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for path in (TMP_DIR, *config.writable_paths):
        name = _empty_dir_name(path)
        volumes.append({"name": name, "emptyDir": {"sizeLimit": size}})
        mounts.append({"name": name, "mountPath": path})
    if mounted:
        volumes.append(
            {
                "name": SECRETS_VOLUME,
                "secret": {
                    "secretName": auth_secret_name,
                    "defaultMode": SECRET_FILE_MODE,
                    "items": [
                        {"key": secret_key(setting), "path": secret_file_name(setting)}
                        for setting in mounted
                    ],
                },
            }
        )
        mounts.append({"name": SECRETS_VOLUME, "mountPath": SECRETS_MOUNT, "readOnly": True})
    return volumes, mounts


def _pod_security(config: AksDeploymentConfig) -> dict[str, Any]:
    uid = run_as_user(config)
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security(config: AksDeploymentConfig) -> dict[str, Any]:
    uid = run_as_user(config)
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


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
    e.g. only ``primary_key`` when no secondary key is given; they are mounted read-only as files
    under ``SECRETS_MOUNT`` and only their paths enter the environment. Pulumi gives the keys
    Secret a fresh name whenever a key rotates (Secrets are replaced, not mutated), so the
    Deployment rolls its pods onto the new key without a secret in its spec.
    """
    selector = {SELECTOR_LABEL: config.name_in_cluster}
    pod_metadata: dict[str, Any] = {"labels": labels(config)}
    mounted = _mounted_secrets(config, secret_settings)
    volumes, mounts = _volumes(config, auth_secret_name or secret_name(config), mounted)
    container = {
        "name": CONTAINER_NAME,
        "image": image,
        "imagePullPolicy": "Always",
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": _env(config, mounted),
        "resources": _resources(config),
        "livenessProbe": _probe(config, "/live", liveness=True),
        "readinessProbe": _probe(config, "/ready", liveness=False),
        "securityContext": _container_security(config),
        "volumeMounts": mounts,
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": config.name_in_cluster,
        "automountServiceAccountToken": False,
        "securityContext": _pod_security(config),
        "containers": [container],
        "volumes": volumes,
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
    pod_security = {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", POD_SECURITY_LEVEL), ("-version", "latest"))
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": config.namespace,
            "labels": {"app.kubernetes.io/managed-by": "mlws", **pod_security},
        },
    }


def service_account(config: AksDeploymentConfig) -> Manifest:
    """The pods' own ServiceAccount, with no API token mounted (the runtime never calls the API)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(config),
        "automountServiceAccountToken": False,
    }


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (80 if parts.scheme == "http" else 443)


def _egress(config: AksDeploymentConfig) -> list[dict[str, Any]]:
    dns = {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": CLUSTER_DNS_SELECTOR},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    rules: list[dict[str, Any]] = [dns]
    issuer_urls = (
        [config.token_jwks_url, config.token_issuer] if config.auth_mode == "token" else []
    )
    issuer_ports = sorted({_url_port(url) for url in issuer_urls if url})
    if issuer_ports:
        rules.append(
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}],
                "ports": [{"protocol": "TCP", "port": port} for port in issuer_ports],
            }
        )
    if config.egress_cidrs:
        rules.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in config.egress_cidrs]})
    return rules


def network_policy(
    config: AksDeploymentConfig, *, admit_namespaces: Sequence[str] | None = None
) -> Manifest | None:
    """Traffic in only to the scoring port, out only to DNS, the token issuer and ``egress_cidrs``.

    Behind a LoadBalancer any source may reach the port (the load balancer keeps client
    addresses); behind an Ingress only the ingress controller's namespace and
    ``allowed_ingress_namespaces`` may; ``admit_namespaces`` (e.g. a Gateway's) replaces those.
    ``None`` with ``network_policy_enabled`` off.
    """
    if not config.network_policy_enabled:
        return None
    admit: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": CONTAINER_PORT}]}
    if admit_namespaces is not None or config.ssl_enabled:
        namespaces = (
            list(admit_namespaces)
            if admit_namespaces is not None
            else [config.ingress_controller_namespace, *config.allowed_ingress_namespaces]
        )
        admit["from"] = [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
            for namespace in dict.fromkeys(namespaces)
        ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(config),
        "spec": {
            "podSelector": {"matchLabels": {SELECTOR_LABEL: config.name_in_cluster}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [admit],
            "egress": _egress(config),
        },
    }


def service(config: AksDeploymentConfig, *, cluster_ip: bool = False) -> Manifest:
    """The Service: a LoadBalancer on port 80, or ClusterIP when an Ingress (or, with
    ``cluster_ip``, a Gateway) fronts it."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(config),
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


def setup_objects(
    config: AksDeploymentConfig,
    *,
    secret_values: Mapping[str, Any] | None = None,
    tls_certificate: Any | None = None,
    tls_key: Any | None = None,
    autoname: bool = False,
) -> dict[str, Manifest]:
    """The objects the workload refers to, by role: Namespace, ServiceAccount, NetworkPolicy, keys
    Secret and TLS Secret (those the config asks for), in the order they must exist.

    ``autoname`` leaves the Secrets' names to Pulumi (see :func:`auth_secret`); the workload then
    refers to them through :func:`workload_objects`' ``auth_secret_name`` and ``tls_secret``.
    """
    objects: dict[str, Manifest | None] = {
        "namespace": namespace(config),
        "serviceaccount": service_account(config),
        "networkpolicy": network_policy(config),
        "auth": auth_secret(config, secret_values or {}, autoname=autoname),
    }
    if config.ssl_enabled and not config.tls_secret_name:
        if tls_certificate is None or tls_key is None:
            raise ValueError("ssl_enabled without tls_secret_name needs a certificate and key")
        objects["tls"] = tls_secret(
            config, certificate=tls_certificate, key=tls_key, autoname=autoname
        )
    return {role: manifest for role, manifest in objects.items() if manifest is not None}


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
    Secrets of :func:`setup_objects` (default: their fixed names); ``secret_settings``: see
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


def manifests(
    config: AksDeploymentConfig,
    *,
    image: Any,
    secret_values: Mapping[str, Any] | None = None,
    tls_certificate: Any | None = None,
    tls_key: Any | None = None,
) -> dict[str, Manifest]:
    """Every object of the service by role, with fixed names (for rendering and validation).

    ``AksWebService`` registers the same two stages, :func:`setup_objects` then
    :func:`workload_objects`, with the Secrets autonamed by Pulumi.
    """
    return {
        **setup_objects(
            config, secret_values=secret_values, tls_certificate=tls_certificate, tls_key=tls_key
        ),
        **workload_objects(config, image=image, secret_settings=list(secret_values or {})),
    }
