"""The interface every custom resource of the plugin implements, on plain snake_case dicts.

The gRPC layer (:mod:`mlws.provider.servicer`) decodes requests with :mod:`mlws.provider.wire`,
calls these methods in a worker thread, and encodes the answers. A resource never sees protobuf, so
it is testable with plain dicts, and the wire handling is written once.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from mlws.provider.schema_builder import resource_spec
from mlws.provider.wire import UNKNOWN, Props


class ResourceError(Exception):
    """An operation failed for a reason the user must see; the message is the whole report."""


@dataclass(frozen=True)
class Diff:
    """What a change to the inputs does: nothing, an in-place update, or a replacement."""

    changed: list[str] = field(default_factory=list)
    """Inputs (snake_case) that differ and are applied by an update."""
    replaces: list[str] = field(default_factory=list)
    """Inputs whose change needs a new resource."""
    delete_before_replace: bool = False
    """Delete the old resource before creating its replacement (e.g. it holds a port)."""
    forced: bool = False
    """Update although no input changed (e.g. a refresh found the resource unhealthy)."""

    @property
    def has_changes(self) -> bool:
        """Whether ``pulumi up`` must do anything."""
        return bool(self.changed or self.replaces or self.forced)


@dataclass
class Operation:
    """Context of one create/update: preview or not, and whether the engine asked to cancel."""

    name: str = ""
    """The resource's name in the program."""
    preview: bool = False
    """True during ``pulumi preview``: compute outputs, change nothing."""
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set when the engine cancels; long waits give up."""
    timeout: float = 0.0
    """The engine's limit in seconds (``customTimeouts``), 0 when none was set."""

    def cancelled(self) -> str | None:
        """An abort reason for :func:`mlws.health.check_health`, or None to keep going."""
        return "the operation was cancelled" if self.cancel.is_set() else None

    def limit(self, seconds: float) -> float:
        """``seconds``, capped by the engine's timeout when one was set."""
        return min(seconds, self.timeout) if self.timeout > 0 else seconds


class CustomResource(ABC):
    """One custom resource type: schema, validation and CRUD."""

    token: ClassVar[str]
    """Type token, e.g. ``mlws:index:HealthGate``."""
    description: ClassVar[str]
    """Schema description (Markdown)."""
    inputs_model: ClassVar[type[BaseModel]]
    """Validates the inputs; its fields and docstrings are the schema's input properties."""
    outputs_model: ClassVar[type[BaseModel]]
    """Documents the outputs the resource adds to its inputs."""
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    """Properties (snake_case) that are always secret, in inputs and state."""

    def schema(self) -> dict[str, Any]:
        """The schema's ``resources[token]`` entry."""
        return resource_spec(
            self.description, self.inputs_model, self.outputs_model, self.secret_fields
        )

    def input_names(self) -> frozenset[str]:
        """The snake_case input names."""
        return frozenset(self.inputs_model.model_fields)

    def output_names(self) -> frozenset[str]:
        """The snake_case names of the outputs added to the inputs."""
        return frozenset(self.outputs_model.model_fields)

    def validate(self, inputs: dict[str, Any]) -> BaseModel:
        """The validated inputs; raises pydantic's ``ValidationError``."""
        return self.inputs_model.model_validate({k: v for k, v in inputs.items() if v is not None})

    def check(self, olds: Props, news: Props) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Checked inputs and ``(field, reason)`` failures; unknown values are not judged."""
        failures = [
            (name, f"unknown input {name!r} for {self.token}")
            for name in news.values
            if name not in self.input_names()
        ]
        known = {
            k: v
            for k, v in news.values.items()
            if k in self.input_names() and k not in news.unknown
        }
        try:
            self.validate(known)
        except ValidationError as exc:
            for error in exc.errors():
                loc = error.get("loc") or ()
                name = str(loc[0]) if loc else self.model_error_field(known)
                if name not in news.unknown:
                    failures.append((name, error["msg"].removeprefix("Value error, ")))
        return dict(news.values), failures

    def model_error_field(self, inputs: dict[str, Any]) -> str:
        """The field to blame for a model-level (cross-field) validation error."""
        return "inputs"

    @abstractmethod
    def diff(self, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> Diff:
        """Compare the recorded state with the new checked inputs."""

    @abstractmethod
    def create(self, inputs: dict[str, Any], op: Operation) -> tuple[str, dict[str, Any]]:
        """Create; return the id and the state (inputs plus outputs)."""

    @abstractmethod
    def read(self, resource_id: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Refresh; return the id (empty when the resource is gone) and the current state."""

    @abstractmethod
    def update(
        self, resource_id: str, olds: dict[str, Any], news: dict[str, Any], op: Operation
    ) -> dict[str, Any]:
        """Apply new inputs; return the new state."""

    @abstractmethod
    def delete(self, resource_id: str, state: dict[str, Any]) -> None:
        """Remove what the resource owns."""

    def preview_state(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """State shown during preview: the inputs, with every output not known yet."""
        return {**inputs, **dict.fromkeys(self.output_names(), UNKNOWN)}
