"""Gate adapters: what the plugin's ``HealthGate`` and the Python dynamic ``HealthGate`` share
(their input and output fields, input validation, which changes re-check, the refresh spec)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from mlws.health.check import HealthResult
from mlws.health.spec import HealthCheckSpec

GATE_ONLY_FIELDS = ("image_digest",)
"""Gate inputs that are not part of the check itself (they only trigger re-checks)."""

SECRET_FIELDS = ("key", "token", "token_secret")
"""Inputs that are always kept secret."""

RECHECK_FIELDS = (
    "scoring_uri",
    "readiness_uri",
    "key",
    "token",
    "token_secret",
    "token_audience",
    "token_issuer",
    "sample_request",
    "expected_status",
    "expected_response",
    "expected_response_contains",
    "image_digest",
)
"""A change to any of these re-runs the check on ``pulumi up``; other changes are just recorded."""

GATE_INPUT_FIELDS = (*HealthCheckSpec.model_fields, *GATE_ONLY_FIELDS)
"""Every input a HealthGate takes (snake_case)."""

REFRESH_TIMEOUT_SECONDS = 15.0
"""Longest a ``pulumi refresh`` health read waits."""


def gate_spec(inputs: dict[str, Any]) -> HealthCheckSpec:
    """The check described by a gate's inputs (``None`` values and gate-only fields dropped).

    Raises pydantic's ``ValidationError`` naming the bad fields.
    """
    given = {k: v for k, v in inputs.items() if v is not None and k not in GATE_ONLY_FIELDS}
    for name in ("expected_status", "log_tail_lines"):  # numbers arrive as floats over the wire
        if isinstance(given.get(name), float) and float(given[name]).is_integer():
            given[name] = int(given[name])
    return HealthCheckSpec.model_validate(given)


GATE_OUTPUT_FIELDS = (
    "healthy",
    "reason",
    "last_status",
    "last_response",
    "checked_at",
    "elapsed_seconds",
)
"""What a gate reports after each check (see :func:`gate_outputs`)."""


def gate_check_failures(
    inputs: dict[str, Any], unknown: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """``(field, reason)`` for each bad input; fields in ``unknown`` (not yet computed) pass."""
    failures = [
        (name, f"unknown HealthGate input {name!r}")
        for name in inputs
        if name not in GATE_INPUT_FIELDS
    ]
    known = {k: v for k, v in inputs.items() if k in GATE_INPUT_FIELDS and k not in unknown}
    try:
        gate_spec(known)
    except ValidationError as exc:
        for error in exc.errors():
            loc = error.get("loc") or ()
            if loc:
                names = [str(loc[0])]
            else:  # the model-level rule: more than one credential; blame all but the first
                names = [f for f in SECRET_FIELDS if known.get(f) is not None][1:] or ["key"]
            reason = error["msg"].removeprefix("Value error, ")
            failures += [(name, reason) for name in names if name not in unknown]
    return failures


def gate_recheck_fields(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """The re-check-triggering inputs that differ between the recorded and the new inputs."""
    return [f for f in RECHECK_FIELDS if olds.get(f) != news.get(f)]


def gate_changed_fields(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Every gate input that differs between the recorded and the new inputs."""
    return [f for f in GATE_INPUT_FIELDS if olds.get(f) != news.get(f)]


def gate_outputs(result: HealthResult) -> dict[str, Any]:
    """A gate's outputs after a check (snake_case; JSON-ready, no secrets)."""
    return {
        "healthy": result.healthy,
        "reason": result.reason,
        "last_status": result.last_status,
        "last_response": result.last_body,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.checked_at)),
        "elapsed_seconds": result.elapsed_seconds,
    }


def refresh_spec(spec: HealthCheckSpec) -> HealthCheckSpec:
    """The spec used by ``pulumi refresh``: same check, at most :data:`REFRESH_TIMEOUT_SECONDS`."""
    timeout = min(spec.timeout_seconds, REFRESH_TIMEOUT_SECONDS)
    return spec.model_copy(
        update={
            "timeout_seconds": timeout,
            "request_timeout_seconds": min(spec.request_timeout_seconds, timeout),
            "poll_interval_seconds": min(spec.poll_interval_seconds, 1.0),
        }
    )
