"""The Pulumi package name, shared by every component's type token and the provider plugin."""

from typing import Final

PACKAGE: Final = "mlws"
"""Package name: type tokens are ``mlws:index:<ClassName>``; the plugin is served under it."""


def type_token(class_name: str) -> str:
    """The type token of component ``class_name``, e.g. ``mlws:index:ScoringImage``."""
    return f"{PACKAGE}:index:{class_name}"
