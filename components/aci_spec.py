"""Pure builders for the Azure Container Instances container group of an ``AciWebService``.

:func:`container_group_args` returns the keyword arguments of
``pulumi_azure_native.containerinstance.ContainerGroup`` (snake_case, the SDK's ``*ArgsDict``
shapes). Values that come from other resources (image, keys, registry password, certificate) are
passed in as they are (strings in tests, Pulumi outputs in the component) and placed, never parsed.

TLS: Azure Container Instances has no TLS of its own, so ``ssl_enabled`` adds a Caddy sidecar in the
same group. It terminates HTTPS on 443 (and redirects 80) and proxies to the scoring container on
``127.0.0.1:5001``, which is then not exposed publicly. With a certificate and key it serves those;
without, Caddy obtains a Let's Encrypt certificate for the host name on first start.

Keys: a ``secret`` volume (ACI keeps its files in memory, never in the group's environment or
properties) mounted read-only at ``SECRETS_MOUNT`` in the scoring container only; the runtime gets
just the paths (``MLWS_PRIMARY_KEY_FILE``, ...), so no key is in any container's environment.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlws.components.deployment_config import AciDeploymentConfig
from mlws.components.runtime_env import (
    SECRET_SETTINGS,
    SECRETS_MOUNT,
    runtime_env,
    secret_file_env,
    secret_file_name,
)

#: Name of the scoring container inside the group.
SCORING_CONTAINER = "scoring"
#: Name of the TLS sidecar container.
TLS_CONTAINER = "tls-proxy"
#: The TLS sidecar image (pinned).
CADDY_IMAGE = "caddy:2.8.4"
#: Where the sidecar finds its Caddyfile and certificate.
TLS_MOUNT = "/etc/caddy/mlws"
#: Secret volume holding the keys as files.
SECRETS_VOLUME = "secrets"
#: Environment variable holding the TLS host name in the sidecar (read by the Caddyfile).
TLS_SITE_ENV = "SITE_ADDRESS"
#: Sidecar resources: small and fixed, on top of the scoring container's.
TLS_CPU_CORES = AciDeploymentConfig.TLS_CPU_CORES
TLS_MEMORY_GB = AciDeploymentConfig.TLS_MEMORY_GB


@dataclass(frozen=True)
class RegistryCredentials:
    """Login to a private registry; ``password`` should be a secret output."""

    server: Any
    username: Any
    password: Any


def caddyfile(*, has_certificate: bool, upstream_port: int) -> str:
    """The sidecar's Caddyfile: HTTPS for ``$SITE_ADDRESS`` proxied to the scoring container."""
    tls = f"\ttls {TLS_MOUNT}/cert.pem {TLS_MOUNT}/key.pem\n" if has_certificate else ""
    return (
        "{\n\tadmin off\n}\n"
        f"{{${TLS_SITE_ENV}}} {{\n"
        f"{tls}"
        f"\treverse_proxy 127.0.0.1:{upstream_port}\n"
        "}\n"
    )


def _probe(config: AciDeploymentConfig, path: str, port: int, *, liveness: bool) -> dict[str, Any]:
    return {
        "http_get": {"path": path, "port": port, "scheme": "http"},
        **config.probe_timing(liveness=liveness),
    }


def _scoring_container(
    config: AciDeploymentConfig, image: Any, secrets: Mapping[str, Any]
) -> dict[str, Any]:
    port = config.runtime_port
    env = {**runtime_env(config, port=port), **secret_file_env(secrets)}
    container: dict[str, Any] = {
        "name": SCORING_CONTAINER,
        "image": image,
        "resources": {"requests": {"cpu": config.cpu_cores, "memory_in_gb": config.memory_gb}},
        "ports": [{"port": port, "protocol": "TCP"}],
        "environment_variables": [{"name": name, "value": value} for name, value in env.items()],
        "liveness_probe": _probe(config, "/live", port, liveness=True),
        "readiness_probe": _probe(config, "/ready", port, liveness=False),
    }
    if secrets:
        container["volume_mounts"] = [
            {"name": SECRETS_VOLUME, "mount_path": SECRETS_MOUNT, "read_only": True}
        ]
    return container


