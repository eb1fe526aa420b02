"""Rendering the example programs under mocks that remember every secret they make."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pulumi.runtime import rpc

from mlws.mocks import MlwsMocks
from mlws.render import Render, render_program
from mlws.render.formats import render_markdown

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


#: Inside a secret object, the fields that hold the secret itself (a registry's server is not one).
_SECRET_FIELDS = re.compile(r"(?i)(password|secret|token|key|kubeconfig|value|result|hash)")


def _secret_strings(value: Any, inside: bool = False, field: str = "") -> Iterator[str]:
    """Strings sent as secrets: a secret string, or a secret-looking field of a secret object."""
    if rpc.is_rpc_secret(value):
        inner = rpc.unwrap_rpc_secret(value)
        yield from _secret_strings(inner, True, field if isinstance(inner, str) else "")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_strings(item, inside, str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _secret_strings(item, inside, field)
    elif inside and isinstance(value, str) and len(value) >= 8:
        if not field or _SECRET_FIELDS.search(field):
            yield value


class SecretCollectingMocks(MlwsMocks):
    """``MlwsMocks`` remembering every secret string they answer (keys, passwords, kubeconfigs)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def new_resource(self, args: Any) -> tuple[str | None, dict[str, Any]]:
        resource_id, state = super().new_resource(args)
        self.secrets.update(_secret_strings(state))
        return resource_id, state

    def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        answer, failures = super().call(args)
        self.secrets.update(_secret_strings(answer))
        return answer, failures


def render_example(
    example: str, stack: str = "dev", overrides: dict[str, str] | None = None
) -> tuple[Render, set[str]]:
    """Render ``examples/<example>`` for ``stack``; also return every secret the mocks made."""
    mocks = SecretCollectingMocks()
    render = render_program(EXAMPLES / example, stack=stack, overrides=overrides, mocks=mocks)
    return render, mocks.secrets


def assert_no_plaintext(render: Render, secrets: set[str]) -> None:
    """No secret value appears in the render's JSON or Markdown."""
    assert secrets, "the mocks produced no secret: the check would prove nothing"
    text = render.to_json() + render_markdown(render)
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == []
