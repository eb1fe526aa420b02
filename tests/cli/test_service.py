"""Naming a service: the stack-output contract, outputs files, ``--stack`` via the pulumi CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from mlws.service import (
    OUTPUT_NAMES,
    ServiceError,
    ServiceOutputs,
    load_outputs_file,
    read_stack_outputs,
    scoring_uri_for,
    swagger_uri_for,
)
from tests.cli.cli_helpers import Served, assert_one_line_error, run_cli


def test_every_contract_name_is_a_model_field() -> None:
    assert set(OUTPUT_NAMES) == set(ServiceOutputs.model_fields) - {"hidden_outputs"}


def test_snake_and_camel_case_outputs_parse_alike() -> None:
    snake = ServiceOutputs.from_outputs(
        {"scoring_uri": "http://h/score", "primary_key": "k", "service_kind": "aks"}
    )
    camel = ServiceOutputs.from_outputs(
        {"scoringUri": "http://h/score", "primaryKey": "k", "serviceKind": "aks"}
    )
    assert snake == camel
    assert snake.effective_auth_mode == "key"
    assert snake.effective_swagger_uri == "http://h/swagger.json"


@pytest.mark.parametrize(
    ("outputs", "mode"),
    [
        ({}, "none"),
        ({"secondary_key": "s"}, "key"),
        ({"token_secret": "t", "primary_key": "k"}, "token"),
        ({"token_jwks_url": "https://i/keys"}, "token"),
        ({"auth_mode": "key", "token_secret": "t", "primary_key": "k"}, "key"),
    ],
)
def test_auth_mode_is_inferred_when_not_exported(outputs: dict[str, str], mode: str) -> None:
    parsed = ServiceOutputs.from_outputs({"scoring_uri": "http://h/score", **outputs})
    assert parsed.effective_auth_mode == mode


def test_secrets_are_not_in_the_repr() -> None:
    parsed = ServiceOutputs.from_outputs({"scoring_uri": "http://h/score", "primary_key": "s3"})
    assert "s3" not in repr(parsed)


def test_nested_services_are_picked_by_name_or_when_alone() -> None:
    one = {"accidents": {"scoring_uri": "http://a/score"}, "region": "westeurope"}
    assert ServiceOutputs.from_outputs(one).scoring_uri == "http://a/score"
    two = {**one, "claims": {"scoringUri": "http://c/score"}}
    with pytest.raises(ServiceError, match="several services"):
        ServiceOutputs.from_outputs(two)
    assert ServiceOutputs.from_outputs(two, "claims").scoring_uri == "http://c/score"
    with pytest.raises(ServiceError, match="no service object 'other'"):
        ServiceOutputs.from_outputs(two, "other")


def test_hidden_secrets_read_as_unset_and_ask_for_show_secrets_when_needed(
    tmp_path: Path,
) -> None:
    outputs = {
        "scoring_uri": "http://h/score",
        "primaryKey": "[secret]",
        "service_kind": "local-process",
        "log_file": str(tmp_path / "serve.log"),
    }
    parsed = ServiceOutputs.from_outputs(outputs)
    assert parsed.primary_key is None
    assert parsed.effective_auth_mode == "key"
    assert "--show-secrets" in str(parsed.secret_missing("primary_key", "unused"))
    assert str(parsed.secret_missing("secondary_key", "plain")) == "plain"
    path = tmp_path / "o.json"
    path.write_text(json.dumps(outputs))
    assert_one_line_error(run_cli("invoke", str(path), "-d", "{}"), "hidden", "--show-secrets")
    assert_one_line_error(run_cli("keys", str(path)), "'primary_key' is hidden")
    # logs need no secret: a render or non-secret outputs file is enough
    (tmp_path / "serve.log").write_text("line\n")
    assert run_cli("logs", str(path)).stdout == "line\n"


def test_bad_outputs_name_the_field() -> None:
    with pytest.raises(ServiceError, match="'service_kind'"):
        ServiceOutputs.from_outputs({"scoring_uri": "http://h/score", "service_kind": "lambda"})
    with pytest.raises(ServiceError, match="no 'scoring_uri'"):
        ServiceOutputs.from_outputs({"region": "x"})


@pytest.mark.parametrize(
    ("url", "scoring"),
    [
        ("http://127.0.0.1:8890", "http://127.0.0.1:8890/score"),
        ("http://127.0.0.1:8890/", "http://127.0.0.1:8890/score"),
        ("https://h/api/v1/service/a/score", "https://h/api/v1/service/a/score"),
    ],
)
def test_scoring_uri_for(url: str, scoring: str) -> None:
    assert scoring_uri_for(url) == scoring


def test_swagger_uri_for() -> None:
    assert swagger_uri_for("https://h/api/v1/service/a/score") == (
        "https://h/api/v1/service/a/swagger.json"
    )


def test_outputs_files_may_wrap_outputs(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text(json.dumps({"outputs": {"scoring_uri": "http://h/score"}}))
    assert load_outputs_file(path) == {"scoring_uri": "http://h/score"}


def _fake_pulumi(folder: Path, script: str) -> Path:
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "pulumi"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.mark.slow
def test_stack_resolution_runs_pulumi_stack_output(
    open_service: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = open_service.outputs_file(tmp_path)
    args_file = tmp_path / "args"
    bin_dir = _fake_pulumi(tmp_path, f'echo "$@" > {args_file}\ncat {outputs}\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = run_cli("invoke", "--stack", "acme/accidents/dev", "-d", '{"via": "stack"}')
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"echo": {"via": "stack"}}
    assert args_file.read_text().split() == [
        "stack",
        "output",
        "--json",
        "--show-secrets",
        "--non-interactive",
        "--stack",
        "acme/accidents/dev",
    ]


def test_stack_with_cwd_passes_it_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args_file = tmp_path / "args"
    bin_dir = _fake_pulumi(
        tmp_path, f'echo "$@" > {args_file}\necho \'{{"scoring_uri": "http://h/score"}}\'\n'
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    assert read_stack_outputs("dev", cwd=tmp_path) == {"scoring_uri": "http://h/score"}
    assert args_file.read_text().split()[-4:] == ["--stack", "dev", "--cwd", str(tmp_path)]


def test_a_failing_pulumi_gives_its_last_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _fake_pulumi(
        tmp_path,
        "echo 'warning: something' >&2\necho \"error: no stack named 'x'\" >&2\nexit 255\n",
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    result = run_cli("keys", "--stack", "x")
    assert_one_line_error(result, "pulumi stack output --stack x", "no stack named 'x'")


def test_stack_without_the_pulumi_cli_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run_cli("invoke", "--stack", "acme/accidents/dev", "-d", "{}")
    assert_one_line_error(result, "pulumi CLI", "--outputs FILE")
