"""``mlws serve`` argument handling, in-process (the server itself is replaced by a recorder)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import mlws.runtime.server
from mlws.cli.main import app
from mlws.cli.serve import UsageError, build_model_layout, parse_model_spec
from mlws.runtime.settings import RuntimeSettings
from tests.runtime.runtime_helpers import write_script

runner = CliRunner()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[RuntimeSettings]:
    """Record the settings `mlws serve` would serve with, instead of serving."""
    calls: list[RuntimeSettings] = []

    def fake_serve(settings: RuntimeSettings) -> int:
        calls.append(settings)
        if settings.model_dir is not None:  # the layout must exist while serving
            assert settings.model_dir.is_dir()
        return 0

    monkeypatch.setattr(mlws.runtime.server, "serve", fake_serve)
    return calls


def test_flags_win_over_environment_variables(
    tmp_path: Path, served: list[RuntimeSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_script(tmp_path, "echo")
    monkeypatch.setenv("MLWS_PORT", "9000")
    monkeypatch.setenv("MLWS_WORKERS", "3")
    result = runner.invoke(app, ["serve", str(tmp_path), "--port", "9001"])
    assert result.exit_code == 0, result.output
    (settings,) = served
    assert (settings.port, settings.workers) == (9001, 3)
    assert settings.entry_script_path == (tmp_path / "score.py").resolve()


def test_every_setting_has_a_flag(tmp_path: Path, served: list[RuntimeSettings]) -> None:
    write_script(tmp_path, "echo", filename="other.py")
    args = [
        "serve",
        "--source-directory", str(tmp_path), "--entry-script", "other.py",
        "--model-dir", str(tmp_path), "--host", "0.0.0.0", "--port", "0", "--workers", "2",
        "--auth", "token", "--primary-key", "p", "--secondary-key", "s",
        "--token-secret", "t" * 32, "--token-jwks-url", "http://127.0.0.1/jwks",
        "--token-audience", "aud", "--token-issuer", "iss",
        "--scoring-timeout-ms", "1234", "--max-concurrent-requests", "5",
        "--max-request-wait-ms", "77", "--max-request-bytes", "999", "--log-level", "debug",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    s = served[0]
    assert s.entry_script_path == (tmp_path / "other.py").resolve()
    assert s.model_dir == tmp_path.resolve()
    assert (s.host, s.port, s.workers, s.auth_mode) == ("0.0.0.0", 0, 2, "token")
    assert s.primary_key is not None
    assert s.primary_key.get_secret_value() == "p"
    assert s.secondary_key is not None
    assert s.secondary_key.get_secret_value() == "s"
    assert (s.token_jwks_url, s.token_audience, s.token_issuer) == (
        "http://127.0.0.1/jwks",
        "aud",
        "iss",
    )
    assert (s.scoring_timeout_ms, s.max_concurrent_requests) == (1234, 5)
    assert (s.max_request_wait_ms, s.max_request_bytes, s.log_level) == (77, 999, "debug")


def test_an_entry_script_path_alone_names_its_folder(
    tmp_path: Path, served: list[RuntimeSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_script(tmp_path / "scoring", "echo")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["serve", "--entry-script", "scoring/score.py"])
    assert result.exit_code == 0, result.output
    assert served[0].source_directory == (tmp_path / "scoring").resolve()


def test_models_are_laid_out_by_name_and_version(
    tmp_path: Path, served: list[RuntimeSettings]
) -> None:
    write_script(tmp_path / "src", "echo")
    (tmp_path / "m1").mkdir()
    (tmp_path / "m2.pkl").write_text("x")
    args = ["serve", str(tmp_path / "src"), "--model", f"first:1={tmp_path / 'm1'}"]
    args += ["--model", f"second:2={tmp_path / 'm2.pkl'}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    layout = served[0].model_dir
    assert layout is not None
    assert not layout.exists()  # the temporary layout is removed after serving


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "/does/not/exist"], "source directory /does/not/exist does not exist"),
        (["serve", "{src}", "--entry-script", "missing.py"], "missing.py does not exist"),
        (["serve", "{src}", "--port", "70000"], "port (MLWS_PORT): Input should be less"),
        (["serve", "{src}", "--auth", "key"], "auth_mode 'key' needs MLWS_PRIMARY_KEY"),
        (["serve", "{src}", "--model", "nover=/tmp"], "expected NAME:VERSION=PATH"),
        (["serve", "{src}", "--model", "a:1=/nope/x"], "/nope/x does not exist"),
        (["serve", "{src}", "--model", "a:1={src}", "--model-dir", "{src}"], "either --model-dir"),
        (["serve", "{src}", "--model-dir", "/nope"], "model directory /nope does not exist"),
        (["serve", "{src}", "--source-directory", "/elsewhere"], "give the source directory once"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, served: list[RuntimeSettings], args: list[str], message: str
) -> None:
    write_script(tmp_path, "echo")
    result = runner.invoke(app, [a.replace("{src}", str(tmp_path)) for a in args])
    assert result.exit_code == 2
    assert result.output.startswith("mlws serve: error: ")
    assert message in result.output
    assert result.output.count("\n") == 1
    assert "Traceback" not in result.output
    assert served == []


def test_model_specs(tmp_path: Path) -> None:
    assert parse_model_spec(f"accidents:3={tmp_path}") == ("accidents", "3", tmp_path.resolve())
    with pytest.raises(UsageError, match="given twice"):
        build_model_layout([f"a:1={tmp_path}", f"a:1={tmp_path}"], tmp_path / "layout")


def test_layout_links_point_at_the_models(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.bin").write_text("w")
    (tmp_path / "model.pkl").write_text("p")
    both = [f"net:4={tmp_path / 'weights'}", f"clf:2={tmp_path / 'model.pkl'}"]
    root = build_model_layout(both, tmp_path / "layout")
    assert root == tmp_path / "layout"  # several models: the root of NAME/VERSION folders
    assert (root / "net" / "4" / "w.bin").read_text() == "w"
    assert (root / "clf" / "2" / "model.pkl").read_text() == "p"  # a file goes inside its folder


def test_a_single_model_dir_is_the_models_own_folder_as_in_azure_ml(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_text("p")
    model_dir = build_model_layout([f"clf:2={tmp_path / 'model.pkl'}"], tmp_path / "layout")
    assert model_dir == tmp_path / "layout" / "clf" / "2"
    assert (model_dir / "model.pkl").read_text() == "p"


def test_every_runtime_setting_is_an_option_of_serve() -> None:
    import typer.main

    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    assert set(RuntimeSettings.model_fields) <= {p.name for p in serve.params}
    helps = {p.name: getattr(p, "help", "") or "" for p in serve.params}
    assert "MLWS_BATCH_MAX_SIZE" in helps["batch_max_size"]
    assert "default 60000" in helps["scoring_timeout_ms"]


def test_generated_options_reach_the_settings(
    tmp_path: Path, served: list[RuntimeSettings]
) -> None:
    write_script(tmp_path, "echo")
    args = ["serve", str(tmp_path), "--batch-max-size", "8", "--no-strict-json", "--r-workers", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (served[0].batch_max_size, served[0].strict_json, served[0].r_workers) == (8, False, 2)
