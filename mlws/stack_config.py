"""Edit one value in a Pulumi stack config file (``Pulumi.<stack>.yaml``) without the pulumi CLI.

``mlws keys rotate`` bumps a key's rotation trigger (``<project>:primaryKeyRotation``) so the next
``pulumi up`` regenerates that key alone. The edit is a careful line edit, not a YAML round trip:
every other line, comment, quote style and line ending stays byte for byte as it was. When PyYAML
is installed (the ``infra`` extra) the result is parsed and compared with the original, and the
file is left untouched unless exactly that one value changed.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlws.service import ServiceError

_CONFIG_LINE = re.compile(r"^config:[ \t]*(?:#.*)?$")
_CONFIG_FLOW = re.compile(r"^config:[ \t]*\{[ \t]*\}[ \t]*(?:#.*)?$")
_TOP_LEVEL = re.compile(r"^\S")


@dataclass(frozen=True, slots=True)
class ConfigEdit:
    """The outcome of :func:`bump_config_value`."""

    text: str
    """The new file content."""
    key: str
    """The namespaced config key, e.g. ``accidents:primaryKeyRotation``."""
    old: str | None
    """The previous value (None when the key was absent)."""
    new: str
    """The value written."""


def next_trigger(old: str | None, now: datetime | None = None) -> str:
    """The next rotation trigger: a counter goes up by one; absent starts at ``1``; any other
    value is replaced by the current UTC time."""
    if old is None or old == "":
        return "1"
    if old.isdigit():
        return str(int(old) + 1)
    moment = now or datetime.now(tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _split_value(rest: str) -> tuple[str, str]:
    """Split what follows ``key:`` into the value and a trailing comment (with its spacing)."""
    stripped = rest.strip()
    if stripped.startswith(("'", '"')):
        quote = stripped[0]
        end = stripped.find(quote, 1)
        if end == -1:
            raise ServiceError("unterminated quoted value in the stack config")
        value_part = stripped[: end + 1]
    else:
        match = re.match(r"^(.*?)(\s+#.*)?$", stripped)
        value_part = match.group(1) if match else stripped
    comment = rest[rest.find(value_part) + len(value_part) :] if value_part else rest
    return value_part, comment.rstrip("\r\n")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in ("'", '"'):
        return value[1:-1]
    return value


def bump_config_value(text: str, key: str, value: str | None = None) -> ConfigEdit:
    """Set ``key`` under the top-level ``config:`` mapping to ``value`` (default: the next trigger
    after the current value), changing nothing else in ``text``."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _CONFIG_LINE.match(line.rstrip("\r\n"))), -1)
    if start == -1:
        flow = next(
            (i for i, line in enumerate(lines) if _CONFIG_FLOW.match(line.rstrip("\r\n"))), -1
        )
        if flow == -1 and any(line.startswith("config:") for line in lines):
            raise ServiceError(
                "the stack file's config is not a block mapping: set the value with "
                f"`pulumi config set {key} <value>` instead"
            )
        new = value or next_trigger(None)
        block = f"config:{newline}  {key}: {_quote(new)}{newline}"
        if flow != -1:
            lines[flow] = block
        else:
            if lines and not lines[-1].endswith(("\n", "\r")):
                lines[-1] += newline
            lines.append(block)
        return ConfigEdit("".join(lines), key, None, new)

    end = len(lines)
    for i in range(start + 1, len(lines)):
        if _TOP_LEVEL.match(lines[i]) and not lines[i].startswith("#"):
            end = i
            break
    children = [
        i
        for i in range(start + 1, end)
        if lines[i].strip() and not lines[i].lstrip().startswith("#")
    ]
    indent = (
        re.match(r"^[ ]*", lines[children[0]]).group(0)  # type: ignore[union-attr]
        if children
        else "  "
    )
    pattern = re.compile(
        rf"^{indent}(?P<q>[\"']?){re.escape(key)}(?P=q)[ \t]*:(?P<rest>.*)$", re.DOTALL
    )
    for i in children:
        match = pattern.match(lines[i])
        if not match:
            continue
        rest = match.group("rest")
        ending = rest[len(rest.rstrip("\r\n")) :]
        value_part, comment = _split_value(rest)
        if not value_part:
            raise ServiceError(
                f"{key} in the stack file is not a plain value (a secret or a nested object): "
                f"set it with `pulumi config set {key} <value>`"
            )
        old = _unquote(value_part)
        new = value or next_trigger(old)
        prefix = lines[i][: len(lines[i]) - len(rest)]
        lines[i] = f"{prefix} {_quote(new, like=value_part)}{comment}{ending or newline}"
        return ConfigEdit("".join(lines), key, old, new)
    insert_at = (children[-1] + 1) if children else start + 1
    while insert_at < end and lines[insert_at].startswith(indent + " "):
        insert_at += 1
    new = value or next_trigger(None)
    if insert_at > 0 and not lines[insert_at - 1].endswith(("\n", "\r")):
        lines[insert_at - 1] += newline
    lines.insert(insert_at, f"{indent}{key}: {_quote(new)}{newline}")
    return ConfigEdit("".join(lines), key, None, new)


