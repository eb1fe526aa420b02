"""HealthGate for Python programs: ``pulumi up`` succeeds only when the service really answers.

A ``pulumi.dynamic.Resource``, so a Python program needs nothing but ``pip install mlws[infra]``
(no plugin install). It behaves like the provider plugin's ``mlws:index:HealthGate``:

- **create / update**: poll the readiness probe (``/ready`` beside the scoring URI) until it
  answers 200, then POST ``sample_request`` with the key or token and check the answer
  (``expected_status``, optionally ``expected_response`` / ``expected_response_contains``), all
  within ``timeout_seconds``. On failure the deployment fails with the reason, the service's last
  response and, when a log source (``log_file`` or ``log_command``) is given, the tail of its logs.
- **diff**: a change to the URI, the credential, the sample, the expectation or ``image_digest``
  re-runs the check; other changes (timeouts, log source) are recorded without one. A gate that a
  ``pulumi refresh`` found unhealthy is re-checked on the next ``pulumi up``.
- **read** (``pulumi refresh``): runs the check briefly and reports ``healthy``/``reason``/
  ``last_status`` without failing.
- **delete**: nothing to do.

``key``, ``token`` and ``token_secret`` are kept secret in the state whether or not they were
passed as secrets.

Inside the mlws provider plugin (components constructed for a TypeScript/Go/.NET/YAML program)
there is no Python program whose virtualenv could run a dynamic provider, so there the gate must be
the plugin's own ``mlws:index:HealthGate`` custom resource (:class:`PluginHealthGate`: same inputs,
same outputs). Components make their gate with :func:`health_gate`, which builds the kind of gate
chosen for the construction under way: ``"dynamic"`` unless the plugin's ``Construct`` runs the
component inside :func:`plugin_gates` (the SDK constructs a component from its name, args and
options only, so the choice travels as a context variable scoped to that one construction). Typical
use, after a web service component::

    gate = HealthGate(
        "accidents-gate",
        {
            "scoring_uri": svc.scoring_uri,
            "key": keys.primary_key,
            "sample_request": json.dumps({"data": [[0.1, 0.2]]}),
            "image_digest": image.digest,
            "log_command": "kubectl logs deploy/accidents --tail 100",
        },
        pulumi.ResourceOptions(parent=svc),
    )
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, TypedDict

import pulumi
import pulumi.dynamic
from pulumi.runtime.rpc import UNKNOWN
from pydantic.alias_generators import to_camel, to_snake

from mlws import health
from mlws.components._package import PACKAGE

TYPE_NAME = "HealthGate"
"""The dynamic resource's type name (``pulumi-python:dynamic/mlws:HealthGate``)."""

PLUGIN_TYPE = f"{PACKAGE}:index:{TYPE_NAME}"
"""The provider plugin's type token for the same gate."""

GateKind = Literal["dynamic", "plugin"]
"""Which resource a gate is: the Python dynamic resource, or the plugin's custom resource."""

_gate_kind: ContextVar[GateKind] = ContextVar("mlws_health_gate_kind", default="dynamic")


@contextmanager
def plugin_gates() -> Iterator[None]:
    """Within the block, :func:`health_gate` builds :class:`PluginHealthGate` (the plugin's
    ``Construct`` runs each component in it)."""
    token = _gate_kind.set("plugin")
    try:
        yield
    finally:
        _gate_kind.reset(token)


def chosen_gate_kind() -> GateKind:
    """The kind of gate :func:`health_gate` builds here and now."""
    return _gate_kind.get()


class HealthGateArgs(TypedDict, total=False):
    """Inputs of :class:`HealthGate`; only ``scoring_uri`` is required."""

    scoring_uri: pulumi.Input[str]
    """The scoring endpoint, e.g. ``http://20.1.2.3/score``."""
    readiness_uri: pulumi.Input[str]
    """Readiness probe URL; default: ``ready`` beside the scoring URI."""
    key: pulumi.Input[str]
    """Service key for key auth (kept secret)."""
    token: pulumi.Input[str]
    """Access token (JWT) for token auth (kept secret)."""
    token_secret: pulumi.Input[str]
    """HS256 signing secret: the gate mints a short-lived token from it (kept secret)."""
    token_audience: pulumi.Input[str]
    """``aud`` claim of a minted token."""
    token_issuer: pulumi.Input[str]
    """``iss`` claim of a minted token."""
    sample_request: pulumi.Input[str]
    """JSON body POSTed once ready (``json.dumps(...)``); none: readiness only."""
    expected_status: pulumi.Input[int]
    """Status the sample must get (default 200)."""
    expected_response: pulumi.Input[str]
    """JSON the sample's answer must equal."""
    expected_response_contains: pulumi.Input[str]
    """Text the sample's answer must contain."""
    timeout_seconds: pulumi.Input[float]
    """Overall time allowed (default 300)."""
    poll_interval_seconds: pulumi.Input[float]
    """Pause between readiness polls (default 2)."""
    request_timeout_seconds: pulumi.Input[float]
    """Longest single request (default 30)."""
    image_digest: pulumi.Input[str]
    """The deployed image's digest: a new digest re-runs the check."""
    log_file: pulumi.Input[str]
    """Local log file whose tail is attached to a failure."""
    log_command: pulumi.Input[str]
    """Command printing the service's logs (run without a shell), attached to a failure."""
    log_tail_lines: pulumi.Input[int]
    """Log lines attached (default 50)."""


