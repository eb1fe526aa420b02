"""``mlws render``'s error lines for a newcomer's mistakes: every config problem with its field,
a mistyped stack, a format that only diffs have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlws.cli.main import app
from tests.render.render_programs import KEYS_PROGRAM, write_program

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def _error(*args: str) -> str:
    result = runner.invoke(app, ["render", *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mlws render: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("example", "config", "problems"),
    [
        (
            "r-accident",
            ["cpu_cores=-1", "memory_gb=100"],
            ["cpu_cores: Input should be greater than 0", "memory_gb: Azure Container Instances"],
        ),
        (
            "aks-gpu",
            ["cpu_cores=-1", "gpu_cores=-2"],
            ["cpu_cores: Input should be greater than 0", "gpu_cores: Input should be greater"],
        ),
        ("local-sklearn", ["port=99999"], ["port: Input should be less than or equal to 65535"]),
    ],
)
def test_a_config_error_shows_every_problem_where_the_program_made_it(
    example: str, config: list[str], problems: list[str]
) -> None:
    pytest.importorskip("pulumi_azure_native", reason="needs mlws[infra]")
    overrides = [arg for value in config for arg in ("--config", value)]
    line = _error(str(EXAMPLES / example), "--stack", "dev", *overrides)
    assert f"{len(problems)} problem" in line
    for problem in problems:
        assert problem in line
    assert re.search(r" \(at __main__\.py:\d+\)$", line), line
    assert "errors.py" not in line
    assert "ConfigError" not in line


def test_a_stack_without_a_file_is_refused_listing_the_stacks(tmp_path: Path) -> None:
    program = write_program(tmp_path / "app", KEYS_PROGRAM, stacks={"dev": "", "prod": ""})
    line = _error(str(program), "--stack", "staging")
    assert line == (
        f"mlws render: error: no Pulumi.staging.yaml in {str(program)!r} (stacks here: dev, prod)"
    )


def test_the_examples_stacks_are_listed() -> None:
    line = _error(str(EXAMPLES / "aks-gpu"), "--stack", "staging")
    assert line.endswith("(stacks here: dev, prod)")


def test_text_is_a_diff_format_only(tmp_path: Path) -> None:
    program = write_program(tmp_path / "app", KEYS_PROGRAM, stacks={"dev": ""})
    line = _error(str(program), "--format", "text")
    assert "--format text is for --diff" in line


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--diff", "one.json"], "Option '--diff' requires 2 arguments"),
        (["--bogus"], "No such option: --bogus"),
        (["--format", "yaml", "."], "'yaml' is not one of"),
    ],
)
def test_parser_errors_are_one_line(args: list[str], fragment: str) -> None:
    line = _error(*args)
    assert fragment in line
    assert line.endswith("(see --help)")
