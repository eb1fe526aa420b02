"""``mlws serve``: serve an entry script and its model folder locally (no Docker, no cloud).

Every flag has an ``MLWS_*`` (or Azure ML) environment variable of the same meaning; a flag given on
the command line wins over the variable. The flags are generated from
:class:`mlws.runtime.settings.RuntimeSettings` (one per setting, its help from the setting's
docstring), so a new setting is a new flag; only the source, entry script and model options are
written here, because the command checks and lays them out before the settings see them. Bad input
prints one ``mlws serve: error: ...`` line and exits 2.
"""

from __future__ import annotations

import inspect
import os
import re
import tempfile
import typing
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from mlws.cli.source_options import (
    SourceArgument,
    SourceDirectoryOption,
    UsageError,
    model_option,
    one_model_source,
    one_source,
)

__all__ = ["UsageError", "parse_model_spec", "register", "serve"]

_MODEL_SPEC = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*):(?P<version>[A-Za-z0-9._-]+)=(?P<path>.+)$"
)


def parse_model_spec(spec: str) -> tuple[str, str, Path]:
    """Split ``NAME:VERSION=PATH``; the path must exist."""
    match = _MODEL_SPEC.match(spec)
    if match is None:
        raise UsageError(f"--model {spec!r}: expected NAME:VERSION=PATH, e.g. accidents:3=./model")
    path = Path(match["path"]).expanduser()
    if not path.exists():
        raise UsageError(f"--model {spec!r}: {path} does not exist")
    return match["name"], match["version"], path.resolve()


def build_model_layout(specs: list[str], root: Path) -> Path:
    """Lay the ``--model`` specs out under ``root`` as the image does (symlinks instead of
    copies, :mod:`mlws.runtime.model_layout`); return the ``AZUREML_MODEL_DIR`` to use."""
    from mlws.runtime.model_layout import link_models

    seen: set[tuple[str, str]] = set()
    models: list[tuple[str, str, Path]] = []
    for spec in specs:
        name, version, path = parse_model_spec(spec)
        if (name, version) in seen:
            raise UsageError(f"--model {name}:{version} is given twice")
        seen.add((name, version))
        models.append((name, version, path))
    return Path(link_models(root, models))


def settings_overrides(
    *,
    source_arg: Path | None,
    source_directory: Path | None,
    entry_script: Path | None,
    model_dir: Path | None,
    flags: dict[str, Any],
) -> dict[str, Any]:
    """The settings the command line sets (flags that were given), checked for consistency."""
    source = one_source(source_arg, source_directory)
    overrides: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    if source is None and entry_script is not None and "AML_APP_ROOT" not in os.environ:
        script = entry_script.expanduser()
        if not script.is_absolute() and script.is_file():
            source, entry_script = script.parent, Path(script.name)
    if source is not None:
        if not source.is_dir():
            raise UsageError(f"source directory {source} does not exist or is not a folder")
        overrides["source_directory"] = source.resolve()
    if entry_script is not None:
        overrides["entry_script"] = entry_script
    if model_dir is not None:
        if not model_dir.is_dir():
            raise UsageError(f"model directory {model_dir} does not exist or is not a folder")
        overrides["model_dir"] = model_dir.resolve()
    return overrides


def serve(
    source_arg: SourceArgument = None,
    entry_script: Annotated[
        Path | None,
        typer.Option(
            help="Entry script (.py or .R), relative to the source directory "
            "(AZUREML_ENTRY_SCRIPT; default: score.py).",
            show_default=False,
        ),
    ] = None,
    source_directory: SourceDirectoryOption = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(help="The model folder, given to the script as AZUREML_MODEL_DIR."),
    ] = None,
    model: Annotated[
        list[str] | None,
        model_option(
            "NAME:VERSION=PATH, repeatable: lays out AZUREML_MODEL_DIR/NAME/VERSION "
            "(Azure ML's multi-model layout) in a temporary folder of links."
        ),
    ] = None,
    **flags: Any,
) -> None:
    """Serve an entry script and model folder on http://HOST:PORT (POST /score)."""
    from pydantic import ValidationError

    from mlws.runtime.server import serve as run_server
    from mlws.runtime.server import settings_error_message
    from mlws.runtime.settings import RuntimeSettings

    with tempfile.TemporaryDirectory(prefix="mlws-models-") as layout:
        try:
            one_model_source(model_dir, model)
            models = build_model_layout(model, Path(layout)) if model else model_dir
            overrides = settings_overrides(
                source_arg=source_arg,
                source_directory=source_directory,
                entry_script=entry_script,
                model_dir=models,
                flags=flags,
            )
            try:
                settings = RuntimeSettings(**overrides)
            except ValidationError as exc:
                raise UsageError(settings_error_message(exc)) from None
            if not settings.entry_script_path.is_file():
                raise UsageError(f"entry script {settings.entry_script_path} does not exist")
        except UsageError as exc:
            typer.echo(f"mlws serve: error: {exc}", err=True)
            raise typer.Exit(2) from None
        code = run_server(settings)
    if code:
        raise typer.Exit(code)


HAND_WRITTEN = ("entry_script", "source_directory", "model_dir")
"""Settings whose options are written out above (checked and resolved before the settings)."""

FLAG_NAMES = {"auth_mode": "--auth"}
"""Flags named otherwise than ``--<setting-name>``."""


def _help(name: str, info: FieldInfo) -> str:
    from mlws.runtime.settings import env_var_name

    text = " ".join((info.description or name).split()).replace("``", "")
    first = re.split(r"(?<=[a-z0-9)])\.\s+(?=[A-Z])", text)[0].rstrip(".")
    default = info.get_default(call_default_factory=True)
    shown = "" if default is None else f"; default {default}"
    return f"{first} ({env_var_name(name)}{shown})."


def _option(name: str, info: FieldInfo) -> inspect.Parameter:
    """The ``mlws serve`` option for one runtime setting."""
    kind: Any = info.annotation
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (typing.Union, __import__("types").UnionType):
        kind = args[0]
    if kind is SecretStr:
        kind = str
    flag = FLAG_NAMES.get(name, "--" + name.replace("_", "-"))
    decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
    option = typer.Option(*decls, help=_help(name, info), show_default=False)
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[kind | None, option],
    )


def _serve_signature() -> inspect.Signature:
    from mlws.runtime.settings import RuntimeSettings

    written = [
        p
        for p in inspect.signature(serve, eval_str=True).parameters.values()
        if p.kind != p.VAR_KEYWORD
    ]
    generated = [
        _option(name, info)
        for name, info in RuntimeSettings.model_fields.items()
        if name not in HAND_WRITTEN
    ]
    return inspect.Signature([*written, *generated], return_annotation=None)


def register(app: typer.Typer) -> None:
    """Add ``mlws serve`` to ``app``, with one option per runtime setting."""
    serve.__signature__ = _serve_signature()  # type: ignore[attr-defined]
    app.command("serve")(serve)
