"""The pod template of an ``AksWebService``'s Deployment (pure: config in, dicts out).

The scoring container with requests/limits (incl. ``nvidia.com/gpu``), liveness ``/live`` and
readiness ``/ready`` probes, the runtime's settings as environment (only the paths of the secret
files, never their values), the GPU pool's toleration and node selector, and the lock-down of
docs/security.md: the image's non-root user, a read-only root filesystem (``/tmp`` and
``writable_paths`` are emptyDirs), no privilege escalation, every capability dropped, the runtime's
default seccomp profile, no ServiceAccount token, keys as files of a read-only Secret volume.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from pydantic.alias_generators import to_camel

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
from mlws.components.k8s_metadata import labels, secret_key

#: Extended resource name of NVIDIA GPUs (from the NVIDIA device plugin).
GPU_RESOURCE = "nvidia.com/gpu"
#: Name of the scoring container.
CONTAINER_NAME = "scoring"
#: The writable scratch folder (the images set ``HOME`` to it).
TMP_DIR = "/tmp"  # noqa: S108 - an emptyDir of the pod, not the host's /tmp
#: Volume holding the keys Secret's files.
SECRETS_VOLUME = "secrets"
#: Mode of the secret files: readable by the pod's group (``fsGroup``) only.
SECRET_FILE_MODE = 0o440


def run_as_user(config: AksDeploymentConfig) -> int:
    """The UID (and GID) the scoring pods run as: ``run_as_user`` or the mlws image's user."""
    return config.run_as_user or USER_ID


def cpu_quantity(cores: float) -> str:
    """Kubernetes CPU quantity in millicores (at least ``1m``)."""
    return f"{max(1, round(cores * 1000))}m"


def memory_quantity(gib: float) -> str:
    """Kubernetes memory quantity in MiB (at least ``1Mi``)."""
    return f"{max(1, round(gib * 1024))}Mi"


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
    timing = config.probe_timing(liveness=liveness)
    return {
        "httpGet": {"path": path, "port": "http"},
        **{to_camel(field): value for field, value in timing.items()},
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


def _user(config: AksDeploymentConfig) -> dict[str, Any]:
    uid = run_as_user(config)
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid}


def _pod_security(config: AksDeploymentConfig) -> dict[str, Any]:
    return {
        **_user(config),
        "fsGroup": run_as_user(config),
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security(config: AksDeploymentConfig) -> dict[str, Any]:
    # Repeats the pod's user on purpose: checkers of the restricted standard read each container.
    return {
        **_user(config),
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


def pod_template(
    config: AksDeploymentConfig,
    *,
    image: Any,
    auth_secret_name: Any,
    secret_settings: Collection[str] | None = None,
) -> dict[str, Any]:
    """The pod template (``metadata`` and ``spec``) running ``image`` with the ``secret_settings``
    of the Secret ``auth_secret_name`` mounted as files (default: every one the auth mode uses)."""
    mounted = _mounted_secrets(config, secret_settings)
    volumes, mounts = _volumes(config, auth_secret_name, mounted)
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
    return {"metadata": {"labels": labels(config)}, "spec": pod_spec}
