"""What the web services (``LocalWebService``, ``AciWebService``, ``AksWebService`` and
``AksEndpoint``) wire the same way: their common outputs and their registration
(:class:`WebService`), their URIs, the secret inputs their auth mode needs, and the
``HealthGate`` that makes ``pulumi up`` wait until the service answers."""

import inspect
from collections.abc import Mapping, Sequence
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


class WebService(pulumi.ComponentResource):
    """The base of the web services: the outputs every one has, set, gated and registered alike.

    Each service declares its outputs as annotated attributes, these three included, each with a
    docstring saying what it is on that target (the plugin's schema reads the docstrings from the
    service's own class only), sets its own outputs, then calls :meth:`_serve`.
    """

    scoring_uri: pulumi.Output[str]
    swagger_uri: pulumi.Output[str]
    auth_mode: pulumi.Output[str]

    def _serve(
        self,
        name: str,
        config: DeploymentConfig,
        *,
        base_url: pulumi.Input[str],
        image: pulumi.Input[str],
        secrets: Mapping[str, Any],
        depends_on: Sequence[pulumi.Resource],
        log_command: pulumi.Input[str] | None = None,
    ) -> None:
        """Set the common outputs for a service at ``base_url``, gate it (:func:`service_gate`,
        after ``depends_on``) unless ``health_check`` is off, and register every declared output."""
        self.scoring_uri, self.swagger_uri = service_uris(base_url)
        self.auth_mode = pulumi.Output.from_input(config.auth_mode)
        if config.health_check:
            service_gate(
                name,
                config,
                scoring_uri=self.scoring_uri,
                image=image,
                secrets=secrets,
                log_command=log_command,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            )
        self.register_outputs(
            {output: getattr(self, output) for output in output_names(type(self))}
        )


def output_names(component: type[pulumi.ComponentResource]) -> list[str]:
    """The outputs a component declares: its public annotated attributes, its bases' first (as the
    SDK's schema analyzer finds them)."""
    names: dict[str, None] = {}
    for cls in reversed(component.__mro__):
        names.update(dict.fromkeys(inspect.get_annotations(cls)))
    return [name for name in names if not name.startswith("_")]
