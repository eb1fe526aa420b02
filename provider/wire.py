"""Property maps on the wire (``google.protobuf.Struct``) <-> plain dicts for custom resources.

The engine sends resource properties as a ``Struct`` with camelCase keys, where a secret is an
object tagged with Pulumi's secret signature and a value not known yet (during preview) is a
special string. The custom resources here work on snake_case dicts of plain JSON values, so this
module converts both ways and keeps track of which top-level properties were secret or unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from pydantic import alias_generators

from mlws.pulumi_wire import OUTPUT_VALUE_SIG as _OUTPUT
from mlws.pulumi_wire import SECRET_SIG as _SECRET
from mlws.pulumi_wire import SIG_KEY as _SIG
from mlws.pulumi_wire import UNKNOWN_SENTINEL

UNKNOWN = UNKNOWN_SENTINEL
"""The wire form of a value that is not known yet (a computed output during preview)."""


def to_camel(name: str) -> str:
    """``scoring_uri`` -> ``scoringUri`` (the schema's property names)."""
    return alias_generators.to_camel(name)


def to_snake(name: str) -> str:
    """``scoringUri`` -> ``scoring_uri``."""
    return alias_generators.to_snake(name)


@dataclass(frozen=True)
class Props:
    """A decoded property map: snake_case values plus which ones were secret or unknown."""

    values: dict[str, Any]
    """Plain values (secrets unwrapped, unknowns as :data:`UNKNOWN`)."""
    secret: frozenset[str] = frozenset()
    """Names (snake_case) whose value was secret or contained a secret."""
    unknown: frozenset[str] = frozenset()
    """Names (snake_case) whose value was, or contained, an unknown."""


def _plain(value: struct_pb2.Value) -> tuple[Any, bool, bool]:
    """(plain value, contains a secret, contains an unknown)."""
    kind = value.WhichOneof("kind")
    if kind == "null_value" or kind is None:
        return None, False, False
    if kind == "bool_value":
        return value.bool_value, False, False
    if kind == "number_value":
        number = value.number_value
        return (int(number) if number.is_integer() else number), False, False
    if kind == "string_value":
        return value.string_value, False, value.string_value == UNKNOWN
    if kind == "list_value":
        items = [_plain(item) for item in value.list_value.values]
        return (
            [v for v, _, _ in items],
            any(s for _, s, _ in items),
            any(u for _, _, u in items),
        )
    fields = value.struct_value.fields
    sig = fields[_SIG].string_value if _SIG in fields else None
    if sig == _SECRET:
        inner, _, unknown = _plain(fields["value"])
        return inner, True, unknown
    if sig == _OUTPUT:
        if "value" not in fields:
            return UNKNOWN, bool(fields["secret"].bool_value) if "secret" in fields else False, True
        inner, secret, unknown = _plain(fields["value"])
        return inner, secret or ("secret" in fields and fields["secret"].bool_value), unknown
    entries = {key: _plain(item) for key, item in fields.items()}
    return (
        {k: v for k, (v, _, _) in entries.items()},
        any(s for _, s, _ in entries.values()),
        any(u for _, _, u in entries.values()),
    )


def decode(struct: struct_pb2.Struct, *, snake: bool = True) -> Props:
    """Decode a property map; top-level names become snake_case (nested keys are kept)."""
    values: dict[str, Any] = {}
    secret: set[str] = set()
    unknown: set[str] = set()
    for key, item in struct.fields.items():
        name = to_snake(key) if snake else key
        plain, is_secret, is_unknown = _plain(item)
        values[name] = plain
        if is_secret:
            secret.add(name)
        if is_unknown:
            unknown.add(name)
    return Props(values, frozenset(secret), frozenset(unknown))


def _value(plain: Any) -> struct_pb2.Value:
    if plain is None:
        return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(plain, bool):
        return struct_pb2.Value(bool_value=plain)
    if isinstance(plain, int | float):
        return struct_pb2.Value(number_value=float(plain))
    if isinstance(plain, str):
        return struct_pb2.Value(string_value=plain)
    if isinstance(plain, Mapping):
        return struct_pb2.Value(
            struct_value=struct_pb2.Struct(fields={str(k): _value(v) for k, v in plain.items()})
        )
    if isinstance(plain, list | tuple):
        return struct_pb2.Value(list_value=struct_pb2.ListValue(values=[_value(v) for v in plain]))
    raise TypeError(f"cannot send a {type(plain).__name__} as a property value")


def encode(values: Mapping[str, Any], secret: Iterable[str] = ()) -> struct_pb2.Struct:
    """Encode snake_case ``values`` with camelCase keys, wrapping the ``secret`` names as secrets.

    ``None`` values are left out (an absent property), as the engine expects for optional ones.
    """
    secret_names = set(secret)
    fields: dict[str, struct_pb2.Value] = {}
    for name, plain in values.items():
        if plain is None:
            continue
        value = _value(plain)
        if name in secret_names:
            value = struct_pb2.Value(
                struct_value=struct_pb2.Struct(
                    fields={_SIG: struct_pb2.Value(string_value=_SECRET), "value": value}
                )
            )
        fields[to_camel(name)] = value
    return struct_pb2.Struct(fields=fields)
