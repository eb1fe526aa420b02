"""Deployment settings shared by every target, with Azure ML's names and defaults.

The config models here are the validated, frozen specs that the components build at the top of their
``__init__`` (``AciDeploymentConfig`` for ``aci_webservice_deployment_config``,
``AksDeploymentConfig`` for ``aks_webservice_deployment_config``). :func:`parse_config` turns a
component's args into one and reports every problem at once, each naming its field, before any
resource is registered. The settings the scoring runtime reads take their defaults from
:class:`~mlws.runtime.settings.RuntimeSettings` through :mod:`mlws.components.runtime_env`, which
also renders the container environment; names and taints are checked by
:mod:`mlws.components.k8s_labels`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import AliasChoices, ConfigDict, Field, field_validator, model_validator

from mlws.components.errors import CrossCheckedModel, Problem

# Re-exported: the AKS manifests, the cluster spec and the policy pack import them from here.
from mlws.components.k8s_labels import DNS1035_LABEL as DNS1035_LABEL
from mlws.components.k8s_labels import DNS1123_LABEL as DNS1123_LABEL
from mlws.components.k8s_labels import GPU_LABEL as GPU_LABEL
from mlws.components.k8s_labels import GPU_TAINT as GPU_TAINT
from mlws.components.k8s_labels import NodeLabel as NodeLabel
from mlws.components.k8s_labels import Taint as Taint
from mlws.components.k8s_labels import check_label as check_label
from mlws.components.k8s_labels import parse_label as parse_label
from mlws.components.k8s_labels import parse_taint as parse_taint
from mlws.components.runtime_env import CONTAINER_PORT as CONTAINER_PORT
from mlws.components.runtime_env import SECRET_SETTINGS as SECRET_SETTINGS
from mlws.components.runtime_env import SECRETS_MOUNT as SECRETS_MOUNT
from mlws.components.runtime_env import azureml_field
from mlws.components.runtime_env import runtime_env as runtime_env
from mlws.components.runtime_env import secret_env_names as secret_env_names
from mlws.components.runtime_env import secret_file_env as secret_file_env
from mlws.components.runtime_env import secret_file_name as secret_file_name
from mlws.runtime.settings import AuthMode


class DeploymentConfig(CrossCheckedModel):
    """Settings every web service target shares (Azure ML's ``*_webservice_deployment_config``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The Azure ML function whose names and defaults this model follows, for messages.
    target: ClassVar[str] = "deployment"

    cpu_cores: float = Field(default=0.1, gt=0)
    """CPU cores reserved for the service (Azure ML default 0.1)."""

    memory_gb: float = Field(default=0.5, gt=0)
    """Memory in GiB reserved for the service (Azure ML default 0.5)."""

    gpu_cores: int = Field(default=0, ge=0)
    """GPUs per replica; only Azure Kubernetes Service serves on GPUs."""

    auth_enabled: bool | None = None
    """Key auth (``Authorization: Bearer <key>``); the default depends on the target."""

    token_auth_enabled: bool = False
    """Token (JWT) auth instead of keys; Azure Kubernetes Service only."""

    scoring_timeout_ms: int = azureml_field("scoring_timeout_ms")
    """A scoring call that takes longer gets 504."""

    replica_max_concurrent_requests: int = azureml_field("replica_max_concurrent_requests")
    """Requests scored at once per replica."""

    max_request_wait_time: int = azureml_field("max_request_wait_time")
    """Milliseconds a request may queue for a scoring slot before 503."""

    period_seconds: int = Field(default=10, ge=1)
    """How often (seconds) the liveness and readiness probes run."""

    initial_delay_seconds: int = Field(default=310, ge=0)
    """Seconds after start before the liveness probe begins (model loading time)."""

    timeout_seconds: int = Field(default=2, ge=1)
    """Seconds after which a probe call times out."""

    success_threshold: int = Field(default=1, ge=1)
    """Consecutive successes for the readiness probe to pass after a failure."""

    failure_threshold: int = Field(default=3, ge=1)
    """Consecutive failures before the container is restarted (liveness) or unready."""

    tags: dict[str, str] = Field(default_factory=dict)
    """Free-form key/value tags."""

    health_check: bool = True
    """Make ``pulumi up`` wait until the service is ready and answers ``sample_request``."""

    sample_request: str | None = None
    """JSON body the health check POSTs to the scoring URI (none: readiness only)."""

    health_check_timeout_seconds: float = Field(default=600.0, gt=0, le=3600)
    """How long the health check waits for the service (image pull and model load included)."""

    @field_validator("sample_request")
    @classmethod
    def _json(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"must be JSON text: {error}") from None
        return value

    def as_args(self) -> dict[str, Any]:
        """The settings given explicitly, as component args (``{"image": ..., **cfg.as_args()}``).

        Lets a program mirror Azure ML (``AksDeploymentConfig(cpu_cores=1, memory_gb=1)`` like
        ``aks_webservice_deployment_config(cpu_cores=1, memory_gb=1)``) and fail early.
        """
        return self.model_dump(exclude_unset=True)

    @property
    def auth_mode(self) -> AuthMode:
        """How callers authenticate: ``token``, ``key`` or ``none``."""
        if self.token_auth_enabled:
            return "token"
        return "key" if self.key_auth else "none"

    @property
    def key_auth(self) -> bool:
        """Whether key auth is on (the target's default when ``auth_enabled`` is unset)."""
        return bool(self.auth_enabled)

    def probe_timing(self, *, liveness: bool) -> dict[str, int]:
        """The timing of ACI's and AKS's liveness or readiness probe, by snake_case field name:
        only the liveness probe waits ``initial_delay_seconds``, and it passes on one success
        (Kubernetes allows no other threshold on liveness probes)."""
        return {
            "initial_delay_seconds": self.initial_delay_seconds if liveness else 0,
            "period_seconds": self.period_seconds,
            "timeout_seconds": self.timeout_seconds,
            "success_threshold": 1 if liveness else self.success_threshold,
            "failure_threshold": self.failure_threshold,
        }

    @classmethod
    def contradictions(cls, raw: Mapping[str, Any]) -> list[Problem]:
        """Problems that involve more than one field, checked on raw (unvalidated) values."""
        problems: list[Problem] = []
        if raw.get("auth_enabled") is True and raw.get("token_auth_enabled") is True:
            problems.append(
                Problem("token_auth_enabled", "key auth and token auth cannot both be enabled")
            )
        return problems


class AciDeploymentConfig(DeploymentConfig):
    """Azure Container Instances settings (Azure ML's ``aci_webservice_deployment_config``)."""

    target: ClassVar[str] = "Azure Container Instances"

    #: Azure ML serves ACI only below 48 GB of memory.
    MAX_MEMORY_GB: ClassVar[float] = 48.0
    #: Most cores one ACI container group gets (standard Linux SKU; some regions allow less).
    MAX_CPU_CORES: ClassVar[float] = 4.0
    #: What the TLS sidecar takes from the group's budget.
    TLS_CPU_CORES: ClassVar[float] = 0.1
    TLS_MEMORY_GB: ClassVar[float] = 0.2

    dns_name_label: str | None = None
    """DNS label: the service answers at ``<label>.<region>.azurecontainer.io``."""

    renamed: ClassVar[Mapping[str, str]] = {"port": "public_port"}

    public_port: int | None = Field(
        default=None, ge=1, le=65535, validation_alias=AliasChoices("public_port", "port")
    )
    """Port clients connect to: without TLS default 5001, the image's port (ACI cannot map ports,
    and the image runs as a non-root user, which may not bind ports below 1024); with TLS 443.
    Azure ML's ``port``, still accepted under that name."""

    ssl_enabled: bool = False
    """Serve HTTPS through a Caddy sidecar (ACI has no TLS of its own)."""

    ssl_cname: str | None = None
    """Custom domain for TLS (a CNAME to the ACI FQDN); the certificate is issued for it."""

    @field_validator("dns_name_label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        return value if value is None else check_label(value, DNS1035_LABEL, "DNS label")

    @classmethod
    def contradictions(cls, raw: Mapping[str, Any]) -> list[Problem]:
        """ACI: no token auth, no GPU, memory below 48 GB, at most 4 cores, TLS needs a name."""
        problems = super().contradictions(raw)
        if raw.get("token_auth_enabled") is True:
            problems.append(
                Problem(
                    "token_auth_enabled", "token auth is only available on Azure Kubernetes Service"
                )
            )
        gpu = raw.get("gpu_cores")
        if isinstance(gpu, int | float) and gpu > 0:
            problems.append(
                Problem("gpu_cores", "GPU inference is only available on Azure Kubernetes Service")
            )
        tls = raw.get("ssl_enabled") is True
        sidecar = " (including 0.2 GB for the TLS sidecar)" if tls else ""
        memory = raw.get("memory_gb")
        if (
            isinstance(memory, int | float)
            and memory + (cls.TLS_MEMORY_GB if tls else 0) >= cls.MAX_MEMORY_GB
        ):
            problems.append(
                Problem(
                    "memory_gb",
                    f"Azure Container Instances needs less than 48 GB{sidecar}, got {memory:g}",
                )
            )
        cpu = raw.get("cpu_cores")
        if (
            isinstance(cpu, int | float)
            and cpu + (cls.TLS_CPU_CORES if tls else 0) > cls.MAX_CPU_CORES + 1e-9
        ):
            sidecar = " (including 0.1 for the TLS sidecar)" if tls else ""
            problems.append(
                Problem(
                    "cpu_cores",
                    f"Azure Container Instances allows at most 4 cores{sidecar}, got {cpu:g}",
                )
            )
        if raw.get("ssl_enabled") is True:
            port = raw.get("public_port")
            if port is not None and port != 443:
                problems.append(
                    Problem("public_port", "with ssl_enabled the service listens on 443")
                )
            if not raw.get("ssl_cname") and not raw.get("dns_name_label"):
                problems.append(
                    Problem("ssl_enabled", "TLS needs a host name: set dns_name_label or ssl_cname")
                )
        elif raw.get("ssl_cname"):
            problems.append(Problem("ssl_cname", "ssl_cname is only used with ssl_enabled"))
        return problems

    @model_validator(mode="after")
    def _default_public_port(self) -> AciDeploymentConfig:
        """An unset ``public_port`` is 443 with TLS, else the container's port (still unset for
        :meth:`as_args`)."""
        if self.public_port is None:
            object.__setattr__(self, "public_port", 443 if self.ssl_enabled else CONTAINER_PORT)
        return self

    @property
    def runtime_port(self) -> int:
        """The port the scoring runtime listens on (behind the sidecar when TLS is on)."""
        return CONTAINER_PORT if self.ssl_enabled else (self.public_port or CONTAINER_PORT)


class AksDeploymentConfig(DeploymentConfig):
    """Azure Kubernetes Service settings (Azure ML's ``aks_webservice_deployment_config``)."""

    target: ClassVar[str] = "Azure Kubernetes Service"

    cpu_cores_limit: float | None = Field(default=None, gt=0)
    """CPU cores the container may burst to (defaults to ``cpu_cores``)."""

    memory_gb_limit: float | None = Field(default=None, gt=0)
    """Memory in GiB the container may use (defaults to ``memory_gb``)."""

    autoscale_enabled: bool | None = None
    """Horizontal pod autoscaling; on unless ``num_replicas`` is set."""

    autoscale_min_replicas: int = Field(default=1, ge=1)
    """Fewest replicas the autoscaler keeps."""

    autoscale_max_replicas: int = Field(default=10, ge=1)
    """Most replicas the autoscaler starts."""

    autoscale_target_utilization: int = Field(default=70, ge=1, le=100)
    """CPU utilisation (percent of requests) the autoscaler aims for."""

    num_replicas: int | None = Field(default=None, ge=1)
    """A fixed replica count (turns autoscaling off)."""

    namespace: str = "default"
    """Kubernetes namespace of the service."""

    create_namespace: bool = False
    """Create the namespace with the service (off: it must exist)."""

    service_name: str | None = None
    """Kubernetes name of the Deployment and Service (defaults to the component name)."""

    token_audience: str | None = None
    """Required ``aud`` claim for token auth."""

    token_issuer: str | None = None
    """Required ``iss`` claim for token auth; without ``token_secret``, the OIDC issuer whose
    published keys verify RS256/ES256 tokens."""

    token_jwks_url: str | None = None
    """JWKS (or OIDC discovery) URL of an external token issuer, instead of ``token_secret``."""

    gpu_toleration: Taint = GPU_TAINT
    """Taint of the GPU pool that GPU replicas tolerate, ``key=value:Effect``."""

    gpu_node_selector: NodeLabel = GPU_LABEL
    """Node label of the GPU pool that GPU replicas select, ``key=value``."""

    ssl_enabled: bool = False
    """Expose the service through an Ingress with TLS."""

    ssl_cname: str | None = None
    """Host name of the Ingress (required with ``ssl_enabled``)."""

    ingress_class_name: str = "nginx"
    """IngressClass that serves the Ingress."""

    tls_secret_name: str | None = None
    """Existing ``kubernetes.io/tls`` Secret (e.g. from cert-manager); else one is created."""

    # Security: locked down by default (docs/security.md); each field is a workload's real need.

    run_as_user: int | None = Field(default=None, ge=1, le=2147483647)
    """UID (and GID) the scoring container runs as; default: the user of mlws-built images
    (10001). Set it only for an image built elsewhere whose user differs; root (0) is refused."""

    writable_paths: list[str] = Field(default_factory=list)
    """Extra absolute folders the entry script writes to, each mounted as an emptyDir: the root
    filesystem is read-only, and only ``/tmp`` (also ``HOME``) is writable otherwise."""

    tmp_size_gb: float = Field(default=1.0, gt=0, le=1024)
    """Size limit of the writable ``/tmp`` (and each of ``writable_paths``); a pod writing more
    is evicted."""

    network_policy_enabled: bool = True
    """Create a NetworkPolicy letting traffic in only to the scoring port (from the load
    balancer, or with ``ssl_enabled`` from the ingress controller) and out only to cluster DNS,
    the token issuer and ``egress_cidrs``. Turn off only where policies are managed elsewhere."""

    ingress_controller_namespace: str = "ingress-nginx"
    """Namespace of the ingress controller admitted with ``ssl_enabled`` (``app-routing-system``
    for AKS's application routing add-on)."""

    allowed_ingress_namespaces: list[str] = Field(default_factory=list)
    """Further namespaces admitted to the scoring port with ``ssl_enabled``, e.g. a Prometheus
    namespace scraping ``/metrics``."""

    egress_cidrs: list[str] = Field(default_factory=list)
    """CIDR blocks the pods may open connections to (any port) beside cluster DNS and the token
    issuer, for an entry script calling out; ``["0.0.0.0/0"]`` allows everything."""

    @field_validator("writable_paths")
    @classmethod
    def _writable_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", path) or "/.." in path:
                raise ValueError(f"{path!r} is not an absolute folder path like /var/cache/model")
            if path in ("/tmp", SECRETS_MOUNT) or path.startswith(SECRETS_MOUNT + "/"):  # noqa: S108
                raise ValueError(f"{path!r} is mounted by mlws already")
        if len(set(value)) != len(value):
            raise ValueError("each path once")
        return value

    @field_validator("allowed_ingress_namespaces")
    @classmethod
    def _allowed_namespaces(cls, value: list[str]) -> list[str]:
        return [check_label(item, DNS1123_LABEL, "Kubernetes namespace") for item in value]

    @field_validator("egress_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a CIDR block like 10.0.0.0/16") from None
        return value

    @field_validator("namespace", "ingress_controller_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_label(value, DNS1123_LABEL, "Kubernetes namespace")

    @field_validator("service_name")
    @classmethod
    def _service_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_label(value, DNS1035_LABEL, "Kubernetes service name")

    @classmethod
    def contradictions(cls, raw: Mapping[str, Any]) -> list[Problem]:
        """AKS rules: autoscale vs fixed replicas, min <= max, limits >= requests, TLS host."""
        problems = super().contradictions(raw)
        if raw.get("autoscale_enabled") is True and raw.get("num_replicas") is not None:
            problems.append(
                Problem(
                    "autoscale_enabled", "autoscaling cannot be enabled when num_replicas is set"
                )
            )
        low = raw.get("autoscale_min_replicas", 1)
        high = raw.get("autoscale_max_replicas", 10)
        if isinstance(low, int) and isinstance(high, int) and low > high:
            problems.append(
                Problem(
                    "autoscale_min_replicas",
                    f"autoscale_min_replicas ({low}) exceeds autoscale_max_replicas ({high})",
                )
            )
        for limit, request, default in (
            ("cpu_cores_limit", "cpu_cores", 0.1),
            ("memory_gb_limit", "memory_gb", 0.5),
        ):
            lim, req = raw.get(limit), raw.get(request, default)
            if isinstance(lim, int | float) and isinstance(req, int | float) and lim < req:
                problems.append(Problem(limit, f"{limit} ({lim:g}) is below {request} ({req:g})"))
        if raw.get("create_namespace") is True and raw.get("namespace", "default") in (
            "default",
            "kube-system",
            "kube-public",
            "kube-node-lease",
        ):
            problems.append(
                Problem("create_namespace", "the namespace is Kubernetes' own; it exists already")
            )
        if raw.get("ssl_enabled") is True and not raw.get("ssl_cname"):
            problems.append(
                Problem("ssl_cname", "ssl_enabled needs ssl_cname (the Ingress host name)")
            )
        return problems

    @property
    def key_auth(self) -> bool:
        """AKS turns key auth on unless token auth is chosen."""
        if self.auth_enabled is None:
            return not self.token_auth_enabled
        return self.auth_enabled

    @property
    def autoscale(self) -> bool:
        """Whether the HorizontalPodAutoscaler manages the replica count."""
        if self.autoscale_enabled is None:
            return self.num_replicas is None
        return self.autoscale_enabled

    @property
    def name_in_cluster(self) -> str:
        """The Deployment/Service name (set by :func:`parse_config` from the component name)."""
        if self.service_name is None:
            raise ValueError("service_name is not set")
        return self.service_name
