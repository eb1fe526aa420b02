"""The SDK's typed property values <-> the plain snake_case dicts the custom resources work on.

The Pulumi SDK's typed provider interface (``pulumi.provider.experimental.provider``) hands each
request over as ``dict[str, PropertyValue]`` with the schema's camelCase keys, secrets marked on
the value; it does the protobuf side itself. The custom resources here work on snake_case dicts of
plain JSON values, so this module converts both ways and keeps track of which top-level
properties were secret or unknown (a computed value during preview, which the engine sends as the
unknown sentinel string).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pydantic import alias_generators

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


def _plain(value: PropertyValue) -> tuple[Any, bool]:
    """(plain value, contains an unknown); secrets are unwrapped (see ``contains_secret``)."""
    inner = value.value
    if isinstance(inner, Computed):
        return UNKNOWN, True
    if inner is None or isinstance(inner, bool):
        return inner, False
    if isinstance(inner, float):
        return (int(inner) if inner.is_integer() else inner), False
    if isinstance(inner, str):
        return inner, inner == UNKNOWN
    if isinstance(inner, Mapping):
        entries = {key: _plain(item) for key, item in inner.items()}
        return {k: v for k, (v, _) in entries.items()}, any(u for _, u in entries.values())
    if isinstance(inner, tuple | list):
        items = [_plain(item) for item in inner]
        return [v for v, _ in items], any(u for _, u in items)
    raise TypeError(f"the mlws custom resources take no {type(inner).__name__} values")


def decode(properties: Mapping[str, PropertyValue], *, snake: bool = True) -> Props:
    """Decode a property map; top-level names become snake_case (nested keys are kept)."""
    values: dict[str, Any] = {}
    secret: set[str] = set()
    unknown: set[str] = set()
    for key, item in properties.items():
        name = to_snake(key) if snake else key
        values[name], is_unknown = _plain(item)
        if item.contains_secret():
            secret.add(name)
        if is_unknown:
            unknown.add(name)
    return Props(values, frozenset(secret), frozenset(unknown))


def _value(plain: Any) -> PropertyValue:
    if plain is None or isinstance(plain, bool | str):
        return PropertyValue(plain)
    if isinstance(plain, int | float):
        return PropertyValue(float(plain))
    if isinstance(plain, Mapping):
        return PropertyValue({str(k): _value(v) for k, v in plain.items()})
    if isinstance(plain, list | tuple):
        return PropertyValue([_value(v) for v in plain])
    raise TypeError(f"cannot send a {type(plain).__name__} as a property value")


def encode(values: Mapping[str, Any], secret: Iterable[str] = ()) -> dict[str, PropertyValue]:
    """Encode snake_case ``values`` with camelCase keys, marking the ``secret`` names secret.

    ``None`` values are left out (an absent property), as the engine expects for optional ones.
    """
    secret_names = set(secret)
    return {
        to_camel(name): _value(plain).with_secret(name in secret_names)
        for name, plain in values.items()
        if plain is not None
    }
