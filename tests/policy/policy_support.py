"""Call one policy of the pack the way the engine's analyzer does, and collect its messages."""

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from mlws_guardrails.policies import POLICIES
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)


def urn(stack: str, resource_type: str, name: str) -> str:
    return f"urn:pulumi:{stack}::proj::{resource_type}::{name}"


def options(secret_outputs: Collection[str] = ()) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        False, [], None, [], PolicyCustomTimeouts(0, 0, 0), list(secret_outputs)
    )


def policy(name: str) -> Any:
    (found,) = [p for p in POLICIES if p.name == name]
    return found


def validate(
    name: str,
    resource_type: str,
    resource_name: str,
    props: Mapping[str, Any],
    *,
    stack: str = "prod",
    config: Mapping[str, Any] | None = None,
    secret_outputs: Collection[str] = (),
) -> list[str]:
    """Messages the resource policy ``name`` reports for one resource."""
    rule = policy(name)
    assert isinstance(rule, ResourceValidationPolicy)
    messages: list[str] = []
    args = ResourceValidationArgs(
        resource_type,
        props,
        urn(stack, resource_type, resource_name),
        resource_name,
        options(secret_outputs),
        None,
        dict(config or {}),
    )

    def report(message: str, _urn: str | None = None) -> None:
        messages.append(message)

    rule.validate(args, report)
    return messages


def validate_stack(
    name: str,
    resources: Sequence[tuple[str, str, Mapping[str, Any]]],
    *,
    stack: str = "prod",
    config: Mapping[str, Any] | None = None,
) -> list[tuple[str, str | None]]:
    """``(message, urn)`` pairs the stack policy ``name`` reports for ``(type, name, props)``."""
    rule = policy(name)
    assert isinstance(rule, StackValidationPolicy)
    found: list[tuple[str, str | None]] = []
    stack_resources = [
        PolicyResource(t, p, urn(stack, t, n), n, options(), None, None, [], {})
        for t, n, p in resources
    ]

    def report(message: str, where: str | None = None) -> None:
        found.append((message, where))

    rule.validate(StackValidationArgs(stack_resources, dict(config or {})), report)
    return found
