"""``mlws serve``: serve an entry script and its model folder locally (no Docker, no cloud).

Every flag has an ``MLWS_*`` (or Azure ML) environment variable of the same meaning; a flag given on
the command line wins over the variable. Bad input prints one ``mlws serve: error: ...`` line and
exits 2.
"""

from __future__ import annotations

import os
import re
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

_MODEL_SPEC = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*):(?P<version>[A-Za-z0-9._-]+)=(?P<path>.+)$"
)


class AuthChoice(StrEnum):
    """Auth modes of the runtime."""

    none = "none"
    key = "key"
    token = "token"  # noqa: S105 - a mode name, not a secret


class LogLevel(StrEnum):
    """Log levels of the runtime."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class UsageError(Exception):
    """Bad command-line input: shown as one line, exit code 2."""


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
    """Make ``root/$MODEL_NAME/$VERSION`` symlinks to each model (Azure ML's multi-model layout)."""
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        name, version, path = parse_model_spec(spec)
        if (name, version) in seen:
            raise UsageError(f"--model {name}:{version} is given twice")
        seen.add((name, version))
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / version).symlink_to(path, target_is_directory=path.is_dir())
    return root


def settings_overrides(
    *,
    source_arg: Path | None,
    source_directory: Path | None,
    entry_script: Path | None,
    model_dir: Path | None,
    flags: dict[str, Any],
) -> dict[str, Any]:
    """The settings the command line sets (flags that were given), checked for consistency."""
    if source_arg is not None and source_directory is not None and source_arg != source_directory:
        raise UsageError(
            "give the source directory once: as SOURCE_DIRECTORY or --source-directory"
        )
    source = source_arg if source_arg is not None else source_directory
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
    source_arg: Annotated[
        Path | None,
        typer.Argument(
            metavar="SOURCE_DIRECTORY",
            help="Folder with the entry script and its helpers (AML_APP_ROOT; default: .).",
            show_default=False,
        ),
    ] = None,
    entry_script: Annotated[
        Path | None,
        typer.Option(
            help="Entry script (.py or .R), relative to the source directory "
            "(AZUREML_ENTRY_SCRIPT; default: score.py).",
            show_default=False,
        ),
    ] = None,
    source_directory: Annotated[
        Path | None,
        typer.Option(help="Same as SOURCE_DIRECTORY (AML_APP_ROOT).", show_default=False),
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(help="The model folder, given to the script as AZUREML_MODEL_DIR."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            metavar="NAME:VERSION=PATH",
            help="NAME:VERSION=PATH, repeatable: lays out AZUREML_MODEL_DIR/NAME/VERSION "
            "(Azure ML's multi-model layout) in a temporary folder of links.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (MLWS_HOST; default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port (MLWS_PORT; default 8890).", show_default=False)
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (MLWS_WORKERS; default 1).")
    ] = None,
    auth: Annotated[
        AuthChoice | None,
        typer.Option(help="none, key or token (MLWS_AUTH_MODE; default none)."),
    ] = None,
    primary_key: Annotated[
        str | None,
        typer.Option(help="Primary key for --auth key (MLWS_PRIMARY_KEY; prefer the variable)."),
    ] = None,
    secondary_key: Annotated[
        str | None, typer.Option(help="Secondary key for --auth key (MLWS_SECONDARY_KEY).")
    ] = None,
    token_secret: Annotated[
        str | None, typer.Option(help="HS256 secret for --auth token (MLWS_TOKEN_SECRET).")
    ] = None,
    token_jwks_url: Annotated[
        str | None,
        typer.Option(help="JWKS or OIDC discovery URL for --auth token (MLWS_TOKEN_JWKS_URL)."),
    ] = None,
    token_audience: Annotated[
        str | None, typer.Option(help="Required token audience (MLWS_TOKEN_AUDIENCE).")
    ] = None,
    token_issuer: Annotated[
        str | None, typer.Option(help="Required token issuer (MLWS_TOKEN_ISSUER).")
    ] = None,
    scoring_timeout_ms: Annotated[
        int | None, typer.Option(help="Scoring timeout, 504 after (MLWS_SCORING_TIMEOUT_MS).")
    ] = None,
    max_concurrent_requests: Annotated[
        int | None,
        typer.Option(help="Requests scored at once per worker (MLWS_MAX_CONCURRENT_REQUESTS)."),
    ] = None,
    max_request_wait_ms: Annotated[
        int | None,
        typer.Option(help="Queue wait for a scoring slot before 503 (MLWS_MAX_REQUEST_WAIT_MS)."),
    ] = None,
    max_request_bytes: Annotated[
        int | None, typer.Option(help="Largest request body, 413 above (MLWS_MAX_REQUEST_BYTES).")
    ] = None,
    log_level: Annotated[
        LogLevel | None, typer.Option(help="Log level (MLWS_LOG_LEVEL; default info).")
    ] = None,
) -> None:
    """Serve an entry script and model folder on http://HOST:PORT (POST /score)."""
    from pydantic import ValidationError

    from mlws.runtime.server import serve as run_server
    from mlws.runtime.server import settings_error_message
    from mlws.runtime.settings import RuntimeSettings

    flags: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "auth_mode": auth.value if auth else None,
        "primary_key": primary_key,
        "secondary_key": secondary_key,
        "token_secret": token_secret,
        "token_jwks_url": token_jwks_url,
        "token_audience": token_audience,
        "token_issuer": token_issuer,
        "scoring_timeout_ms": scoring_timeout_ms,
        "max_concurrent_requests": max_concurrent_requests,
        "max_request_wait_ms": max_request_wait_ms,
        "max_request_bytes": max_request_bytes,
        "log_level": log_level.value if log_level else None,
    }
    with tempfile.TemporaryDirectory(prefix="mlws-models-") as layout:
        try:
            if model and model_dir is not None:
                raise UsageError("use either --model-dir or --model, not both")
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


def register(app: typer.Typer) -> None:
    """Add ``mlws serve`` to ``app``."""
    app.command("serve")(serve)