def _quote(value: str, like: str = '"') -> str:
    quote = like[0] if like and like[0] in ("'", '"') else '"'
    if quote == "'":
        return "'" + value.replace("'", "''") + "'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _verify(before: str, after: str, key: str, new: str) -> None:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is in the infra and dev extras
        return
    try:
        old_doc: Any = yaml.safe_load(before) or {}
        new_doc: Any = yaml.safe_load(after) or {}
    except yaml.YAMLError as exc:
        raise ServiceError(f"the stack file is not valid YAML: {exc}") from None
    expected = dict(old_doc) if isinstance(old_doc, dict) else {}
    config = dict(expected.get("config") or {})
    config[key] = new
    expected["config"] = config
    got = dict(new_doc) if isinstance(new_doc, dict) else {}
    if isinstance(got.get("config"), dict) and key in got["config"]:
        got["config"] = {**got["config"], key: str(got["config"][key])}
    if got != expected:
        raise ServiceError(
            f"editing {key} would change more than that value; set it with "
            f"`pulumi config set {key} {new}` instead"
        )


def project_name(stack_dir: Path) -> str:
    """The project name from ``Pulumi.yaml`` (or ``Pulumi.yml``) in ``stack_dir``."""
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        path = stack_dir / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                match = re.match(r"^name:[ \t]*(?P<v>[^#]+?)[ \t]*(?:#.*)?$", line)
                if match:
                    return _unquote(match.group("v").strip())
            raise ServiceError(f"{path} has no top-level `name:`")
    raise ServiceError(f"no Pulumi.yaml in {str(stack_dir)!r}: pass --stack-dir PROJECT_FOLDER")


def stack_file(stack_dir: Path, stack: str | None) -> Path:
    """The ``Pulumi.<stack>.yaml`` to edit. ``stack`` may be ``ORG/PROJECT/STACK``; without it,
    the folder's only stack file."""
    if not stack_dir.is_dir():
        raise ServiceError(f"--stack-dir {str(stack_dir)!r} is not a directory")
    if stack:
        name = stack.rsplit("/", 1)[-1]
        for suffix in (".yaml", ".yml"):
            path = stack_dir / f"Pulumi.{name}{suffix}"
            if path.is_file():
                return path
        return stack_dir / f"Pulumi.{name}.yaml"
    found = sorted(p for p in stack_dir.glob("Pulumi.*.y*ml") if p.suffix in (".yaml", ".yml"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ServiceError(
            f"no Pulumi.<stack>.yaml in {str(stack_dir)!r}: pass --stack NAME to create one"
        )
    names = ", ".join(p.name for p in found)
    raise ServiceError(f"several stack files in {str(stack_dir)!r} ({names}): pass --stack NAME")


def rotate_in_file(path: Path, key: str, value: str | None = None) -> ConfigEdit:
    """Bump ``key`` in the stack file at ``path`` (created when missing) and write it back."""
    before = ""
    if path.exists():
        with path.open(encoding="utf-8", newline="") as handle:
            before = handle.read()
    edit = bump_config_value(before, key, value)
    _verify(before, edit.text, key, edit.new)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(edit.text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return edit
