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

from mlws.render.model import SECRET, UNKNOWN

#: The signature key and values, as in ``pulumi.runtime.rpc`` (part of Pulumi's wire protocol).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a protocol tag
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


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
