"""docs/runtime.md's settings table matches RuntimeSettings and the options of mlws serve."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from mlws.cli.main import app
from mlws.runtime.settings import RuntimeSettings, env_var_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "runtime.md"
HEADER = "| setting | environment variable | `mlws serve` flag | default |"


def _rows() -> list[tuple[str, str, str]]:
    lines = DOC.read_text().splitlines()
    start = lines.index(HEADER) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((cells[0], cells[1], cells[2]))
    return rows


def _serve_options() -> set[str]:
    serve: Any = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    return {opt for param in serve.params for opt in (*param.opts, *param.secondary_opts)}


def test_every_flag_in_the_table_exists_and_every_serve_setting_names_its_flag() -> None:
    options = _serve_options()
    variables = {env_var_name(name): name for name in RuntimeSettings.model_fields}
    for setting, env_cell, flag_cell in _rows():
        flags = re.findall(r"--[a-z][a-z-]*", flag_cell)
        for flag in flags:
            assert flag in options, f"{setting}: mlws serve has no {flag}"
        for var in re.findall(r"`(MLWS_[A-Z_]+)`", env_cell):
            assert var in variables, f"{setting}: {var} is not a RuntimeSettings variable"
            option = "--" + variables[var].replace("_", "-")
            if option in options:
                assert option in flags, f"{setting}: the table omits mlws serve's {option}"
