"""Settings of an ``AksEndpoint``: one scoring endpoint served by several named deployments.

As Azure ML's managed online endpoints: the endpoint owns the scoring URI, the auth settings and
the keys; each deployment (``blue``, ``green``, ...) owns its image, sizing, replicas/autoscaling
and probes; ``traffic`` splits live requests between deployments in percent (summing to 100);
``mirror_traffic`` copies a share of requests to a deployment that takes no live traffic (its
answers are dropped). A deployment's settings are ``AksDeploymentConfig``'s own (one home each);
:func:`parse_endpoint_config` validates everything at once and raises one ``ConfigError`` listing
every problem under its field (``traffic``, ``deployments.green.cpu_cores``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlws.components.deployment_config import (
    DNS1035_LABEL,
    DNS1123_LABEL,
    AksDeploymentConfig,
    check_label,
)
from mlws.components.errors import (
    ConfigError,
    CrossCheckedModel,
    Problem,
    parse_config,
    raise_problems,
)

#: Settings that belong to the endpoint as a whole (shared by every deployment's pods).
ENDPOINT_SETTINGS: frozenset[str] = frozenset(
    {
        "auth_enabled",
        "token_auth_enabled",
        "token_audience",
        "token_issuer",
        "token_jwks_url",
        "namespace",
        "create_namespace",
        "network_policy_enabled",
        "allowed_ingress_namespaces",
        "health_check",
        "sample_request",
        "health_check_timeout_seconds",
    }
)

#: ``AksDeploymentConfig`` settings an endpoint does not use: its Gateway fronts the deployments.
NOT_FOR_ENDPOINTS: dict[str, str] = {
    "service_name": "deployments are named by their key; the endpoint by endpoint_name",
    "ssl_enabled": "the Gateway terminates TLS: set tls_secret_name on the endpoint",
    "ssl_cname": "set hostname on the endpoint",
    "ingress_class_name": "the endpoint is served by a Gateway: set gateway_class_name",
    "tls_secret_name": "set tls_secret_name on the endpoint",
    "ingress_controller_namespace": "the Gateway's namespace is admitted (gateway_namespace)",
}

#: The request header that pins a request to one deployment (Azure ML's own name for it).
DEPLOYMENT_HEADER = "azureml-model-deployment"

#: Most deployments per endpoint: an HTTPRoute holds at most 16 rules (one per deployment for
#: the header match, plus the weighted rule).
MAX_DEPLOYMENTS = 15

Percent = Annotated[int, Field(ge=0, le=100)]


class AksEndpointConfig(CrossCheckedModel):
    """The validated endpoint: its own settings plus one ``AksDeploymentConfig`` per deployment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: ClassVar[str] = "Azure Kubernetes Service endpoint"

    endpoint_name: str
    """Kubernetes name of the endpoint's HTTPRoute (and Gateway); default: the component name."""

    traffic: dict[str, Percent] = Field(default_factory=dict)
    """Percent of live requests per deployment, summing to 100; a deployment left out gets 0.
    With a single deployment it defaults to all of it."""

    mirror_traffic: dict[str, Percent] = Field(default_factory=dict)
    """Percent of requests also copied to a deployment with 0 live traffic (answers dropped)."""

    gateway_class_name: str | None = None
    """GatewayClass of a Gateway the endpoint creates for itself (e.g. the Istio-based class of
    AKS's application routing Gateway API); or attach to an existing one with ``gateway_name``."""

    gateway_name: str | None = None
    """An existing Gateway to attach the endpoint's HTTPRoute to (e.g. a platform team's)."""

    gateway_namespace: str | None = None
    """Namespace of ``gateway_name`` (default: the endpoint's namespace)."""

    hostname: str | None = None
    """Host name the endpoint answers at (required): the scoring URI is
    ``<scheme>://<hostname>/score``; its DNS name points at the Gateway's address."""

    tls_secret_name: str | None = None
    """``kubernetes.io/tls`` Secret for an HTTPS listener on the Gateway the endpoint creates."""

    scheme: str | None = None
    """Scheme of the scoring URI: ``https`` with ``tls_secret_name``, else ``http``; set it for
    an existing Gateway that terminates TLS."""

    settings: AksDeploymentConfig
    """The endpoint-wide settings (auth, namespace, health check), as the deployments see them."""

    deployments: dict[str, AksDeploymentConfig]
    """Each deployment's validated settings, by deployment name."""

    @field_validator("endpoint_name")
    @classmethod
    def _endpoint_name(cls, value: str) -> str:
        return check_label(value, DNS1035_LABEL, "endpoint name")

    @field_validator("gateway_name", "gateway_namespace", "tls_secret_name")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return value if value is None else check_label(value, DNS1123_LABEL, "Kubernetes name")

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", value
        ):
            raise ValueError(f"{value!r} is not a lowercase DNS host name like ml.example.com")
        return value

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is not None and value not in ("http", "https"):
            raise ValueError(f"must be http or https, not {value!r}")
        return value

    @classmethod
    def contradictions(cls, raw: Mapping[str, Any]) -> list[Problem]:
        """Gateway choice and TLS; the traffic rules are :func:`traffic_problems`."""
        problems: list[Problem] = []
        if (raw.get("gateway_class_name") is None) == (raw.get("gateway_name") is None):
            problems.append(
                Problem(
                    "gateway_class_name",
                    "give gateway_class_name (the endpoint creates its Gateway) or gateway_name "
                    "(attach to an existing Gateway), one of the two",
                )
            )
        if raw.get("gateway_namespace") is not None and raw.get("gateway_name") is None:
            problems.append(Problem("gateway_namespace", "only used with gateway_name"))
        if raw.get("hostname") is None:
            problems.append(
                Problem(
                    "hostname",
                    "required: the host name the endpoint answers at (its DNS name points at "
                    "the Gateway's address)",
                )
            )
        if raw.get("tls_secret_name") is not None:
            if raw.get("gateway_class_name") is None:
                problems.append(
                    Problem(
                        "tls_secret_name",
                        "only for the Gateway the endpoint creates (gateway_class_name); an "
                        "existing Gateway has its own listeners: set scheme https",
                    )
                )
        return problems

    @property
    def scoring_scheme(self) -> str:
        """``http`` or ``https``, as the scoring URI starts."""
        return self.scheme or ("https" if self.tls_secret_name else "http")

    @property
    def live_traffic(self) -> dict[str, int]:
        """Percent of live traffic per deployment, every deployment included (in name order)."""
        return {name: self.traffic.get(name, 0) for name in sorted(self.deployments)}

    @property
    def gateway_ref(self) -> tuple[str, str]:
        """``(name, namespace)`` of the Gateway the HTTPRoute attaches to."""
        if self.gateway_name is not None:
            return self.gateway_name, self.gateway_namespace or self.settings.namespace
        return self.endpoint_name, self.settings.namespace

    def service_name(self, deployment: str) -> str:
        """Kubernetes name of ``deployment``'s objects: ``<endpoint>-<deployment>``."""
        return f"{self.endpoint_name}-{deployment}"


