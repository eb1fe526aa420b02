"""``ServiceKeys``: a service's primary and secondary keys, and optionally a token signing secret.

Each secret is a ``pulumi-random`` ``RandomPassword`` whose ``keepers`` hold only its own rotation
trigger, so changing ``primary_rotation`` regenerates the primary key alone (Azure ML's
``generate_new_webservice_key(key_type = 'Primary')``), and nothing else (a new model, another
image, other sizing) ever regenerates a key. Every output is a Pulumi secret.
"""

from typing import TypedDict

import pulumi
import pulumi_random as random
from pydantic import BaseModel, ConfigDict, Field

from mlws.components._package import type_token
from mlws.components.errors import parse_config


class ServiceKeysArgs(TypedDict, total=False):
    """Inputs of :class:`ServiceKeys`: one rotation trigger per secret."""

    primary_rotation: str
    """Any text; changing it regenerates the primary key only (default ``0``)."""
    secondary_rotation: str
    """Any text; changing it regenerates the secondary key only (default ``0``)."""
    token_secret_enabled: bool
    """Also make an HS256 token signing secret (for ``token_auth_enabled``); default off."""
    token_rotation: str
    """Any text; changing it regenerates the token signing secret only (default ``0``)."""
    length: int
    """Characters per key, letters and digits (default 32, at least 16)."""


class ServiceKeysSpec(BaseModel):
    """Validated :class:`ServiceKeysArgs`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    primary_rotation: str = Field(default="0", description="Primary key rotation trigger.")
    secondary_rotation: str = Field(default="0", description="Secondary key rotation trigger.")
    token_secret_enabled: bool = Field(default=False, description="Make a token signing secret.")
    token_rotation: str = Field(default="0", description="Token secret rotation trigger.")
    length: int = Field(default=32, ge=16, le=256, description="Key length.")


def _password(
    name: str, rotation: str, length: int, parent: pulumi.Resource
) -> random.RandomPassword:
    """One secret: letters and digits (safe in a header), regenerated when ``rotation`` changes."""
    return random.RandomPassword(
        name,
        length=length,
        special=False,
        keepers={"rotation": rotation},
        opts=pulumi.ResourceOptions(parent=parent),
    )


#: The token signing secret's length: 64 characters (> 256 bits for HS256).
TOKEN_SECRET_LENGTH = 64


class ServiceKeys(pulumi.ComponentResource):
    """Primary and secondary service keys (and a token signing secret), each rotated on its own."""

    SECRET_PROPERTIES = frozenset({"primary_key", "secondary_key", "token_secret"})
    """Inputs and outputs the plugin's schema marks secret (declared, not guessed from names)."""

    primary_key: pulumi.Output[str]
    """The primary key (secret)."""
    secondary_key: pulumi.Output[str]
    """The secondary key (secret)."""
    token_secret: pulumi.Output[str | None]
    """The HS256 token signing secret (secret), when ``token_secret_enabled``."""

    def __init__(
        self, name: str, args: ServiceKeysArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        spec = parse_config(ServiceKeysSpec, args, subject=f"ServiceKeys {name!r}")
        super().__init__(type_token("ServiceKeys"), name, None, opts)
        primary = _password(f"{name}-primary", spec.primary_rotation, spec.length, self)
        secondary = _password(f"{name}-secondary", spec.secondary_rotation, spec.length, self)
        self.primary_key = pulumi.Output.secret(primary.result)
        self.secondary_key = pulumi.Output.secret(secondary.result)
        if spec.token_secret_enabled:
            token = _password(
                f"{name}-token-secret", spec.token_rotation, TOKEN_SECRET_LENGTH, self
            )
            self.token_secret = pulumi.Output.secret(token.result)
        else:
            self.token_secret = pulumi.Output.from_input(None)
        self.register_outputs(
            {
                "primary_key": self.primary_key,
                "secondary_key": self.secondary_key,
                "token_secret": self.token_secret,
            }
        )
