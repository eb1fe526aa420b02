"""Running the ``mlws`` app in-process and checking the one-line error contract."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from mlws.cli.main import app


def run_cli(*args: str, input: str | None = None) -> Result:
    """Run ``mlws ARGS`` in-process."""
    return CliRunner().invoke(app, list(args), input=input)


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """The command failed with exit code 1 and exactly one ``mlws CMD: error:`` line on stderr (no
    traceback, nothing on stdout); return that line."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mlws "), lines[0]
    assert ": error: " in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
