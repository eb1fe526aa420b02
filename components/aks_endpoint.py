"""``AksEndpoint``: one scoring endpoint on AKS served by several named deployments (blue/green).

As an Azure ML managed online endpoint: one scoring URI and one set of keys (or token settings)
for the endpoint; ``deployments`` (``{"blue": {"image": ..., "cpu_cores": 1, ...}, "green":
{...}}``) each with its own image, sizing, replicas/autoscaling and probes (``AksWebService``'s
settings); ``traffic`` (``{"blue": 90, "green": 10}``) splitting live requests in percent, and
optional ``mirror_traffic`` (``{"green": 10}``) copying requests to a deployment without live
traffic. The objects are built by :mod:`mlws.components.aks_endpoint_manifests`: per deployment
what an ``AksWebService`` has, and for the endpoint a Gateway API HTTPRoute (plus its own Gateway
with ``gateway_class_name``); docs/rollouts.md says why Gateway API. Everything is validated,
every problem named, before any resource is registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Required

import pulumi
import pulumi_kubernetes as k8s

from mlws.components import aks_endpoint_manifests
from mlws.components._package import type_token
from mlws.components.aks_endpoint_config import AksEndpointConfig, parse_endpoint_config
from mlws.components.aks_web_service import (
    AksAuthArgs,
    create_object,
    credential_problems,
    kubernetes_options,
    register_setup,
    secret_values,
)
from mlws.components.k8s_metadata import Manifest
from mlws.components.service_args import HealthCheckArgs
from mlws.components.service_wiring import WebService


class AksEndpointArgs(AksAuthArgs, HealthCheckArgs, total=False):
    """Inputs of :class:`AksEndpoint`: the endpoint's settings and its deployments."""

    deployments: Required[dict[str, dict[str, Any]]]
    """Deployments by name (``blue``, ``green``): each an ``image`` plus ``AksWebService``'s
    sizing, replica, autoscaling, probe, GPU and runtime settings."""
    traffic: dict[str, int]
    """Percent of live requests per deployment, summing to 100 (one deployment: all of it)."""
    mirror_traffic: dict[str, int]
    """Percent of requests copied to one deployment that has 0 live traffic (answers dropped)."""
    hostname: Required[str]
    """Host name the endpoint answers at; its DNS name points at the Gateway's address."""
    gateway_class_name: str
    """Create the endpoint's own Gateway of this GatewayClass (e.g. AKS application routing's
    Istio-based class); or give ``gateway_name``."""
    gateway_name: str
    """Attach to this existing Gateway instead of creating one."""
    gateway_namespace: str
    """Namespace of ``gateway_name`` (default: the endpoint's namespace)."""
    tls_secret_name: str
    """TLS Secret for an HTTPS listener on the endpoint's own Gateway."""
    scheme: str
    """``http`` or ``https`` in the scoring URI (default: ``https`` with ``tls_secret_name``)."""
    endpoint_name: str
    """Kubernetes name of the endpoint's objects (default: the component name)."""
    namespace: str
    """Kubernetes namespace of the endpoint (default ``default``)."""
    create_namespace: bool
    """Create the namespace with the endpoint."""
    network_policy_enabled: bool
    """NetworkPolicies admitting only the Gateway's namespace to the scoring port (default on)."""
    allowed_ingress_namespaces: list[str]
    """Further namespaces admitted to the scoring port (e.g. monitoring)."""


#: Args that are resource references rather than settings.
REFERENCES = frozenset({"kubeconfig", "primary_key", "secondary_key", "token_secret"})

#: Gateway API kinds, registered as CustomResources (pulumi-kubernetes has no class for them).
_GATEWAY_KINDS = frozenset({"Gateway", "HTTPRoute"})


def _create(name: str, manifest: Manifest, opts: pulumi.ResourceOptions) -> Any:
    """Register ``manifest``: a Gateway API object as a CustomResource, the rest as AksWebService
    registers its objects."""
    if manifest["kind"] in _GATEWAY_KINDS:
        return k8s.apiextensions.CustomResource(
            name,
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=opts,
        )
    return create_object(name, manifest, opts)


