"""The contract between a deployed service's Pulumi stack and the ``mlws`` operations commands.

A Pulumi program that deploys a scoring service exports the outputs named below (snake_case as
written, or their camelCase spelling for TypeScript/YAML programs); ``mlws invoke``, ``keys``,
``token`` and ``logs`` read them back with ``pulumi stack output --json --show-secrets`` or from a
JSON file holding that command's output::

    pulumi.export(SCORING_URI, svc.scoring_uri)              # "scoring_uri", required
    pulumi.export(SWAGGER_URI, svc.swagger_uri)              # "swagger_uri"
    pulumi.export(AUTH_MODE, "key")                          # "none" | "key" | "token"
    pulumi.export(PRIMARY_KEY, keys.primary_key)             # secrets: export the Output as is,
    pulumi.export(SECONDARY_KEY, keys.secondary_key)         # Pulumi keeps them encrypted
    pulumi.export(SERVICE_KIND, "aks")                       # local-process | docker | aci | aks
    pulumi.export(KUBECONFIG, cluster.kubeconfig)            # + that kind's identifiers, below

A stack that deploys several services exports one object per service instead (e.g.
``pulumi.export("accidents", {"scoring_uri": ..., "auth_mode": ..., ...})``) and the commands pick
it with ``--service accidents``.

Which identifiers ``mlws logs`` needs per :data:`SERVICE_KIND`:

- ``local-process`` (the provider's background ``mlws serve``): :data:`LOG_FILE`.
- ``docker`` (``LocalWebService``): :data:`CONTAINER_NAME`, optional :data:`DOCKER_HOST`.
- ``aci`` (``AciWebService``): :data:`SUBSCRIPTION_ID`, :data:`RESOURCE_GROUP`,
  :data:`CONTAINER_GROUP_NAME`, optional :data:`CONTAINER_NAME` (default: every container).
- ``aks`` (``AksWebService``): :data:`KUBECONFIG` (secret; the file's content or a path),
  :data:`NAMESPACE`, :data:`LABEL_SELECTOR` (selects every replica's pod), optional
  :data:`KUBE_CONTEXT`.

Key rotation is driven by stack configuration, not outputs: the program reads
``<project>:primaryKeyRotation`` and ``<project>:secondaryKeyRotation``
(:data:`PRIMARY_KEY_ROTATION`, :data:`SECONDARY_KEY_ROTATION`) and passes each to ``ServiceKeys``
as that key's rotation trigger, so changing one value and running ``pulumi up`` regenerates exactly
that key. ``mlws keys rotate`` edits the value in ``Pulumi.<stack>.yaml``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic.alias_generators import to_camel, to_snake

from mlws.runtime.settings import AuthMode

# --- stack output names -------------------------------------------------------------------------

SCORING_URI: Final = "scoring_uri"
"""The ``POST`` scoring endpoint, e.g. ``http://20.1.2.3/score`` (required)."""
SWAGGER_URI: Final = "swagger_uri"
"""The OpenAPI document, e.g. ``http://20.1.2.3/swagger.json`` (default: derived from the URI)."""
AUTH_MODE: Final = "auth_mode"
"""``none``, ``key`` or ``token`` (default: inferred from which secrets are exported)."""
PRIMARY_KEY: Final = "primary_key"
"""Primary service key (secret) for key auth."""
SECONDARY_KEY: Final = "secondary_key"
"""Secondary service key (secret) for key auth."""
TOKEN_SECRET: Final = "token_secret"  # noqa: S105 - an output name
"""HS256 signing secret (secret) for token auth; ``mlws token`` signs with it."""
TOKEN_AUDIENCE: Final = "token_audience"  # noqa: S105
"""``aud`` claim the service requires (MLWS_TOKEN_AUDIENCE), if any."""
TOKEN_ISSUER: Final = "token_issuer"  # noqa: S105
"""``iss`` claim the service requires (MLWS_TOKEN_ISSUER), if any."""
TOKEN_JWKS_URL: Final = "token_jwks_url"  # noqa: S105
"""JWKS/OIDC URL when tokens come from an external issuer (then ``mlws token`` cannot sign)."""
SERVICE_KIND: Final = "service_kind"
"""Where the service runs: ``local-process``, ``docker``, ``aci`` or ``aks``."""
LOG_FILE: Final = "log_file"
"""local-process: the file the background ``mlws serve`` writes its stderr to."""
CONTAINER_NAME: Final = "container_name"
"""docker: the container's name; aci: one container of the group (optional)."""
DOCKER_HOST: Final = "docker_host"
"""docker: the engine address (``unix:///var/run/docker.sock``, ``tcp://...``) if not default."""
SUBSCRIPTION_ID: Final = "subscription_id"
"""aci: the Azure subscription id."""
RESOURCE_GROUP: Final = "resource_group"
"""aci: the resource group holding the container group."""
CONTAINER_GROUP_NAME: Final = "container_group_name"
"""aci: the container group's name."""
KUBECONFIG: Final = "kubeconfig"
"""aks: kubeconfig content or path (secret)."""
KUBE_CONTEXT: Final = "kube_context"
"""aks: kubeconfig context to use (default: the current context)."""
NAMESPACE: Final = "namespace"
"""aks: the namespace of the Deployment."""
LABEL_SELECTOR: Final = "label_selector"
"""aks: label selector of the service's pods, e.g. ``app.kubernetes.io/instance=accidents``."""
DEPLOYMENTS: Final = "deployments"
"""An endpoint with several deployments (``AksEndpoint``): their names, e.g. ``["blue", "green"]``;
``mlws invoke --deployment NAME`` sends a request to one of them."""

