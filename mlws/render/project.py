"""Read a Pulumi project folder the way the Pulumi CLI would: ``Pulumi.yaml`` and its stack config.

Pure functions, no Pulumi import: they find the program's entry file and working directory
(``main:`` may point into a sub-folder, as the CLI's ``getPwdMain`` allows), and flatten the
project's config defaults, ``Pulumi.<stack>.yaml`` and ``--config k=v`` overrides into the string
map a Pulumi program reads, plus the set of keys that are secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlws.render.errors import ProjectError
from mlws.render.model import SECRET


@dataclass(frozen=True)
class StackConfig:
    """The config a program sees: full keys (``project:key``) to string values, and secret keys."""

    values: dict[str, str] = field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()

    def shown(self) -> dict[str, str]:
        """Values as printed: secret ones replaced by ``[secret]``."""
        return {
            key: SECRET if key in self.secret_keys else value
            for key, value in sorted(self.values.items())
        }


@dataclass(frozen=True)
class Project:
    """A Python Pulumi project: its name, where ``Pulumi.yaml`` is, and the program to run."""

    name: str
    root: Path
    """The folder holding ``Pulumi.yaml`` and the ``Pulumi.<stack>.yaml`` files."""
    work_dir: Path
    """The program's working directory (``main:`` when it names a folder, else ``root``)."""
    entry: Path
    """The Python file to execute (``__main__.py`` of the program folder, or ``main:``'s file)."""
    config_defaults: dict[str, Any] = field(default_factory=dict)
    """Project-level config from ``Pulumi.yaml``, by full key."""
    secret_defaults: frozenset[str] = frozenset()


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ProjectError(f"{path} is not valid YAML{where}") from None
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror}") from None


def full_key(project: str, key: str) -> str:
    """``key`` namespaced the way Pulumi does: bare keys belong to the project."""
    return key if ":" in key else f"{project}:{key}"


def _runtime_name(runtime: Any) -> str | None:
    if isinstance(runtime, str):
        return runtime
    if isinstance(runtime, dict) and isinstance(runtime.get("name"), str):
        return str(runtime["name"])
    return None


def _entry_and_work_dir(root: Path, main: Any) -> tuple[Path, Path]:
    if main is None or main == "":
        work_dir, entry = root, root / "__main__.py"
    else:
        if not isinstance(main, str) or Path(main).is_absolute():
            raise ProjectError(f"{root / 'Pulumi.yaml'}: 'main' must be a relative path")
        target = (root / main).resolve()
        if not target.is_relative_to(root.resolve()):
            raise ProjectError(
                f"{root / 'Pulumi.yaml'}: 'main' must be a sub-folder of the project"
            )
        if target.is_dir():
            work_dir, entry = target, target / "__main__.py"
        else:
            work_dir, entry = target.parent, target
    if not entry.is_file():
        raise ProjectError(f"no Python program: {entry} does not exist")
    return work_dir, entry


def _project_config(name: str, raw: Any, path: Path) -> tuple[dict[str, Any], frozenset[str]]:
    if raw is None:
        return {}, frozenset()
    if not isinstance(raw, dict):
        raise ProjectError(f"{path}: 'config' must be a mapping")
    defaults: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, spec in raw.items():
        key = full_key(name, str(key))
        if isinstance(spec, dict) and ({"type", "default", "description", "secret"} & spec.keys()):
            if "default" in spec:
                defaults[key] = spec["default"]
            if spec.get("secret"):
                secrets.add(key)
        elif isinstance(spec, dict) and "value" in spec:
            defaults[key] = spec["value"]
        else:
            defaults[key] = spec
    return defaults, frozenset(secrets)


def load_project(program_dir: Path) -> Project:
    """Read ``program_dir/Pulumi.yaml``; raise :class:`ProjectError` unless it is Python."""
    if not program_dir.is_dir():
        raise ProjectError(f"{program_dir} is not a folder")
    path = program_dir / "Pulumi.yaml"
    if not path.is_file():
        alt = program_dir / "Pulumi.yml"
        if not alt.is_file():
            raise ProjectError(f"no Pulumi.yaml in {program_dir}: not a Pulumi project")
        path = alt
    doc = _read_yaml(path)
    if not isinstance(doc, dict):
        raise ProjectError(f"{path} must be a mapping with 'name' and 'runtime'")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise ProjectError(f"{path}: 'name' is missing")
    runtime = _runtime_name(doc.get("runtime"))
    if runtime is None:
        raise ProjectError(f"{path}: 'runtime' is missing")
    if runtime != "python":
        raise ProjectError(f"{path}: runtime is {runtime!r}; mlws render runs Python programs only")
    work_dir, entry = _entry_and_work_dir(program_dir, doc.get("main"))
    work_dir, entry = work_dir.resolve(), entry.resolve()
    defaults, secrets = _project_config(name, doc.get("config"), path)
    return Project(
        name=name,
        root=program_dir,
        work_dir=work_dir,
        entry=entry,
        config_defaults=defaults,
        secret_defaults=secrets,
    )


def _is_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_is_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_secure(v) for v in value)
    return False


def _as_config_string(value: Any) -> str:
    """Pulumi hands every config value to the program as a string; structured ones as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _strip_secure(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET
        return {k: _strip_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secure(v) for v in value]
    return value


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """Parse ``--config key=value`` arguments (the value may itself contain ``=``)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ProjectError(f"--config {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def stack_config_path(project: Project, stack: str) -> Path:
    """Where the CLI keeps ``stack``'s config: ``Pulumi.<stack>.yaml`` beside ``Pulumi.yaml``."""
    return project.root / f"Pulumi.{stack}.yaml"


def load_stack_config(
    project: Project, stack: str, overrides: dict[str, str] | None = None
) -> StackConfig:
    """Merge project defaults, ``Pulumi.<stack>.yaml`` and ``overrides`` (last wins).

    ``secure:`` values become ``[secret]`` and their keys secret; an override of a secret key stays
    secret. A missing stack file is not an error: the program then sees defaults and overrides only.
    """
    merged: dict[str, Any] = dict(project.config_defaults)
    secrets = set(project.secret_defaults)
    path = stack_config_path(project, stack)
    if path.is_file():
        doc = _read_yaml(path) or {}
        if not isinstance(doc, dict):
            raise ProjectError(f"{path} must be a mapping")
        raw = doc.get("config") or {}
        if not isinstance(raw, dict):
            raise ProjectError(f"{path}: 'config' must be a mapping")
        for key, value in raw.items():
            fk = full_key(project.name, str(key))
            if _is_secure(value):
                secrets.add(fk)
            merged[fk] = _strip_secure(value)
    for key, value in (overrides or {}).items():
        merged[full_key(project.name, key)] = value
    return StackConfig(
        values={key: _as_config_string(value) for key, value in merged.items()},
        secret_keys=frozenset(secrets & merged.keys()),
    )