def traffic_problems(
    deployments: Collection[str], traffic: Any, mirror_traffic: Any
) -> list[Problem]:
    """What is wrong with ``traffic`` and ``mirror_traffic`` for these deployment names.

    Weights are whole percents summing to 100, each naming a deployment; ``traffic`` may be
    left out with a single deployment. Mirroring goes to one deployment, which takes no live
    traffic, for 1 to 100 percent of requests. Raw (unvalidated) values are accepted, so these
    problems are reported beside field errors.
    """
    problems: list[Problem] = []
    known = ", ".join(sorted(deployments)) or "none"
    weights = traffic if isinstance(traffic, Mapping) else {}
    if traffic is None and len(deployments) > 1:
        problems.append(
            Problem("traffic", "required with several deployments: percents summing to 100")
        )
    for name in weights:
        if name not in deployments:
            problems.append(
                Problem(f"traffic.{name}", f"no deployment named {name!r} (deployments: {known})")
            )
    numbers = [w for w in weights.values() if isinstance(w, int) and not isinstance(w, bool)]
    if weights and len(numbers) == len(weights) and sum(numbers) != 100:
        shown = ", ".join(f"{name}: {weight}" for name, weight in weights.items())
        problems.append(Problem("traffic", f"weights sum to {sum(numbers)}, not 100 ({shown})"))
    mirror = mirror_traffic if isinstance(mirror_traffic, Mapping) else {}
    if len(mirror) > 1:
        problems.append(
            Problem("mirror_traffic", "mirror to one deployment at most (as Azure ML does)")
        )
    for name, percent in mirror.items():
        field = f"mirror_traffic.{name}"
        if name not in deployments:
            problems.append(Problem(field, f"no deployment named {name!r} (deployments: {known})"))
            continue
        live = weights.get(name, 0)
        if isinstance(live, int) and live > 0:
            problems.append(
                Problem(
                    field,
                    f"{name!r} takes {live}% of live traffic: mirror only to a deployment with "
                    "0 live traffic",
                )
            )
        if isinstance(percent, int) and not isinstance(percent, bool) and percent == 0:
            problems.append(Problem(field, "a percentage from 1 to 100 (leave it out for none)"))
    return problems


def _deployment_name_problems(name: Any, endpoint_name: Any) -> list[Problem]:
    field = f"deployments.{name}"
    if not isinstance(name, str):
        return [Problem("deployments", f"deployment names are strings, got {name!r}")]
    if not isinstance(endpoint_name, str):
        return []
    try:
        check_label(name, DNS1035_LABEL, "deployment name")
        check_label(f"{endpoint_name}-{name}", DNS1035_LABEL, "Kubernetes name")
    except ValueError as error:
        return [Problem(field, str(error).replace("Kubernetes name", "<endpoint>-<deployment>"))]
    return []


