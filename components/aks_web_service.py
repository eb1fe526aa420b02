"""``AksWebService``: a scoring image served by Azure Kubernetes Service (or any Kubernetes).

pulumi-kubernetes objects built from the pure manifests of :mod:`mlws.components.k8s_setup`
and :mod:`mlws.components.k8s_workload`: a Deployment, a Service, a HorizontalPodAutoscaler
(unless ``num_replicas``), a PodDisruptionBudget, a Secret with the keys or token secret (mounted
into the pods as read-only files), a ServiceAccount, a NetworkPolicy, and with ``ssl_enabled`` an
Ingress (and a TLS Secret when a certificate is given); by default a ``HealthGate`` makes
``pulumi up`` wait until the service answers. The pods are locked down by default
(docs/security.md). Objects go through an explicit Kubernetes provider built from ``kubeconfig``
(``AksCluster.kubeconfig``), or the ambient/inherited provider when none is given. Settings
follow Azure ML's ``aks_webservice_deployment_config``; everything is validated before any
resource is registered.
"""

from collections.abc import Callable, Mapping
from typing import Any, Required

import pulumi
import pulumi_kubernetes as k8s

from mlws.components._package import type_token
from mlws.components.credentials import credential_problem, given_names, requested_auth_mode
from mlws.components.deployment_config import AksDeploymentConfig, DeploymentConfig
from mlws.components.errors import Problem, parse_config
from mlws.components.k8s_metadata import SELECTOR_LABEL, Manifest
from mlws.components.k8s_setup import setup_objects
from mlws.components.k8s_workload import workload_objects
from mlws.components.service_args import (
    HealthCheckArgs,
    ProbeArgs,
    ScoringLimitsArgs,
    ServiceKeyArgs,
)
from mlws.components.service_wiring import WebService, given_secrets


class AksAuthArgs(ServiceKeyArgs, total=False):
    """The cluster and the credentials of an AKS service or endpoint (key auth on by default)."""

    kubeconfig: pulumi.Input[str]
    """Kubeconfig of the cluster (``AksCluster.kubeconfig``); none: the inherited provider."""
    token_secret: pulumi.Input[str]
    """HS256 token signing secret (``ServiceKeys.token_secret``); required with token auth."""
    auth_enabled: bool
    """Key auth (default on unless ``token_auth_enabled``)."""
    token_auth_enabled: bool
    """Token (JWT) auth instead of keys (default off)."""
    token_audience: str
    """``aud`` claim required with token auth."""
    token_issuer: str
    """``iss`` claim required with token auth (alone: the OIDC issuer that signs the tokens)."""
    token_jwks_url: str
    """JWKS (or OIDC discovery) URL of an external token issuer, instead of ``token_secret``."""


class AksWebServiceArgs(AksAuthArgs, ScoringLimitsArgs, ProbeArgs, HealthCheckArgs, total=False):
    """Inputs of :class:`AksWebService`: resource references plus Azure ML's AKS settings."""

    image: Required[pulumi.Input[str]]
    """Image reference to run, ideally by digest (``ScoringImage.ref``)."""
    ssl_certificate: pulumi.Input[str]
    """PEM certificate for the Ingress (unless ``tls_secret_name`` names an existing Secret)."""
    ssl_key: pulumi.Input[str]
    """PEM private key of ``ssl_certificate`` (kept secret)."""
    cpu_cores: float
    """CPU cores requested per replica (default 0.1)."""
    memory_gb: float
    """Memory in GiB requested per replica (default 0.5)."""
    cpu_cores_limit: float
    """CPU cores a replica may burst to (default ``cpu_cores``)."""
    memory_gb_limit: float
    """Memory in GiB a replica may use (default ``memory_gb``)."""
    gpu_cores: int
    """NVIDIA GPUs per replica (``nvidia.com/gpu``); schedules on the GPU pool."""
    autoscale_enabled: bool
    """Horizontal pod autoscaling (default on unless ``num_replicas`` is set)."""
    autoscale_min_replicas: int
    """Fewest replicas (default 1)."""
    autoscale_max_replicas: int
    """Most replicas (default 10)."""
    autoscale_target_utilization: int
    """Target CPU utilisation in percent (default 70)."""
    num_replicas: int
    """Fixed replica count (turns autoscaling off)."""
    namespace: str
    """Kubernetes namespace (default ``default``); must exist unless ``create_namespace``."""
    create_namespace: bool
    """Create the namespace with the service (default off)."""
    service_name: str
    """Name of the Deployment and Service (default: the component name)."""
    gpu_toleration: str
    """GPU pool taint to tolerate, ``key=value:Effect`` (default ``sku=gpu:NoSchedule``)."""
    gpu_node_selector: str
    """GPU pool node label to select, ``key=value`` (default ``accelerator=nvidia``)."""
    ssl_enabled: bool
    """Expose through an Ingress with TLS instead of a LoadBalancer Service."""
    ssl_cname: str
    """Host name of the Ingress (required with ``ssl_enabled``)."""
    ingress_class_name: str
    """IngressClass serving the Ingress (default ``nginx``)."""
    tls_secret_name: str
    """Existing TLS Secret for the Ingress (e.g. from cert-manager)."""
    tags: dict[str, str]
    """Tags, kept as a JSON annotation on the Deployment."""
    run_as_user: int
    """UID the container runs as (default 10001, the mlws image's user; never 0)."""
    writable_paths: list[str]
    """Extra folders the entry script writes to, as emptyDirs (the root filesystem is read-only)."""
    tmp_size_gb: float
    """Size limit of the writable ``/tmp`` and each of ``writable_paths`` (default 1)."""
    network_policy_enabled: bool
    """Create the NetworkPolicy admitting only the scoring port (default on)."""
    ingress_controller_namespace: str
    """Ingress controller's namespace, admitted with ``ssl_enabled`` (default ``ingress-nginx``)."""
    allowed_ingress_namespaces: list[str]
    """Further namespaces admitted to the scoring port with ``ssl_enabled`` (e.g. monitoring)."""
    egress_cidrs: list[str]
    """CIDR blocks the pods may connect to beside DNS and the token issuer (default none)."""