def secrets_volume(secrets: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``secret`` volume with one file per secret setting (values base64, as ACI wants)."""
    unknown = set(secrets) - set(SECRET_SETTINGS)
    if unknown:
        raise ValueError(f"not secret settings: {sorted(unknown)}")
    if not secrets:
        return None
    files = {
        secret_file_name(setting): secrets[setting]
        for setting in SECRET_SETTINGS
        if setting in secrets
    }
    return {"name": SECRETS_VOLUME, "secret": files}


def _tls_container(tls_site: Any) -> dict[str, Any]:
    return {
        "name": TLS_CONTAINER,
        "image": CADDY_IMAGE,
        "command": ["caddy", "run", "--config", f"{TLS_MOUNT}/Caddyfile", "--adapter", "caddyfile"],
        "resources": {"requests": {"cpu": TLS_CPU_CORES, "memory_in_gb": TLS_MEMORY_GB}},
        "ports": [{"port": 443, "protocol": "TCP"}, {"port": 80, "protocol": "TCP"}],
        "environment_variables": [{"name": TLS_SITE_ENV, "value": tls_site}],
        "volume_mounts": [{"name": "tls", "mount_path": TLS_MOUNT, "read_only": True}],
    }


def container_group_args(
    config: AciDeploymentConfig,
    *,
    image: Any,
    resource_group_name: Any,
    location: Any | None = None,
    secrets: Mapping[str, Any] | None = None,
    registry: RegistryCredentials | None = None,
    tls_site: Any | None = None,
    tls_certificate_b64: Any | None = None,
    tls_key_b64: Any | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``containerinstance.ContainerGroup`` serving ``image``.

    ``secrets`` maps secret runtime settings (``primary_key``, ...) to their base64-encoded
    values: files of a ``secret`` volume, of which only the paths enter the environment.
    With ``config.ssl_enabled``, ``tls_site`` is the host name the certificate is for and the
    optional ``tls_certificate_b64``/``tls_key_b64`` are the base64 PEM files to serve.
    """
    containers = [_scoring_container(config, image, secrets or {})]
    public_ports = [config.public_port]
    volumes: list[dict[str, Any]] = []
    keys = secrets_volume(secrets or {})
    if keys is not None:
        volumes.append(keys)
    if config.ssl_enabled:
        if tls_site is None:
            raise ValueError("ssl_enabled needs tls_site (the host name to serve)")
        has_certificate = tls_certificate_b64 is not None and tls_key_b64 is not None
        files: dict[str, Any] = {
            "Caddyfile": base64.b64encode(
                caddyfile(
                    has_certificate=has_certificate, upstream_port=config.runtime_port
                ).encode()
            ).decode()
        }
        if has_certificate:
            files["cert.pem"] = tls_certificate_b64
            files["key.pem"] = tls_key_b64
        containers.append(_tls_container(tls_site))
        volumes.append({"name": "tls", "secret": files})
        public_ports = [443, 80]
    ip_address: dict[str, Any] = {
        "type": "Public",
        "ports": [{"port": port, "protocol": "TCP"} for port in public_ports],
    }
    if config.dns_name_label:
        ip_address["dns_name_label"] = config.dns_name_label
    args: dict[str, Any] = {
        "resource_group_name": resource_group_name,
        "os_type": "Linux",
        "restart_policy": "Always",
        "sku": "Standard",
        "containers": containers,
        "ip_address": ip_address,
    }
    if location is not None:
        args["location"] = location
    if registry is not None:
        args["image_registry_credentials"] = [
            {
                "server": registry.server,
                "username": registry.username,
                "password": registry.password,
            }
        ]
    if volumes:
        args["volumes"] = volumes
    if config.tags:
        args["tags"] = dict(config.tags)
    return args


def scoring_base_url(config: AciDeploymentConfig, host: str) -> str:
    """The service's base URL for ``host`` (FQDN, IP or TLS host name)."""
    if config.ssl_enabled:
        return f"https://{host}"
    port = config.public_port
    return f"http://{host}" if port == 80 else f"http://{host}:{port}"


def aci_fqdn(dns_name_label: str, location: str) -> str:
    """The FQDN ACI gives a DNS label in ``location`` (e.g. ``West Europe`` -> ``westeurope``)."""
    region = location.replace(" ", "").lower()
    return f"{dns_name_label}.{region}.azurecontainer.io"
