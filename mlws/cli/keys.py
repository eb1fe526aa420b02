"""``mlws keys``: show a service's keys (``get_webservice_keys``) and rotate one
(``generate_new_webservice_key``) by bumping its rotation trigger in the stack config.

Zero-downtime rotation of the primary key: move every client to the secondary key, run
``mlws keys rotate --key primary`` and ``pulumi up``, move clients back to the new primary key;
then the same for the secondary key when it is due.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlws.cli._service import (
    CwdOpt,
    OutputsOpt,
    ServiceArg,
    ServiceNameOpt,
    ServiceRef,
    StackOpt,
    cli_errors,
    fail,
    resolve_service,
)


class _DefaultShowGroup(TyperGroup):
    """``mlws keys SERVICE`` means ``mlws keys show SERVICE``; ``rotate`` is a subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] != "--help"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


keys_app = typer.Typer(
    cls=_DefaultShowGroup,
    help="Show a service's keys, or rotate one (`mlws keys SERVICE`, `mlws keys rotate`).",
    no_args_is_help=False,
    rich_markup_mode=None,
)


def _masked(value: str | None, show: bool) -> str | None:
    if value is None:
        return None
    return value if show else f"(hidden, {len(value)} characters; --show reveals it)"


@keys_app.command("show")
def show(
    # Typer reads options from each command's signature: the shared ones are _service's aliases.
    service: ServiceArg = None,
    stack: StackOpt = None,
    cwd: CwdOpt = None,
    outputs: OutputsOpt = None,
    service_name: ServiceNameOpt = None,
    reveal: Annotated[bool, typer.Option("--show", help="Print the keys themselves.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the service's primary and secondary keys (hidden unless --show)."""
    with cli_errors("keys"):
        svc = resolve_service(ServiceRef(service, stack, cwd, outputs, service_name))
        primary = svc.primary_key.get_secret_value() if svc.primary_key else None
        secondary = svc.secondary_key.get_secret_value() if svc.secondary_key else None
        if primary is None and secondary is None:
            for name in ("primary_key", "secondary_key"):
                if svc.is_hidden(name):
                    raise svc.secret_missing(name, "")
            if service is not None and service.startswith(("http://", "https://")):
                fail(
                    "a URL does not say what a service's keys are: they are stack outputs, "
                    "so name the service with --stack STACK or --outputs FILE"
                )
            fail(
                f"no keys for this service (auth mode {svc.effective_auth_mode!r}): "
                "key auth exports primary_key and secondary_key"
            )
        result: dict[str, Any] = {
            "primary_key": _masked(primary, reveal),
            "secondary_key": _masked(secondary, reveal),
        }
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        typer.echo(f"scoring_uri    {svc.scoring_uri}")
        typer.echo(f"swagger_uri    {svc.effective_swagger_uri}")
        typer.echo(f"auth_mode      {svc.effective_auth_mode}")
        for name, value in result.items():
            typer.echo(f"{name:<14} {value if value is not None else '(not set)'}")


@keys_app.command("rotate")
def rotate(
    key: Annotated[
        str,
        typer.Option(
            "--key", help="Which key to regenerate: primary or secondary.", show_default=False
        ),
    ],
    project_dir: Annotated[
        Path | None,
        typer.Argument(
            metavar="[STACK_DIR]",
            help="The Pulumi project folder (same as --stack-dir).",
            show_default=False,
        ),
    ] = None,
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack",
            help="Stack name (or ORG/PROJECT/STACK) whose Pulumi.<stack>.yaml to edit; "
            "default: the folder's only stack file.",
            show_default=False,
        ),
    ] = None,
    stack_dir: Annotated[
        Path | None,
        typer.Option(
            "--stack-dir", help="The Pulumi project folder (default: .).", show_default=False
        ),
    ] = None,
    config_key: Annotated[
        str | None,
        typer.Option(
            "--config-key",
            help="Config key to bump, if the program does not use the standard "
            "<project>:primaryKeyRotation / secondaryKeyRotation.",
            show_default=False,
        ),
    ] = None,
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            help="Trigger value to set (default: counter + 1).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Mark one key for regeneration: bumps its rotation trigger in Pulumi.<stack>.yaml, so the
    next `pulumi up` regenerates exactly that key.

    Zero downtime: move clients to the other key first, rotate, `pulumi up`, move them back.
    """
    with cli_errors("keys rotate"):
        from mlws.service import ROTATION_CONFIG_KEYS
        from mlws.stack_config import project_name, rotate_in_file, stack_file

        if project_dir is not None and stack_dir is not None and project_dir != stack_dir:
            fail("give the project folder once: as STACK_DIR or --stack-dir")
        folder = project_dir or stack_dir or Path(".")
        name = key.strip().lower()
        if name not in ROTATION_CONFIG_KEYS:
            fail(f"--key must be primary or secondary, not {key!r}")
        if value is not None and not value.strip():
            fail("--value must not be empty")
        if config_key is not None:
            full_key = config_key if ":" in config_key else None
            if full_key is None:
                full_key = f"{project_name(folder)}:{config_key}"
        else:
            full_key = f"{project_name(folder)}:{ROTATION_CONFIG_KEYS[name]}"
        path = stack_file(folder, stack)
        edit = rotate_in_file(path, full_key, value)
        bare = full_key.split(":", 1)[1]
        constant = _CONSTANT_NAMES.get(bare)
        words = [bare] if constant is None else [bare, constant]
        if not program_mentions(folder, words):
            typer.echo(
                f"warning: no program file in {str(folder)!r} mentions {bare!r}: make sure the "
                "program passes it to ServiceKeys, or the next `pulumi up` changes nothing",
                err=True,
            )
        other = "secondary" if name == "primary" else "primary"
        was = edit.old if edit.old is not None else "(unset)"
        typer.echo(f"{path.name}: {edit.key} {was} -> {edit.new}")
        typer.echo(
            f"Next: make sure clients use the {other} key, then run `pulumi up` to regenerate "
            f"the {name} key, then move clients back (`mlws keys --show`)."
        )


#: How a program may name the rotation config keys instead of spelling them out.
_CONSTANT_NAMES = {
    "primaryKeyRotation": "PRIMARY_KEY_ROTATION",
    "secondaryKeyRotation": "SECONDARY_KEY_ROTATION",
}
_PROGRAM_SUFFIXES = frozenset({".py", ".ts", ".js", ".go", ".cs", ".java", ".yaml", ".yml"})


def program_mentions(folder: Path, words: list[str], limit: int = 500) -> bool:
    """Whether a program file under ``folder`` (not a stack config file) contains one of
    ``words`` (the config key, or the ``mlws.service`` constant naming it)."""
    checked = 0
    for path in sorted(folder.rglob("*")):
        parts = set(path.relative_to(folder).parts)
        if parts & {"node_modules", "venv", ".venv", ".git", "__pycache__", "bin", "obj"}:
            continue
        if path.suffix not in _PROGRAM_SUFFIXES or not path.is_file():
            continue
        if path.name.startswith("Pulumi.") and path.name not in ("Pulumi.yaml", "Pulumi.yml"):
            continue
        checked += 1
        if checked > limit:
            return True  # too big to tell; do not warn
        try:
            text = path.read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        if any(word in text for word in words):
            return True
    return False


def register(app: typer.Typer) -> None:
    """Add ``mlws keys`` (show, rotate) to ``app``."""
    app.add_typer(keys_app, name="keys")