#: Every output name above, in documentation order.
OUTPUT_NAMES: Final = (
    SCORING_URI,
    SWAGGER_URI,
    AUTH_MODE,
    PRIMARY_KEY,
    SECONDARY_KEY,
    TOKEN_SECRET,
    TOKEN_AUDIENCE,
    TOKEN_ISSUER,
    TOKEN_JWKS_URL,
    SERVICE_KIND,
    LOG_FILE,
    CONTAINER_NAME,
    DOCKER_HOST,
    SUBSCRIPTION_ID,
    RESOURCE_GROUP,
    CONTAINER_GROUP_NAME,
    KUBECONFIG,
    KUBE_CONTEXT,
    NAMESPACE,
    LABEL_SELECTOR,
    DEPLOYMENTS,
)

# --- stack config keys --------------------------------------------------------------------------

PRIMARY_KEY_ROTATION: Final = "primaryKeyRotation"
"""Stack config key (project namespace) holding the primary key's rotation trigger."""
SECONDARY_KEY_ROTATION: Final = "secondaryKeyRotation"
"""Stack config key (project namespace) holding the secondary key's rotation trigger."""

KeyName = Literal["primary", "secondary"]

#: Config key per key name, for ``mlws keys rotate --key``.
ROTATION_CONFIG_KEYS: Final[dict[str, str]] = {
    "primary": PRIMARY_KEY_ROTATION,
    "secondary": SECONDARY_KEY_ROTATION,
}

ServiceKind = Literal["local-process", "docker", "aci", "aks"]

#: What ``pulumi stack output --json`` prints for a secret without ``--show-secrets``.
_HIDDEN_SECRET = "[secret]"  # noqa: S105 - a placeholder, not a secret


class ServiceError(Exception):
    """A service could not be resolved or reached; the message is one line meant for the user."""


