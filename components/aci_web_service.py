"""``AciWebService``: a scoring image served by Azure Container Instances.

One azure-native ``ContainerGroup`` (plus a TLS sidecar in it when ``ssl_enabled``), keys as files
of a secret volume (the container's environment holds only their paths), private registry
credentials as secrets, and by default a ``HealthGate`` that
makes ``pulumi up`` wait until the service is ready and answers a sample request.
Settings follow Azure ML's ``aci_webservice_deployment_config`` (auth off by default, no token auth,
no GPU, less than 48 GB of memory); everything is validated before any resource is registered.
"""

import base64
from typing import Any, Required

import pulumi
from pulumi_azure_native import containerinstance

from mlws.components._package import type_token
from mlws.components.aci_spec import (
    SCORING_CONTAINER,
    RegistryCredentials,
    aci_fqdn,
    container_group_args,
    scoring_base_url,
)
from mlws.components.credentials import credential_problem, given_names
from mlws.components.deployment_config import (
    AciDeploymentConfig,
)
from mlws.components.errors import Problem, parse_config, renamed_notes
from mlws.components.service_args import (
    HealthCheckArgs,
    ProbeArgs,
    ScoringLimitsArgs,
    ServiceKeyArgs,
)
from mlws.components.service_wiring import WebService, given_secrets
from mlws.runtime.settings import AuthMode


