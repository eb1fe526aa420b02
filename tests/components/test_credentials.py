"""The one "key auth needs a key" rule (components/credentials.py) and the targets that use it."""

from __future__ import annotations

import pytest

from mlws.components.aci_web_service import reference_problems as aci_problems
from mlws.components.credentials import credential_problem, requested_auth_mode
from mlws.components.errors import Problem
from mlws.components.local_web_service import reference_problems as local_problems


def test_key_auth_needs_one_of_the_keys() -> None:
    assert credential_problem("key", set()) == Problem(
        "primary_key", "required when key auth is on (ServiceKeys)"
    )
    assert credential_problem("key", {"primary_key"}) is None
    two = ("primary_key", "secondary_key")
    assert credential_problem("key", {"secondary_key"}, keys=two) is None
    missing = credential_problem("key", set(), keys=two, source="")
    assert missing == Problem("primary_key", "required when key auth is on (or secondary_key)")


def test_token_auth_needs_a_secret_unless_an_issuer_signs() -> None:
    assert credential_problem("token", set()) == Problem(
        "token_secret", "required when token_auth_enabled (ServiceKeys)"
    )
    assert credential_problem("token", set(), external_issuer=True) is None
    assert credential_problem("none", set()) is None


@pytest.mark.parametrize(
    ("args", "default", "mode"),
    [
        ({}, False, "none"),
        ({}, True, "key"),
        ({"auth_enabled": True}, False, "key"),
        ({"auth_enabled": False}, True, "none"),
        ({"token_auth_enabled": True, "auth_enabled": True}, False, "token"),
    ],
)
def test_requested_auth_mode(args: dict[str, bool], default: bool, mode: str) -> None:
    assert requested_auth_mode(args, key_auth_default=default) == mode


def test_local_and_aci_ask_the_same_rule() -> None:
    expected = credential_problem("key", set())
    assert expected in local_problems({"image": "i", "auth_enabled": True})
    assert expected in aci_problems(
        {"image": "i", "resource_group_name": "rg", "auth_enabled": True}
    )
    assert not [
        p
        for p in local_problems({"image": "i", "auth_enabled": True, "primary_key": "k"})
        if p.field == "primary_key"
    ]
