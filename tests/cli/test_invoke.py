"""``mlws invoke`` against real ``mlws serve`` processes: no auth, keys, tokens, records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.cli_helpers import (
    DATA,
    PRIMARY,
    SECONDARY,
    TOKEN_SECRET,
    Served,
    assert_one_line_error,
    run_cli,
)

pytestmark = pytest.mark.slow

SEED_ROW = {
    "dvcat": "10-24",
    "seatbelt": "none",
    "frontal": "frontal",
    "sex": "f",
    "ageOFocc": 22,
    "yearVeh": 2002,
    "airbag": "none",
    "occRole": "pass",
}


def test_invoke_without_auth_prints_the_response(open_service: Served) -> None:
    result = run_cli("invoke", open_service.url, "--data", '{"data": [[1, 2]]}')
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"echo": {"data": [[1, 2]]}}


def test_invoke_reads_the_body_from_a_file_and_stdin(open_service: Served, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"x": 1}')
    from_file = run_cli("invoke", open_service.scoring_uri, "--file", str(body))
    from_stdin = run_cli("invoke", open_service.scoring_uri, "-", input='{"x": 2}')
    file_dash = run_cli("invoke", open_service.scoring_uri, "--file", "-", input='{"x": 3}')
    assert json.loads(from_file.stdout) == {"echo": {"x": 1}}
    assert json.loads(from_stdin.stdout) == {"echo": {"x": 2}}
    assert json.loads(file_dash.stdout) == {"echo": {"x": 3}}


@pytest.mark.parametrize("key", [PRIMARY, SECONDARY])
def test_invoke_with_either_key(key_service: Served, key: str) -> None:
    result = run_cli("invoke", key_service.url, "--key", key, "--data", "[1]")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"echo": [1]}


@pytest.mark.parametrize("which", ["primary", "secondary"])
def test_invoke_picks_the_exported_key(key_service: Served, tmp_path: Path, which: str) -> None:
    outputs = key_service.outputs_file(tmp_path)
    # With only the chosen key exported, success proves that key was sent.
    data = json.loads(outputs.read_text())
    data.pop("secondary_key" if which == "primary" else "primary_key")
    outputs.write_text(json.dumps(data))
    result = run_cli("invoke", "--outputs", str(outputs), "--use-key", which, "-d", "{}")
    assert result.exit_code == 0, result.stderr
    missing = run_cli(
        "invoke",
        "--outputs",
        str(outputs),
        "--use-key",
        "secondary" if which == "primary" else "primary",
        "-d",
        "{}",
    )
    assert_one_line_error(missing, "no", "key is known")


def test_invoke_with_a_wrong_key_fails_with_the_servers_message(key_service: Served) -> None:
    result = run_cli("invoke", key_service.url, "--key", "not-the-key", "--data", "{}")
    line = assert_one_line_error(result, "HTTP 401", "invalid key")
    assert "not-the-key" not in line
    assert result.stdout == ""


def test_invoke_without_a_key_on_a_key_service_is_refused(key_service: Served) -> None:
    assert_one_line_error(run_cli("invoke", key_service.url, "-d", "{}"), "HTTP 401")


def test_invoke_mints_a_token_for_a_token_service(token_service: Served, tmp_path: Path) -> None:
    by_outputs = run_cli("invoke", key_or_outputs(token_service, tmp_path), "-d", '{"t": 1}')
    assert by_outputs.exit_code == 0, by_outputs.stderr
    assert json.loads(by_outputs.stdout) == {"echo": {"t": 1}}
    by_url = run_cli(
        "invoke",
        token_service.url,
        "--token-secret",
        TOKEN_SECRET,
        "--audience",
        token_service.env["MLWS_TOKEN_AUDIENCE"],
        "--issuer",
        token_service.env["MLWS_TOKEN_ISSUER"],
        "-d",
        "{}",
    )
    assert by_url.exit_code == 0, by_url.stderr


def key_or_outputs(served: Served, folder: Path) -> str:
    return str(served.outputs_file(folder))


def test_invoke_with_a_token_for_the_wrong_audience_is_refused(token_service: Served) -> None:
    result = run_cli(
        "invoke",
        token_service.url,
        "--token-secret",
        TOKEN_SECRET,
        "--audience",
        "https://someone-else",
        "--issuer",
        token_service.env["MLWS_TOKEN_ISSUER"],
        "-d",
        "{}",
    )
    assert_one_line_error(result, "HTTP 401", "audience")


def test_invoke_with_a_token_signed_by_another_secret_is_refused(token_service: Served) -> None:
    result = run_cli(
        "invoke",
        token_service.url,
        "--token-secret",
        "another-secret-0123456789abcdef0123456789",
        "--audience",
        token_service.env["MLWS_TOKEN_AUDIENCE"],
        "--issuer",
        token_service.env["MLWS_TOKEN_ISSUER"],
        "-d",
        "{}",
    )
    assert_one_line_error(result, "HTTP 401", "signature")


@pytest.mark.parametrize("table", ["accident.csv", "accident.json"])
def test_records_from_the_seeds_accident_example(open_service: Served, table: str) -> None:
    result = run_cli("invoke", open_service.url, "--records", str(DATA / table))
    assert result.exit_code == 0, result.stderr
    # score_echo.py checks every column and its type (ageOFocc/yearVeh must be numbers).
    assert json.loads(result.stdout) == [82.2, 26.1]


def test_records_send_the_rows_as_jsonlite_would(open_service: Served, tmp_path: Path) -> None:
    table = tmp_path / "newdata.csv"
    table.write_text(",".join(SEED_ROW) + "\n" + ",".join(str(v) for v in SEED_ROW.values()))
    wrapped = run_cli("invoke", open_service.url, "--records", str(table), "--wrap", "data")
    assert json.loads(wrapped.stdout) == {"echo": {"data": [SEED_ROW]}}


def test_a_script_error_exits_1_with_the_servers_message(open_service: Served) -> None:
    bad = [dict(SEED_ROW, ageOFocc="old")]
    result = run_cli("invoke", open_service.url, "--data", json.dumps(bad))
    line = assert_one_line_error(result, "HTTP 500")
    # A URL says nothing of where the logs are: no `mlws logs SERVICE` that would then fail.
    assert "mlws logs SERVICE" not in line
    assert "finds it from --stack or --outputs, or --log-file" in line


def test_a_5xx_names_the_logs_command_that_finds_them(open_service: Served, tmp_path: Path) -> None:
    outputs = open_service.outputs_file(tmp_path)
    bad = json.dumps([dict(SEED_ROW, ageOFocc="old")])
    line = assert_one_line_error(run_cli("invoke", "--outputs", str(outputs), "-d", bad))
    assert line.endswith(f"; `mlws logs --outputs {outputs}` shows the service's side")
    logs = run_cli("logs", "--outputs", str(outputs), "--tail", "5")
    assert logs.exit_code == 0, logs.stderr


def test_verbose_prints_status_and_request_id(open_service: Served) -> None:
    result = run_cli("invoke", open_service.url, "-d", "{}", "--verbose")
    assert result.exit_code == 0
    assert result.stderr.startswith("HTTP 200 OK (request id ")
