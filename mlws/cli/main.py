"""The ``mlws`` command line: one module per command group, each adding itself with ``register``."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="mlws",
    help="Serve, deploy and operate ML scoring web services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: Command modules under ``mlws.cli``; each defines ``register(app)``. Heavy imports (pulumi,
#: the runtime's server stack) stay inside command bodies so ``mlws --help`` is fast.
COMMAND_MODULES = ("serve", "render", "invoke", "keys", "token", "logs")

for _name in COMMAND_MODULES:
    importlib.import_module(f"mlws.cli.{_name}").register(app)