def parse_endpoint_config(
    args: Mapping[str, Any],
    *,
    subject: str,
    name: str,
    references: Collection[str],
    problems: Collection[Problem] = (),
) -> tuple[AksEndpointConfig, dict[str, Any]]:
    """Validate an endpoint's args into its config, and each deployment's image by name.

    ``args`` is flat as for ``AksWebService`` (endpoint settings and ``references``), plus
    ``deployments`` (name -> that deployment's settings and ``image``), ``traffic`` and
    ``mirror_traffic``. Raises one ``ConfigError`` with every problem found, ``problems`` (the
    component's own) included.
    """
    found: list[Problem] = list(problems)
    own = set(AksEndpointConfig.model_fields) - {"settings", "deployments"}
    found += _misplaced(args, allowed=own | ENDPOINT_SETTINGS | set(references) | {"deployments"})
    endpoint_name = args.get("endpoint_name", name)
    settings = _collect(
        found,
        AksDeploymentConfig,
        {k: v for k, v in args.items() if k in ENDPOINT_SETTINGS},
        subject=subject,
        defaults={"service_name": endpoint_name},
    )
    raw = args.get("deployments")
    if not isinstance(raw, Mapping) or not raw:
        found.append(Problem("deployments", "at least one deployment: {name: {image: ..., ...}}"))
        raw = {}
    elif len(raw) > MAX_DEPLOYMENTS:
        found.append(Problem("deployments", f"at most {MAX_DEPLOYMENTS} (an HTTPRoute's limit)"))
    shared = settings.model_dump(exclude_unset=True) if settings is not None else {}
    shared.pop("service_name", None)
    deployments: dict[str, AksDeploymentConfig] = {}
    images: dict[str, Any] = {}
    for dep_name, dep_args in raw.items():
        field = f"deployments.{dep_name}"
        naming = _deployment_name_problems(dep_name, endpoint_name)
        found += naming
        if not isinstance(dep_args, Mapping):
            found.append(Problem(field, "a mapping of the deployment's image and settings"))
            continue
        if dep_args.get("image") is None:
            found.append(Problem(f"{field}.image", "required"))
        images[str(dep_name)] = dep_args.get("image")
        found += _misplaced(dep_args, allowed=None, where=field)
        dep = _collect(
            found,
            AksDeploymentConfig,
            {k: v for k, v in dep_args.items() if k in AksDeploymentConfig.model_fields},
            subject=subject,
            where=field,
            # The pods run with the endpoint's settings, so they are validated together.
            defaults={**shared, "service_name": f"{endpoint_name}-{dep_name}"},
            drop=ENDPOINT_SETTINGS | set(NOT_FOR_ENDPOINTS),
        )
        if dep is not None and not naming:
            deployments[str(dep_name)] = dep
    found += traffic_problems(list(raw), args.get("traffic"), args.get("mirror_traffic"))
    traffic = args.get("traffic")
    if traffic is None and len(raw) == 1:
        traffic = {str(next(iter(raw))): 100}
    values: dict[str, Any] = {k: args[k] for k in own if k in args}
    values.update(endpoint_name=endpoint_name, deployments=deployments)
    values["settings"] = settings or AksDeploymentConfig(service_name="placeholder")
    if traffic is not None:
        values["traffic"] = traffic
    config = _collect(found, AksEndpointConfig, values, subject=subject, defaults={})
    unique = list(dict.fromkeys(found))
    if unique or config is None:
        raise_problems(subject, unique)
    return config, images


def _misplaced(
    args: Mapping[str, Any], *, allowed: Collection[str] | None, where: str = ""
) -> list[Problem]:
    """Keys of the endpoint (``allowed``: its known keys) or of a deployment (``allowed`` None)
    that belong elsewhere or are unknown."""
    problems: list[Problem] = []
    prefix = f"{where}." if where else ""
    for key in args:
        field = f"{prefix}{key}"
        if allowed is not None and key in allowed:
            continue
        if key in NOT_FOR_ENDPOINTS:
            problems.append(Problem(field, f"not used by an endpoint: {NOT_FOR_ENDPOINTS[key]}"))
        elif allowed is None and key in ENDPOINT_SETTINGS:
            problems.append(Problem(field, "an endpoint setting: set it once on the endpoint"))
        elif allowed is not None and key not in allowed:
            problems.append(
                Problem(
                    field,
                    "a deployment setting: set it under deployments.<name>"
                    if key in AksDeploymentConfig.model_fields
                    else "unknown argument (check the spelling)",
                )
            )
        elif allowed is None and key != "image" and key not in AksDeploymentConfig.model_fields:
            problems.append(Problem(field, "unknown argument (check the spelling)"))
    return problems


_M = TypeVar("_M", bound=BaseModel)


def _collect(
    found: list[Problem],
    model: type[_M],
    values: Mapping[str, Any],
    *,
    subject: str,
    defaults: Mapping[str, Any],
    where: str = "",
    drop: Collection[str] = (),
) -> _M | None:
    """``parse_config`` adding its problems to ``found`` instead of raising; a problem with a
    name mlws made up (``service_name``) is left to the check of that name."""
    try:
        return parse_config(
            model,
            {k: v for k, v in values.items() if k not in drop},
            subject=subject,
            where=where,
            defaults=defaults,
        )
    except ConfigError as error:
        found += [p for p in error.problems if not p.field.endswith("service_name")]
        return None
