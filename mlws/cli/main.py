"""The ``mlws`` command line: one module per command group, each adding itself with ``register``.

Every error reaches the user in one form, ``mlws COMMAND: error: ...`` on one stderr line:
commands print their own failures that way, and :class:`OneLineErrorsGroup` does the same for
what the command-line parser rejects (unknown options, missing or bad values: exit code 2).
Help is plain text wrapped to the terminal, never cut.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from mlws.cli._service import one_line

#: click's exception classes (typer vendors click; reach them through a public subclass).
_CLICK = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
_CLICK_EXCEPTION: type[Exception] = _CLICK["ClickException"]
_USAGE_ERROR: type[Exception] = _CLICK["UsageError"]


def _command_path(root: Any, args: Sequence[str]) -> str:
    """``mlws`` and the sub-command names at the start of ``args`` (``mlws keys rotate``)."""
    path, command = ["mlws"], root
    for token in args:
        command = (getattr(command, "commands", None) or {}).get(token)
        if command is None:
            break
        path.append(token)
    return " ".join(path)


def _usage_failure(exc: Exception, where: str) -> NoReturn:
    if type(exc).__name__ == "NoArgsIsHelpError":  # bare `mlws`: the help
        exc.show()  # type: ignore[attr-defined]
        sys.exit(2)
    ctx = getattr(exc, "ctx", None)
    where = str(getattr(ctx, "command_path", "") or where)
    formatter = getattr(exc, "format_message", None)
    message = str(formatter()) if callable(formatter) else str(exc)
    typer.echo(f"{where}: error: {one_line(message)} (see --help)", err=True)
    sys.exit(2)


class OneLineErrorsGroup(TyperGroup):
    """The root command: usage errors anywhere below it are one ``error:`` line, exit code 2,
    instead of a usage box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; print parser errors in the one-line form and exit."""
        if not standalone_mode:
            return super().main(
                args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        try:
            result = super().main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )
        except _USAGE_ERROR as exc:
            _usage_failure(exc, _command_path(self, sys.argv[1:] if args is None else args))
        except _CLICK_EXCEPTION as exc:
            typer.echo(f"mlws: error: {one_line(str(exc))}", err=True)
            sys.exit(int(getattr(exc, "exit_code", 1)))
        except typer.Abort:
            sys.exit(130)
        except Exception as exc:  # a bug or a broken install: still one line, never a traceback
            where = _command_path(self, sys.argv[1:] if args is None else args)
            typer.echo(
                f"{where}: error: unexpected {type(exc).__name__}: {one_line(str(exc))}", err=True
            )
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mlws {importlib.metadata.version('mlws')}")
        raise typer.Exit(0)


app = typer.Typer(
    name="mlws",
    cls=OneLineErrorsGroup,
    help="Serve, deploy and operate ML scoring web services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print mlws's version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Serve, deploy and operate ML scoring web services."""


#: Command modules under ``mlws.cli``; each defines ``register(app)``. Heavy imports (pulumi,
#: the runtime's server stack) stay inside command bodies so ``mlws --help`` is fast.
COMMAND_MODULES = ("serve", "package", "render", "invoke", "keys", "token", "logs")

for _name in COMMAND_MODULES:
    importlib.import_module(f"mlws.cli.{_name}").register(app)