class AksEndpoint(WebService):
    """One scoring endpoint on AKS with several deployments and a traffic split (blue/green)."""

    SECRET_PROPERTIES = frozenset({"kubeconfig", "primary_key", "secondary_key", "token_secret"})
    """Inputs the plugin's schema marks secret (declared, not guessed from names)."""

    # WebService's outputs again, documented for this target (the schema reads this class's).
    scoring_uri: pulumi.Output[str]
    """The ``POST`` scoring endpoint, ``<scheme>://<hostname>/score``."""
    swagger_uri: pulumi.Output[str]
    """The OpenAPI document (of whichever deployment answers)."""
    auth_mode: pulumi.Output[str]
    """``none``, ``key`` or ``token``."""
    namespace: pulumi.Output[str]
    """Namespace of the endpoint's objects."""
    endpoint_name: pulumi.Output[str]
    """Kubernetes name of the endpoint's HTTPRoute."""
    label_selector: pulumi.Output[str]
    """Label selector of every deployment's pods (for ``mlws logs``)."""
    deployment_names: pulumi.Output[list[str]]
    """The deployments' names (``mlws invoke --deployment`` picks one)."""
    traffic: pulumi.Output[dict[str, int]]
    """Live traffic percent per deployment, every deployment included."""

    def __init__(
        self, name: str, args: AksEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        flat: Mapping[str, Any] = args
        config, images = parse_endpoint_config(
            flat,
            subject=f"AksEndpoint {name!r}",
            name=name,
            references=REFERENCES,
            problems=credential_problems(flat),
        )
        super().__init__(type_token("AksEndpoint"), name, None, opts)
        created = self._objects(name, config, images, flat)
        self.namespace = pulumi.Output.from_input(config.settings.namespace)
        self.endpoint_name = pulumi.Output.from_input(config.endpoint_name)
        self.label_selector = pulumi.Output.from_input(
            f"{aks_endpoint_manifests.ENDPOINT_LABEL}={config.endpoint_name}"
        )
        self.deployment_names = pulumi.Output.from_input(sorted(config.deployments))
        self.traffic = pulumi.Output.from_input(config.live_traffic)
        self._serve(
            name,
            config.settings,
            base_url=f"{config.scoring_scheme}://{config.hostname}",
            image=pulumi.Output.all(*(images[d] for d in sorted(images))).apply(
                lambda refs: " ".join(str(ref) for ref in refs)
            ),
            secrets=flat,
            depends_on=list(created.values()),
        )

    def _objects(
        self,
        name: str,
        config: AksEndpointConfig,
        images: Mapping[str, Any],
        args: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Register the provider (with a kubeconfig) and every object: the endpoint's as
        ``<name>-<role>``, each deployment's as ``<name>-<deployment>-<role>``."""
        child = kubernetes_options(self, name, args.get("kubeconfig"))
        values = secret_values(config.settings, args)
        setup = aks_endpoint_manifests.setup_objects(config, secret_values=values, autoname=True)
        created, child = register_setup(name, setup, child, _create)
        for deployment in sorted(config.deployments):
            objects = aks_endpoint_manifests.deployment_objects(
                config,
                deployment,
                image=images[deployment],
                auth_secret_name=created["auth"].metadata.name if "auth" in created else None,
                secret_settings=list(values),
            )
            account = _create(
                f"{name}-{deployment}-serviceaccount", objects.pop("serviceaccount"), child
            )
            created[f"{deployment}-serviceaccount"] = account
            pods_need = pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[account])
            )
            for role, manifest in objects.items():
                opts = pods_need if role == "deployment" else child
                created[f"{deployment}-{role}"] = _create(
                    f"{name}-{deployment}-{role}", manifest, opts
                )
        services = [created[f"{d}-service"] for d in sorted(config.deployments)]
        route_needs = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=services)
        )
        for role, manifest in aks_endpoint_manifests.routing_objects(config).items():
            created[role] = _create(f"{name}-{role}", manifest, route_needs)
        return created