class AciWebServiceArgs(ServiceKeyArgs, ScoringLimitsArgs, ProbeArgs, HealthCheckArgs, total=False):
    """Inputs of :class:`AciWebService`: resource references plus Azure ML's ACI settings."""

    image: Required[pulumi.Input[str]]
    """Image reference to run, ideally by digest (``ScoringImage.ref``)."""
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the container group."""
    location: pulumi.Input[str]
    """Azure region (default: the resource group's); needed for TLS on the ACI host name."""
    registry_server: pulumi.Input[str]
    """Private registry host (e.g. ``myacr.azurecr.io``) to log in to."""
    registry_username: pulumi.Input[str]
    """Registry user name."""
    registry_password: pulumi.Input[str]
    """Registry password (kept secret)."""
    ssl_certificate: pulumi.Input[str]
    """PEM certificate (chain) to serve with ``ssl_enabled``; none: Let's Encrypt via Caddy."""
    ssl_key: pulumi.Input[str]
    """PEM private key of ``ssl_certificate`` (kept secret)."""
    cpu_cores: float
    """CPU cores (default 0.1; at most 4)."""
    memory_gb: float
    """Memory in GB (default 0.5; less than 48)."""
    gpu_cores: int
    """Must stay 0: GPU inference needs Azure Kubernetes Service."""
    auth_enabled: bool
    """Key auth (default off on ACI, as in Azure ML)."""
    token_auth_enabled: bool
    """Must stay off: token auth needs Azure Kubernetes Service."""
    tags: dict[str, str]
    """Azure tags of the container group."""
    dns_name_label: str
    """DNS label: the service answers at ``<label>.<region>.azurecontainer.io``."""
    public_port: int
    """Port clients connect to without TLS (default 5001; 80 needs an image allowed to bind it)."""
    port: int
    """Deprecated: the old name of ``public_port``, still accepted (with a warning)."""
    ssl_enabled: bool
    """Serve HTTPS on 443 through a Caddy sidecar (ACI has no TLS of its own)."""
    ssl_cname: str
    """Custom host name for TLS (a CNAME to the ACI host name)."""


#: Args that are resource references rather than settings.
REFERENCES = frozenset(
    {
        "image",
        "resource_group_name",
        "location",
        "primary_key",
        "secondary_key",
        "registry_server",
        "registry_username",
        "registry_password",
        "ssl_certificate",
        "ssl_key",
    }
)


def reference_problems(args: AciWebServiceArgs) -> list[Problem]:
    """Missing or contradictory resource references (known at preview: presence only)."""
    problems: list[Problem] = []
    for required in ("image", "resource_group_name"):
        if args.get(required) is None:
            problems.append(Problem(required, "required"))
    # Token auth is refused by the config itself: only the key is checked, whatever else is on.
    key_auth: AuthMode = "key" if args.get("auth_enabled") is True else "none"
    missing = credential_problem(key_auth, given_names(args))
    problems += [] if missing is None else [missing]
    registry = [args.get(k) is not None for k in ("registry_username", "registry_password")]
    if args.get("registry_server") is not None and not all(registry):
        problems.append(Problem("registry_server", "needs registry_username and registry_password"))
    elif any(registry) and args.get("registry_server") is None:
        problems.append(Problem("registry_server", "required with registry credentials"))
    if (args.get("ssl_certificate") is None) != (args.get("ssl_key") is None):
        problems.append(Problem("ssl_key", "ssl_certificate and ssl_key go together"))
    if args.get("ssl_certificate") is not None and args.get("ssl_enabled") is not True:
        problems.append(Problem("ssl_certificate", "only used with ssl_enabled"))
    if (
        args.get("ssl_enabled") is True
        and not args.get("ssl_cname")
        and args.get("location") is None
    ):
        problems.append(
            Problem("location", "required for TLS on <dns_name_label>.<location>.azurecontainer.io")
        )
    return problems


def az_logs_command(resource_group: str | None, group: str | None) -> str | None:
    """The ``az`` command printing the scoring container's logs (``None`` until names are known)."""
    if not resource_group or not group:
        return None
    return (
        f"az container logs --resource-group {resource_group} --name {group} "
        f"--container-name {SCORING_CONTAINER}"
    )


def _logs_command(names: list[Any]) -> Any:
    return az_logs_command(*names)


def _b64(value: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.secret(value).apply(lambda text: base64.b64encode(text.encode()).decode())


class AciWebService(WebService):
    """A scoring web service on Azure Container Instances (one container group)."""

    SECRET_PROPERTIES = frozenset({"primary_key", "secondary_key", "registry_password", "ssl_key"})
    """Inputs and outputs the plugin's schema marks secret (declared, not guessed from names)."""

    # WebService's outputs again, documented for this target (the schema reads this class's).
    scoring_uri: pulumi.Output[str]
    """The ``POST`` scoring endpoint, e.g. ``http://<label>.<region>.azurecontainer.io:5001/score``."""
    swagger_uri: pulumi.Output[str]
    """The OpenAPI document of the service."""
    auth_mode: pulumi.Output[str]
    """``none`` or ``key``."""
    container_group_name: pulumi.Output[str]
    """Name of the container group (for ``mlws logs``)."""
    host: pulumi.Output[str]
    """Host name (or IP address) the service answers at."""

    def __init__(
        self,
        name: str,
        args: AciWebServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        config = parse_config(
            AciDeploymentConfig,
            args,
            subject=f"AciWebService {name!r}",
            references=REFERENCES,
            problems=reference_problems(args),
        )
        super().__init__(type_token("AciWebService"), name, None, opts)
        for note in renamed_notes(AciDeploymentConfig, args, subject=f"AciWebService {name!r}"):
            pulumi.log.warn(note, resource=self)
        group = self._container_group(name, config, args)

        def host_of(ip: Any) -> str:
            if config.ssl_cname:
                return config.ssl_cname
            return str((ip.fqdn if ip is not None else None) or (ip.ip if ip is not None else ""))

        self.host = group.ip_address.apply(host_of)
        self.container_group_name = group.name
        self._serve(
            name,
            config,
            base_url=self.host.apply(lambda host: scoring_base_url(config, host)),
            image=args["image"],
            secrets=args,
            depends_on=[group],
            log_command=pulumi.Output.all(args["resource_group_name"], group.name).apply(
                _logs_command
            ),
        )

    def _container_group(
        self, name: str, config: AciDeploymentConfig, args: AciWebServiceArgs
    ) -> containerinstance.ContainerGroup:
        """Register the container group (scoring container, plus the TLS sidecar with TLS)."""
        secrets = {setting: _b64(value) for setting, value in given_secrets(config, args).items()}
        registry = None
        if args.get("registry_server") is not None:
            registry = RegistryCredentials(
                server=args["registry_server"],
                username=args["registry_username"],
                password=pulumi.Output.secret(args["registry_password"]),
            )
        tls_site: Any = None
        if config.ssl_enabled:
            tls_site = config.ssl_cname or pulumi.Output.from_input(args["location"]).apply(
                lambda location: aci_fqdn(str(config.dns_name_label), location)
            )
        certificate, key = args.get("ssl_certificate"), args.get("ssl_key")
        return containerinstance.ContainerGroup(
            f"{name}-group",
            containerinstance.ContainerGroupArgs(
                **container_group_args(
                    config,
                    image=args["image"],
                    resource_group_name=args["resource_group_name"],
                    location=args.get("location"),
                    secrets=secrets,
                    registry=registry,
                    tls_site=tls_site,
                    tls_certificate_b64=_b64(certificate) if certificate is not None else None,
                    tls_key_b64=_b64(key) if key is not None else None,
                ),
            ),
            pulumi.ResourceOptions(parent=self),
        )
