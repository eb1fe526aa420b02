"""The Python entry-script core, without HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson
import pytest

from mlws.runtime.entry_script import (
    EntryScriptError,
    ScoreInputError,
    ScoreOutputError,
    ScoreRequest,
    ScoreResult,
)
from mlws.runtime.python_script import PythonEntryScript, is_json_content_type, parse_json_object
from tests.runtime.runtime_helpers import make_settings, write_script


def started(source: Path, name: str, **overrides: object) -> PythonEntryScript:
    write_script(source, name)
    script = PythonEntryScript(make_settings(source, **overrides))
    script.init()
    return script


def post(body: bytes | str, content_type: str = "application/json") -> ScoreRequest:
    raw = body.encode() if isinstance(body, str) else body
    return ScoreRequest(body=raw, headers={"content-type": content_type})


def test_run_gets_the_raw_body_string_and_model_dir(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    script = started(tmp_path / "src", "echo", model_dir=model)
    result = script.score(post('{"a": [1, 2]}'))
    assert result.status == 200
    assert orjson.loads(result.body) == {"echo": {"a": [1, 2]}, "model_dir": str(model.resolve())}
    assert os.environ["AZUREML_MODEL_DIR"] == str(model.resolve())


def test_the_script_sees_app_root_and_entry_script_as_under_azmlinfsrv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AML_APP_ROOT", raising=False)
    monkeypatch.delenv("AZUREML_ENTRY_SCRIPT", raising=False)
    started(tmp_path / "src", "echo")
    assert os.environ["AML_APP_ROOT"] == str((tmp_path / "src").resolve())
    assert os.environ["AZUREML_ENTRY_SCRIPT"] == os.path.realpath(tmp_path / "src" / "score.py")


def test_run_receives_non_json_text_unchanged(tmp_path: Path) -> None:
    script = started(tmp_path, "raw")
    assert orjson.loads(script.score(post("a,b\n1,2", "text/csv")).body) == {"raw": "a,b\n1,2"}


def test_a_string_return_value_becomes_a_json_string_as_in_azmlinfsrv(tmp_path: Path) -> None:
    script = started(tmp_path, "string")
    body = script.score(post("{}")).body
    assert body == json.dumps(json.dumps({"as": "string"})).encode()


def test_init_may_return_the_predict_callable(tmp_path: Path) -> None:
    script = started(tmp_path, "returns_predict")
    assert orjson.loads(script.score(post('{"data": [1, 2, 3]}')).body) == {"sum": 6}


def test_run_gets_request_headers_when_it_asks_for_them(tmp_path: Path) -> None:
    script = started(tmp_path, "headers")
    request = ScoreRequest(body=b"{}", headers={"x-custom": "1", "content-type": "text/plain"})
    body = orjson.loads(script.score(request).body)
    assert body == {"headers": {"X-Custom": "1", "Content-Type": "text/plain"}}  # werkzeug's names


def test_run_returning_none_answers_an_empty_object(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text("def init():\n    pass\ndef run(data):\n    return None\n")
    script = PythonEntryScript(make_settings(tmp_path))
    script.init()
    assert script.score(post("{}")).body == b"{}"


def test_numpy_results_are_serialised(tmp_path: Path) -> None:
    script = started(tmp_path, "numpy")
    assert orjson.loads(script.score(post("{}")).body) == {"array": [0, 1, 2], "scalar": 1.5}


def test_integers_beyond_64_bits_are_written_as_json_dumps_does(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text(
        "def init():\n    pass\ndef run(d):\n    return {'id': 2**70}\n"
    )
    script = PythonEntryScript(make_settings(tmp_path))
    script.init()
    assert script.score(post("{}")).body == b'{"id": 1180591620717411303424}'


def test_unserialisable_results_raise(tmp_path: Path) -> None:
    script = started(tmp_path, "unserialisable")
    with pytest.raises(ScoreOutputError, match="not JSON-serialisable"):
        script.score(post("{}"))


def test_invalid_utf8_is_bad_input(tmp_path: Path) -> None:
    script = started(tmp_path, "raw")
    with pytest.raises(ScoreInputError, match="cannot be decoded as UTF-8") as info:
        script.score(post(b"\xff\xfe"))
    assert info.value.status == 400


def test_source_directory_modules_are_importable(tmp_path: Path) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 'from the helper'\n")
    script = started(tmp_path, "helper_import")
    assert script.score(post("{}")).body == b'"from the helper"'


class TestDecorated:
    def test_members_of_the_body_become_arguments(self, tmp_path: Path) -> None:
        script = started(tmp_path, "decorated")
        assert script.decorated
        body = script.score(post('{"data": [1, 2], "scale": 10}')).body
        assert orjson.loads(body) == {"total": 30}

    def test_optional_arguments_keep_their_default(self, tmp_path: Path) -> None:
        script = started(tmp_path, "decorated")
        assert orjson.loads(script.score(post('{"data": [1, 2]}')).body) == {"total": 3}

    def test_get_uses_the_query_object_without_a_content_type(self, tmp_path: Path) -> None:
        script = started(tmp_path, "decorated")
        request = ScoreRequest(body=b'{"data": [4]}', method="GET")
        assert orjson.loads(script.score(request).body) == {"total": 4}

    @pytest.mark.parametrize(
        ("body", "content_type", "status", "message"),
        [
            ('{"data": [1]}', "text/plain", 415, "Expects Content-Type to be application/json"),
            ("", "application/json", 400, "POST body is empty. Expecting a JSON dictionary."),
            ("{x", "application/json", 400, "POST body could not be decoded as JSON: Expecting"),
            ("[1]", "application/json", 400, "POST body should be a JSON dictionary."),
            ('{"scale": 2}', "application/json", 400, "A value is not provided for the 'data'"),
        ],
    )
    def test_bad_input_gets_azmlinfsrv_messages(
        self, tmp_path: Path, body: str, content_type: str, status: int, message: str
    ) -> None:
        script = started(tmp_path, "decorated")
        with pytest.raises(ScoreInputError) as info:
            script.score(post(body, content_type))
        assert info.value.status == status
        assert info.value.message.startswith(message)

    def test_schemas_come_from_the_decorators(self, tmp_path: Path) -> None:
        script = started(tmp_path, "decorated")
        inp, out = script.openapi_schemas()
        assert inp is not None
        assert out is not None
        assert set(inp["properties"]) == {"data", "scale"}
        assert out["example"] == {"total": 3.0}
        assert script.openapi_versions() >= {"2.0", "3.0"}

    def test_undecorated_scripts_have_no_schemas(self, tmp_path: Path) -> None:
        script = started(tmp_path, "echo")
        assert script.openapi_schemas() == (None, None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("init_fails", r"init\(\) of .* failed: RuntimeError: cannot find the model file"),
        ("import_fails", "importing .* failed: ImportError: a dependency is missing"),
        ("no_run", "defines no run\\(\\) function and its init\\(\\) did not return"),
        ("no_init", "does not define an init\\(\\) function"),
        ("bad_signature", "positional-only arguments, \\*args, or \\*\\*kwargs"),
    ],
)
def test_broken_scripts_fail_init_with_the_reason(tmp_path: Path, name: str, message: str) -> None:
    write_script(tmp_path, name)
    script = PythonEntryScript(make_settings(tmp_path))
    with pytest.raises(EntryScriptError, match=message) as info:
        script.init()
    if name in ("init_fails", "import_fails"):
        assert "Traceback" in info.value.detail
        assert "score.py" in info.value.detail


def test_a_missing_script_fails_init(tmp_path: Path) -> None:
    with pytest.raises(EntryScriptError, match="does not exist"):
        PythonEntryScript(make_settings(tmp_path)).init()


def test_score_before_init_is_a_programming_error(tmp_path: Path) -> None:
    write_script(tmp_path, "echo")
    with pytest.raises(RuntimeError, match="before init"):
        PythonEntryScript(make_settings(tmp_path)).score(post("{}"))


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/vnd.api+json", True),
        ("text/plain", False),
        ("", False),
        (None, False),
        ("application/jsonx", False),
    ],
)
def test_json_content_types(content_type: str | None, expected: bool) -> None:
    assert is_json_content_type(content_type) is expected


def test_parse_json_object_accepts_objects() -> None:
    assert parse_json_object(b'{"a": 1}') == {"a": 1}
    parsed = parse_json_object(b'{"a": NaN, "b": Infinity}')
    assert parsed["a"] != parsed["a"]  # NaN, as Python's json reads it
    assert parsed["b"] == float("inf")


class TestBatch:
    def test_scripts_without_run_batch_have_no_batch_form(self, tmp_path: Path) -> None:
        script = started(tmp_path, "echo")
        assert not script.supports_batch
        assert script.score_batch([post("{}")]) is None

    def test_run_batch_answers_each_request(self, tmp_path: Path) -> None:
        script = started(tmp_path, "batch")
        assert script.supports_batch
        outcomes = script.score_batch(
            [post("1"), post('"bad"'), post(b"\xff"), post('"set"'), post('"none"'), post("2")]
        )
        assert outcomes is not None
        assert len(outcomes) == 6
        first, bad, undecodable, unserialisable, none, last = outcomes
        assert isinstance(first, ScoreResult)
        assert orjson.loads(first.body) == {"batched": 1, "size": 5}
        assert isinstance(bad, ValueError)
        assert isinstance(undecodable, ScoreInputError)
        assert undecodable.status == 400
        assert isinstance(unserialisable, ScoreOutputError)
        assert isinstance(none, ScoreResult)
        assert none.body == b"{}"
        assert isinstance(last, ScoreResult)
        assert orjson.loads(last.body) == {"batched": 2, "size": 5}

    def test_a_wrong_number_of_answers_fails_the_batch(self, tmp_path: Path) -> None:
        script = started(tmp_path, "batch")
        with pytest.raises(ScoreOutputError, match="returned 1 results for 2 requests"):
            script.score_batch([post('"short"'), post("1")])
