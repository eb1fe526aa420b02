"""Print renders and diffs: JSON for machines, Markdown for a PR, plain text for a terminal."""

from __future__ import annotations

import json
from typing import Any

from mlws.render.diff import MISSING, FieldChange, RenderDiff, ResourceChange, ValueChange, shown
from mlws.render.model import Render, RenderedResource

_SIGNS = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return _code(text).replace("|", "\\|")


def render_markdown(render: Render) -> str:
    """The render as a Markdown document: counts, tree, config, outputs, then each resource."""
    by_urn = render.by_urn()
    lines = [
        f"# Render of project {_code(render.project)}, stack {_code(render.stack)}",
        "",
        f"{len(render.resources)} resources, rendered under mocks (no cloud was contacted).",
        "",
        "| type | count |",
        "| --- | ---: |",
        *(f"| {_code(t)} | {n} |" for t, n in render.counts().items()),
        "",
        "## Resource tree",
        "",
    ]
    for res in render.resources:
        depth, parent = 0, res.parent
        while parent is not None and parent in by_urn:
            depth, parent = depth + 1, by_urn[parent].parent
        kind = "" if res.custom else " (component)"
        lines.append(f"{'  ' * depth}- {_code(res.name)}: {_code(res.type)}{kind}")
    if render.config:
        lines += ["", "## Config", "", "| key | value |", "| --- | --- |"]
        lines += [f"| {_code(k)} | {_cell(v)} |" for k, v in render.config.items()]
    if render.outputs:
        lines += ["", "## Stack outputs", "", "| name | value |", "| --- | --- |"]
        lines += [f"| {_code(k)} | {_cell(v)} |" for k, v in sorted(render.outputs.items())]
    if render.messages:
        lines += ["", "## Messages", ""]
        lines += [f"- {m}" for m in render.messages]
    lines += ["", "## Resources"]
    for res in render.resources:
        lines += ["", *_resource_section(res, by_urn)]
    return "\n".join(lines) + "\n"


def _resource_section(res: RenderedResource, by_urn: dict[str, RenderedResource]) -> list[str]:
    parent = by_urn[res.parent].name if res.parent in by_urn else "(stack)"
    lines = [
        f"### {_code(res.name)} ({_code(res.type)})",
        "",
        f"- kind: {'provider resource' if res.custom else 'component'}",
        f"- parent: {_code(parent)}",
        f"- urn: {_code(res.urn)}",
    ]
    if res.read:
        lines.append("- read: an existing resource (`get`), never changed")
    for key, value in sorted(res.options.items()):
        lines.append(f"- {key}: {_cell(value)}")
    if res.inputs:
        body = json.dumps(res.inputs, indent=2, sort_keys=True, ensure_ascii=False)
        lines += ["", "```json", body, "```"]
    return lines


def render_json(render: Render) -> str:
    """The render as stable JSON (the input of ``mlws render --diff``)."""
    return render.to_json()


def _field_line(change: FieldChange) -> str:
    if change.via is not None:
        return f"{change.path}: computed from {change.via}, which is replaced"
    if change.old is MISSING:
        return f"{change.path}: added {shown(change.new)}"
    if change.new is MISSING:
        return f"{change.path}: removed (was {shown(change.old)})"
    return f"{change.path}: {shown(change.old)} -> {shown(change.new)}"


def _value_line(change: ValueChange) -> str:
    return f"{change.key}: {shown(change.old)} -> {shown(change.new)}"


def diff_text(diff: RenderDiff) -> str:
    """A terminal-friendly diff, like ``pulumi preview --diff``."""
    lines: list[str] = []
    if diff.old_stack != diff.new_stack:
        lines.append(f"Comparing {diff.old_stack} -> {diff.new_stack}")
    if diff.empty:
        return "\n".join([*lines, f"No changes. ({diff.unchanged} unchanged)"]) + "\n"
    if diff.config:
        lines.append("Config:")
        lines += [f"    {_value_line(c)}" for c in diff.config]
    for change in diff.changes:
        lines.append(_change_head(change))
        lines += [f"      {_field_line(f)}" for f in change.fields]
        lines += [f"      replaced because {r}" for r in change.reasons]
        lines += [f"      note: {n}" for n in change.notes]
    if diff.outputs:
        lines.append("Outputs:")
        lines += [f"    {_value_line(c)}" for c in diff.outputs]
    lines.append(f"Resources: {diff.summary()}")
    return "\n".join(lines) + "\n"


def _change_head(change: ResourceChange) -> str:
    sign = _SIGNS[change.kind]
    return f"{sign:>2} {change.kind:<8} {change.type}  {change.name}"


def diff_markdown(diff: RenderDiff) -> str:
    """A diff to paste into a pull request."""
    lines = ["## Infrastructure diff (mlws render, offline)", ""]
    if diff.old_stack != diff.new_stack:
        lines += [f"Comparing `{diff.old_stack}` with `{diff.new_stack}`.", ""]
    lines += [f"**{diff.summary()}**", ""]
    if diff.config:
        lines += ["### Config", "", *[f"- {_code(_value_line(c))}" for c in diff.config], ""]
    if diff.changes:
        lines += ["| | resource | type | changes |", "| --- | --- | --- | --- |"]
        for change in diff.changes:
            details = "<br>".join(
                [_code(_field_line(f)).replace("|", "\\|") for f in change.fields]
                + [f"replaced because {r}".replace("|", "\\|") for r in change.reasons]
                + [f"**note**: {n}".replace("|", "\\|") for n in change.notes]
            )
            lines.append(
                f"| {_SIGNS[change.kind]} {change.kind} | {_code(change.name)} | "
                f"{_code(change.type)} | {details} |"
            )
        lines.append("")
    if diff.outputs:
        lines += ["### Stack outputs", "", *[f"- {_code(_value_line(c))}" for c in diff.outputs]]
        lines.append("")
    if diff.empty:
        lines.append("No changes.")
    return "\n".join(lines).rstrip("\n") + "\n"


def diff_json(diff: RenderDiff) -> str:
    """The diff as JSON (a side that does not exist is ``{}``)."""

    def side(value: Any) -> dict[str, Any]:
        return {} if value is MISSING else {"value": value}

    data = {
        "old": diff.old_stack,
        "new": diff.new_stack,
        "summary": {
            **{k: len(diff.of_kind(k)) for k in ("create", "update", "replace", "delete")},
            "unchanged": diff.unchanged,
        },
        "config": [{"key": c.key, "old": side(c.old), "new": side(c.new)} for c in diff.config],
        "resources": [
            {
                "kind": c.kind,
                "urn": c.urn,
                "type": c.type,
                "name": c.name,
                "fields": [
                    {"path": f.path, "old": side(f.old), "new": side(f.new), "via": f.via}
                    for f in c.fields
                ],
                "reasons": c.reasons,
                "notes": c.notes,
            }
            for c in diff.changes
        ],
        "outputs": [{"key": c.key, "old": side(c.old), "new": side(c.new)} for c in diff.outputs],
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
