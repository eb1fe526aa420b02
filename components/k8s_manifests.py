"""Every Kubernetes object of an ``AksWebService``, with fixed names (for rendering and validation).

The objects are built, each by a pure function taking the validated :class:`AksDeploymentConfig`
and returning one complete manifest (``apiVersion``, ``kind``, ``metadata``, ``spec``) as a dict in
the Kubernetes API's own camelCase, so it can be validated against the Kubernetes OpenAPI schema and
passed to pulumi-kubernetes as is; values that come from other resources (image, keys, checksums)
are placed, never parsed. They live by seam:

- :mod:`mlws.components.k8s_metadata`: labels, metadata and object names every object shares;
- :mod:`mlws.components.k8s_setup`: what the workload refers to (Namespace, ServiceAccount,
  NetworkPolicy, the keys and TLS Secrets);
- :mod:`mlws.components.k8s_workload`: Deployment, Service, HorizontalPodAutoscaler,
  PodDisruptionBudget and Ingress;
- :mod:`mlws.components.k8s_pod`: the Deployment's pod template (container, probes, resources,
  volumes, security contexts, GPU placement).

Locked down by default (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlws.components.deployment_config import AksDeploymentConfig
from mlws.components.k8s_metadata import Manifest
from mlws.components.k8s_setup import setup_objects
from mlws.components.k8s_workload import workload_objects


def manifests(
    config: AksDeploymentConfig,
    *,
    image: Any,
    secret_values: Mapping[str, Any] | None = None,
    tls_certificate: Any | None = None,
    tls_key: Any | None = None,
) -> dict[str, Manifest]:
    """Every object of the service by role, with fixed names (for rendering and validation).

    ``AksWebService`` registers the same two stages, ``setup_objects`` then ``workload_objects``,
    with the Secrets autonamed by Pulumi.
    """
    return {
        **setup_objects(
            config, secret_values=secret_values, tls_certificate=tls_certificate, tls_key=tls_key
        ),
        **workload_objects(config, image=image, secret_settings=list(secret_values or {})),
    }
