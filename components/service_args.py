"""Inputs the web services declare alike, once: keys, scoring limits, probes, the health check.

Each is a ``TypedDict`` the services' ``XxxArgs`` extend; the plugin's schema gives the inherited
fields these docstrings (:func:`mlws.provider.schema_builder.field_docstrings`). Fields whose
meaning or default differs by target (sizing, auth switches, token secret, tags, TLS,
LocalWebService's Docker health check) stay with each service.
"""

from typing import TypedDict

import pulumi


class ServiceKeyArgs(TypedDict, total=False):
    """The two service keys (``ServiceKeys``); whether key auth is on by default is the target's."""

    primary_key: pulumi.Input[str]
    """Primary service key (``ServiceKeys.primary_key``); required with key auth."""
    secondary_key: pulumi.Input[str]
    """Secondary service key (``ServiceKeys.secondary_key``)."""


class ScoringLimitsArgs(TypedDict, total=False):
    """How long a scoring call may take and how many are scored or queued at once."""

    scoring_timeout_ms: int
    """Scoring calls taking longer get 504 (default 60000)."""
    replica_max_concurrent_requests: int
    """Requests scored at once per replica (default 1)."""
    max_request_wait_time: int
    """Milliseconds a request may queue before 503 (default 500)."""


class ProbeArgs(TypedDict, total=False):
    """The liveness and readiness probes of ACI and AKS."""

    period_seconds: int
    """Probe period in seconds (default 10)."""
    initial_delay_seconds: int
    """Seconds before the liveness probe starts (default 310)."""
    timeout_seconds: int
    """Probe timeout in seconds (default 2)."""
    success_threshold: int
    """Readiness successes needed after a failure (default 1)."""
    failure_threshold: int
    """Probe failures before restart/unready (default 3)."""


class HealthCheckArgs(TypedDict, total=False):
    """The ``HealthGate`` that makes ``pulumi up`` wait until the service answers."""

    health_check: bool
    """Wait in ``pulumi up`` until the service answers (default on)."""
    sample_request: str
    """JSON body the health check POSTs (none: readiness only)."""
    health_check_timeout_seconds: float
    """How long the health check waits (default 600)."""
