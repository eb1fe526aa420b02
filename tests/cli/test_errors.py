"""Every error path of invoke, keys, token and logs prints one clear line, never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.cli_helpers import assert_one_line_error, run_cli


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "hidden.json").write_text(
        json.dumps({"scoring_uri": "http://h/score", "primary_key": "[secret]"})
    )
    (tmp_path / "nouri.json").write_text(json.dumps({"region": "westeurope"}))
    (tmp_path / "two.json").write_text(
        json.dumps({"a": {"scoring_uri": "http://a/score"}, "b": {"scoring_uri": "http://b/s"}})
    )
    (tmp_path / "keyed.json").write_text(
        json.dumps({"scoring_uri": "http://127.0.0.1:1/score", "auth_mode": "key"})
    )
    (tmp_path / "token.json").write_text(
        json.dumps({"scoring_uri": "http://127.0.0.1:1/score", "auth_mode": "token"})
    )
    (tmp_path / "body.txt").write_text("not json")
    (tmp_path / "table.txt").write_text("a,b\n1,2\n")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2,3\n")
    (tmp_path / "empty.csv").write_text("a,b\n")
    (tmp_path / "cols.json").write_text('{"a": [1, 2], "b": [1]}')
    return {p.name: str(p) for p in tmp_path.iterdir()} | {"dir": str(tmp_path)}


CASES: list[tuple[list[str], list[str]]] = [
    (["invoke", "-d", "{}"], ["name the service"]),
    (["invoke", "ftp://h", "-d", "{}"], ["neither an http(s) URL nor an outputs JSON file"]),
    (["invoke", "http://h", "--stack", "s", "-d", "{}"], ["name the service once"]),
    (["invoke", "http://h", "--cwd", "{dir}", "-d", "{}"], ["--cwd only applies to --stack"]),
    (["invoke", "http://h"], ["give the request body"]),
    (["invoke", "http://h", "-d", "{", "--file", "{bad.json}"], ["give the request body once"]),
    (["invoke", "http://h", "-d", "{oops"], ["not valid JSON"]),
    (["invoke", "http://h", "--file", "{body.txt}"], ["not valid JSON"]),
    (["invoke", "http://h", "--file", "{dir}/missing.json"], ["No such file"]),
    (["invoke", "http://h", "--records", "{table.txt}"], [".csv or .json"]),
    (["invoke", "http://h", "--records", "{ragged.csv}"], ["line 2: 3 cells"]),
    (["invoke", "http://h", "--records", "{empty.csv}"], ["no data rows"]),
    (["invoke", "http://h", "--records", "{cols.json}"], ["different lengths"]),
    (["invoke", "http://h", "-d", "{}", "--wrap", "data"], ["--wrap only applies"]),
    (["invoke", "http://h", "-d", "{}", "--use-key", "third"], ["--use-key"]),
    (["invoke", "http://127.0.0.1:1", "-d", "{}"], ["cannot reach http://127.0.0.1:1/score"]),
    (["invoke", "--outputs", "{bad.json}", "-d", "{}"], ["is not JSON"]),
    (["invoke", "--outputs", "{list.json}", "-d", "{}"], ["must hold a JSON object"]),
    (["invoke", "--outputs", "{hidden.json}", "-d", "{}"], ["--show-secrets"]),
    (["invoke", "--outputs", "{nouri.json}", "-d", "{}"], ["no 'scoring_uri'"]),
    (["invoke", "--outputs", "{two.json}", "-d", "{}"], ["--service NAME"]),
    (["invoke", "{two.json}", "--service", "c", "-d", "{}"], ["no service object 'c'"]),
    (["invoke", "--outputs", "{dir}/none.json", "-d", "{}"], ["cannot read outputs file"]),
    (["invoke", "{keyed.json}", "-d", "{}"], ["no primary key is known"]),
    (["invoke", "{token.json}", "-d", "{}"], ["no signing secret is known"]),
    (["keys"], ["name the service"]),
    (["keys", "{keyed.json}"], ["no keys"]),
    (["keys", "rotate", "--key", "both", "--stack-dir", "{dir}"], ["--key must be primary"]),
    (["keys", "rotate", "--key", "primary", "--stack-dir", "{dir}"], ["no Pulumi.yaml"]),
    (["token"], ["name the service"]),
    (["token", "{token.json}"], ["no signing secret"]),
    (["token", "http://h", "--token-secret", "x" * 32, "--ttl", "1s"], ["lifetime"]),
    (["logs", "--tail", "-1", "--log-file", "x"], ["--tail must be 0 or more"]),
    (["logs", "--tail", "3", "--all", "--log-file", "x"], ["--tail or --all"]),
    (["logs", "{keyed.json}"], ["cannot tell where"]),
    (["logs", "--kind", "docker"], ["missing: container_name"]),
    (["logs", "--kind", "aks"], ["missing: label_selector"]),
    (["logs", "--docker-host", "ssh://h", "--container", "c"], ["unsupported Docker host"]),
]


@pytest.mark.parametrize(("args", "fragments"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_error_is_one_line(args: list[str], fragments: list[str], files: dict[str, str]) -> None:
    argv = []
    for arg in args:
        for name, path in files.items():
            arg = arg.replace("{" + name + "}", path)
        argv.append(arg)
    assert_one_line_error(run_cli(*argv), *fragments)


@pytest.mark.parametrize(
    "args",
    [
        ["invoke", "--bogus"],
        ["keys", "rotate"],
        ["logs", "--tail", "many"],
        ["token", "--ttl"],
        ["invoke", "a", "-", "extra"],
        ["--bogus"],
        ["nosuchcommand"],
        ["render", "--diff", "one.json"],
        ["render", ".", "--bogus"],
        ["render", "--format", "yaml", "."],
        ["serve", "--port", "eighty"],
        ["serve", "--auth", "basic"],
        ["keys", "rotate", "--key", "primary", "--bogus"],
        ["keys", "show", "--bogus"],
    ],
)
def test_usage_errors_are_one_line_too(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.exit_code == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert re.match(r"mlws( [a-z]+)*: error: ", lines[0]), lines[0]
    assert lines[0].endswith("(see --help)")
    assert not set(result.stderr) & set("╭╰│─"), result.stderr  # no boxed panel


def test_the_command_path_names_the_sub_command() -> None:
    result = run_cli("keys", "rotate", "--bogus")
    assert result.stderr.startswith("mlws keys rotate: error: No such option: --bogus")
    result = run_cli("render", "--diff", "one.json")
    assert result.stderr.startswith("mlws render: error: Option '--diff' requires 2 arguments")


def test_version() -> None:
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"mlws {version('mlws')}\n"


def test_an_unexpected_failure_is_still_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlws.client

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(mlws.client, "invoke", explode)
    result = run_cli("invoke", "http://127.0.0.1:1", "-d", "{}")
    assert_one_line_error(result, "unexpected RuntimeError: boom")


def test_an_unexpected_failure_outside_the_commands_own_handling_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import mlws.render.project

    def explode(*args: object, **kwargs: object) -> None:
        raise ModuleNotFoundError("No module named 'ruamel'")

    monkeypatch.setattr(mlws.render.project, "load_project", explode)
    result = run_cli("render", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == (
        "mlws render: error: unexpected ModuleNotFoundError: No module named 'ruamel'\n"
    )
