"""The plugin's package schema, from GetSchema over gRPC: snapshot, metaschema, validity checks.

``snapshots/schema.json`` is the schema the plugin served when it was last reviewed. Component
descriptions may change freely (they are the components' docstrings); anything else that changes
(a new input, a type, a secret flag, a custom resource's docs) fails the test until the snapshot is
regenerated on purpose::

    MLWS_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/provider/test_provider_schema.py

``snapshots/pulumi-package-metaschema.json`` is Pulumi's own package metaschema
(pulumi/pulumi ``pkg/codegen/schema/pulumi.json``, Apache-2.0), which ``pulumi package`` commands
validate schemas against.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pulumi.runtime import proto
from pydantic import BaseModel, SecretStr

from mlws import __version__
from mlws.provider import schema_builder as schema_mod
from mlws.provider.package import COMPONENTS, custom_resources
from tests.provider.plugin_harness import Plugin

SNAPSHOTS = Path(__file__).parent / "snapshots"
SNAPSHOT = SNAPSHOTS / "schema.json"
CREDENTIAL_INPUTS = {"primaryKey", "secondaryKey", "tokenSecret", "kubeconfig", "key", "token"}


@pytest.fixture(scope="module")
def schema(plugin: Plugin) -> dict[str, Any]:
    response = plugin.stub.GetSchema(proto.GetSchemaRequest(version=0))
    loaded: dict[str, Any] = json.loads(response.schema)
    return loaded


def _contract(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without component descriptions (custom resources are compared in full)."""
    custom = {r.token for r in custom_resources()}

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "description"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    resources = {
        token: spec if token in custom else strip(spec)
        for token, spec in schema.get("resources", {}).items()
    }
    return {**schema, "resources": resources, "types": strip(schema.get("types", {}))}


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in _flatten(item, f"{path}/{key}").items()
        }
    return {path: value}


