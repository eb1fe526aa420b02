"""Compare two renders: what a ``pulumi up`` would create, change (field by field) or delete.

Resources are matched by URN, as the Pulumi engine matches them (stack and project aside, so a
dev render can be compared with a prod render). A changed resource is an
``update`` unless a rule below *knows* the change forces a replacement:

- the resource's ``replaceOnChanges`` option names the changed field;
- a provider rule in :data:`REPLACE_RULES` (e.g. every input of a ``random`` resource, a
  Kubernetes object's ``metadata.name``, a Deployment's immutable ``spec.selector``);
- a changed field listed nowhere is reported as an update: the diff says what it knows.

A replaced resource gets new outputs, so an input computed from it (a property dependency
recorded at render time) will change too, even when both renders show ``[secret]`` for it; such
inputs are listed as changed "via" the replaced resource, transitively.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from mlws.render.model import SECRET, Render, RenderedResource

Kind = Literal["create", "update", "replace", "delete"]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


#: Stands for "no such field" on one side of a :class:`FieldChange`.
MISSING: Any = _Missing()


@dataclass(frozen=True)
class ReplaceRule:
    """Changing a field that matches ``path`` (fnmatch) of a type matching ``type`` replaces it."""

    type: str
    path: str
    reason: str


#: Known replacement triggers. Only rules we are sure of: anything else is an "update".
REPLACE_RULES: tuple[ReplaceRule, ...] = (
    ReplaceRule("random:*", "*", "random resources are replaced when any input changes"),
    ReplaceRule("kubernetes:*", "metadata.name", "a Kubernetes object's name is its identity"),
    ReplaceRule("kubernetes:*", "metadata.namespace", "a Kubernetes object's namespace is fixed"),
    ReplaceRule("kubernetes:apps/v1:*", "spec.selector*", "spec.selector is immutable"),
    ReplaceRule("kubernetes:core/v1:Service", "spec.clusterIP", "spec.clusterIP is immutable"),
    ReplaceRule("kubernetes:batch/v1:Job", "spec.template*", "a Job's pod template is immutable"),
    *(
        ReplaceRule(
            f"kubernetes:core/v1:{kind}",
            f"{field}*",
            f"pulumi-kubernetes replaces a {kind} whose data changes (unless {flag} is set)",
        )
        for kind, flag in (
            ("Secret", "enableSecretMutable"),
            ("ConfigMap", "enableConfigMapMutable"),
        )
        for field in ("data", "stringData", "binaryData")
    ),
    ReplaceRule("azure-native:*", "location", "an Azure resource cannot move region"),
    ReplaceRule("azure-native:*", "resourceGroupName", "it is part of the resource id"),
    ReplaceRule("azure-native:*", "*Name", "a name in the resource id cannot change in place"),
    *(
        ReplaceRule("docker:index/container:Container", path, "Docker recreates a container for it")
        for path in (
            "image",
            "envs*",
            "ports*",
            "name",
            "command*",
            "entrypoints*",
            "volumes*",
            "mounts*",
            "labels*",
            "networksAdvanced*",
            "user",
            "workingDir",
        )
    ),
)

#: Fields of ``azure-native`` resources ending in ``Name`` that are not part of the resource id.
_AZURE_NON_ID_NAMES = re.compile(r"(?i).*(dns|display|host|login|server|sku|image|user)Name$")


@dataclass(frozen=True)
class FieldChange:
    """One leaf that differs: its path, old and new values (:data:`MISSING` when absent)."""

    path: str
    old: Any
    new: Any
    via: str | None = None
    """Set when the value is unchanged in the renders but computed from a replaced resource."""


@dataclass(frozen=True)
class ResourceChange:
    """A created, updated, replaced or deleted resource."""

    kind: Kind
    urn: str
    type: str
    name: str
    fields: list[FieldChange] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    """Why a replacement: one line per triggering field."""
    notes: list[str] = field(default_factory=list)
    """What else Pulumi will do about it (``protect``, ``deleteBeforeReplace``)."""


@dataclass(frozen=True)
class ValueChange:
    """A changed config value or stack output."""

    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class RenderDiff:
    """The whole comparison of OLD and NEW renders."""

    changes: list[ResourceChange]
    unchanged: int
    config: list[ValueChange] = field(default_factory=list)
    outputs: list[ValueChange] = field(default_factory=list)
    old_stack: str = ""
    """``project/stack`` of the old render."""
    new_stack: str = ""
    """``project/stack`` of the new render (differs from :attr:`old_stack` for a promotion)."""

    def of_kind(self, kind: Kind) -> list[ResourceChange]:
        """The changes of one kind, in order."""
        return [c for c in self.changes if c.kind == kind]

    @property
    def empty(self) -> bool:
        """No resource, config or output change at all."""
        return not (self.changes or self.config or self.outputs)

    def summary(self) -> str:
        """``1 to create, 2 to update, 1 to replace, 0 to delete, 9 unchanged``."""
        counts = {k: len(self.of_kind(k)) for k in ("create", "update", "replace", "delete")}
        parts = [f"{n} to {k}" for k, n in counts.items()]
        return ", ".join([*parts, f"{self.unchanged} unchanged"])


def _key_segment(key: str) -> str:
    if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", key):
        return "." + key
    return "[" + repr(key).replace("'", '"') + "]"


def join_path(base: str, key: str | int) -> str:
    """Append a map key or list index to a dotted path (``a.b``, ``a[0]``, ``a["x.y/z"]``)."""
    seg = f"[{key}]" if isinstance(key, int) else _key_segment(key)
    return (base + seg).lstrip(".")


def field_changes(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Leaf-level differences between two normalized values (maps by key, lists by index)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldChange] = []
        for key in sorted(set(old) | set(new)):
            sub = join_path(path, key)
            if key not in old:
                out.append(FieldChange(sub, MISSING, new[key]))
            elif key not in new:
                out.append(FieldChange(sub, old[key], MISSING))
            else:
                out.extend(field_changes(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list):
        out = []
        for i in range(max(len(old), len(new))):
            sub = join_path(path, i)
            if i >= len(old):
                out.append(FieldChange(sub, MISSING, new[i]))
            elif i >= len(new):
                out.append(FieldChange(sub, old[i], MISSING))
            else:
                out.extend(field_changes(old[i], new[i], sub))
        return out
    if old == new and type(old) is type(new):
        return []
    return [FieldChange(path, old, new)]


def _plain_path(path: str) -> str:
    """``spec.selector.matchLabels["app"]`` -> ``spec.selector.matchLabels.app`` for matching."""
    return re.sub(r'\["([^"]*)"\]', r".\1", path)


def option_matches(path: str, pattern: str) -> bool:
    """Whether a field path falls under a ``replaceOnChanges``/``ignoreChanges`` path.

    Those options name a property path (``spec.template``, ``containers[*].image``, ``*``); a change
    to it or anything below it matches.
    """
    plain = _plain_path(path)
    wanted = _plain_path(pattern).replace("[*]", "*")
    return (
        wanted == "*"
        or fnmatch.fnmatchcase(plain, wanted)
        or plain.startswith(wanted + ".")
        or plain.startswith(wanted + "[")
    )


def replace_reasons(res: RenderedResource, changes: list[FieldChange]) -> list[str]:
    """Why ``changes`` to ``res`` force a replacement; empty when none is known to."""
    reasons: list[str] = []
    triggers = [str(p) for p in res.options.get("replaceOnChanges", [])]
    for change in changes:
        plain = _plain_path(change.path)
        top = plain.split(".")[0].split("[")[0]
        for trigger in triggers:
            if option_matches(change.path, trigger):
                reasons.append(f"{change.path}: in replaceOnChanges")
                break
        else:
            for rule in REPLACE_RULES:
                if not fnmatch.fnmatchcase(res.type, rule.type):
                    continue
                if rule.type == "azure-native:*" and rule.path == "*Name":
                    if "." in plain or not top.endswith("Name") or _AZURE_NON_ID_NAMES.match(top):
                        continue
                    if not res.custom:
                        continue
                if fnmatch.fnmatchcase(plain, rule.path) or fnmatch.fnmatchcase(top, rule.path):
                    reasons.append(f"{change.path}: {rule.reason}")
                    break
    return reasons


def identity(urn: str) -> str:
    """What matches a resource across renders: its URN without stack and project.

    Within one stack this is the URN itself; it also lets a dev render be compared with a prod
    render (a promotion) resource by resource.
    """
    parts = urn.split("::", 2)
    return parts[2] if len(parts) == 3 else urn


def _notes(
    kind: Kind, before: RenderedResource | None, after: RenderedResource | None
) -> list[str]:
    notes: list[str] = []
    protected = any(r is not None and r.options.get("protect") for r in (before, after))
    if kind in ("replace", "delete") and protected:
        notes.append("protected: pulumi up refuses to delete it until `protect` is lifted")
    if kind == "replace" and after is not None and after.options.get("deleteBeforeReplace"):
        notes.append("deleted before its replacement is created (deleteBeforeReplace)")
    return notes


def _compare(old: Render, new: Render) -> dict[str, ResourceChange]:
    """Changes keyed by the new render's URN (the old one's for deletions)."""
    olds = {identity(r.urn): r for r in old.resources}
    news = {identity(r.urn): r for r in new.resources}
    changes: dict[str, ResourceChange] = {}
    for key, res in news.items():
        if key not in olds:
            changes[res.urn] = ResourceChange("create", res.urn, res.type, res.name)
            continue
        before = olds[key]
        if before.read and res.read:
            continue
        ignored = [str(p) for p in res.options.get("ignoreChanges", [])]
        diffs = [
            change
            for change in field_changes(before.inputs, res.inputs)
            if not any(option_matches(change.path, pattern) for pattern in ignored)
        ]
        if not diffs:
            continue
        reasons = replace_reasons(res, diffs)
        kind: Kind = "replace" if reasons else "update"
        changes[res.urn] = ResourceChange(
            kind, res.urn, res.type, res.name, diffs, reasons, _notes(kind, before, res)
        )
    for key, res in olds.items():
        if key not in news:
            changes[res.urn] = ResourceChange(
                "delete", res.urn, res.type, res.name, notes=_notes("delete", res, None)
            )
    return changes


def _propagate(new: Render, changes: dict[str, ResourceChange]) -> None:
    """Inputs computed from a replaced resource change too; repeat until nothing new."""
    news = new.by_urn()
    while True:
        replaced = {u for u, c in changes.items() if c.kind == "replace"}
        grew = False
        for urn, res in news.items():
            current = changes.get(urn)
            if current is not None and current.kind in ("create", "delete"):
                continue
            known = {
                f.path.split(".")[0].split("[")[0] for f in (current.fields if current else [])
            }
            extra: list[FieldChange] = []
            for prop, deps in sorted(res.dependencies.items()):
                sources = [d for d in deps if d in replaced and d != urn]
                if not sources or prop in known:
                    continue
                value = res.inputs.get(prop, MISSING)
                via = news[sources[0]].name if sources[0] in news else sources[0]
                extra.append(FieldChange(prop, value, value, via=via))
            if not extra:
                continue
            fields = [*(current.fields if current else []), *extra]
            reasons = replace_reasons(res, fields)
            kind: Kind = "replace" if reasons else "update"
            notes = _notes(kind, res, res)
            changes[urn] = ResourceChange(kind, urn, res.type, res.name, fields, reasons, notes)
            grew = True
        if not grew:
            return


def _value_changes(old: dict[str, Any], new: dict[str, Any]) -> list[ValueChange]:
    out: list[ValueChange] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, MISSING), new.get(key, MISSING)
        if a != b or type(a) is not type(b):
            out.append(ValueChange(key, a, b))
    return out


def diff_renders(old: Render, new: Render) -> RenderDiff:
    """Everything that differs from ``old`` to ``new``, ordered as ``new`` (deletions last)."""
    changes = _compare(old, new)
    _propagate(new, changes)
    order = {r.urn: i for i, r in enumerate(new.resources)}
    old_order = {r.urn: i for i, r in enumerate(old.resources)}
    ordered = sorted(
        changes.values(),
        key=lambda c: (c.kind == "delete", order.get(c.urn, old_order.get(c.urn, 0))),
    )
    unchanged = len(new.resources) - sum(1 for c in ordered if c.kind != "delete")
    return RenderDiff(
        changes=ordered,
        unchanged=unchanged,
        config=_value_changes(old.config, new.config),
        outputs=_value_changes(old.outputs, new.outputs),
        old_stack=f"{old.project}/{old.stack}",
        new_stack=f"{new.project}/{new.stack}",
    )


def shown(value: Any) -> str:
    """A value as printed in a diff line (JSON-ish, secrets stay ``[secret]``)."""
    if value is MISSING:
        return "(none)"
    if value == SECRET:
        return SECRET
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