class ServiceOutputs(BaseModel):
    """A deployed service as its stack outputs describe it (see the module docstring)."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    scoring_uri: str
    """The scoring endpoint (``POST``)."""
    swagger_uri: str | None = None
    """The OpenAPI document; derived from :attr:`scoring_uri` when not exported."""
    auth_mode: AuthMode | None = None
    """How clients authenticate; inferred from the exported secrets when not exported."""
    primary_key: SecretStr | None = None
    """Primary key (key auth)."""
    secondary_key: SecretStr | None = None
    """Secondary key (key auth)."""
    token_secret: SecretStr | None = None
    """HS256 signing secret (token auth)."""
    token_audience: str | None = None
    """Required ``aud`` claim."""
    token_issuer: str | None = None
    """Required ``iss`` claim."""
    token_jwks_url: str | None = None
    """External issuer's JWKS/OIDC URL (token auth without a shared secret)."""
    service_kind: ServiceKind | None = None
    """Where the service runs, for ``mlws logs``."""
    log_file: str | None = None
    """local-process log file."""
    container_name: str | None = None
    """docker container name, or one ACI container."""
    docker_host: str | None = None
    """Docker engine address."""
    subscription_id: str | None = None
    """ACI subscription id."""
    resource_group: str | None = None
    """ACI resource group."""
    container_group_name: str | None = None
    """ACI container group name."""
    kubeconfig: SecretStr | None = None
    """AKS kubeconfig content or path."""
    kube_context: str | None = None
    """AKS kubeconfig context."""
    namespace: str | None = Field(default=None)
    """AKS namespace."""
    label_selector: str | None = None
    """AKS pod label selector."""
    deployments: tuple[str, ...] | None = None
    """An endpoint's deployment names (``AksEndpoint``)."""
    hidden_outputs: frozenset[str] = frozenset()
    """Outputs that were present but hidden as ``[secret]`` (read without ``--show-secrets``, or
    an ``mlws render`` file); they read as unset, and :meth:`secret_missing` explains."""

    @model_validator(mode="after")
    def _infer_auth_mode(self) -> ServiceOutputs:
        if self.auth_mode is None:
            hidden = {to_snake(name) for name in self.hidden_outputs}
            if self.token_secret is not None or self.token_jwks_url is not None:
                mode: AuthMode = "token"
            elif TOKEN_SECRET in hidden:
                mode = "token"
            elif self.primary_key is not None or self.secondary_key is not None:
                mode = "key"
            elif hidden & {PRIMARY_KEY, SECONDARY_KEY}:
                mode = "key"
            else:
                mode = "none"
            object.__setattr__(self, "auth_mode", mode)
        return self

    def is_hidden(self, name: str) -> bool:
        """Whether output ``name`` (snake_case) was present but hidden as ``[secret]``."""
        return name in {to_snake(hidden) for hidden in self.hidden_outputs}

    def secret_missing(self, name: str, fallback: str) -> ServiceError:
        """The error for a needed secret output ``name`` that is unset: ``fallback``, unless the
        output was hidden as ``[secret]``, which needs ``--show-secrets`` instead."""
        if self.is_hidden(name):
            return ServiceError(
                f"stack output {name!r} is hidden as '[secret]': read the outputs with "
                "`pulumi stack output --json --show-secrets` (or use --stack)"
            )
        return ServiceError(fallback)

    @property
    def effective_auth_mode(self) -> AuthMode:
        """The auth mode, exported or inferred."""
        return self.auth_mode or "none"

    @property
    def effective_swagger_uri(self) -> str:
        """:attr:`swagger_uri`, or ``/swagger.json`` next to the scoring path."""
        return self.swagger_uri or swagger_uri_for(self.scoring_uri)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], service: str | None = None) -> ServiceOutputs:
        """Parse a ``pulumi stack output --json --show-secrets`` dict.

        ``service`` picks a nested per-service object; without it, the top level is used, or the
        only nested object that has a scoring URI.
        """
        chosen = _select_service(outputs, service)
        hidden = frozenset(name for name, value in chosen.items() if value == _HIDDEN_SECRET)
        shown = {name: value for name, value in chosen.items() if name not in hidden}
        try:
            return cls.model_validate({**shown, "hidden_outputs": hidden})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "outputs"
            raise ServiceError(f"bad stack output {where!r}: {first['msg']}") from None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        key: str | None = None,
        secondary_key: str | None = None,
        token_secret: str | None = None,
        token_audience: str | None = None,
        token_issuer: str | None = None,
    ) -> ServiceOutputs:
        """Describe a service named by URL (a base URL gets ``/score`` appended)."""
        return cls(
            scoring_uri=scoring_uri_for(url),
            primary_key=SecretStr(key) if key else None,
            secondary_key=SecretStr(secondary_key) if secondary_key else None,
            token_secret=SecretStr(token_secret) if token_secret else None,
            token_audience=token_audience,
            token_issuer=token_issuer,
        )


