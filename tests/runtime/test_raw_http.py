"""``@rawhttp`` scripts and ``AMLResponse``: the Azure ML module names, the request and response
bridges, and what the HTTP layer does for raw scripts (tests/compat compares with azmlinfsrv)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlws.runtime import azureml_modules
from mlws.runtime.aml_request import AMLRequest, rawhttp
from mlws.runtime.aml_response import AMLResponse
from mlws.runtime.entry_script import ScoreOutputError, ScoreRequest
from mlws.runtime.python_script import PythonEntryScript
from mlws.runtime.raw_http import build_request, is_response, response_result, takes_raw_request
from tests.runtime.runtime_helpers import make_settings

Serve = Callable[..., Any]
ALIASED = tuple(azureml_modules.ALIASES)


@pytest.fixture
def clean_modules() -> Iterator[None]:
    """Forget the Azure ML names (and their parents) before and after a test."""

    def forget() -> None:
        for name in list(sys.modules):
            if name.split(".")[0] in ("azureml", "azureml_inference_server_http"):
                del sys.modules[name]

    forget()
    yield
    forget()


def test_the_azure_ml_names_are_mlws_modules_when_nothing_real_is_installed(
    clean_modules: None,
) -> None:
    azureml_modules.install()
    azureml_modules.install()  # once only
    assert sum(isinstance(f, azureml_modules.AzureMLFinder) for f in sys.meta_path) == 1
    from azureml.contrib.services.aml_request import AMLRequest as Imported
    from azureml.contrib.services.aml_request import rawhttp as imported_rawhttp
    from azureml.contrib.services.aml_response import AMLResponse as ImportedResponse
    from azureml_inference_server_http.api.aml_response import AMLResponse as NewStyle

    assert (Imported, imported_rawhttp) == (AMLRequest, rawhttp)
    assert ImportedResponse is NewStyle is AMLResponse
    assert sys.modules["azureml.contrib.services.aml_request"].__name__ == (
        "mlws.runtime.aml_request"
    )


def test_a_real_installed_package_is_not_shadowed(
    clean_modules: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "azureml" / "contrib" / "services"
    package.mkdir(parents=True)
    (package / "aml_request.py").write_text("REAL = True\n_rawHttpRequested = False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    azureml_modules.install()
    module = importlib.import_module("azureml.contrib.services.aml_request")
    assert module.REAL is True
    # A name the real package lacks is not filled in by mlws either (no half-shadowing).
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("azureml.contrib.services.aml_response")


def test_other_azureml_names_are_not_provided(clean_modules: None) -> None:
    azureml_modules.install()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("azureml.core")


def test_rawhttp_is_detected_by_attribute_and_by_a_real_modules_flag(
    clean_modules: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def plain(request: Any) -> None: ...

    assert takes_raw_request(rawhttp(lambda request: None))
    assert not takes_raw_request(plain)
    real = type(sys)("azureml.contrib.services.aml_request")
    real._rawHttpRequested = True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azureml.contrib.services.aml_request", real)
    assert takes_raw_request(plain)


def test_build_request_gives_flask_request_attributes() -> None:
    request = build_request(
        ScoreRequest(
            body=b'{"a": 1}',
            headers={"content-type": "application/json", "x-custom": "v", "host": "svc:8080"},
            method="POST",
            path="/score",
            query_string=b"k=1&k=2&t=x+y",
            scheme="https",
            server=("10.0.0.1", 8080),
            client=("10.0.0.9", 5555),
        )
    )
    assert isinstance(request, AMLRequest)
    assert request.method == "POST"
    assert request.full_path == "/score?k=1&k=2&t=x+y"
    assert request.args.getlist("k") == ["1", "2"]
    assert request.args["t"] == "x y"
    assert request.headers["X-Custom"] == request.headers["x-custom"] == "v"
    assert request.get_json() == {"a": 1}
    assert request.get_data() == b'{"a": 1}'
    assert request.content_length == 8
    assert (request.remote_addr, request.scheme, request.host) == ("10.0.0.9", "https", "svc:8080")
    assert request.url == "https://svc:8080/score?k=1&k=2&t=x+y"


def test_build_request_get_has_no_body_and_unsent_length_stays_unsent() -> None:
    request = build_request(ScoreRequest(body=b'{"from": "query"}', method="GET"))
    assert request.get_data() == b""
    assert "Content-Length" not in request.headers


def test_amlresponse_as_azmlinfsrv_builds_it() -> None:
    text = AMLResponse("hi", 200)
    assert text.headers["Content-Type"] == "text/html; charset=utf-8"
    assert text.headers["x-ms-run-function-failed"] == "False"
    typed = AMLResponse(b"\x00\x01", 201, {"Content-Type": "image/png", "X-Many": "a, b,c"})
    assert typed.headers.getlist("Content-Type") == ["image/png"]
    assert typed.headers.getlist("X-Many") == ["a", "b", "c"]
    assert typed.get_data() == b"\x00\x01"
    as_json = AMLResponse({"k": [1]}, 400, json_str=True, run_function_failed=True)
    assert (as_json.get_data(), as_json.mimetype) == (b'{"k": [1]}', "application/json")
    assert as_json.headers["x-ms-run-function-failed"] == "True"
    assert AMLResponse(None, 204).get_data() == b"{}"


def test_response_result_keeps_the_scripts_headers_and_drops_the_servers() -> None:
    response = AMLResponse(
        "x", 418, {"X-Custom": "a, b", "x-request-id": "forged", "Content-Type": "text/plain"}
    )
    assert is_response(response)
    assert not is_response({"a": 1})
    result = response_result(response)
    assert (result.status, result.body, result.content_type) == (418, b"x", "text/plain")
    assert result.headers == [("X-Custom", "a"), ("X-Custom", "b")]
    assert not result.run_failed
    assert response_result(AMLResponse("x", 200, run_function_failed=True)).run_failed
    assert response_result(AMLResponse("x", 502)).run_failed
    with pytest.raises(ScoreOutputError, match="invalid status 700"):
        response_result(AMLResponse("x", 700))


def test_rawhttp_with_input_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text(
        textwrap.dedent(
            """
            from azureml.contrib.services.aml_request import rawhttp
            from inference_schema.schema_decorators import input_schema
            from inference_schema.parameter_types.standard_py_parameter_type import (
                StandardPythonParameterType,
            )
            def init():
                pass
            @rawhttp
            @input_schema("data", StandardPythonParameterType([1.0]))
            def run(data):
                return data
            """
        )
    )
    script = PythonEntryScript(make_settings(tmp_path))
    with pytest.raises(Exception, match="both @rawhttp and @input_schema"):
        script.init()


async def test_raw_script_gets_binary_bodies_whole_and_is_not_batched(serve_app: Serve) -> None:
    app, client = await serve_app("rawhttp", batch_max_size=4, strict_json=True)
    assert app.service.batcher is None
    body = bytes(range(256))
    response = await client.post(
        "/score", content=body, headers={"content-type": "application/octet-stream"}
    )
    assert response.status_code == 200  # no 415 from strict JSON: the script reads the request
    assert response.content == body[::-1]
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-ms-run-function-failed"] == "False"


async def test_raw_get_reads_the_query_itself(serve_app: Serve) -> None:
    _, client = await serve_app("rawhttp")
    deep = "[" * 10000
    response = await client.get("/score", params={"a": ["1", "2"], "deep": deep})
    assert response.status_code == 200
    assert response.json()["args"] == {"a": ["1", "2"], "deep": [deep]}
    assert response.json()["host"] == "testserver"


async def test_raw_script_never_sees_the_authorization_header(serve_app: Serve) -> None:
    _, client = await serve_app("rawhttp", auth_mode="key", primary_key="sekrit-key")
    response = await client.get("/score", headers={"authorization": "Bearer sekrit-key"})
    assert response.status_code == 200
    assert response.json()["authorization"] is None


async def test_options_reaches_a_raw_run_only_when_authenticated(serve_app: Serve) -> None:
    _, client = await serve_app("rawhttp", auth_mode="key", primary_key="sekrit-key")
    anonymous = await client.options("/score")
    assert (anonymous.status_code, anonymous.content) == (200, b"")
    assert "access-control-allow-origin" not in anonymous.headers
    signed = await client.options("/score", headers={"authorization": "Bearer sekrit-key"})
    assert signed.status_code == 204
    assert signed.headers["access-control-allow-origin"] == "*"


async def test_options_is_the_servers_for_other_scripts(serve_app: Serve) -> None:
    _, client = await serve_app("echo")
    response = await client.options("/score")
    assert (response.status_code, response.content) == (200, b"")


async def test_an_undecorated_run_may_return_an_amlresponse(serve_app: Serve) -> None:
    _, client = await serve_app("returns_response")
    response = await client.post("/score", content=b"{}")
    assert (response.status_code, response.text) == (202, "accepted")
    assert response.headers["x-ms-run-function-failed"] == "False"


def test_build_request_reads_a_body_that_came_chunked() -> None:
    request = build_request(
        ScoreRequest(body=b"abc", headers={"transfer-encoding": "chunked"}, method="POST")
    )
    assert request.get_data() == b"abc"


def test_werkzeug_is_imported_only_for_scripts_that_use_the_azure_ml_modules(
    tmp_path: Path,
) -> None:
    (tmp_path / "score.py").write_text("def init():\n    pass\ndef run(raw):\n    return raw\n")
    check = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from mlws.runtime.entry_script import ScoreRequest
        from mlws.runtime.python_script import PythonEntryScript
        from mlws.runtime.settings import RuntimeSettings
        script = PythonEntryScript(RuntimeSettings(source_directory=Path({str(tmp_path)!r}),
                                                   entry_script=Path("score.py")))
        script.init()
        assert script.score(ScoreRequest(body=b'"x"')).body == b'"\\\\"x\\\\""'
        print("werkzeug" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
