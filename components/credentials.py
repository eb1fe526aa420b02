"""What each auth mode needs given: the one "key auth needs a key" rule of the component side.

Every target checks it before any resource is registered, on the raw args (a key is a reference to
``ServiceKeys`` known at preview only as present or absent). The scoring runtime checks the same
rule again on its own settings when it starts (``mlws.runtime.settings``), since it runs without
the components.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from mlws.components.errors import Problem
from mlws.runtime.settings import AuthMode


def requested_auth_mode(args: Mapping[str, Any], *, key_auth_default: bool = False) -> AuthMode:
    """The auth mode raw args ask for: token when ``token_auth_enabled``, key when
    ``auth_enabled`` (``key_auth_default`` when unset), else none."""
    if args.get("token_auth_enabled") is True:
        return "token"
    auth = args.get("auth_enabled")
    return "key" if (auth if isinstance(auth, bool) else key_auth_default) else "none"


def credential_problem(
    auth_mode: AuthMode,
    given: Collection[str],
    *,
    keys: Sequence[str] = ("primary_key",),
    external_issuer: bool = False,
    source: str = "ServiceKeys",
    key_auth_default: bool = False,
) -> Problem | None:
    """The credential ``auth_mode`` needs that is not among the ``given`` names, or None.

    Key auth needs one of ``keys``; token auth needs ``token_secret`` unless tokens come from an
    ``external_issuer`` (a JWKS or OIDC issuer). ``source`` says where the credential comes from.
    Where key auth is on unless turned off (``key_auth_default``), the key's problem says how.
    """
    origin = f" ({source})" if source else ""
    if auth_mode == "key" and not any(key in given for key in keys):
        others = f" (or {', '.join(keys[1:])})" if len(keys) > 1 else ""
        if key_auth_default:
            return Problem(
                keys[0],
                f"required when key auth is on, as by default{others}{origin}, "
                "or set auth_enabled False",
            )
        return Problem(keys[0], f"required when key auth is on{others}{origin}")
    if auth_mode == "token" and "token_secret" not in given and not external_issuer:
        return Problem("token_secret", f"required when token_auth_enabled{origin}")
    return None


def given_names(args: Mapping[str, Any]) -> set[str]:
    """The names in ``args`` that have a value."""
    return {name for name, value in args.items() if value is not None}
