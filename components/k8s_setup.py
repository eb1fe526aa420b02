"""The objects an ``AksWebService``'s workload refers to (pure: config in, dicts out).

A Namespace (only with ``create_namespace``; it enforces the ``restricted`` Pod Security
Standard), the pods' own ServiceAccount (no API token mounted), a NetworkPolicy admitting only the
scoring port, an Opaque Secret with the keys or token secret, and with TLS a ``kubernetes.io/tls``
Secret. :func:`setup_objects` gives them in the order they must exist, before
:func:`mlws.components.k8s_workload.workload_objects`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from mlws.components.deployment_config import (
    CONTAINER_PORT,
    AksDeploymentConfig,
    secret_env_names,
)
from mlws.components.k8s_metadata import (
    SELECTOR_LABEL,
    Manifest,
    metadata,
    secret_key,
    secret_name,
    tls_secret_name,
)

#: Pod Security Standard the namespaces mlws creates enforce (and audit and warn about).
POD_SECURITY_LEVEL = "restricted"
#: Labels of the cluster DNS pods (CoreDNS on AKS) the pods may query.
CLUSTER_DNS_SELECTOR = {"k8s-app": "kube-dns"}


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
        "metadata": metadata(config),
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
        "metadata": metadata(config),
        "spec": {
            "podSelector": {"matchLabels": {SELECTOR_LABEL: config.name_in_cluster}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [admit],
            "egress": _egress(config),
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
        "metadata": metadata(config, None if autoname else secret_name(config)),
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
        "metadata": metadata(config, None if autoname else tls_secret_name(config)),
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": certificate, "tls.key": key},
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
    refers to them through ``workload_objects``' ``auth_secret_name`` and ``tls_secret``.
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