class HealthGateProvider(pulumi.dynamic.ResourceProvider):
    """The gate's CRUD, run by the dynamic provider host (logic in :mod:`mlws.health`)."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        """Validate the inputs; each failure names its field."""
        inputs = {
            k: v
            for k, v in news.items()
            if not k.startswith("__") and k not in health.GATE_OUTPUT_FIELDS
        }
        unknown = frozenset(k for k, v in inputs.items() if v == UNKNOWN)
        failures = [
            pulumi.dynamic.CheckFailure(name, reason)
            for name, reason in health.gate_check_failures(inputs, unknown)
        ]
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Re-check on trigger changes or when the last check found the service unhealthy."""
        changed = health.gate_changed_fields(olds, news)
        recheck = health.gate_recheck_fields(olds, news) or olds.get("healthy") is False
        return pulumi.dynamic.DiffResult(
            changes=bool(changed) or bool(recheck), replaces=[], delete_before_replace=False
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """Run the check; fail the deployment with the full report when unhealthy."""
        result = health.require_healthy(health.gate_spec(_inputs(props)))
        return pulumi.dynamic.CreateResult(
            id_=f"healthgate-{uuid.uuid4().hex[:12]}",
            outs={**_inputs(props), **health.gate_outputs(result)},
        )

    def update(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        """Re-run the check when a trigger changed (or the gate was unhealthy)."""
        inputs = _inputs(news)
        if health.gate_recheck_fields(olds, news) or olds.get("healthy") is False:
            result = health.require_healthy(health.gate_spec(inputs))
            return pulumi.dynamic.UpdateResult(outs={**inputs, **health.gate_outputs(result)})
        kept = {k: olds.get(k) for k in health.GATE_OUTPUT_FIELDS}
        return pulumi.dynamic.UpdateResult(outs={**inputs, **kept})

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """Report current health for ``pulumi refresh`` (never fails on an unhealthy service)."""
        inputs = _inputs(props)
        result = health.check_health(health.refresh_spec(health.gate_spec(inputs)))
        return pulumi.dynamic.ReadResult(id_=id_, outs={**inputs, **health.gate_outputs(result)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to delete: a gate owns no infrastructure."""


def _inputs(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k in health.GATE_INPUT_FIELDS}


class HealthGate(pulumi.dynamic.Resource, module="mlws", name=TYPE_NAME):
    """Blocks ``pulumi up`` until a scoring service is ready and answers a sample request."""

    healthy: pulumi.Output[bool]
    """Whether the last check passed."""
    reason: pulumi.Output[str]
    """What the last check found, in one line."""
    last_status: pulumi.Output[int]
    """HTTP status of the last request the check sent."""
    last_response: pulumi.Output[str]
    """Body of the last response (truncated to 2000 characters)."""
    checked_at: pulumi.Output[str]
    """When the last check finished (UTC, ISO 8601)."""
    elapsed_seconds: pulumi.Output[float]
    """How long the last check took."""

    def __init__(
        self,
        name: str,
        args: HealthGateArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = dict.fromkeys(health.GATE_INPUT_FIELDS)
        props.update(args)
        props.update(dict.fromkeys(health.GATE_OUTPUT_FIELDS))
        for field in health.SECRET_FIELDS:
            if props.get(field) is not None:
                props[field] = pulumi.Output.secret(props[field])
        wire = [self.translate_input_property(field) for field in health.SECRET_FIELDS]
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=wire)
        self._register(name, props, pulumi.ResourceOptions.merge(secret_opts, opts))

    def _register(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        """Register the gate with its dynamic provider (run by this program)."""
        super().__init__(HealthGateProvider(), name, props, opts)


class PluginHealthGate(HealthGate):
    """The same gate as the plugin's ``mlws:index:HealthGate`` custom resource (camelCase wire)."""

    def _register(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        """Register the gate as the plugin's custom resource."""
        pulumi.CustomResource.__init__(self, PLUGIN_TYPE, name, props, opts)

    def translate_input_property(self, prop: str) -> str:
        """snake_case attribute -> the schema's camelCase property."""
        return to_camel(prop)

    def translate_output_property(self, prop: str) -> str:
        """The schema's camelCase property -> snake_case attribute."""
        return to_snake(prop)


def health_gate(
    name: str,
    args: HealthGateArgs,
    opts: pulumi.ResourceOptions | None = None,
    *,
    kind: GateKind | None = None,
) -> HealthGate:
    """A gate of ``kind``; by default the kind chosen for this construction (see
    :func:`plugin_gates`)."""
    if (kind or chosen_gate_kind()) == "plugin":
        return PluginHealthGate(name, args, opts)
    return HealthGate(name, args, opts)
