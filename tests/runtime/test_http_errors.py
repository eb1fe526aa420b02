"""The exception-to-answer table, without HTTP; and what the HTTP layer may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mlws.runtime.auth import MISSING
from mlws.runtime.entry_script import ScoreInputError, ScoreOutputError
from mlws.runtime.executor import Busy, ScoringTimeout
from mlws.runtime.http_errors import (
    INTERNAL_ERROR_MESSAGE,
    RUN_FAILED_MESSAGE,
    BodyTooLarge,
    IdTooLong,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    error_answer,
    not_ready,
)
from mlws.runtime.request_checks import TOO_DEEP_MESSAGE, TooDeep
from mlws.runtime.scoring_service import RunFailed
from mlws.runtime.settings import RuntimeSettings
from mlws.runtime.swagger import SwaggerError
from tests.runtime.runtime_helpers import make_settings

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
HTTP_LAYER = ("app.py", "http_errors.py", "http_request.py")


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    (tmp_path / "score.py").write_text("def init(): pass\ndef run(raw_data): return raw_data\n")
    return make_settings(tmp_path, max_request_wait_ms=2500, scoring_timeout_ms=700)


def test_each_failure_has_its_status_and_message(settings: RuntimeSettings) -> None:
    cases = {
        NotFound(): 404,
        MethodNotAllowed(b"GET, HEAD"): 405,
        Unauthorized(MISSING): 401,
        BodyTooLarge(): 413,
        IdTooLong("x-request-id must not exceed 100 characters"): 431,
        ScoreInputError("no", 415): 415,
        TooDeep(): 400,
        SwaggerError("unknown version"): 404,
        Busy(): 503,
        ScoringTimeout(): 504,
        ScoreOutputError("not JSON"): 500,
        RunFailed("ValueError"): 500,
        KeyError("a bug"): 500,
    }
    for exc, status in cases.items():
        assert error_answer(exc, settings).status == status, exc


def test_the_most_specific_entry_wins(settings: RuntimeSettings) -> None:
    deep = error_answer(TooDeep(), settings)
    assert (deep.message, deep.with_request_id) == (TOO_DEEP_MESSAGE, True)
    plain = error_answer(ScoreInputError("bad"), settings)
    assert (plain.message, plain.with_request_id) == ("bad", False)


def test_scoring_failures_say_what_an_operator_needs(settings: RuntimeSettings) -> None:
    busy = error_answer(Busy(), settings)
    assert busy.headers == ((b"retry-after", b"2"),)
    assert "2500 ms" in busy.message
    timeout = error_answer(ScoringTimeout(), settings)
    assert (timeout.message, timeout.run_failed) == ("Scoring timeout after 700 ms", True)
    failed = error_answer(RunFailed("ValueError"), settings)
    assert (failed.message, failed.run_failed) == (RUN_FAILED_MESSAGE, True)
    bug = error_answer(RuntimeError("oops"), settings)
    assert (bug.message, bug.run_failed, bug.with_request_id) == (
        INTERNAL_ERROR_MESSAGE,
        False,
        True,
    )
    assert error_answer(IdTooLong("long"), settings).with_ids is False
    assert error_answer(BodyTooLarge(), settings).headers == ((b"connection", b"close"),)


def test_not_ready_says_why() -> None:
    assert "still running" in not_ready("starting", None).message
    assert not_ready("failed", "boom").message == "The entry script failed to start: boom"
    assert "stuck" in not_ready("stuck", None).message


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", HTTP_LAYER)
def test_the_http_layer_does_not_import_the_python_entry_script(module: str) -> None:
    imported = _imports(RUNTIME / module)
    assert not {"mlws.runtime.python_script", "mlws.runtime.r_script"} & imported, imported


def test_the_scoring_service_knows_nothing_of_http() -> None:
    imported = _imports(RUNTIME / "scoring_service.py")
    http = {f"mlws.runtime.{m.removesuffix('.py')}" for m in HTTP_LAYER}
    assert not imported & (http | {"uvicorn", "mlws.runtime.auth"}), imported