#: Args that are resource references rather than settings.
REFERENCES = frozenset(
    {
        "image",
        "kubeconfig",
        "primary_key",
        "secondary_key",
        "token_secret",
        "ssl_certificate",
        "ssl_key",
    }
)

#: Resource class per (apiVersion, kind) of the manifests.
_KINDS: dict[tuple[str, str], Any] = {
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
}


def credential_problems(args: Mapping[str, Any]) -> list[Problem]:
    """The key or token secret the requested auth mode needs and ``args`` lack: key auth is on by
    default on AKS; token auth may take its tokens from an external issuer instead of a secret."""
    external = bool(args.get("token_jwks_url") or args.get("token_issuer"))
    missing = credential_problem(
        requested_auth_mode(args, key_auth_default=True),
        given_names(args),
        external_issuer=external,
        key_auth_default=True,
    )
    return [] if missing is None else [missing]


def reference_problems(args: AksWebServiceArgs) -> list[Problem]:
    """Missing or contradictory resource references (known at preview: presence only)."""
    problems: list[Problem] = []
    if args.get("image") is None:
        problems.append(Problem("image", "required"))
    problems += credential_problems(args)
    if (args.get("ssl_certificate") is None) != (args.get("ssl_key") is None):
        problems.append(Problem("ssl_key", "ssl_certificate and ssl_key go together"))
    if args.get("ssl_enabled") is True:
        if args.get("tls_secret_name") is None and args.get("ssl_certificate") is None:
            problems.append(
                Problem("ssl_certificate", "ssl_enabled needs ssl_certificate or tls_secret_name")
            )
        elif args.get("tls_secret_name") is not None and args.get("ssl_certificate") is not None:
            problems.append(
                Problem("ssl_certificate", "give ssl_certificate or tls_secret_name, not both")
            )
    elif args.get("ssl_certificate") is not None:
        problems.append(Problem("ssl_certificate", "only used with ssl_enabled"))
    return problems


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def create_object(name: str, manifest: Manifest, opts: pulumi.ResourceOptions) -> Any:
    """Register the pulumi-kubernetes resource for ``manifest`` (a dict from the k8s_* builders)."""
    cls = _KINDS[(manifest["apiVersion"], manifest["kind"])]
    fields = {_snake(k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    if manifest["kind"] == "Secret":
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["data", "stringData"])
        )
    return cls(name, **fields, opts=opts)


def kubernetes_options(
    parent: pulumi.Resource, name: str, kubeconfig: pulumi.Input[str] | None
) -> pulumi.ResourceOptions:
    """Options of a component's Kubernetes objects: children of ``parent``, through a
    ``<name>-k8s`` provider built from ``kubeconfig`` when one is given (else the inherited one)."""
    child = pulumi.ResourceOptions(parent=parent)
    if kubeconfig is None:
        return child
    provider = k8s.Provider(f"{name}-k8s", kubeconfig=pulumi.Output.secret(kubeconfig), opts=child)
    return pulumi.ResourceOptions(parent=parent, provider=provider)


