"""``LocalWebService``: a scoring image run as a container on the local Docker engine.

The seed's ``local_webservice_deployment_config(port = 8890)`` as a Pulumi component: one
``pulumi-docker`` ``Container`` publishing the runtime's port on ``host_port`` (Azure ML's
``port``, still accepted under that name with a deprecation warning; bound to 127.0.0.1 by
default), the runtime's settings as environment variables (keys and token secret as a secret),
a Docker health check on ``/ready``, and by default a ``HealthGate`` that makes ``pulumi up`` wait
until the service is ready and answers ``sample_request``. GPU inference is rejected, as in
Azure ML: only AKS serves GPUs.

Locked down like the AKS pods (docs/security.md): a read-only root filesystem with a ``tmpfs`` on
``/tmp`` (the images' ``HOME``), every capability dropped, ``no-new-privileges``, Docker's init as
PID 1, a process limit
and, when given, memory and CPU limits (no swap beyond them). ``container_args`` builds all of it
(pure).
"""

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Required

import pulumi
import pulumi_docker as docker
from pydantic import AliasChoices, Field

from mlws.components._package import type_token
from mlws.components.credentials import credential_problem, given_names, requested_auth_mode
from mlws.components.deployment_config import DeploymentConfig
from mlws.components.errors import Problem, parse_config, renamed_notes
from mlws.components.runtime_env import (
    CONTAINER_PORT,
    LOCAL_HOST_PORT,
    runtime_env,
    secret_env_names,
)
from mlws.components.service_args import HealthCheckArgs, ScoringLimitsArgs, ServiceKeyArgs
from mlws.components.service_wiring import WebService

_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]{0,127}$")
#: The writable scratch folder, a tmpfs (the images set ``HOME`` to it).
TMP_DIR = "/tmp"  # noqa: S108 - a tmpfs inside the container, not the host's /tmp
_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")


class LocalWebServiceArgs(ServiceKeyArgs, ScoringLimitsArgs, HealthCheckArgs, total=False):
    """Inputs of :class:`LocalWebService`: the image, keys, and the local deployment settings."""

    image: Required[pulumi.Input[str]]
    """Image to run (``ScoringImage.image_ref``)."""
    token_secret: pulumi.Input[str]
    """Token signing secret (``ServiceKeys.token_secret``); required when ``token_auth_enabled``."""
    host_port: int
    """Host port Docker publishes the service on (default 8890; the container listens on 5001)."""
    port: int
    """Deprecated: the old name of ``host_port``, still accepted (with a warning)."""
    host_ip: str
    """Host address the port is bound to (default ``127.0.0.1``; ``0.0.0.0`` exposes it)."""
    container_name: str
    """Docker container name (default ``mlws-<name>``)."""
    auth_enabled: bool
    """Key auth (default off, as for Azure ML local services)."""
    token_auth_enabled: bool
    """Token (JWT) auth with ``token_secret`` (default off)."""
    cpu_cores: float
    """CPU limit in cores (default: no limit)."""
    memory_gb: float
    """Memory limit in GB (default: no limit)."""
    gpu_cores: int
    """Must stay 0: GPU inference needs Azure Kubernetes Service."""
    period_seconds: int
    """Docker health check interval in seconds (default 10)."""
    initial_delay_seconds: int
    """Docker health check start period in seconds (default 310)."""
    timeout_seconds: int
    """Docker health check timeout in seconds (default 2)."""
    success_threshold: int
    """Accepted for symmetry with AKS; Docker health checks have no success threshold."""
    failure_threshold: int
    """Failed health checks before the container counts as unhealthy (default 3)."""
    tags: dict[str, str]
    """Docker labels of the container."""
    tmp_size_gb: float
    """Size of the ``/tmp`` tmpfs, the only writable folder (default 1; counts as memory)."""
    pids_limit: int
    """Most processes and threads the service's user may run (default 1024)."""
    environment_variables: dict[str, str]
    """Extra environment variables (not for secrets: use the key inputs)."""


#: Args that are resource references rather than settings.
REFERENCES = frozenset({"image", "primary_key", "secondary_key", "token_secret"})


