"""What the web services (``LocalWebService``, ``AciWebService``, ``AksWebService`` and
``AksEndpoint``) wire the same way: their URIs, the secret inputs their auth mode needs, and the
``HealthGate`` that makes ``pulumi up`` wait until the service answers."""

from collections.abc import Mapping
from typing import Any

import pulumi

from mlws.components.deployment_config import DeploymentConfig
from mlws.components.health_gate import HealthGate, HealthGateArgs, health_gate
from mlws.components.runtime_env import secret_env_names


def service_uris(base: pulumi.Input[str]) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """The scoring and OpenAPI URIs of a service at ``base`` (the runtime's ``/score`` and
    ``/swagger.json`` routes)."""
    url = pulumi.Output.from_input(base)
    return url.apply(lambda at: f"{at}/score"), url.apply(lambda at: f"{at}/swagger.json")


def given_secrets(config: DeploymentConfig, args: Mapping[str, Any]) -> dict[str, Any]:
    """The secret settings the auth mode needs (keys, or the token secret) that were given, by
    setting name; each service then mounts, encodes or passes them its own way."""
    return {
        setting: args[setting]
        for setting in secret_env_names(config)
        if args.get(setting) is not None
    }


def service_gate(
    name: str,
    config: DeploymentConfig,
    *,
    scoring_uri: pulumi.Input[str],
    image: pulumi.Input[str],
    secrets: Mapping[str, Any],
    log_command: pulumi.Input[str] | None = None,
    opts: pulumi.ResourceOptions,
) -> HealthGate:
    """The service's ``<name>-health`` gate: readiness, then the sample request with its credential.

    Key auth calls with the primary key; token auth mints tokens from the signing secret (with
    the service's audience and issuer), or, without one (tokens from an external issuer), checks
    readiness only.
    """
    gate: HealthGateArgs = {
        "scoring_uri": scoring_uri,
        "timeout_seconds": config.health_check_timeout_seconds,
        "image_digest": image,
    }
    if log_command is not None:
        gate["log_command"] = log_command
    can_call = True
    if config.auth_mode == "key" and secrets.get("primary_key") is not None:
        gate["key"] = secrets["primary_key"]
    elif config.auth_mode == "token" and secrets.get("token_secret") is not None:
        gate["token_secret"] = secrets["token_secret"]
        for claim in ("token_audience", "token_issuer"):
            value = getattr(config, claim, None)
            if value:
                gate[claim] = value
    elif config.auth_mode == "token":
        can_call = False
    if config.sample_request is not None and can_call:
        gate["sample_request"] = config.sample_request
    return health_gate(f"{name}-health", gate, opts)
