"""Static checks of a Pulumi YAML program's mlws resources against the plugin's schema.

What ``pulumi up`` would reject before creating anything: an unknown ``mlws:index:*`` type, a
property that is not an input, a missing required input, a resource output given to a plain input,
a ``${resource.property}`` that names no output, a wrongly typed literal, an undeclared name.
"""

from __future__ import annotations

import re
from typing import Any

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)\}")
LITERAL_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def references(value: Any) -> list[tuple[str, str]]:
    """(root name, first property) of every ``${...}`` in a value."""
    if isinstance(value, str):
        return [
            (m.group(1), m.group(2).lstrip(".").split(".")[0].split("[")[0])
            for m in REFERENCE.finditer(value)
        ]
    if isinstance(value, dict):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def _is_expression(value: Any) -> bool:
    return (isinstance(value, str) and "${" in value) or (
        isinstance(value, dict) and any(str(k).startswith("fn::") for k in value)
    )


def _check_properties(
    where: str,
    props: dict[str, Any],
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
        from_resources = [r for r in references(value) if r[0] in outputs_of]
        if prop.get("plain") and from_resources:
            problems.append(f"{where}.{name} is plain but gets resource outputs {from_resources}")
        if _is_expression(value):
            continue
        ref = prop.get("$ref") or (prop.get("items") or {}).get("$ref")
        if ref:
            type_spec = schema.get("types", {}).get(ref.removeprefix("#/types/"), {})
            for index, item in enumerate(value if "items" in prop else [value]):
                _check_properties(
                    f"{where}.{name}[{index}]",
                    item,
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


def check_program(program: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Every problem found in the program's mlws resources and its ``${...}`` references."""
    resources = program.get("resources", {})
    outputs_of = set(resources) | set(program.get("variables", {}))
    known = outputs_of | set(program.get("config", {}))
    problems: list[str] = []
    for name, resource in resources.items():
        if not resource["type"].startswith("mlws:"):
            continue
        spec = schema["resources"].get(resource["type"])
        if spec is None:
            problems.append(f"{name}: the plugin has no {resource['type']}")
            continue
        _check_properties(
            name,
            resource.get("properties", {}),
            spec.get("inputProperties", {}),
            spec.get("requiredInputs", []),
            schema,
            outputs_of,
            problems,
        )
    for root, prop in references(program):
        if root not in known:
            problems.append(f"${{{root}}} is neither a resource, a variable nor config")
            continue
        resource = resources.get(root)
        if resource is None or not resource["type"].startswith("mlws:"):
            continue
        spec = schema["resources"].get(resource["type"], {})
        if prop not in spec.get("properties", {}):
            problems.append(f"${{{root}.{prop}}}: {resource['type']} has no output {prop!r}")
    return problems
