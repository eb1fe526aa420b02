"""What a render is: the resources a program registered, as plain JSON-ready data.

A :class:`Render` round-trips through JSON (``to_json``/``from_json``) with a stable order, so two
renders of the same program are byte-identical and ``mlws render --diff OLD.json NEW.json`` can
compare files made on different machines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: The JSON document's ``format`` field; bumped when the layout changes incompatibly.
FORMAT = "mlws-render/1"

#: Shown in place of any secret value.
SECRET = "[secret]"  # noqa: S105 - a placeholder, not a secret
#: Shown in place of a value not known under mocks (an output the mocks did not compute).
UNKNOWN = "[unknown]"

JSON = Any


@dataclass(frozen=True)
class RenderedResource:
    """One registered resource: its URN, type token, logical name, parent and inputs."""

    urn: str
    type: str
    name: str
    parent: str | None
    """URN of the parent resource; ``None`` when the parent is the stack itself."""
    custom: bool
    """``True`` for resources a provider manages; ``False`` for components."""
    inputs: dict[str, JSON]
    """Inputs as the provider would receive them; secrets are ``"[secret]"``."""
    options: dict[str, JSON] = field(default_factory=dict)
    """Resource options that change how Pulumi diffs (``replaceOnChanges``, ``protect``, ...)."""
    read: bool = False
    """``True`` for existing resources read with ``Resource.get`` (never created or changed)."""
    dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Per input property, the URNs of the resources its value was computed from."""

    def to_dict(self) -> dict[str, JSON]:
        """JSON-ready form."""
        out: dict[str, JSON] = {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": self.inputs,
        }
        if self.options:
            out["options"] = self.options
        if self.read:
            out["read"] = True
        if self.dependencies:
            out["dependencies"] = self.dependencies
        return out

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> RenderedResource:
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``TypeError`` on a malformed entry."""
        return cls(
            urn=str(data["urn"]),
            type=str(data["type"]),
            name=str(data["name"]),
            parent=None if data.get("parent") is None else str(data["parent"]),
            custom=bool(data.get("custom", True)),
            inputs=dict(data.get("inputs") or {}),
            options=dict(data.get("options") or {}),
            read=bool(data.get("read", False)),
            dependencies={
                str(k): [str(u) for u in v] for k, v in (data.get("dependencies") or {}).items()
            },
        )


@dataclass(frozen=True)
class Render:
    """Everything a program registered under mocks, in tree order."""

    project: str
    stack: str
    config: dict[str, str]
    """The config the program saw (secret values shown as ``[secret]``)."""
    resources: list[RenderedResource]
    outputs: dict[str, JSON] = field(default_factory=dict)
    """The stack outputs (``pulumi.export``); secrets shown as ``[secret]``."""
    messages: list[str] = field(default_factory=list)
    """Warnings and errors the program logged (``pulumi.log.warn``, ...)."""

    def by_urn(self) -> dict[str, RenderedResource]:
        """Resources keyed by URN."""
        return {r.urn: r for r in self.resources}

    def counts(self) -> dict[str, int]:
        """Number of resources per type token, sorted by type."""
        out: dict[str, int] = {}
        for res in self.resources:
            out[res.type] = out.get(res.type, 0) + 1
        return dict(sorted(out.items()))

    def of_type(self, type_token: str) -> list[RenderedResource]:
        """Resources of one type, in render order."""
        return [r for r in self.resources if r.type == type_token]

    def to_dict(self) -> dict[str, JSON]:
        """JSON-ready form."""
        return {
            "format": FORMAT,
            "project": self.project,
            "stack": self.stack,
            "config": dict(sorted(self.config.items())),
            "resources": [r.to_dict() for r in self.resources],
            "outputs": self.outputs,
            "messages": self.messages,
        }

    def to_json(self) -> str:
        """Stable JSON: sorted keys, two-space indent, trailing newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: JSON) -> Render:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` when ``data`` is not a render."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f'not an mlws render (expected "format": "{FORMAT}")')
        try:
            return cls(
                project=str(data["project"]),
                stack=str(data["stack"]),
                config={str(k): str(v) for k, v in (data.get("config") or {}).items()},
                resources=[RenderedResource.from_dict(r) for r in data["resources"]],
                outputs=dict(data.get("outputs") or {}),
                messages=[str(m) for m in data.get("messages") or []],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed mlws render: {exc!r}") from None

    @classmethod
    def from_json(cls, text: str) -> Render:
        """Parse :meth:`to_json` output; raises ``ValueError`` on anything else."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg} (line {exc.lineno})") from None
        return cls.from_dict(data)