def secret_values(config: DeploymentConfig, args: Mapping[str, Any]) -> dict[str, Any]:
    """The given secrets the auth mode needs (:func:`given_secrets`), each a secret Output."""
    return {
        setting: pulumi.Output.secret(value)
        for setting, value in given_secrets(config, args).items()
    }


def register_setup(
    name: str,
    setup: Mapping[str, Manifest],
    opts: pulumi.ResourceOptions,
    create: Callable[[str, Manifest, pulumi.ResourceOptions], Any],
) -> tuple[dict[str, Any], pulumi.ResourceOptions]:
    """Register ``setup``'s objects as ``<name>-<role>`` in order (``create`` registers one);
    everything after a Namespace depends on it. The objects by role, and the options for what
    comes next."""
    created: dict[str, Any] = {}
    for role, manifest in setup.items():
        created[role] = create(f"{name}-{role}", manifest, opts)
        if role == "namespace":
            opts = pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[created[role]])
            )
    return created, opts


def _lb_host(status: Any) -> str:
    """First load-balancer IP or host name of a Service status (empty while pending)."""
    balancer = getattr(status, "load_balancer", None) if status is not None else None
    for entry in (getattr(balancer, "ingress", None) or []) if balancer is not None else []:
        host = getattr(entry, "ip", None) or getattr(entry, "hostname", None)
        if host:
            return str(host)
    return ""


class AksWebService(WebService):
    """A scoring web service on Azure Kubernetes Service (Deployment, Service, HPA, PDB, ...)."""

    SECRET_PROPERTIES = frozenset(
        {"kubeconfig", "primary_key", "secondary_key", "token_secret", "ssl_key"}
    )
    """Inputs and outputs the plugin's schema marks secret (declared, not guessed from names)."""

    # WebService's outputs again, documented for this target (the schema reads this class's).
    scoring_uri: pulumi.Output[str]
    """The ``POST`` scoring endpoint (``http://<load balancer>/score`` or ``https://<cname>/score``)."""
    swagger_uri: pulumi.Output[str]
    """The OpenAPI document of the service."""
    auth_mode: pulumi.Output[str]
    """``none``, ``key`` or ``token``."""
    namespace: pulumi.Output[str]
    """Namespace of the service's objects."""
    service_name: pulumi.Output[str]
    """Name of the Deployment and Service."""
    label_selector: pulumi.Output[str]
    """Label selector of the service's pods (for ``mlws logs``)."""

    def __init__(
        self,
        name: str,
        args: AksWebServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        config = parse_config(
            AksDeploymentConfig,
            args,
            subject=f"AksWebService {name!r}",
            references=REFERENCES,
            defaults={"service_name": name},
            problems=reference_problems(args),
        )
        super().__init__(type_token("AksWebService"), name, None, opts)
        created = self._objects(name, config, args)
        if config.ssl_enabled:
            base: pulumi.Output[str] = pulumi.Output.from_input(f"https://{config.ssl_cname}")
        else:
            base = created["service"].status.apply(lambda s: f"http://{_lb_host(s)}")
        self.namespace = pulumi.Output.from_input(config.namespace)
        self.service_name = pulumi.Output.from_input(config.name_in_cluster)
        self.label_selector = pulumi.Output.from_input(f"{SELECTOR_LABEL}={config.name_in_cluster}")
        self._serve(
            name,
            config,
            base_url=base,
            image=args["image"],
            secrets=args,
            depends_on=list(created.values()),
        )

    def _objects(
        self, name: str, config: AksDeploymentConfig, args: AksWebServiceArgs
    ) -> dict[str, Any]:
        """Register the provider (with a kubeconfig) and every Kubernetes object, by role."""
        child = kubernetes_options(self, name, args.get("kubeconfig"))
        values = secret_values(config, args)
        tls_given = config.ssl_enabled and not config.tls_secret_name
        setup = setup_objects(
            config,
            secret_values=values,
            tls_certificate=args.get("ssl_certificate") if tls_given else None,
            tls_key=pulumi.Output.secret(args["ssl_key"]) if tls_given else None,
            autoname=True,
        )
        created, child = register_setup(name, setup, child, create_object)
        workload = workload_objects(
            config,
            image=args["image"],
            auth_secret_name=created["auth"].metadata.name if "auth" in created else None,
            tls_secret=created["tls"].metadata.name if "tls" in created else None,
            secret_settings=list(values),
        )
        pods_need = pulumi.ResourceOptions(depends_on=[created["serviceaccount"]])
        for role, manifest in workload.items():
            opts = pulumi.ResourceOptions.merge(child, pods_need) if role == "deployment" else child
            created[role] = create_object(f"{name}-{role}", manifest, opts)
        return created
