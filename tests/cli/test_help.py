"""Every command and sub-command prints its help (typer renders help text as rich markup)."""

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mlws.cli.main import app


def _command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        # typer vendors its own click: groups are recognised by their sub-commands.
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "mlws")
def test_help_renders(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_every_command_module_is_reachable() -> None:
    names = {path[0] for path in _command_paths() if path}
    assert {"serve", "render", "invoke", "keys", "token", "logs"} <= names