class LocalDeploymentConfig(DeploymentConfig):
    """Local Docker settings (Azure ML's ``local_webservice_deployment_config``)."""

    target: ClassVar[str] = "local Docker"

    renamed: ClassVar[Mapping[str, str]] = {"port": "host_port"}

    host_port: int = Field(
        default=LOCAL_HOST_PORT,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("host_port", "port"),
        description="Host port Docker publishes the service on.",
    )
    host_ip: str = Field(default="127.0.0.1", description="Host address the port is bound to.")
    container_name: str | None = Field(default=None, description="Docker container name.")
    environment_variables: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables."
    )
    tmp_size_gb: float = Field(default=1.0, gt=0, le=1024)
    """Size of the ``/tmp`` tmpfs, the only writable folder (the root filesystem is read-only);
    its contents count against the container's memory."""
    pids_limit: int = Field(default=1024, ge=16, le=1_000_000)
    """Most processes and threads the container's user may run (``RLIMIT_NPROC``: pulumi-docker
    has no ``--pids-limit``; the kernel counts the tasks of that UID, so containers sharing the
    image's user share it). Raise it for many workers or scoring threads."""

    @classmethod
    def contradictions(cls, raw: Mapping[str, Any]) -> list[Problem]:
        """Local: no GPU; a valid IPv4 bind address and container name."""
        problems = super().contradictions(raw)
        gpu = raw.get("gpu_cores")
        if isinstance(gpu, int | float) and gpu > 0:
            problems.append(
                Problem("gpu_cores", "GPU inference is only available on Azure Kubernetes Service")
            )
        host_ip = raw.get("host_ip")
        if isinstance(host_ip, str):
            match = _IPV4.fullmatch(host_ip)
            if match is None or any(int(part) > 255 for part in match.groups()):
                problems.append(Problem("host_ip", f"{host_ip!r} is not an IPv4 address"))
        name = raw.get("container_name")
        if isinstance(name, str) and not _CONTAINER_NAME.fullmatch(name):
            problems.append(
                Problem("container_name", "use letters, digits, '_', '.' or '-' (Docker names)")
            )
        return problems

    @property
    def public_host(self) -> str:
        """Host clients connect to: the bind address, or 127.0.0.1 when bound to every address."""
        return "127.0.0.1" if self.host_ip == "0.0.0.0" else self.host_ip  # noqa: S104

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>``."""
        return f"http://{self.public_host}:{self.host_port}"


def reference_problems(args: LocalWebServiceArgs) -> list[Problem]:
    """Missing references for the chosen auth mode (known at preview: presence only)."""
    problems = []
    if args.get("image") is None:
        problems.append(Problem("image", "required"))
    missing = credential_problem(requested_auth_mode(args), given_names(args))
    return problems if missing is None else [*problems, missing]


def parse_local_config(name: str, args: LocalWebServiceArgs) -> LocalDeploymentConfig:
    """Validate ``args``; all problems at once as :class:`~mlws.components.errors.ConfigError`."""
    return parse_config(
        LocalDeploymentConfig,
        args,
        subject=f"LocalWebService {name!r}",
        references=REFERENCES,
        defaults={"container_name": f"mlws-{name}"},
        problems=reference_problems(args),
    )


def plain_env(config: LocalDeploymentConfig) -> dict[str, str]:
    """The container's non-secret environment: runtime settings, then the user's variables."""
    return {**config.environment_variables, **runtime_env(config, port=CONTAINER_PORT)}


def env_list(plain: Mapping[str, str], secrets: Mapping[str, str]) -> list[str]:
    """Docker's ``KEY=value`` list, sorted by name (secret values included: mark it secret)."""
    merged = {**plain, **secrets}
    return [f"{key}={merged[key]}" for key in sorted(merged)]


