"""Run every guardrail over an ``mlws render`` (no engine, no cloud): what a preview would report.

The render's inputs are what the engine would hand the policies, with two differences the checks
allow for: secrets show as ``[secret]`` (so :data:`RENDER_CONFIG` turns on ``inputs_show_secrets``)
and values not known under mocks show as ``[unknown]`` (skipped, as the engine skips unknowns).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlws.render.model import Render, RenderedResource
from mlws_guardrails.policies import POLICIES, SECRETS_ONLY

#: Per-policy config for rendered inputs, where secrets are visible as ``[secret]``.
RENDER_CONFIG: dict[str, dict[str, Any]] = {SECRETS_ONLY: {"inputs_show_secrets": True}}


@dataclass(frozen=True)
class Violation:
    """One policy violation: which policy, its message, and the resource's URN (if any)."""

    policy: str
    message: str
    urn: str | None

    def __str__(self) -> str:
        return f"[{self.policy}] {self.message}"


def _options(resource: RenderedResource) -> PolicyResourceOptions:
    secret_outputs = resource.options.get("additionalSecretOutputs") or []
    return PolicyResourceOptions(
        protect=bool(resource.options.get("protect", False)),
        ignore_changes=list(resource.options.get("ignoreChanges") or []),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[str(s) for s in secret_outputs],
        parent=resource.parent,
    )


def check_render(
    render: Render, config: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Violation]:
    """Every violation the guardrails find in ``render`` (``config``: per policy name)."""
    settings = {**RENDER_CONFIG, **(config or {})}
    found: list[Violation] = []
    custom = [r for r in render.resources if r.custom and not r.read]
    for policy in POLICIES:
        policy_config = dict(settings.get(policy.name, {}))

        def report(message: str, urn: str | None = None, name: str = policy.name) -> None:
            found.append(Violation(name, message, urn))

        if isinstance(policy, ResourceValidationPolicy):
            for resource in custom:

                def report_on(
                    message: str, _urn: str | None = None, urn: str = resource.urn
                ) -> None:
                    report(message, urn)

                args = ResourceValidationArgs(
                    resource.type,
                    resource.inputs,
                    resource.urn,
                    resource.name,
                    _options(resource),
                    None,
                    policy_config,
                )
                policy.validate(args, report_on)
        elif isinstance(policy, StackValidationPolicy):
            stack = [
                PolicyResource(r.type, r.inputs, r.urn, r.name, _options(r), None, None, [], {})
                for r in custom
            ]
            policy.validate(StackValidationArgs(stack, policy_config), report)
    return found
