"""The scoring runtime's environment in every target's container, from one declared mapping.

The runtime reads :class:`~mlws.runtime.settings.RuntimeSettings` from ``MLWS_*`` variables; the
targets take Azure ML's deployment-config names. :data:`AZUREML_SETTINGS` is the one table from
the Azure ML names to the runtime fields: :func:`azureml_field` gives each deployment-config field
its runtime field's default and bounds (so a default is written once, in ``RuntimeSettings``), and
:func:`runtime_env` renders the same fields into the environment of local Docker, ACI and AKS
containers. :func:`settings_env` is the one renderer of runtime fields to variables, also used by
the image's baked-in environment and LocalProcessService.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import Field

from mlws.runtime.settings import RuntimeSettings, env_var_name

if TYPE_CHECKING:
    from mlws.components.deployment_config import DeploymentConfig

CONTAINER_PORT = 5001
"""The port the scoring runtime listens on inside a container (image, pod, container group)."""

LOCAL_HOST_PORT: int = RuntimeSettings.model_fields["port"].get_default()
"""The host port a local container is published on by default: the runtime's own default port,
so ``mlws serve`` and ``LocalWebService`` answer at the same address."""

ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - inside a container, reached via its published port
"""The address the runtime listens on inside a container."""

AZUREML_SETTINGS: Mapping[str, str] = MappingProxyType(
    {
        "scoring_timeout_ms": "scoring_timeout_ms",
        "replica_max_concurrent_requests": "max_concurrent_requests",
        "max_request_wait_time": "max_request_wait_ms",
    }
)
"""Azure ML deployment-config name -> the :class:`RuntimeSettings` field it sets."""

TOKEN_SETTINGS: tuple[str, ...] = ("token_audience", "token_issuer", "token_jwks_url")
"""Token-auth settings a deployment config passes to the runtime under the same names."""

SECRET_SETTINGS: tuple[str, ...] = ("primary_key", "secondary_key", "token_secret")
"""Runtime settings that carry secrets, in the order they are rendered."""

SECRETS_MOUNT = "/etc/mlws/secrets"
"""Read-only folder where AKS and ACI mount the secrets as files, one per setting."""


def runtime_default(field: str) -> Any:
    """Runtime setting ``field``'s default (a path as text)."""
    default = RuntimeSettings.model_fields[field].get_default()
    return str(default) if isinstance(default, Path) else default


def runtime_field(field: str, **narrower: Any) -> Any:
    """A pydantic field with runtime setting ``field``'s default and bounds, so each is written
    once (in :class:`~mlws.runtime.settings.RuntimeSettings`); ``narrower`` may tighten them."""
    bounds = {
        key: getattr(item, key)
        for item in RuntimeSettings.model_fields[field].metadata
        for key in ("ge", "gt", "le", "lt")
        if getattr(item, key, None) is not None
    }
    return Field(default=runtime_default(field), **bounds | narrower)


def azureml_field(name: str) -> Any:
    """The deployment-config field for Azure ML setting ``name`` (:data:`AZUREML_SETTINGS`)."""
    return runtime_field(AZUREML_SETTINGS[name])


def settings_env(values: Mapping[str, Any]) -> dict[str, str]:
    """``{variable: text}`` for runtime settings given by field name (``None`` left out)."""
    return {env_var_name(field): str(value) for field, value in values.items() if value is not None}


def runtime_env(config: DeploymentConfig, *, port: int) -> dict[str, str]:
    """The plain (non-secret) environment the scoring runtime reads, for a container on ``port``.

    Secrets (keys, token secret) are never in this dict: see :func:`secret_env_names`.
    """
    values: dict[str, Any] = {"host": ANY_ADDRESS, "port": port, "auth_mode": config.auth_mode}
    values |= {field: getattr(config, name) for name, field in AZUREML_SETTINGS.items()}
    if config.auth_mode == "token":
        values |= {field: getattr(config, field, None) or None for field in TOKEN_SETTINGS}
    return settings_env(values)


def secret_file_name(setting: str) -> str:
    """File (and Secret key) holding secret ``setting`` (``primary_key``: ``primary-key``)."""
    return setting.replace("_", "-")


def secret_file_env(settings: Collection[str]) -> dict[str, str]:
    """``{MLWS_<SETTING>_FILE: path}`` for the secrets mounted under :data:`SECRETS_MOUNT`.

    Only these paths enter the container environment; the runtime reads each file once.
    """
    return {
        env_var_name(f"{setting}_file"): f"{SECRETS_MOUNT}/{secret_file_name(setting)}"
        for setting in SECRET_SETTINGS
        if setting in settings
    }


def secret_env_names(config: DeploymentConfig) -> dict[str, str]:
    """Secret settings the service needs (keys or token secret), as ``{setting: env var}``."""
    needed: tuple[str, ...] = ()
    if config.auth_mode == "key":
        needed = ("primary_key", "secondary_key")
    elif config.auth_mode == "token":
        needed = ("token_secret",)
    return {setting: env_var_name(setting) for setting in needed}
