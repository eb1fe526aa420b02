"""A ``@rawhttp`` script returning ``AMLResponse``: azmlinfsrv 1.5.1 and `mlws serve` answer alike.

The script (``scripts/raw_http.py``) imports ``azureml.contrib.services.aml_request`` and
``aml_response`` as Azure ML's docs write it; neither server has azureml-contrib-services
installed (azmlinfsrv aliases its own modules to those names, mlws its shim). Each test pins the
reference's answer, then compares mlws's: status, body, and the headers a client reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.compat.compat_harness import Pair, Server, ensure_compat_venv, make_models, start_pair

pytestmark = pytest.mark.slow

RUN_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."
#: Headers whose values a client reads; each is compared as the list of its values.
COMPARED = ("content-type", "x-custom", "x-single", "x-length", "x-ms-run-function-failed")
PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    python = ensure_compat_venv()
    models = make_models(tmp_path_factory.mktemp("raw-models"))
    logs = tmp_path_factory.mktemp("raw-logs")
    yield from start_pair(python, "raw_http.py", models / "single", logs)


def answer(server: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, server.url + path, timeout=30.0, **kwargs)


def same(pair: Pair, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The reference's answer, after checking mlws gives the same status, headers and body."""
    reference = answer(pair.reference, method, path, **kwargs)
    ours = answer(pair.require_mlws(), method, path, **kwargs)
    assert ours.status_code == reference.status_code, (reference.text, ours.text)
    for name in COMPARED:
        assert ours.headers.get_list(name) == reference.headers.get_list(name), name
    if ours.headers.get("content-type") == "application/json":  # json.dumps / orjson spacing
        body = ours.json()
        if reference.status_code >= 400:
            body.pop("request_id", None)  # mlws's error bodies add it (docs/compat.md)
        assert body == reference.json()
    else:
        assert ours.content == reference.content
    return reference


def test_get_answers_the_full_path_as_bytes(raw: Pair) -> None:
    reference = same(raw, "GET", "/score", params={"x": "1", "y": "two words"})
    assert reference.status_code == 200
    assert reference.text == "/score?x=1&y=two+words"
    assert reference.headers["content-type"] == "text/html; charset=utf-8"
    assert reference.headers["x-ms-run-function-failed"] == "False"


def test_get_without_query_has_the_bare_full_path(raw: Pair) -> None:
    assert same(raw, "GET", "/score").text == "/score?"


def test_request_attributes_the_script_reads(raw: Pair) -> None:
    """method, path, full_path, args (repeated), headers by any case, is_json."""
    reference = same(
        raw,
        "GET",
        "/score?describe=1&a=1&a=2&q=%7B%22k%22%3A1%7D",
        headers={"x-custom": "hello"},
    )
    assert reference.json() == {
        "method": "GET",
        "path": "/score",
        "full_path": "/score?describe=1&a=1&a=2&q=%7B%22k%22%3A1%7D",
        "args": {"describe": ["1"], "a": ["1", "2"], "q": ['{"k":1}']},
        "content_type": None,
        "mimetype": "",
        "is_json": False,
        "custom": "hello",
        "has_content_length": False,
    }


def test_post_json_with_custom_status(raw: Pair) -> None:
    reference = same(raw, "POST", "/score?tag=t1", json={"data": [[1, 2, 3]], "text": "é"})
    assert reference.status_code == 201
    body = reference.json()
    assert body["got"] == {"data": [[1, 2, 3]], "text": "é"}
    assert (body["method"], body["is_json"], body["args"]) == ("POST", True, {"tag": ["t1"]})
    assert body["has_content_length"] is True
    assert reference.headers["content-type"] == "application/json"


def test_post_binary_body_comes_back_reversed(raw: Pair) -> None:
    headers = {"Content-Type": "application/octet-stream"}
    reference = same(raw, "POST", "/score", content=PNG, headers=headers)
    assert reference.status_code == 200
    assert reference.content == bytes(reversed(PNG))
    assert reference.headers["x-length"] == str(len(PNG))
    assert reference.headers["content-type"] == "application/octet-stream"


def test_post_multipart_upload_reaches_request_files(raw: Pair) -> None:
    files = {"image": ("cat.png", PNG, "image/png")}
    reference = same(raw, "POST", "/score", files=files, data={"note": "hi"})
    assert reference.json() == {
        "filename": "cat.png",
        "size": len(PNG),
        "first": PNG[:4].hex(),
        "form": {"note": "hi"},
    }


