"""ServiceKeys under Pulumi mocks: two secret keys, each with its own rotation trigger."""

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from mlws.components.errors import ConfigError
from mlws.components.service_keys import ServiceKeys
from mlws.mocks import SECRET_PLACEHOLDER, MockHarness, diff_programs

PASSWORD = "random:index/randomPassword:RandomPassword"


def keys_program(**args: Any) -> Callable[[], None]:
    def program() -> None:
        keys = ServiceKeys("svc-keys", args)  # type: ignore[arg-type]
        pulumi.export("primary", keys.primary_key)
        pulumi.export("secondary", keys.secondary_key)
        pulumi.export("token", keys.token_secret)

    return program


def test_graph_and_secrets(pulumi_mocks: MockHarness) -> None:
    recording = pulumi_mocks.run(keys_program())
    component = recording.named("svc-keys", "mlws:index:ServiceKeys")
    children = recording.children(component)
    assert sorted(c.name for c in children) == ["svc-keys-primary", "svc-keys-secondary"]
    for child in children:
        assert child.type == PASSWORD
        assert child.inputs == {"length": 32, "special": False, "keepers": {"rotation": "0"}}
    primary = recording.stack_outputs["primary"]
    secondary = recording.stack_outputs["secondary"]
    assert len(primary) == 32
    assert primary.isalnum()
    assert primary != secondary
    assert recording.masked_stack_outputs["primary"] == SECRET_PLACEHOLDER
    assert recording.masked_stack_outputs["secondary"] == SECRET_PLACEHOLDER
    assert recording.stack_outputs.get("token") is None
    assert component.masked_outputs["primary_key"] == SECRET_PLACEHOLDER
    rendered = json.dumps(recording.to_json())
    assert primary not in rendered
    assert secondary not in rendered


def test_token_secret(pulumi_mocks: MockHarness) -> None:
    recording = pulumi_mocks.run(keys_program(token_secret_enabled=True, token_rotation="t1"))
    token = recording.named("svc-keys-token-secret")
    assert token.inputs == {"length": 64, "special": False, "keepers": {"rotation": "t1"}}
    assert len(recording.stack_outputs["token"]) == 64
    assert recording.masked_stack_outputs["token"] == SECRET_PLACEHOLDER


def test_rotating_one_trigger_regenerates_that_key_only() -> None:
    diff, before, after = diff_programs(
        lambda rotation: keys_program(primary_rotation=rotation, token_secret_enabled=True),
        "2026-01",
        "2026-02",
    )
    assert diff.updated == {"svc-keys-primary": ("keepers.rotation",)}
    assert before.stack_outputs["primary"] != after.stack_outputs["primary"]
    assert before.stack_outputs["secondary"] == after.stack_outputs["secondary"]
    assert before.stack_outputs["token"] == after.stack_outputs["token"]

    diff, _, _ = diff_programs(lambda r: keys_program(secondary_rotation=r), "a", "b")
    assert diff.changed_names == {"svc-keys-secondary"}


def test_invalid_args_name_every_field(pulumi_mocks: MockHarness) -> None:
    with pytest.raises(ConfigError) as caught:
        pulumi_mocks.run(keys_program(length=8, primary_rotaton="x"))
    assert caught.value.fields == ("length", "primary_rotaton")
    assert pulumi_mocks.mocks.registrations == []


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_outputs_are_secret_outputs(pulumi_mocks: MockHarness) -> pulumi.Output[None]:
    keys = ServiceKeys("k", {"token_secret_enabled": True})

    def check(values: list[Any]) -> None:
        primary, secondary, token, *secret_flags = values
        assert primary != secondary != token
        assert all(secret_flags)
        assert [r.name for r in pulumi_mocks.recording] == [  # tree order, siblings by name
            "k",
            "k-primary",
            "k-secondary",
            "k-token-secret",
        ]

    outputs = [keys.primary_key, keys.secondary_key, keys.token_secret]
    flags: list[pulumi.Output[bool]] = [pulumi.Output.from_input(o.is_secret()) for o in outputs]
    return pulumi.Output.all(*outputs, *flags).apply(check)
