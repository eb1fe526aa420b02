"""Configuration errors that reach the user as one readable message naming every bad field.

Components validate their arguments with a frozen pydantic model before registering anything. Field
checks are pydantic's own; checks that relate several fields (``num_replicas`` with
``autoscale_enabled``, ``gpu_cores`` on a target without GPUs, ...) run in one ``model_validator``
that collects every problem in a :class:`Problems` and raises them together. :func:`parse_config`
turns either kind into a :class:`ConfigError`::

    class AciDeploymentConfig(BaseModel):
        @model_validator(mode="after")
        def _consistent(self) -> Self:
            problems = Problems()
            if self.memory_gb >= 48:
                problems.add("memory_gb", "ACI allows less than 48 GB")
            problems.raise_if_any()
            return self

    spec = parse_config(AciDeploymentConfig, args.get("config", {}), where="config")
"""

import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn, Self, TypeVar

from pydantic import BaseModel, ValidationError, model_validator

__all__ = [
    "ConfigError",
    "CrossCheckedModel",
    "Problem",
    "Problems",
    "parse_config",
    "raise_problems",
    "renamed_notes",
]

_M = TypeVar("_M", bound=BaseModel)
_MAX_SHOWN_INPUT = 60


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid setting."""

    field: str
    """Dotted path of the setting, e.g. ``config.memory_gb`` or ``models[1].version``."""
    message: str
    """What is wrong and, where useful, what is allowed."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class Problems(ValueError):
    """Cross-field problems collected by a validator and raised together.

    pydantic wraps a ``ValueError`` raised in a validator into its ``ValidationError``; keeping the
    individual problems on this exception lets :class:`ConfigError` list each under its own field.
    """

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Problem] = []

    def add(self, field: str, message: str) -> None:
        """Record that ``field`` is invalid because of ``message``."""
        self.items.append(Problem(field, message))

    def raise_if_any(self) -> None:
        """Raise this exception when at least one problem was recorded."""
        if self.items:
            raise self

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.items)

    def __str__(self) -> str:
        return "; ".join(str(item) for item in self.items)


class CrossCheckedModel(BaseModel):
    """A spec with checks that involve several fields.

    Subclasses override :meth:`contradictions`. It runs on the raw values inside
    :func:`parse_config` (so cross-field problems are reported beside field errors) and again
    after validation.
    """

    renamed: ClassVar[Mapping[str, str]] = {}
    """Deprecated argument names still accepted, each with the field it now sets (the field
    also takes the old name as a validation alias); :func:`parse_config` reports a problem
    under the name the caller used, and :func:`renamed_notes` says what to write instead."""

    @classmethod
    def contradictions(cls, raw: Mapping[str, Any]) -> list[Problem]:
        """Problems that involve several fields of ``raw``; none by default."""
        return []

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = Problems()
        for problem in self.contradictions(self.model_dump()):
            problems.add(problem.field, problem.message)
        problems.raise_if_any()
        return self


class ConfigError(ValueError):
    """Invalid component configuration. ``str()`` lists every problem, one per line."""

    def __init__(self, subject: str, problems: list[Problem]) -> None:
        self.subject = subject
        """What was being configured, e.g. ``AciWebService 'accidents'``."""
        self.problems = tuple(problems)
        """Every problem found, in field order."""
        super().__init__(str(self))

    @property
    def fields(self) -> tuple[str, ...]:
        """The dotted paths of the invalid settings."""
        return tuple(problem.field for problem in self.problems)

    def __str__(self) -> str:
        return "\n".join([self._head(), *(f"  - {problem}" for problem in self.problems)])

    def one_line(self) -> str:
        """Every problem on one line: ``invalid X: 2 problems: a: ...; b: ...``."""
        return f"{self._head()}: {'; '.join(str(problem) for problem in self.problems)}"

    def _head(self) -> str:
        count = len(self.problems)
        return f"invalid {self.subject}: {count} problem{'s' if count != 1 else ''}"

    @classmethod
    def from_validation_error(
        cls, subject: str, error: ValidationError, *, where: str = ""
    ) -> "ConfigError":
        """Translate pydantic's error list, expanding collected :class:`Problems`."""
        problems: list[Problem] = []
        for item in error.errors(include_url=False):
            location = _join(where, _path(item["loc"]))
            cause = (item.get("ctx") or {}).get("error")
            if isinstance(cause, Problems):
                problems.extend(Problem(_join(location, p.field), p.message) for p in cause)
                continue
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown argument (check the spelling)"
            elif item["type"] != "missing" and "input" in item:
                message += f" (got {_show(item['input'])})"
            problems.append(Problem(location, message))
        return cls(subject, problems)