def _select_service(outputs: Mapping[str, Any], service: str | None) -> Mapping[str, Any]:
    if not isinstance(outputs, Mapping):
        raise ServiceError("stack outputs must be a JSON object")
    if service is not None:
        nested = outputs.get(service)
        if not isinstance(nested, Mapping):
            names = ", ".join(sorted(k for k, v in outputs.items() if isinstance(v, Mapping)))
            raise ServiceError(
                f"no service object {service!r} in the stack outputs (objects: {names or 'none'})"
            )
        return nested
    if any(name in outputs for name in (SCORING_URI, to_camel(SCORING_URI))):
        return outputs
    candidates = [
        name
        for name, value in outputs.items()
        if isinstance(value, Mapping) and (SCORING_URI in value or to_camel(SCORING_URI) in value)
    ]
    if len(candidates) == 1:
        nested = outputs[candidates[0]]
        assert isinstance(nested, Mapping)
        return nested
    if candidates:
        raise ServiceError(
            f"the stack exports several services ({', '.join(sorted(candidates))}): "
            "pick one with --service NAME"
        )
    raise ServiceError(f"the stack outputs have no {SCORING_URI!r}: is this a service's stack?")


def scoring_uri_for(url: str) -> str:
    """Normalise a service URL: a bare base URL (no path) gets ``/score``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServiceError(f"not an http(s) URL: {url!r}")
    path = parts.path if parts.path not in ("", "/") else "/score"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def swagger_uri_for(scoring_uri: str) -> str:
    """The ``swagger.json`` URL next to a scoring URI (``.../score`` -> ``.../swagger.json``)."""
    parts = urlsplit(scoring_uri)
    path = parts.path
    base = path[: -len("score")] if path.endswith("/score") else path.rstrip("/") + "/"
    return urlunsplit((parts.scheme, parts.netloc, base + "swagger.json", "", ""))


def load_outputs_file(path: Path) -> dict[str, Any]:
    """Read a JSON outputs file (``pulumi stack output --json --show-secrets > f.json``).

    A file whose object holds an ``outputs`` object (as some tools write) is unwrapped.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ServiceError(f"cannot read outputs file {str(path)!r}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServiceError(
            f"outputs file {str(path)!r} is not JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise ServiceError(f"outputs file {str(path)!r} must hold a JSON object")
    inner = data.get("outputs")
    if isinstance(inner, dict) and SCORING_URI not in data:
        return inner
    return data


def read_stack_outputs(
    stack: str, cwd: Path | None = None, timeout: float = 120.0
) -> dict[str, Any]:
    """Run ``pulumi stack output --json --show-secrets`` for ``stack`` (``ORG/PROJECT/STACK``, or
    a stack name of the project in ``cwd``) and return the outputs."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise ServiceError(
            "--stack needs the pulumi CLI, which is not on PATH: install it "
            "(https://www.pulumi.com/docs/install/) or pass --outputs FILE written by "
            "`pulumi stack output --json --show-secrets > FILE`"
        )
    if cwd is not None and not cwd.is_dir():
        raise ServiceError(f"--cwd {str(cwd)!r} is not a directory")
    cmd = [pulumi, "stack", "output", "--json", "--show-secrets", "--non-interactive"]
    cmd += ["--stack", stack]
    if cwd is not None:
        cmd += ["--cwd", str(cwd)]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
        )
    except subprocess.TimeoutExpired:
        raise ServiceError(
            f"`pulumi stack output` for {stack!r} took over {timeout:.0f}s"
        ) from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise ServiceError(f"`pulumi stack output --stack {stack}` failed: {reason}")
    try:
        data = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        raise ServiceError(f"`pulumi stack output --stack {stack}` did not print JSON") from None
    if not isinstance(data, dict):
        raise ServiceError(f"`pulumi stack output --stack {stack}` did not print a JSON object")
    return data
