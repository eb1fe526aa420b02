"""``mlws:index:HealthGate``: ``pulumi up`` succeeds only when the scoring service really answers.

Same inputs and behaviour as the Python-only :class:`mlws.components.health_gate.HealthGate`; the
check itself is :mod:`mlws.health`.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlws import health
from mlws.components._package import type_token
from mlws.provider.custom_resource import CustomResource, Diff, Operation, ResourceError


class HealthGateInputs(health.HealthCheckSpec):
    """The gate's inputs: the check, plus a digest whose change re-runs it."""

    image_digest: str | None = None
    """The deployed image's digest (or any version marker): a change re-runs the check."""


class HealthGateOutputs(BaseModel):
    """What the gate reports after each check."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    healthy: bool
    """Whether the last check passed (a ``pulumi refresh`` may turn it false)."""
    reason: str
    """What the last check found, in one line."""
    last_status: int | None = None
    """HTTP status of the last request the check sent."""
    last_response: str
    """Body of the last response (at most 2000 characters)."""
    checked_at: str
    """When the last check finished (UTC, ISO 8601)."""
    elapsed_seconds: float
    """How long the last check took."""


DESCRIPTION = """\
Blocks `pulumi up` until a scoring service is ready and answers a sample request.

Create and update poll the readiness probe (`/ready` beside the scoring URI) until it answers 200,
then POST `sampleRequest` with the key or token and check the answer, all within `timeoutSeconds`.
When the service does not pass, the deployment fails with the reason, the service's last response
and, given `logFile` or `logCommand`, the tail of its logs. A change to the URI, the credential,
the sample, the expectation or `imageDigest` re-runs the check; `pulumi refresh` reports the
current health (`healthy`, `reason`) without failing, and an unhealthy gate is re-checked on the
next `pulumi up`. Delete does nothing."""


class HealthGateResource(CustomResource):
    """The gate's CRUD for the plugin."""

    token = type_token("HealthGate")
    description = DESCRIPTION
    inputs_model = HealthGateInputs
    outputs_model = HealthGateOutputs
    secret_fields = frozenset(health.SECRET_FIELDS)

    def model_error_field(self, inputs: dict[str, Any]) -> str:
        """A cross-field error is about credentials: blame the second one given."""
        given = [f for f in health.SECRET_FIELDS if inputs.get(f) is not None]
        return given[1] if len(given) > 1 else "key"

    def _spec(self, inputs: dict[str, Any]) -> health.HealthCheckSpec:
        return health.gate_spec({k: v for k, v in inputs.items() if k in self.input_names()})

    def _inputs(self, props: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in props.items() if k in self.input_names()}

    def _run(self, inputs: dict[str, Any], op: Operation) -> dict[str, Any]:
        spec = self._spec(inputs)
        spec = spec.model_copy(update={"timeout_seconds": op.limit(spec.timeout_seconds)})
        result = health.check_health(spec, abort=op.cancelled)
        if not result.healthy:
            raise ResourceError(f"health gate {op.name or ''} failed: {result.describe()}")
        return {**self._inputs(inputs), **health.gate_outputs(result)}

    def diff(self, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> Diff:
        """Any input change updates; only trigger changes (or an unhealthy gate) re-check."""
        return Diff(
            changed=health.gate_changed_fields(olds, news),
            forced=olds.get("healthy") is False,
        )

    def create(self, inputs: dict[str, Any], op: Operation) -> tuple[str, dict[str, Any]]:
        """Run the check; fail with the full report when the service is not healthy."""
        gate_id = f"healthgate-{uuid.uuid4().hex[:12]}"
        if op.preview:
            return gate_id, self.preview_state(self._inputs(inputs))
        return gate_id, self._run(inputs, op)

    def update(
        self, resource_id: str, olds: dict[str, Any], news: dict[str, Any], op: Operation
    ) -> dict[str, Any]:
        """Re-check when a trigger changed or the gate was unhealthy; else just record."""
        recheck = health.gate_recheck_fields(olds, news) or olds.get("healthy") is False
        if not recheck:
            kept = {k: olds.get(k) for k in self.output_names()}
            return {**self._inputs(news), **kept}
        if op.preview:
            return self.preview_state(self._inputs(news))
        return self._run(news, op)

    def read(self, resource_id: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Report current health (short timeout); never fails on an unhealthy service."""
        inputs = self._inputs(state)
        result = health.check_health(health.refresh_spec(self._spec(inputs)))
        return resource_id, {**inputs, **health.gate_outputs(result)}

    def delete(self, resource_id: str, state: dict[str, Any]) -> None:
        """Nothing to delete: a gate owns no infrastructure."""
