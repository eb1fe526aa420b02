"""Deployment health checks: is a scoring service up and does it answer a sample request?

This is the transport-level logic behind the ``HealthGate`` resources (the provider plugin's
``mlws:index:HealthGate`` and the Python-only :mod:`mlws.components.health_gate`) and the local
process service: poll the readiness probe until it answers 200, then send a sample request with the
service's key or token and check the answer, all within one timeout. When the service is not
healthy the result carries the last response and, given a log source, the tail of the service's
logs, so a failed ``pulumi up`` says *why* (the seed's "deploy failed -> get_webservice_logs" loop,
made automatic).

The package is cut at its seams: :mod:`.spec` (what to check), :mod:`.check` (the engine),
:mod:`.logs` (the log tail of a failure) and :mod:`.gate` (what both HealthGates share); every
public name is re-exported here. Nothing here knows about Pulumi. Secrets (key, token, token
signing secret) are ``SecretStr`` and never appear in messages.
"""

from mlws.health.check import (
    BODY_LIMIT,
    REQUEST_ID_HEADERS,
    RETRY_STATUSES,
    AbortCheck,
    HealthCheckError,
    HealthResult,
    HttpReply,
    check_health,
    require_healthy,
)
from mlws.health.gate import (
    GATE_INPUT_FIELDS,
    GATE_ONLY_FIELDS,
    GATE_OUTPUT_FIELDS,
    RECHECK_FIELDS,
    REFRESH_TIMEOUT_SECONDS,
    SECRET_FIELDS,
    gate_changed_fields,
    gate_check_failures,
    gate_outputs,
    gate_recheck_fields,
    gate_spec,
    refresh_spec,
)
from mlws.health.logs import (
    LOG_COMMAND_TIMEOUT_SECONDS,
    LOG_READ_LIMIT,
    REQUEST_LOG_LINES,
    read_log_tail,
    tail_lines,
)
from mlws.health.spec import HealthCheckSpec, auth_headers, readiness_uri_for

__all__ = [
    "BODY_LIMIT",
    "GATE_INPUT_FIELDS",
    "GATE_ONLY_FIELDS",
    "GATE_OUTPUT_FIELDS",
    "LOG_COMMAND_TIMEOUT_SECONDS",
    "LOG_READ_LIMIT",
    "RECHECK_FIELDS",
    "REFRESH_TIMEOUT_SECONDS",
    "REQUEST_ID_HEADERS",
    "REQUEST_LOG_LINES",
    "RETRY_STATUSES",
    "SECRET_FIELDS",
    "AbortCheck",
    "HealthCheckError",
    "HealthCheckSpec",
    "HealthResult",
    "HttpReply",
    "auth_headers",
    "check_health",
    "gate_changed_fields",
    "gate_check_failures",
    "gate_outputs",
    "gate_recheck_fields",
    "gate_spec",
    "read_log_tail",
    "readiness_uri_for",
    "refresh_spec",
    "require_healthy",
    "tail_lines",
]