def healthcheck(config: LocalDeploymentConfig) -> dict[str, Any]:
    """Docker health check on the runtime's readiness route ``/ready``.

    Docker restarts nothing on an unhealthy container; its ``healthy`` is what ``docker ps`` shows
    and Compose's ``service_healthy`` waits for: that the service answers requests. So it means
    readiness (``start_period`` covers the model load), unlike Kubernetes' liveness probe.
    """
    probe = (
        "import urllib.request, sys; "
        f"sys.exit(urllib.request.urlopen('http://127.0.0.1:{CONTAINER_PORT}/ready', "
        f"timeout={config.timeout_seconds}).status != 200)"
    )
    return {
        "tests": ["CMD", "python3", "-c", probe],
        "interval": f"{config.period_seconds}s",
        "timeout": f"{config.timeout_seconds}s",
        "start_period": f"{config.initial_delay_seconds}s",
        "retries": config.failure_threshold,
    }


def container_args(config: LocalDeploymentConfig) -> dict[str, Any]:
    """The ``docker.Container`` settings that do not depend on other resources (pure)."""
    args: dict[str, Any] = {
        "name": config.container_name,
        "ports": [{"internal": CONTAINER_PORT, "external": config.host_port, "ip": config.host_ip}],
        "restart": "unless-stopped",
        "healthcheck": healthcheck(config),
        "labels": [
            {"label": key, "value": value}
            for key, value in sorted({**config.tags, "mlws.service": config.container_name}.items())
        ],
        "must_run": True,
        "read_only": True,
        # docker-init as PID 1: reaps orphans, forwards signals, and keeps the runtime's
        # supervisor from being PID 1 (its workers take a parent PID of 1 as an orphaned start).
        "init": True,
        "tmpfs": {TMP_DIR: f"rw,nosuid,nodev,size={max(1, round(config.tmp_size_gb * 1024))}m"},
        "capabilities": {"drops": ["ALL"]},
        "security_opts": ["no-new-privileges"],
        "ulimits": [{"name": "nproc", "soft": config.pids_limit, "hard": config.pids_limit}],
    }
    if "cpu_cores" in config.model_fields_set:
        args["cpus"] = f"{config.cpu_cores:g}"
    if "memory_gb" in config.model_fields_set:
        args["memory"] = max(6, round(config.memory_gb * 1024))
        args["memory_swap"] = args["memory"]  # no swap beyond the limit
    return args


class LocalWebService(WebService):
    """A scoring web service in a local Docker container (Azure ML's local deployment)."""

    SECRET_PROPERTIES = frozenset({"primary_key", "secondary_key", "token_secret"})
    """Inputs and outputs the plugin's schema marks secret (declared, not guessed from names)."""

    # WebService's outputs again, documented for this target (the schema reads this class's).
    scoring_uri: pulumi.Output[str]
    """The ``POST`` scoring endpoint, e.g. ``http://127.0.0.1:8890/score``."""
    swagger_uri: pulumi.Output[str]
    """The OpenAPI document of the service."""
    auth_mode: pulumi.Output[str]
    """``none``, ``key`` or ``token``."""
    container_name: pulumi.Output[str]
    """The Docker container's name (for ``mlws logs`` / ``docker logs``)."""

    def __init__(
        self, name: str, args: LocalWebServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        config = parse_local_config(name, args)
        super().__init__(type_token("LocalWebService"), name, None, opts)
        for note in renamed_notes(LocalDeploymentConfig, args, subject=f"LocalWebService {name!r}"):
            pulumi.log.warn(note, resource=self)

        values: dict[str, pulumi.Input[str] | None] = {
            "primary_key": args.get("primary_key"),
            "secondary_key": args.get("secondary_key"),
            "token_secret": args.get("token_secret"),
        }
        secrets = {
            env: values[setting]
            for setting, env in secret_env_names(config).items()
            if values[setting] is not None
        }
        plain = plain_env(config)
        envs: pulumi.Input[list[str]] = env_list(plain, {})
        if secrets:
            resolved: pulumi.Output[dict[str, Any]] = pulumi.Output.all(**secrets)
            envs = pulumi.Output.secret(resolved.apply(lambda found: env_list(plain, found)))
        container = docker.Container(
            f"{name}-container",
            image=args["image"],
            envs=envs,
            **container_args(config),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.container_name = container.name
        self._serve(
            name,
            config,
            base_url=config.base_url,
            image=args["image"],
            secrets=values,
            depends_on=[container],
            log_command=pulumi.Output.concat("docker logs --tail 100 ", container.name),
        )
