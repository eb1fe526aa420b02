"""Pulumi package-schema entries for the plugin's custom resources, generated from pydantic models.

The components' schema is inferred by ``pulumi.provider.experimental`` from their ``TypedDict``
args. The custom resources are described by pydantic models instead (they also validate the
inputs), and this module renders a model as the schema's ``resources[<token>]`` entry, so one
definition gives the validation, the field docs and the multi-language schema. Only plain types are
used (string, integer, number, boolean, string arrays and string maps): every language can express
them.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import textwrap
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from mlws.provider.wire import to_camel, to_snake


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        raise TypeError(f"unions are not expressible in the schema: {annotation}")
    return annotation


def type_spec(annotation: Any) -> dict[str, Any]:
    """The schema type of a Python annotation (``str | None`` -> ``{"type": "string"}``)."""
    annotation = _strip_optional(annotation)
    if annotation in (str, SecretStr, Path) or get_origin(annotation) is Literal:
        return {"type": "string"}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    origin = get_origin(annotation)
    if origin is list:
        (item,) = get_args(annotation)
        return {"type": "array", "items": type_spec(item)}
    if origin is dict:
        key, item = get_args(annotation)
        if key is not str:
            raise TypeError(f"map keys must be strings: {annotation}")
        return {"type": "object", "additionalProperties": type_spec(item)}
    raise TypeError(f"no schema type for {annotation!r}")


def _is_secret(field: FieldInfo) -> bool:
    return _strip_optional(field.annotation) is SecretStr


def property_spec(field: FieldInfo, secret: bool = False) -> dict[str, Any]:
    """One property: type, description (the field's docstring), default, secret flag."""
    spec = type_spec(field.annotation)
    if field.description:
        spec["description"] = field.description
    default = field.get_default()
    if not field.is_required() and default is not None and not isinstance(default, SecretStr):
        spec["default"] = str(default) if isinstance(default, Path) else default
    if secret or _is_secret(field):
        spec["secret"] = True
    return spec


def model_properties(
    model: type[BaseModel], secret: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], list[str]]:
    """camelCase properties of ``model`` and the names of its required ones."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field in model.model_fields.items():
        camel = to_camel(name)
        properties[camel] = property_spec(field, name in secret)
        if field.is_required():
            required.append(camel)
    return properties, required


def resource_spec(
    description: str,
    inputs: type[BaseModel],
    outputs: type[BaseModel],
    secret: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A custom resource's schema entry: its inputs, and its state (the inputs plus outputs)."""
    input_props, required_inputs = model_properties(inputs, secret)
    output_props, required_outputs = model_properties(outputs, secret)
    return {
        "description": description,
        "inputProperties": input_props,
        "requiredInputs": required_inputs,
        "properties": {**input_props, **output_props},
        "required": sorted({*required_inputs, *required_outputs}),
    }


def merge_resources(schema_json: str, resources: dict[str, dict[str, Any]]) -> str:
    """Add custom ``resources`` (token -> entry) to a schema; a token clash is an error."""
    schema = json.loads(schema_json)
    existing = schema.setdefault("resources", {})
    for token, spec in resources.items():
        if token in existing:
            raise ValueError(f"{token} is defined both as a component and as a custom resource")
        existing[token] = spec
    return json.dumps(schema, indent=2, sort_keys=True)


def component_secrets(component: type) -> frozenset[str]:
    """The component's declared secret properties (its ``SECRET_PROPERTIES``); a hosted component
    must declare them, so a new credential input is never left unmarked by accident."""
    names = getattr(component, "SECRET_PROPERTIES", None)
    if names is None:
        raise TypeError(f"{component.__name__} declares no SECRET_PROPERTIES")
    return frozenset(names)


def mark_component_secrets(schema_json: str, secrets: dict[str, frozenset[str]]) -> str:
    """Set ``secret: true`` on the components' declared secret properties (the analyzer cannot).

    ``secrets`` maps a component token to its secret properties (snake_case).
    """
    schema = json.loads(schema_json)
    for token, declared in secrets.items():
        resource = schema.get("resources", {}).get(token)
        if resource is None:
            continue
        for section in ("inputProperties", "properties"):
            for camel, spec in resource.get(section, {}).items():
                if to_snake(camel) in declared:
                    spec["secret"] = True
    return json.dumps(schema)


def field_docstrings(typed_dict: type) -> dict[str, str]:
    """The attribute docstrings of a ``TypedDict``'s fields, its bases' included (its own win).

    The SDK's analyzer reads docstrings from the args class's own source only, and a ``TypedDict``
    keeps no link to its bases at runtime, so the bases are found by name in its module.
    """
    node = ast.parse(textwrap.dedent(inspect.getsource(typed_dict))).body[0]
    if not isinstance(node, ast.ClassDef):
        raise TypeError(f"{typed_dict.__name__} is not defined by a class statement")
    module = sys.modules[typed_dict.__module__]
    docs: dict[str, str] = {}
    for base in node.bases:
        found = getattr(module, base.id, None) if isinstance(base, ast.Name) else None
        if isinstance(found, type) and typing.is_typeddict(found):
            docs.update(field_docstrings(found))
    for field, doc in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(doc, ast.Expr)
            and isinstance(doc.value, ast.Constant)
            and isinstance(doc.value.value, str)
        ):
            docs[field.target.id] = doc.value.value
    return docs


def args_type(component: type) -> type:
    """The ``args`` type of a component's ``__init__`` (its ``XxxArgs`` TypedDict)."""
    found: type = typing.get_type_hints(component.__init__)["args"]  # type: ignore[misc]
    return found


def describe_inherited_inputs(schema_json: str, components: Iterable[type], package: str) -> str:
    """Give the components' inputs declared in a base args class their docstrings (the analyzer
    leaves them undescribed: see :func:`field_docstrings`)."""
    schema = json.loads(schema_json)
    for component in components:
        resource = schema.get("resources", {}).get(f"{package}:index:{component.__name__}")
        if resource is None:
            continue
        docs = field_docstrings(args_type(component))
        for camel, spec in resource.get("inputProperties", {}).items():
            doc = docs.get(to_snake(camel))
            if spec.get("description") or not doc:
                continue
            # As the analyzer does: a list's items and a map's values carry the field's docs too.
            for described in (spec, spec.get("items"), spec.get("additionalProperties")):
                if isinstance(described, dict):
                    described.setdefault("description", doc)
    return json.dumps(schema)
