"""``mlws render`` on the command line: formats, --diff, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlws.cli.main import app
from tests.render.render_programs import KEYS_PROGRAM, write_program

runner = CliRunner()


def _ok(*args: str) -> str:
    result = runner.invoke(app, ["render", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _error(*args: str) -> str:
    result = runner.invoke(app, ["render", *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("mlws render: error: ")
    return lines[0]


def test_json_and_markdown(keys_program: Path) -> None:
    data = json.loads(_ok(str(keys_program), "--stack", "dev", "--format", "json"))
    assert data["format"] == "mlws-render/1"
    assert {r["name"] for r in data["resources"]} == {
        "svc",
        "svc-primary",
        "svc-secondary",
        "size",
        "consumer",
    }
    md = _ok(str(keys_program), "-s", "dev")
    assert md.startswith("# Render of project `keysapp`, stack `dev`")
    assert "| `random:index/randomPassword:RandomPassword` | 2 |" in md
    assert "  - `svc-primary`: `random:index/randomPassword:RandomPassword`" in md
    assert "| `keysapp:token` | `[secret]` |" in md


def test_diff_after_changing_one_config_value(keys_program: Path, tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    _ok(str(keys_program), "-f", "json", "-o", str(old))
    _ok(str(keys_program), "-f", "json", "-o", str(new), "--config", "cpu_cores=3")
    text = _ok("--diff", str(old), str(new))
    assert text.splitlines() == [
        "Config:",
        '    keysapp:cpu_cores: "1" -> "3"',
        "+- replace  random:index/randomInteger:RandomInteger  size",
        "      max: 10 -> 30",
        "      replaced because max: random resources are replaced when any input changes",
        "Outputs:",
        "    cpu_cores: 1 -> 3",
        "Resources: 0 to create, 0 to update, 1 to replace, 0 to delete, 4 unchanged",
    ]
    data = json.loads(_ok("--diff", str(old), str(new), "--format", "json"))
    assert data["summary"]["replace"] == 1
    assert "**0 to create, 0 to update, 1 to replace" in _ok(
        "--diff", str(old), str(new), "-f", "markdown"
    )
    assert _ok("--diff", str(old), str(old)) == "No changes. (5 unchanged)\n"


def test_missing_pulumi_yaml(tmp_path: Path) -> None:
    line = _error(str(tmp_path))
    assert line.endswith("not a Pulumi project")


def test_non_python_runtime(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: app\nruntime: nodejs\n")
    assert "runtime is 'nodejs'; mlws render runs Python programs only" in _error(str(tmp_path))


def test_program_raising(tmp_path: Path) -> None:
    prog = write_program(tmp_path / "p", "x = 1\nraise RuntimeError('no registry configured')\n")
    line = _error(str(prog))
    assert line == ("mlws render: error: RuntimeError: no registry configured (at __main__.py:2)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing PROGRAM_DIR"),
        (["--config", "novalue", "."], "expected KEY=VALUE"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    assert message in _error(*args)


def test_diff_errors(tmp_path: Path, keys_program: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    other = tmp_path / "other.json"
    other.write_text('{"resources": []}')
    assert "cannot read" in _error("--diff", str(tmp_path / "nope.json"), str(bad))
    assert "not JSON" in _error("--diff", str(bad), str(bad))
    assert "not an mlws render" in _error("--diff", str(other), str(other))
    assert "not both" in _error(str(keys_program), "--diff", str(other), str(other))


def test_a_folder_without_stack_files_is_noted_on_stderr(tmp_path: Path) -> None:
    pytest.importorskip("pulumi_random", reason="needs mlws[infra]")
    program = write_program(tmp_path / "keysapp", KEYS_PROGRAM)
    result = runner.invoke(
        app, ["render", str(program), "--stack", "prdo", "-c", "cpu_cores=1", "-c", "token=t"]
    )
    assert result.exit_code == 0, result.output
    assert "note: no " in result.stderr
    assert "Pulumi.prdo.yaml" in result.stderr
    assert result.stdout.startswith("# Render of project `keysapp`, stack `prdo`")


def test_without_the_pulumi_sdk_the_error_says_what_to_install(
    keys_program: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlws.render.program_runner", None)
    line = _error(str(keys_program))
    assert line.endswith("pip install 'mlws[infra]'")