def parse_config(
    model: type[_M],
    args: Mapping[str, Any] | None,
    *,
    subject: str,
    where: str = "",
    references: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
    problems: Iterable[Problem] = (),
) -> _M:
    """Validate a component's args into ``model``, raising one ``ConfigError`` with every problem.

    ``model`` is a frozen pydantic model; a ``contradictions(raw) -> list[Problem]`` classmethod
    on it (as on ``DeploymentConfig``) is run on the raw values too, so cross-field problems
    are reported together with field errors.

    ``args`` holds both config values (the model's fields) and ``references`` (resource inputs such
    as the image or keys, not validated here); any other key is reported as unknown, after the
    field errors. ``defaults``
    fill config fields the caller left out (e.g. the service name from the component name).
    ``problems`` are the component's own checks (e.g. a missing key), reported with the model's.
    Cross-field contradictions are reported even when some field is invalid by itself. ``where``
    prefixes field paths when the model is nested in a component's args (``config``).
    """
    args = args or {}
    renamed = _renamed(model, args)
    known = set(model.model_fields) | set(references) | set(renamed)
    found: list[Problem] = list(problems)
    found += [
        Problem(_join(where, old), f"the old name of {new}: give {new} only")
        for old, new in renamed.items()
        if new in args
    ]
    config = dict(defaults or {})
    config.update(
        {renamed.get(k, k): v for k, v in args.items() if renamed.get(k, k) in model.model_fields}
    )
    try:
        spec = model.model_validate(config)
    except ValidationError as error:
        found += ConfigError.from_validation_error(subject, error, where=where).problems
        if issubclass(model, CrossCheckedModel):  # reported even when a field is invalid itself
            found += model.contradictions(config)
    found += [
        Problem(_join(where, key), "unknown argument (check the spelling)")
        for key in args
        if key not in known
    ]
    defaulted = {k for k in (defaults or {}) if k not in args}
    as_given = {_join(where, new): _join(where, old) for old, new in renamed.items()}
    found = [Problem(as_given.get(p.field, p.field), p.message) for p in found]
    unique = [
        Problem(p.field, f"{p.message} (the default; set {p.field} explicitly)")
        if p.field in defaulted
        else p
        for p in dict.fromkeys(found)
    ]
    if unique:
        raise_problems(subject, unique)
    return spec


def raise_problems(subject: str, problems: list[Problem]) -> NoReturn:
    """Raise the :class:`ConfigError` listing ``problems`` (for checks that combine several
    :func:`parse_config` calls, e.g. an endpoint and each of its deployments)."""
    raise _error_type()(subject, problems)


def _renamed(model: type[BaseModel], args: Mapping[str, Any]) -> dict[str, str]:
    """The deprecated names ``args`` uses, each with its new name."""
    renamed: Mapping[str, str] = getattr(model, "renamed", {})
    return {old: new for old, new in renamed.items() if old in args}


def renamed_notes(
    model: type[BaseModel], args: Mapping[str, Any] | None, *, subject: str
) -> list[str]:
    """One deprecation note per deprecated argument name ``args`` uses (for ``pulumi.log.warn``)."""
    return [
        f"{subject}: {old!r} is deprecated, write {new!r} (same meaning)"
        for old, new in _renamed(model, args or {}).items()
    ]


def _error_type() -> type[ConfigError]:
    """:class:`ConfigError`, also a ``pulumi.RunError`` once a Pulumi program has imported pulumi.

    Pulumi's program runner prints a ``RunError`` as its message alone and any other exception
    with a traceback: a configuration mistake is not a crash. This module does not import pulumi
    itself (the config models work without it).
    """
    run_error = getattr(sys.modules.get("pulumi"), "RunError", None)
    if not isinstance(run_error, type) or not issubclass(run_error, Exception):
        return ConfigError
    found = _PROGRAM_ERRORS.get(run_error)
    if found is None:
        doc = "A :class:`ConfigError` that Pulumi shows without a traceback (a ``RunError``)."
        namespace = {"__doc__": doc, "__module__": __name__}
        found = type("ConfigError", (ConfigError, run_error), namespace)
        _PROGRAM_ERRORS[run_error] = found
    return found


_PROGRAM_ERRORS: dict[type[Exception], type[ConfigError]] = {}


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_INPUT else text[: _MAX_SHOWN_INPUT - 3] + "..."
