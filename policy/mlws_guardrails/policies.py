"""The guardrails as ``pulumi_policy`` policies (each wraps one check of :mod:`.rules`).

Configuration (``pulumi preview --policy-pack policy --policy-pack-config config.json``), per
policy: ``production_stacks`` (stack-name patterns, default ``["prod*"]``) for the production
rules, ``gpu_taint``/``gpu_label`` for GPU placement (defaults: the components' GPU pool),
``inputs_show_secrets`` for the secrets rule (see :func:`.rules.check_secrets`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlws.components.deployment_config import GPU_LABEL, GPU_TAINT
from mlws_guardrails import rules

PROD_AUTH = "mlws-prod-auth-required"
PROD_DIGEST = "mlws-prod-image-digest"
GPU_PLACEMENT = "mlws-gpu-placement"
ACI_LIMITS = "mlws-aci-limits"
SECRETS_ONLY = "mlws-secrets-only"
PROD_AVAILABILITY = "mlws-prod-aks-availability"
HARDENING = "mlws-pod-hardening"
TRAFFIC = "mlws-traffic-weights"

_PRODUCTION_SCHEMA = PolicyConfigSchema(
    {
        "production_stacks": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(rules.DEFAULT_PRODUCTION_STACKS),
            "description": "fnmatch patterns of the stack names treated as production",
        }
    }
)

Check = Callable[[str, str, Mapping[str, Any]], list[str]]


def _production(config: Mapping[str, Any], urn: str) -> bool:
    patterns = config.get("production_stacks", rules.DEFAULT_PRODUCTION_STACKS)
    return rules.is_production(rules.stack_of(urn), [str(p) for p in patterns])


def _report(messages: list[str], report_violation: ReportViolation, urn: str | None) -> None:
    for message in messages:
        report_violation(message, urn)


def _production_rule(check: Check) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if _production(args.get_config(), args.urn):
            _report(check(args.resource_type, args.name, args.props), report_violation, None)

    return validate


def _any_stack_rule(check: Check) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        _report(check(args.resource_type, args.name, args.props), report_violation, None)

    return validate


def _gpu(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    config = args.get_config()
    messages = rules.check_gpu_placement(
        args.resource_type,
        args.name,
        args.props,
        taint=str(config.get("gpu_taint", GPU_TAINT)),
        label=str(config.get("gpu_label", GPU_LABEL)),
    )
    _report(messages, report_violation, None)


def _secrets(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    messages = rules.check_secrets(
        args.resource_type,
        args.name,
        args.props,
        secret_outputs=list(args.opts.additional_secret_outputs or []),
        inputs_show_secrets=bool(args.get_config().get("inputs_show_secrets", False)),
    )
    _report(messages, report_violation, None)


def _availability(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = [
        rules.Resource(r.resource_type, r.name, r.urn, r.props)
        for r in args.resources
        if _production(args.get_config(), r.urn)
    ]
    for urn, message in rules.check_availability(resources):
        report_violation(message, urn)


MANDATORY = EnforcementLevel.MANDATORY

POLICIES: list[Policy] = [
    ResourceValidationPolicy(
        PROD_AUTH,
        "Production mlws web services authenticate callers (key or token auth).",
        _production_rule(rules.check_auth),
        MANDATORY,
        _PRODUCTION_SCHEMA,
    ),
    ResourceValidationPolicy(
        PROD_DIGEST,
        "Production containers run images by digest (@sha256:), never a mutable tag.",
        _production_rule(rules.check_image_digest),
        MANDATORY,
        _PRODUCTION_SCHEMA,
    ),
    ResourceValidationPolicy(
        GPU_PLACEMENT,
        "GPU pods tolerate the GPU pool's taint and select its node label.",
        _gpu,
        MANDATORY,
        PolicyConfigSchema(
            {
                "gpu_taint": {"type": "string", "default": GPU_TAINT},
                "gpu_label": {"type": "string", "default": GPU_LABEL},
            }
        ),
    ),
    ResourceValidationPolicy(
        ACI_LIMITS,
        "ACI container groups stay under 48 GB of memory and within ACI's CPU limit.",
        _any_stack_rule(rules.check_aci_limits),
        MANDATORY,
    ),
    ResourceValidationPolicy(
        SECRETS_ONLY,
        "Keys, token secrets and registry passwords are only ever Pulumi secrets.",
        _secrets,
        MANDATORY,
        PolicyConfigSchema({"inputs_show_secrets": {"type": "boolean", "default": False}}),
    ),
    StackValidationPolicy(
        PROD_AVAILABILITY,
        "Production AKS endpoints run >= 2 replicas and have a PodDisruptionBudget.",
        _availability,
        MANDATORY,
        _PRODUCTION_SCHEMA,
    ),
    ResourceValidationPolicy(
        HARDENING,
        "Deployment/DaemonSet containers: runAsNonRoot, read-only root filesystem, no privilege "
        "escalation, capabilities drop ALL.",
        _any_stack_rule(rules.check_hardening),
        MANDATORY,
    ),
    ResourceValidationPolicy(
        TRAFFIC,
        "An endpoint's traffic weights sum to 100; mirrored traffic (1-100%) goes only to a "
        "deployment with 0 live traffic.",
        _any_stack_rule(rules.check_traffic),
        MANDATORY,
    ),
]
"""Every guardrail, in the order ``pulumi preview`` reports them."""