def _differences(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    now, then = _flatten(new), _flatten(old)
    return [
        f"{path}: {then.get(path, '<absent>')!r} -> {now.get(path, '<absent>')!r}"
        for path in sorted(set(now) | set(then))
        if now.get(path) != then.get(path)
    ]


def test_schema_matches_the_snapshot(schema: dict[str, Any]) -> None:
    rendered = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    if os.environ.get("MLWS_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(rendered)
    snapshot = json.loads(SNAPSHOT.read_text())
    changes = _differences(_contract(schema), _contract(snapshot))
    assert not changes, (
        "the plugin's schema changed; review the changes and regenerate the snapshot with "
        "MLWS_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/provider/test_provider_schema.py\n"
        + "\n".join(changes[:50])
    )


def test_schema_is_valid_against_pulumis_metaschema(schema: dict[str, Any]) -> None:
    text = (SNAPSHOTS / "pulumi-package-metaschema.json").read_text()
    meta = json.loads(re.sub(r"\(\?<(?=[a-zA-Z])", "(?P<", text))  # ECMA named groups -> Python
    validator = jsonschema.Draft202012Validator(meta)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(schema)]
    assert errors == []
    broken = {**schema, "resources": {"mlws:index:X": {"inputProperties": {"a": {"type": "txt"}}}}}
    assert list(validator.iter_errors(broken)) != []


def test_every_resource_is_in_the_mlws_index_module(schema: dict[str, Any]) -> None:
    assert schema["name"] == "mlws"
    assert schema["version"] == __version__
    expected = {f"mlws:index:{name}" for _, name in COMPONENTS} | {
        "mlws:index:HealthGate",
        "mlws:index:LocalProcessService",
    }
    assert set(schema["resources"]) == expected
    for token, spec in schema["resources"].items():
        assert re.fullmatch(r"mlws:index:[A-Z][A-Za-z0-9]+", token)
        assert spec.get("isComponent", False) is (
            token not in {r.token for r in custom_resources()}
        )


def test_every_input_and_output_is_documented(schema: dict[str, Any]) -> None:
    undocumented = [
        f"{token}.{section}.{name}"
        for token, spec in schema["resources"].items()
        for section in ("inputProperties", "properties")
        for name, prop in spec.get(section, {}).items()
        if not prop.get("description", "").strip()
    ]
    assert undocumented == []
    for token, spec in schema["resources"].items():
        assert spec.get("description", "").strip(), token
        assert set(spec.get("requiredInputs", [])) <= set(spec.get("inputProperties", {})), token


def test_credentials_are_secret(schema: dict[str, Any]) -> None:
    for token, spec in schema["resources"].items():
        for section in ("inputProperties", "properties"):
            for name, prop in spec.get(section, {}).items():
                if name in CREDENTIAL_INPUTS or name == "registryPassword":
                    assert prop.get("secret") is True, f"{token}.{section}.{name}"
                if name in {"scoringUri", "port", "healthy", "sampleRequest"}:
                    assert not prop.get("secret"), f"{token}.{section}.{name}"


def test_custom_resources_have_inputs_in_their_state(schema: dict[str, Any]) -> None:
    gate = schema["resources"]["mlws:index:HealthGate"]
    assert gate["requiredInputs"] == ["scoringUri"]
    assert set(gate["inputProperties"]) <= set(gate["properties"])
    assert {"healthy", "reason", "lastStatus", "lastResponse"} <= set(gate["properties"])
    assert gate["inputProperties"]["timeoutSeconds"] == {
        "type": "number",
        "default": 300.0,
        "description": "Overall time allowed for readiness plus the sample request.",
    }
    local = schema["resources"]["mlws:index:LocalProcessService"]
    assert local["requiredInputs"] == ["sourceDirectory"]
    assert local["inputProperties"]["environment"]["type"] == "object"
    assert local["inputProperties"]["environment"]["additionalProperties"] == {"type": "string"}
    assert {"pid", "scoringUri", "logPath", "processStartTicks"} <= set(local["properties"])


def test_plugin_info_reports_the_version(plugin: Plugin) -> None:
    from google.protobuf import empty_pb2

    info = plugin.stub.GetPluginInfo(empty_pb2.Empty())
    assert info.version == __version__


# --- the schema builder, without the plugin -------------------------------------------------------


class _Example(BaseModel):
    name: str
    """A name."""
    count: int = 3
    ratio: float | None = None
    flag: bool = False
    tags: dict[str, str] | None = None
    items: list[str] | None = None
    password: SecretStr | None = None


def test_model_properties_map_types_defaults_and_secrets() -> None:
    props, required = schema_mod.model_properties(_Example, frozenset({"flag"}))
    assert required == ["name"]
    assert props["count"] == {"type": "integer", "default": 3}
    assert props["ratio"] == {"type": "number"}
    assert props["flag"] == {"type": "boolean", "default": False, "secret": True}
    assert props["tags"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert props["items"] == {"type": "array", "items": {"type": "string"}}
    assert props["password"] == {"type": "string", "secret": True}


def test_unions_and_clashes_are_rejected() -> None:
    with pytest.raises(TypeError, match="unions"):
        schema_mod.type_spec(int | str)
    with pytest.raises(ValueError, match="both as a component and as a custom resource"):
        schema_mod.merge_resources(json.dumps({"resources": {"a:index:B": {}}}), {"a:index:B": {}})


def test_component_secrets_are_declared() -> None:
    base = {
        "resources": {
            "p:index:A": {
                "inputProperties": {
                    "primaryKey": {"type": "string"},
                    "tokenAuthEnabled": {"type": "boolean"},
                    "tokenAudience": {"type": "string"},
                    "name": {"type": "string"},
                }
            },
            "p:index:B": {"inputProperties": {"name": {"type": "string"}}},
        }
    }
    marked = json.loads(
        schema_mod.mark_component_secrets(
            json.dumps(base),
            {"p:index:A": frozenset({"primary_key"}), "p:index:B": frozenset({"name"})},
        )
    )
    a = marked["resources"]["p:index:A"]["inputProperties"]
    assert [k for k, v in a.items() if v.get("secret")] == ["primaryKey"]
    assert marked["resources"]["p:index:B"]["inputProperties"]["name"]["secret"] is True
    with pytest.raises(TypeError, match="declares no SECRET_PROPERTIES"):
        schema_mod.component_secrets(type("Undeclared", (), {}))
