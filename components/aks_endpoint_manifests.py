"""Pure builders for the Kubernetes objects of an ``AksEndpoint`` (config in, dicts out).

Each deployment gets the objects an ``AksWebService`` has, built by the k8s_* builders from
that deployment's ``AksDeploymentConfig`` (named ``<endpoint>-<deployment>``): ServiceAccount,
NetworkPolicy (admitting only the Gateway's namespace), Deployment, a ClusterIP Service,
HorizontalPodAutoscaler and PodDisruptionBudget. The endpoint has one keys Secret every
deployment mounts, optionally its Namespace and its Gateway, and the Gateway API ``HTTPRoute``
that splits traffic (docs/rollouts.md):

- one rule per deployment matching the ``azureml-model-deployment`` header, so a caller can pin a
  request to one deployment (``mlws invoke --deployment``; more header matches win over fewer);
- the default rule, whose ``backendRefs`` carry the ``traffic`` percents as weights and, with
  ``mirror_traffic``, a ``RequestMirror`` filter copying that percent of requests to the mirror
  deployment (the Gateway drops the mirror's answers).

So a traffic shift changes the HTTPRoute alone, and adding or removing a deployment adds or
removes only that deployment's objects (and its rule and backend in the HTTPRoute).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from mlws.components import k8s_setup
from mlws.components.aks_endpoint_config import DEPLOYMENT_HEADER, AksEndpointConfig
from mlws.components.k8s_metadata import Manifest, secret_name
from mlws.components.k8s_workload import workload_objects

#: Gateway API group and the version of its standard channel mlws writes.
GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
#: Label on every object of an endpoint, naming it (``mlws logs`` selects the pods by it).
ENDPOINT_LABEL = "mlws.io/endpoint"
#: Label on a deployment's objects, naming the deployment.
DEPLOYMENT_LABEL = "mlws.io/deployment"
#: Port of each deployment's Service (the scoring port behind it is named ``http``).
SERVICE_PORT = 80
#: Name of the HTTPRoute's weighted rule.
TRAFFIC_RULE = "traffic"


def endpoint_labels(config: AksEndpointConfig) -> dict[str, str]:
    """Labels on every object of the endpoint."""
    return {ENDPOINT_LABEL: config.endpoint_name}


def _labelled(manifest: Manifest, extra: Mapping[str, str]) -> Manifest:
    """``manifest`` with ``extra`` labels on its metadata and (for a Deployment) its pods."""
    manifest["metadata"]["labels"] = {**manifest["metadata"].get("labels", {}), **extra}
    template = manifest.get("spec", {}).get("template")
    if template is not None:
        template["metadata"]["labels"] = {**template["metadata"]["labels"], **extra}
    return manifest


def gateway_namespaces(config: AksEndpointConfig) -> list[str]:
    """Namespaces admitted to the scoring port: the Gateway's and ``allowed_ingress_namespaces``."""
    _, namespace = config.gateway_ref
    return list(dict.fromkeys([namespace, *config.settings.allowed_ingress_namespaces]))


def setup_objects(
    config: AksEndpointConfig, *, secret_values: Mapping[str, Any], autoname: bool = False
) -> dict[str, Manifest]:
    """The endpoint's shared objects by role: Namespace (with ``create_namespace``) and the keys
    Secret every deployment mounts (``autoname``: named by Pulumi, see ``auth_secret``)."""
    objects = {
        "namespace": k8s_setup.namespace(config.settings),
        "auth": k8s_setup.auth_secret(config.settings, secret_values, autoname=autoname),
    }
    return {
        role: _labelled(manifest, endpoint_labels(config))
        for role, manifest in objects.items()
        if manifest is not None
    }


def deployment_objects(
    config: AksEndpointConfig,
    deployment: str,
    *,
    image: Any,
    auth_secret_name: Any = None,
    secret_settings: Collection[str] | None = None,
) -> dict[str, Manifest]:
    """One deployment's objects by role: serviceaccount, networkpolicy, deployment, service, hpa,
    pdb (those its config asks for), named ``<endpoint>-<deployment>``."""
    dep = config.deployments[deployment]
    objects: dict[str, Manifest | None] = {
        "serviceaccount": k8s_setup.service_account(dep),
        "networkpolicy": k8s_setup.network_policy(dep, admit_namespaces=gateway_namespaces(config)),
        **workload_objects(
            dep,
            image=image,
            auth_secret_name=auth_secret_name or secret_name(config.settings),
            secret_settings=secret_settings,
            cluster_ip=True,
        ),
    }
    extra = {**endpoint_labels(config), DEPLOYMENT_LABEL: deployment}
    return {
        role: _labelled(manifest, extra)
        for role, manifest in objects.items()
        if manifest is not None
    }


