"""examples/yaml-aci/Pulumi.yaml checked statically against the plugin's schema (no Azure, no CLI).

What ``pulumi up`` would reject before creating anything: an unknown ``mlws:index:*`` type, a
property that is not an input, a missing required input, a resource output given to a plain input,
a ``${resource.property}`` that names no output, a wrongly typed literal, an undeclared config key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from plugin_harness import Plugin
from pulumi.runtime import proto

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "yaml-aci"
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)\}")
LITERAL_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


@pytest.fixture(scope="module")
def schema(plugin: Plugin) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        plugin.stub.GetSchema(proto.GetSchemaRequest(version=0)).schema
    )
    return loaded


@pytest.fixture(scope="module")
def program() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    return loaded


def _references(value: Any) -> list[tuple[str, str]]:
    """(root name, first property) of every ``${...}`` in a value."""
    if isinstance(value, str):
        return [
            (m.group(1), m.group(2).lstrip(".").split(".")[0].split("[")[0])
            for m in REFERENCE.finditer(value)
        ]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def _is_expression(value: Any) -> bool:
    return (isinstance(value, str) and "${" in value) or (
        isinstance(value, dict) and any(str(k).startswith("fn::") for k in value)
    )


def test_the_program_uses_the_plugin_from_this_repository(program: dict[str, Any]) -> None:
    assert program["runtime"] == "yaml"
    plugin_dir = (EXAMPLE / program["packages"]["mlws"]).resolve()
    assert plugin_dir == REPO / "provider"
    assert (plugin_dir / "PulumiPlugin.yaml").is_file()


def _check_properties(
    where: str,
    props: dict[str, Any],
    spec: dict[str, Any],
    inputs: dict[str, Any],
    required: list[str],
    schema: dict[str, Any],
    outputs_of: set[str],
    problems: list[str],
) -> None:
    for name in required:
        if name not in props:
            problems.append(f"{where}: required input {name!r} missing")
    for name, value in props.items():
        prop = inputs.get(name)
        if prop is None:
            problems.append(f"{where}: {name!r} is not an input (has: {sorted(inputs)})")
            continue
        from_resources = [r for r in _references(value) if r[0] in outputs_of]
        if prop.get("plain") and from_resources:
            problems.append(f"{where}.{name} is plain but gets resource outputs {from_resources}")
        if _is_expression(value):
            continue
        if "$ref" in prop or (prop.get("items") or {}).get("$ref"):
            ref = prop.get("$ref") or prop["items"]["$ref"]
            type_spec = schema.get("types", {}).get(ref.removeprefix("#/types/"), {})
            for index, item in enumerate(value if "items" in prop else [value]):
                _check_properties(
                    f"{where}.{name}[{index}]",
                    item,
                    type_spec,
                    type_spec.get("properties", {}),
                    type_spec.get("required", []),
                    schema,
                    outputs_of,
                    problems,
                )
            continue
        expected = LITERAL_TYPES.get(prop.get("type", ""), (object,))
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            problems.append(f"{where}.{name}: {value!r} is not a {prop.get('type')}")


def test_mlws_resources_match_the_schema(program: dict[str, Any], schema: dict[str, Any]) -> None:
    resources = program["resources"]
    outputs_of = set(resources) | set(program.get("variables", {}))
    problems: list[str] = []
    mlws = {n: r for n, r in resources.items() if r["type"].startswith("mlws:")}
    assert {r["type"] for r in mlws.values()} >= {
        "mlws:index:ServiceKeys",
        "mlws:index:ScoringImage",
        "mlws:index:AciWebService",
    }
    for name, resource in mlws.items():
        spec = schema["resources"].get(resource["type"])
        if spec is None:
            problems.append(f"{name}: the plugin has no {resource['type']}")
            continue
        _check_properties(
            name,
            resource.get("properties", {}),
            spec,
            spec.get("inputProperties", {}),
            spec.get("requiredInputs", []),
            schema,
            outputs_of,
            problems,
        )
    assert problems == []


def test_references_name_real_outputs_and_config(
    program: dict[str, Any], schema: dict[str, Any]
) -> None:
    resources = program["resources"]
    known = set(resources) | set(program.get("variables", {})) | set(program.get("config", {}))
    problems = []
    for root, prop in _references(program):
        if root not in known:
            problems.append(f"${{{root}}} is neither a resource, a variable nor config")
            continue
        resource = resources.get(root)
        if resource is None or not resource["type"].startswith("mlws:"):
            continue
        properties = schema["resources"][resource["type"]].get("properties", {})
        if prop not in properties:
            problems.append(f"${{{root}.{prop}}}: {resource['type']} has no output {prop!r}")
    assert problems == []
