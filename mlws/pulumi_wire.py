"""Pulumi's wire protocol signatures: how a property ``Struct`` marks secrets, resource references,
assets, archives, output values and unknowns.

They are part of the protocol between the engine, language hosts and providers (the Python SDK
keeps them as private names in ``pulumi.runtime.rpc``), so they are written here once for the
render (:mod:`mlws.render.values`) and the provider plugin (:mod:`mlws.provider.wire`).
"""

SIG_KEY = "4dabf18193072939515e22adb298388d"
"""The key whose value says what a tagged object is."""
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a protocol tag
"""A secret: the object's ``value`` is the secret value."""
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
"""A resource reference (``urn``, ``id``)."""
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
"""An asset (``path``, ``uri`` or ``text``)."""
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
"""An archive (``path``, ``uri`` or ``assets``)."""
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
"""An output value: ``value`` (absent when unknown), ``secret``, ``dependencies``."""
UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The string standing for a value not known yet (a computed output during preview)."""
