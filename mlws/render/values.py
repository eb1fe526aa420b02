"""Turn property values as Pulumi sends them over the wire into printable, diffable JSON.

Pulumi's wire format (a protobuf ``Struct``) marks secrets, resource references, assets and
archives with a signature key, and unknown values with a sentinel string. Here a secret becomes
``"[secret]"`` (its value is dropped, never printed), a resource reference ``{"$ref": urn}``, an
asset ``{"$asset": path|uri|sha256 of text}``, an unknown ``"[unknown]"``; integral numbers are
ints again (protobuf carries every number as a double).
"""

from __future__ import annotations

import hashlib
from typing import Any

from mlws.pulumi_wire import (
    ARCHIVE_SIG,
    ASSET_SIG,
    OUTPUT_VALUE_SIG,
    RESOURCE_SIG,
    SECRET_SIG,
    SIG_KEY,
    UNKNOWN_SENTINEL,
)
from mlws.render.model import SECRET, UNKNOWN


def _asset(value: dict[str, Any]) -> dict[str, Any]:
    if "path" in value:
        return {"$asset": str(value["path"])}
    if "uri" in value:
        return {"$asset": str(value["uri"])}
    text = str(value.get("text", ""))
    return {"$asset": "text sha256:" + hashlib.sha256(text.encode()).hexdigest()}


def _archive(value: dict[str, Any]) -> dict[str, Any]:
    if "path" in value:
        return {"$archive": str(value["path"])}
    if "uri" in value:
        return {"$archive": str(value["uri"])}
    assets = value.get("assets") or {}
    return {"$archive": {str(k): normalize(v) for k, v in sorted(assets.items())}}


def normalize(value: Any) -> Any:
    """Printable form of one wire value (see the module docstring)."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return SECRET
        if sig == RESOURCE_SIG:
            return {"$ref": str(value.get("urn", ""))}
        if sig == ASSET_SIG:
            return _asset(value)
        if sig == ARCHIVE_SIG:
            return _archive(value)
        if sig == OUTPUT_VALUE_SIG:
            if value.get("secret"):
                return SECRET
            return normalize(value["value"]) if "value" in value else UNKNOWN
        return {str(k): normalize(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if value == UNKNOWN_SENTINEL:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def normalize_props(props: dict[str, Any]) -> dict[str, Any]:
    """Normalize a property map, dropping ``None`` values as Pulumi does."""
    return {str(k): normalize(v) for k, v in sorted(props.items()) if v is not None}


def contains_secret(value: Any) -> bool:
    """Whether a normalized value holds a ``[secret]`` anywhere."""
    if value == SECRET:
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False
