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


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "mlws")
def test_help_at_80_columns_shows_every_option_whole(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    flags = {opt for param in command.params for opt in param.opts if opt.startswith("-")}
    words = set(result.output.replace(",", " ").split())
    assert flags <= words, sorted(flags - words)
    assert max(len(line) for line in result.output.splitlines()) <= 80