def test_post_chunked_body_is_read_whole(raw: Pair) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield PNG[:100]
        yield PNG[100:]

    headers = {"Content-Type": "application/octet-stream"}
    for server in (raw.reference, raw.require_mlws()):
        response = answer(server, "POST", "/score", content=chunks(), headers=headers)
        assert response.status_code == 200, server.name
        assert response.content == bytes(reversed(PNG)), server.name
        assert response.headers["x-length"] == str(len(PNG)), server.name


def test_post_text_body(raw: Pair) -> None:
    reference = same(raw, "POST", "/score", content="héllo", headers={"Content-Type": "text/plain"})
    assert reference.text == "HÉLLO"


def test_custom_status_and_repeated_headers(raw: Pair) -> None:
    """A header value with commas becomes one header per item; the script's Content-Type wins."""
    reference = same(raw, "GET", "/score", params={"teapot": "1"})
    assert reference.status_code == 418
    assert reference.text == "short and stout"
    assert reference.headers.get_list("x-custom") == ["a", "b"]
    assert reference.headers["content-type"] == "text/plain"


def test_none_message_is_an_empty_json_object(raw: Pair) -> None:
    reference = same(raw, "GET", "/score", params={"none": "1"})
    assert (reference.status_code, reference.json()) == (202, {})


def test_run_function_failed_flag_from_the_script(raw: Pair) -> None:
    reference = same(raw, "POST", "/score", content=b"x", headers={"X-Fail-Softly": "1"})
    assert reference.status_code == 200
    assert reference.headers["x-ms-run-function-failed"] == "True"


def test_a_5xx_response_from_the_script_is_marked_failed(raw: Pair) -> None:
    reference = same(raw, "POST", "/score", content=b"x", headers={"X-Server-Error": "1"})
    assert (reference.status_code, reference.json()) == (503, {"error": "model unavailable"})
    assert reference.headers["x-ms-run-function-failed"] == "True"


def test_exception_in_run_is_the_run_failure_500(raw: Pair) -> None:
    reference = same(raw, "GET", "/score", params={"fail": "1"})
    assert (reference.status_code, reference.json()) == (500, {"message": RUN_FAILED})
    assert reference.headers["x-ms-run-function-failed"] == "True"


def test_options_reaches_run(raw: Pair) -> None:
    """A @rawhttp run answers OPTIONS itself (CORS preflights), in no-auth mode as azmlinfsrv."""
    reference = same(raw, "OPTIONS", "/score")
    assert reference.status_code == 204
    assert reference.headers["access-control-allow-origin"] == "*"
    assert reference.headers.get_list("access-control-allow-methods") == ["GET", "POST"]


def test_request_ids_are_the_servers(raw: Pair) -> None:
    headers = {"x-request-id": "raw-1", "x-ms-client-request-id": "raw-client-1"}
    reference = same(raw, "GET", "/score", headers=headers)
    ours = answer(raw.require_mlws(), "GET", "/score", headers=headers)
    for response in (reference, ours):
        assert response.headers["x-request-id"] == "raw-1"
        assert response.headers["x-ms-client-request-id"] == "raw-client-1"


def test_swagger_is_served_for_a_raw_script(raw: Pair) -> None:
    reference = answer(raw.reference, "GET", "/swagger.json")
    ours = answer(raw.require_mlws(), "GET", "/swagger.json")
    assert reference.status_code == ours.status_code == 200


def test_other_methods_are_405_before_run(raw: Pair) -> None:
    assert answer(raw.reference, "PUT", "/score").status_code == 405
    assert answer(raw.require_mlws(), "PUT", "/score").status_code == 405


def test_deliberate_difference_head_score_never_reaches_run(raw: Pair) -> None:
    """azmlinfsrv hands a HEAD to a @rawhttp run() (Flask routes HEAD like GET); mlws answers it
    405 itself: a HEAD is a probe (no body), so it never runs the script or the model."""
    reference = answer(raw.reference, "HEAD", "/score", params={"describe": "1"})
    # this script's run() has no HEAD branch and falls through to its 500
    assert reference.status_code == 500
    assert reference.headers["x-ms-run-function-failed"] == "True"
    assert reference.content == b""
    ours = answer(raw.require_mlws(), "HEAD", "/score", params={"describe": "1"})
    assert ours.status_code == 405
    assert ours.headers["allow"] == "GET, POST, OPTIONS"
    assert ours.headers["x-ms-run-function-failed"] == "False"
    assert ours.content == b""
