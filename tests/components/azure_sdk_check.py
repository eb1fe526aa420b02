"""Check a plain args dict against a pulumi-azure-native resource's input types.

The SDK describes every resource's inputs as typed ``__init__`` parameters of ``<Resource>Args`` and
every nested object as a ``<Type>ArgsDict`` TypedDict (with ``NotRequired`` markers and enum types).
:func:`sdk_problems` walks a value against those annotations and lists every mismatch: unknown keys,
missing required keys, wrong scalar types, strings that are not a member of the SDK's enum. So a
renamed or misspelt field in a spec builder fails the test rather than the deployment.
"""

import collections.abc
import enum
import inspect
import types
import typing
from typing import Any, ForwardRef


def _flatten(hint: Any) -> list[Any]:
    """The concrete alternatives of an annotation: Inputs, Optionals and Awaitables unwrapped."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return [alt for arg in typing.get_args(hint) for alt in _flatten(arg)]
    if origin in (typing.NotRequired, typing.Required):
        return _flatten(typing.get_args(hint)[0])
    if origin is collections.abc.Awaitable or hint is type(None):
        return []
    if isinstance(hint, ForwardRef) and hint.__forward_arg__.startswith("Output["):
        return []
    return [hint]


def _resolve(hint: Any, module: types.ModuleType) -> Any:
    if isinstance(hint, ForwardRef):
        name = hint.__forward_arg__
        found = getattr(module, name, None)
        if found is None and name.endswith("Args"):
            found = getattr(module, name + "Dict", None)
        if found is None:
            raise LookupError(f"cannot resolve {name} in {module.__name__}")
        # input_type classes (``ContainerArgs``) have an ``...ArgsDict`` twin with the same keys
        if not typing.is_typeddict(found) and hasattr(module, name + "Dict"):
            found = getattr(module, name + "Dict")
        return found
    return hint


def _check(value: Any, hint: Any, module: types.ModuleType, path: str) -> list[str]:
    alternatives = [_resolve(alt, module) for alt in _flatten(hint)]
    if not alternatives:
        return [f"{path}: no accepted type"]
    if any(alt is Any for alt in alternatives):
        return []
    if isinstance(value, dict):
        for alt in alternatives:
            if typing.is_typeddict(alt):
                return _check_typeddict(value, alt, module, path)
        for alt in alternatives:
            if typing.get_origin(alt) in (collections.abc.Mapping, dict):
                _, item = typing.get_args(alt)
                return [p for k, v in value.items() for p in _check(v, item, module, f"{path}.{k}")]
        return [f"{path}: an object is not accepted here ({alternatives})"]
    if isinstance(value, list):
        for alt in alternatives:
            if typing.get_origin(alt) in (collections.abc.Sequence, list):
                (item,) = typing.get_args(alt)
                return [
                    p for i, v in enumerate(value) for p in _check(v, item, module, f"{path}[{i}]")
                ]
        return [f"{path}: a list is not accepted here"]
    if isinstance(value, bool):
        return [] if bool in alternatives else [f"{path}: bool not accepted ({alternatives})"]
    if isinstance(value, int | float):
        if float in alternatives or (isinstance(value, int) and int in alternatives):
            return []
        return [f"{path}: {type(value).__name__} not accepted ({alternatives})"]
    if isinstance(value, str):
        enums = [
            alt for alt in alternatives if isinstance(alt, type) and issubclass(alt, enum.Enum)
        ]
        if enums:
            allowed = {member.value for e in enums for member in e}
            return [] if value in allowed else [f"{path}: {value!r} not one of {sorted(allowed)}"]
        return [] if str in alternatives else [f"{path}: str not accepted ({alternatives})"]
    return [f"{path}: unexpected value {value!r}"]


def _check_typeddict(
    value: dict[str, Any], typed: Any, module: types.ModuleType, path: str
) -> list[str]:
    annotations: dict[str, Any] = {}
    for cls in reversed(typed.__mro__):
        annotations.update(getattr(cls, "__annotations__", {}))
    problems = [f"{path}.{k}: unknown field" for k in value if k not in annotations]
    problems += [f"{path}.{k}: missing" for k in typed.__required_keys__ if k not in value]
    for key, item in value.items():
        if key in annotations:
            problems += _check(item, annotations[key], module, f"{path}.{key}")
    return problems


def sdk_problems(args: dict[str, Any], args_class: type, module: types.ModuleType) -> list[str]:
    """Every mismatch between ``args`` (keyword arguments of a resource) and ``args_class``.

    ``args_class`` is the resource's ``<Resource>Args`` (its ``__init__`` parameters are the
    resource's inputs); ``module`` is the SDK's ``_inputs`` module holding the nested types.
    """
    parameters = inspect.signature(args_class).parameters
    known = {n: p for n, p in parameters.items() if n != "__self__"}
    problems = [f"{k}: unknown argument" for k in args if k not in known]
    problems += [
        f"{n}: missing"
        for n, p in known.items()
        if p.default is inspect.Parameter.empty and n not in args
    ]
    for key, value in args.items():
        if key in known:
            problems += _check(value, known[key].annotation, module, key)
    return problems