def _backend(config: AksEndpointConfig, deployment: str) -> dict[str, Any]:
    return {"name": config.service_name(deployment), "port": SERVICE_PORT}


def _metadata(config: AksEndpointConfig) -> dict[str, Any]:
    return {
        "name": config.endpoint_name,
        "namespace": config.settings.namespace,
        "labels": {**endpoint_labels(config), "app.kubernetes.io/managed-by": "mlws"},
    }


def http_route(config: AksEndpointConfig) -> Manifest:
    """The HTTPRoute: a header rule per deployment, then the weighted (and mirrored) default."""
    gateway, gateway_namespace = config.gateway_ref
    parent: dict[str, Any] = {"name": gateway}
    if gateway_namespace != config.settings.namespace:
        parent["namespace"] = gateway_namespace
    everything = {"path": {"type": "PathPrefix", "value": "/"}}
    rules: list[dict[str, Any]] = [
        {
            "name": f"deployment-{name}",
            "matches": [
                {
                    **everything,
                    "headers": [{"type": "Exact", "name": DEPLOYMENT_HEADER, "value": name}],
                }
            ],
            "backendRefs": [_backend(config, name)],
        }
        for name in sorted(config.deployments)
    ]
    weighted: dict[str, Any] = {
        "name": TRAFFIC_RULE,
        "matches": [everything],
        "backendRefs": [
            {**_backend(config, name), "weight": weight}
            for name, weight in config.live_traffic.items()
        ],
    }
    mirrors = [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": _backend(config, name), "percent": percent},
        }
        for name, percent in sorted(config.mirror_traffic.items())
    ]
    if mirrors:
        weighted["filters"] = mirrors
    rules.append(weighted)
    spec: dict[str, Any] = {"parentRefs": [parent], "rules": rules}
    if config.hostname:
        spec["hostnames"] = [config.hostname]
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": _metadata(config),
        "spec": spec,
    }


def gateway(config: AksEndpointConfig) -> Manifest | None:
    """The endpoint's own Gateway (with ``gateway_class_name``): HTTP on port 80, or HTTPS on 443
    with ``tls_secret_name``, admitting routes of its namespace only; ``None`` otherwise."""
    if config.gateway_class_name is None:
        return None
    listener: dict[str, Any] = {"name": "http", "protocol": "HTTP", "port": 80}
    if config.tls_secret_name:
        listener = {
            "name": "https",
            "protocol": "HTTPS",
            "port": 443,
            "tls": {
                "mode": "Terminate",
                "certificateRefs": [{"kind": "Secret", "name": config.tls_secret_name}],
            },
        }
    if config.hostname:
        listener["hostname"] = config.hostname
    listener["allowedRoutes"] = {"namespaces": {"from": "Same"}}
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "Gateway",
        "metadata": _metadata(config),
        "spec": {"gatewayClassName": config.gateway_class_name, "listeners": [listener]},
    }


def routing_objects(config: AksEndpointConfig) -> dict[str, Manifest]:
    """The endpoint's routing by role: its Gateway (if it creates one) and its HTTPRoute."""
    objects = {"gateway": gateway(config), "route": http_route(config)}
    return {role: manifest for role, manifest in objects.items() if manifest is not None}


def manifests(
    config: AksEndpointConfig,
    *,
    images: Mapping[str, Any],
    secret_values: Mapping[str, Any] | None = None,
) -> dict[str, Manifest]:
    """Every object of the endpoint with fixed names, keyed ``role`` for the endpoint's own and
    ``<deployment>-<role>`` for a deployment's (for rendering and validation)."""
    values = secret_values or {}
    objects = dict(setup_objects(config, secret_values=values))
    for name in sorted(config.deployments):
        for role, manifest in deployment_objects(
            config, name, image=images[name], secret_settings=list(values)
        ).items():
            objects[f"{name}-{role}"] = manifest
    objects.update(routing_objects(config))
    return objects
