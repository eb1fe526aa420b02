"""Edit one value in a Pulumi stack config file (``Pulumi.<stack>.yaml``) without the pulumi CLI.

``mlws keys rotate`` bumps a key's rotation trigger (``<project>:primaryKeyRotation``) so the next
``pulumi up`` regenerates that key alone. The edit is a ruamel.yaml round trip that keeps comments,
quote styles and the block's indent; line endings are kept too. The result is parsed and compared
with the original, line by line, and the file is left untouched unless exactly that one entry
changed.
"""

from __future__ import annotations

import copy
import io
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from mlws.service import ServiceError


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


def _indent(text: str) -> int:
    """The indent of the ``config:`` block's entries (2 when it has none)."""
    match = re.search(r"^config:[^\n]*\n(?:[ \t]*(?:#[^\n]*)?\r?\n)*( +)\S", text, re.MULTILINE)
    return len(match.group(1)) if match else 2


def _round_trip(indent: int) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=indent, sequence=indent + 2, offset=indent)
    yaml.width = 1 << 16  # never re-wrap a long line
    return yaml


def _scalar(new: str, like: object) -> str:
    quoted: str = (
        SingleQuotedScalarString(new)
        if isinstance(like, SingleQuotedScalarString)
        else DoubleQuotedScalarString(new)
    )
    return quoted


def _keep_blank_lines_below(config: CommentedMap, last: object, key: str) -> None:
    """A new last entry goes above the blank lines that ended the block (ruamel keeps them as the
    previous entry's end-of-line comment, which would put them above the new entry)."""
    tokens = config.ca.items.get(last)
    if not tokens or len(tokens) < 3 or tokens[2] is None:
        return
    token = tokens[2]
    head, sep, rest = token.value.partition("\n")
    if rest:
        token.value = head + sep
        moved = copy.copy(token)
        moved.value = "\n" + rest
        config.ca.items[key] = [None, None, moved, None]


def bump_config_value(text: str, key: str, value: str | None = None) -> ConfigEdit:
    """Set ``key`` under the top-level ``config:`` mapping to ``value`` (default: the next trigger
    after the current value), changing nothing else in ``text``.

    A ruamel.yaml round trip keeps comments and quote styles; the result is then checked line by
    line, and refused unless only that entry (and an empty ``config: {}``) changed.
    """
    newline = "\r\n" if "\r\n" in text else "\n"
    yaml = _round_trip(_indent(text))
    try:
        doc = yaml.load(text)
    except YAMLError as exc:
        raise ServiceError(f"the stack file is not valid YAML: {_first_line(exc)}") from None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise ServiceError("the stack file is not a YAML mapping")
    config = doc.get("config")
    if config is None:
        config = doc["config"] = CommentedMap()
    if not isinstance(config, CommentedMap) or (config and config.fa.flow_style()):
        raise ServiceError(
            "the stack file's config is not a block mapping: set the value with "
            f"`pulumi config set {key} <value>` instead"
        )
    config.fa.set_block_style()
    old_value = config.get(key)
    if isinstance(old_value, dict | list):
        raise ServiceError(
            f"{key} in the stack file is not a plain value (a secret or a nested object): "
            f"set it with `pulumi config set {key} <value>`"
        )
    old = None if old_value is None else str(old_value)
    new = value or next_trigger(old)
    entries = list(config)
    config[key] = _scalar(new, old_value)
    if old_value is None and entries:
        _keep_blank_lines_below(config, entries[-1], key)
    out = io.StringIO()
    yaml.dump(doc, out)
    result = out.getvalue().replace("\n", newline)
    _only_that_entry_changed(text, result, key, new)
    return ConfigEdit(result, key, old, new)


def _first_line(exc: Exception) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), "")


def _untouched(text: str, key: str) -> list[str]:
    """The lines an edit of ``key`` must leave as they were."""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*:|^config:")
    return [line for line in text.splitlines() if not pattern.match(line)]


def _only_that_entry_changed(before: str, after: str, key: str, new: str) -> None:
    safe = YAML(typ="safe")
    old_doc: Any = safe.load(before) or {}
    new_doc: Any = safe.load(after) or {}
    expected = dict(old_doc) if isinstance(old_doc, dict) else {}
    expected["config"] = {**dict(expected.get("config") or {}), key: new}
    same_lines = _untouched(before.rstrip("\r\n"), key) == _untouched(after.rstrip("\r\n"), key)
    if new_doc != expected or not same_lines:
        raise ServiceError(
            f"editing {key} would change more than that value; set it with "
            f"`pulumi config set {key} {new}` instead"
        )


def project_name(stack_dir: Path) -> str:
    """The project name from ``Pulumi.yaml`` (or ``Pulumi.yml``) in ``stack_dir``."""
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        path = stack_dir / name
        if path.is_file():
            try:
                doc: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
            except YAMLError as exc:
                raise ServiceError(f"{path} is not valid YAML: {_first_line(exc)}") from None
            name_value = doc.get("name") if isinstance(doc, dict) else None
            if name_value is None or not str(name_value).strip():
                raise ServiceError(f"{path} has no top-level `name:`")
            return str(name_value).strip()
    raise ServiceError(f"no Pulumi.yaml in {str(stack_dir)!r}: pass --stack-dir PROJECT_FOLDER")


def stack_files(folder: Path) -> list[Path]:
    """The ``Pulumi.<stack>.yaml`` (or ``.yml``) files in ``folder``, sorted."""
    return sorted(p for p in folder.glob("Pulumi.*.y*ml") if p.suffix in (".yaml", ".yml"))


def stack_names(folder: Path) -> list[str]:
    """The stacks whose config files ``folder`` holds (``Pulumi.dev.yaml`` is ``dev``)."""
    return [p.name.removeprefix("Pulumi.").rsplit(".", 1)[0] for p in stack_files(folder)]


def unknown_stack_message(folder: Path, stack: str) -> str | None:
    """Why ``stack`` is not one of ``folder``'s stacks, listing them; None when it is one, or
    when the folder has no stack file at all (a project before its first ``pulumi config set``)."""
    names = stack_names(folder)
    if not names or stack in names:
        return None
    return f"no Pulumi.{stack}.yaml in {str(folder)!r} (stacks here: {', '.join(names)})"


def stack_file(stack_dir: Path, stack: str | None) -> Path:
    """The ``Pulumi.<stack>.yaml`` to edit. ``stack`` may be ``ORG/PROJECT/STACK``; without it,
    the folder's only stack file. A stack other than the folder's is refused, listing them."""
    if not stack_dir.is_dir():
        raise ServiceError(f"--stack-dir {str(stack_dir)!r} is not a directory")
    if stack:
        name = stack.rsplit("/", 1)[-1]
        for suffix in (".yaml", ".yml"):
            path = stack_dir / f"Pulumi.{name}{suffix}"
            if path.is_file():
                return path
        unknown = unknown_stack_message(stack_dir, name)
        if unknown is not None:
            raise ServiceError(unknown)
        return stack_dir / f"Pulumi.{name}.yaml"
    found = stack_files(stack_dir)
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
