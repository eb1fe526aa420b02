"""Same entry script, same request: azmlinfsrv 1.5.1 and `mlws serve` must answer alike.

Each test first pins the reference server's behaviour (so a change in azmlinfsrv shows up here),
then sends the identical request to mlws and asserts the same status and JSON body. Where mlws
differs on purpose the test is called ``test_deliberate_difference_<what>`` and asserts both sides'
behaviour. docs/compat.md lists the cases and the differences.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.compat_harness import (
    SCRIPTS,
    Pair,
    Server,
    azmlinfsrv_server,
    ensure_compat_venv,
    make_models,
    mlws_runtime_missing,
    mlws_server,
    start_pair,
    stop_all,
)

pytestmark = pytest.mark.slow

RUN_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."
INTERNAL_ERROR = "An unexpected internal error occurred. Check the logs for more info."
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    text: str
    headers: httpx.Headers


def call(server: Server, method: str, path: str, **kwargs: Any) -> Answer:
    response = httpx.request(method, server.url + path, timeout=30.0, **kwargs)
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    return Answer(response.status_code, body, response.text, response.headers)


def same(pair: Pair, method: str, path: str, **kwargs: Any) -> tuple[Answer, Answer | None]:
    """Send the request to the reference, and to mlws when it exists; compare status and body."""
    reference = call(pair.reference, method, path, **kwargs)
    if pair.mlws is None:
        return reference, None
    ours = call(pair.mlws, method, path, **kwargs)
    assert ours.status == reference.status, (reference.text, ours.text)
    assert without_request_id(ours) == reference.body, (reference.text, ours.text)
    return reference, ours


def without_request_id(answer: Answer) -> Any:
    """mlws's error bodies add ``request_id`` (see test_deliberate_difference_error_body_...)."""
    if answer.status >= 400 and isinstance(answer.body, dict) and "request_id" in answer.body:
        assert answer.body["request_id"] == answer.headers["x-request-id"]
        return {k: v for k, v in answer.body.items() if k != "request_id"}
    return answer.body


def mlws_side(pair: Pair, method: str, path: str, **kwargs: Any) -> Answer:
    return call(pair.require_mlws(), method, path, **kwargs)


#: Paths mlws's generated documents add (its probes): see test_deliberate_difference_swagger_*.
MLWS_ONLY_PATHS = ("/live", "/ready")


def comparable_swagger(doc: Any) -> Any:
    """An OpenAPI document without what mlws writes differently on purpose: security
    requirements and schemes (mlws: only where the server checks them), ``required`` on the score
    body (mlws: as the server requires it), the response types of ``/`` and ``/swagger.json``
    (mlws: what they send) and mlws's probe paths."""
    doc = json.loads(json.dumps(doc))
    doc.pop("security", None)
    doc.pop("securityDefinitions", None)
    doc.get("components", {}).pop("securitySchemes", None)
    for path in MLWS_ONLY_PATHS:
        doc["paths"].pop(path, None)
    for path, item in doc["paths"].items():
        for operation in item.values():
            operation.pop("security", None)
            operation.get("requestBody", {}).pop("required", None)
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "body":
                    parameter.pop("required", None)
            if path in ("/", "/swagger.json"):
                operation.pop("produces", None)
                operation["responses"].pop("200", None)
    return doc


def same_swagger(pair: Pair, params: dict[str, str]) -> tuple[Answer, Answer | None]:
    """GET /swagger.json from both; the documents equal but for mlws's deliberate changes."""
    reference = call(pair.reference, "GET", "/swagger.json", params=params)
    if pair.mlws is None:
        return reference, None
    ours = call(pair.mlws, "GET", "/swagger.json", params=params)
    assert ours.status == reference.status
    assert comparable_swagger(ours.body) == comparable_swagger(reference.body)
    return reference, ours


@pytest.fixture(scope="session")
def compat_python() -> Path:
    return ensure_compat_venv()


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_models(tmp_path_factory.mktemp("compat-models"))


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compat-logs")


@pytest.fixture(scope="module")
def plain(compat_python: Path, model_root: Path, log_dir: Path) -> Iterator[Pair]:
    yield from start_pair(compat_python, "sklearn_plain.py", model_root / "single", log_dir)


@pytest.fixture(scope="module")
def schema(compat_python: Path, model_root: Path, log_dir: Path) -> Iterator[Pair]:
    yield from start_pair(compat_python, "schema_decorated.py", model_root / "single", log_dir)


@pytest.fixture(scope="module")
def string(compat_python: Path, model_root: Path, log_dir: Path) -> Iterator[Pair]:
    yield from start_pair(compat_python, "returns_string.py", model_root / "single", log_dir)


@pytest.fixture(scope="module")
def raising(compat_python: Path, model_root: Path, log_dir: Path) -> Iterator[Pair]:
    yield from start_pair(compat_python, "raising.py", model_root / "single", log_dir)


@pytest.fixture(scope="module")
def multi(compat_python: Path, model_root: Path, log_dir: Path) -> Iterator[Pair]:
    yield from start_pair(compat_python, "multi_model.py", model_root / "multi", log_dir)


@pytest.fixture(scope="module")
def numpy_result(compat_python: Path, model_root: Path, log_dir: Path) -> Iterator[Pair]:
    yield from start_pair(compat_python, "returns_numpy.py", model_root / "single", log_dir)


# --- a plain init()/run(raw_data) sklearn script --------------------------------------------------


def test_plain_post_score(plain: Pair) -> None:
    reference, _ = same(plain, "POST", "/score", json={"data": [[1, 2, 3], [0, 0, 0]]})
    assert reference.status == 200
    assert reference.body == pytest.approx([14.5, 0.5])


def test_plain_get_score_with_query_parameters(plain: Pair) -> None:
    reference, _ = same(plain, "GET", "/score", params={"data": "[[1, 2, 3]]"})
    assert reference.status == 200
    assert reference.body == pytest.approx([14.5])


def test_plain_health(plain: Pair) -> None:
    reference, ours = same(plain, "GET", "/")
    assert (reference.status, reference.text) == (200, "Healthy")
    if ours is not None:
        assert ours.text == "Healthy"


def test_plain_exception_from_bad_input_is_500(plain: Pair) -> None:
    reference, _ = same(plain, "POST", "/score", json={"rows": [[1, 2, 3]]})
    assert (reference.status, reference.body) == (500, {"message": RUN_FAILED})


def test_deliberate_difference_error_body_carries_the_request_id(plain: Pair) -> None:
    """Both answer 500 {"message": ...}; mlws adds "request_id" (also in x-request-id)."""
    headers = {**JSON, "x-request-id": "compat-error-1"}
    body = {"rows": [[1, 2, 3]]}
    reference = call(plain.reference, "POST", "/score", json=body, headers=headers)
    assert (reference.status, reference.body) == (500, {"message": RUN_FAILED})
    ours = mlws_side(plain, "POST", "/score", json=body, headers=headers)
    assert (ours.status, ours.body) == (
        500,
        {"message": RUN_FAILED, "request_id": "compat-error-1"},
    )


def test_plain_request_id_is_echoed(plain: Pair) -> None:
    headers = {**JSON, "x-request-id": "compat-req-1", "x-ms-request-id": "compat-ms-1"}
    reference, ours = same(plain, "POST", "/score", json={"data": [[0, 0, 0]]}, headers=headers)
    assert reference.headers["x-request-id"] == "compat-req-1"
    assert reference.headers["x-ms-request-id"] == "compat-ms-1"
    if ours is not None:
        assert ours.headers["x-request-id"] == "compat-req-1"
        assert ours.headers["x-ms-request-id"] == "compat-ms-1"


def test_plain_client_request_id_is_echoed_and_stands_for_the_legacy_id(plain: Pair) -> None:
    """x-ms-client-request-id comes back, and is the x-ms-request-id when that is not sent."""
    headers = {**JSON, "x-ms-client-request-id": "compat-client-1", "x-request-id": "compat-req-2"}
    reference, ours = same(plain, "POST", "/score", json={"data": [[0, 0, 0]]}, headers=headers)
    for answer in (reference, ours):
        if answer is not None:
            assert answer.headers["x-ms-client-request-id"] == "compat-client-1"
            assert answer.headers["x-ms-request-id"] == "compat-client-1"
            assert answer.headers["x-request-id"] == "compat-req-2"


def test_plain_head_health(plain: Pair) -> None:
    """Load balancers may probe with HEAD; Flask answers HEAD on every GET route."""
    reference, _ = same(plain, "HEAD", "/")
    assert (reference.status, reference.text) == (200, "")


def test_plain_head_score_is_405_without_a_body(plain: Pair) -> None:
    """Flask routes HEAD /score to the score handler (HEAD follows GET), whose input parser
    refuses the method: 405 and, as for any HEAD, no body."""
    reference, ours = same(plain, "HEAD", "/score", params={"data": "[[1, 2, 3]]"})
    assert (reference.status, reference.text) == (405, "")
    assert reference.headers["content-type"] == "application/json"
    if ours is not None:
        assert ours.text == ""
        assert ours.headers["content-type"] == "application/json"
        assert ours.headers["x-ms-run-function-failed"] == "False"


def test_deliberate_difference_metrics_route(plain: Pair) -> None:
    """azmlinfsrv has no /metrics (404); mlws serves Prometheus text there."""
    reference = call(plain.reference, "GET", "/metrics")
    assert reference.status == 404
    ours = mlws_side(plain, "GET", "/metrics")
    assert ours.status == 200
    assert "# TYPE" in ours.text


@pytest.mark.parametrize("version", [None, "2", "2.0", "3", "3.0", "3.1"])
def test_plain_swagger_documents_are_identical(plain: Pair, version: str | None) -> None:
    params = {"version": version} if version else {}
    reference, _ = same_swagger(plain, params)
    assert reference.status == 200
    empty = {"type": "object", "example": {}}
    if version in (None, "2", "2.0"):
        assert reference.body["swagger"] == "2.0"
        assert reference.body["definitions"]["ServiceInput"] == empty
    else:
        assert reference.body["openapi"].startswith(version)
        assert reference.body["components"]["schemas"]["ServiceOutput"] == empty


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
def test_deliberate_difference_swagger_says_what_the_server_checks(
    plain: Pair, version: str
) -> None:
    """azmlinfsrv's templates put Bearer on every route (OpenAPI 3) and leave the body optional;
    mlws, serving here without auth, documents no security at all, and the body as optional
    because its undecorated run() takes any body, empty included."""
    reference = call(plain.reference, "GET", "/swagger.json", params={"version": version})
    ours = mlws_side(plain, "GET", "/swagger.json", params={"version": version})
    if version == "2":
        assert reference.body["securityDefinitions"]["Bearer"]["name"] == "Authorization"
        assert reference.body["paths"]["/score"]["post"]["security"] == [{"Bearer": []}]
        assert ours.body["paths"]["/score"]["post"]["parameters"][0]["required"] is False
    else:
        assert reference.body["security"] == [{"Bearer": []}]  # on /, /swagger.json too
        assert ours.body["paths"]["/score"]["post"]["requestBody"]["required"] is False
    assert "Bearer" not in json.dumps(ours.body)
    assert set(ours.body["paths"]) == {"/", "/score", "/swagger.json", "/live", "/ready"}
    swagger_ok = ours.body["paths"]["/swagger.json"]["get"]["responses"]["200"]
    schema = (
        swagger_ok["schema"]
        if version == "2"
        else swagger_ok["content"]["application/json"]["schema"]
    )
    assert schema == {"type": "object"}  # azmlinfsrv says "string"; both send a JSON object
    assert isinstance(reference.body, dict)


def test_plain_swagger_unknown_version_is_404(plain: Pair) -> None:
    reference, _ = same(plain, "GET", "/swagger.json", params={"version": "7"})
    assert reference.status == 404
    assert reference.body["message"].startswith("Swagger version [7] is not valid.")


def test_plain_method_not_allowed(plain: Pair) -> None:
    reference = call(plain.reference, "PUT", "/score", json={"data": []})
    assert reference.status == 405
    ours = mlws_side(plain, "PUT", "/score", json={"data": []})
    assert ours.status == 405


def test_plain_unknown_path_is_404(plain: Pair) -> None:
    reference = call(plain.reference, "GET", "/no-such-route")
    assert reference.status == 404
    assert "message" in reference.body
    ours = mlws_side(plain, "GET", "/no-such-route")
    assert ours.status == 404


def test_plain_malformed_json_reaches_run_as_in_azmlinfsrv(plain: Pair) -> None:
    """By default mlws hands malformed JSON to run() as azmlinfsrv does (its json.loads fails:
    500); MLWS_STRICT_JSON=true answers 400 instead (tests/runtime/test_app.py)."""
    reference, _ = same(plain, "POST", "/score", content=b"{not json", headers=JSON)
    assert (reference.status, reference.body) == (500, {"message": RUN_FAILED})


def test_plain_missing_body_reaches_run_as_in_azmlinfsrv(plain: Pair) -> None:
    reference, _ = same(plain, "POST", "/score", content=b"", headers=JSON)
    assert (reference.status, reference.body) == (500, {"message": RUN_FAILED})


def test_plain_content_type_is_ignored_for_undecorated_scripts(plain: Pair) -> None:
    body = json.dumps({"data": [[1, 2, 3]]}).encode()
    reference, _ = same(
        plain, "POST", "/score", content=body, headers={"Content-Type": "text/plain"}
    )
    assert reference.status == 200
    assert reference.body == pytest.approx([14.5])


@pytest.fixture(scope="module")
def raw(compat_python: Path, model_root: Path, log_dir: Path) -> Iterator[Pair]:
    yield from start_pair(compat_python, "raw_echo.py", model_root / "single", log_dir)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"", None),
        (b"just text", "text/plain"),
        (b"a=1&b=two", "application/x-www-form-urlencoded"),
        (b'{"a": 1}', "application/x-www-form-urlencoded"),
        (
            b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xx--\r\n',
            "multipart/form-data; boundary=xx",
        ),
        (b'\xef\xbb\xbf{"a": 1}', "application/json"),
        (b"1,2,3\n4,5,6", "text/csv"),
    ],
)
def test_run_receives_odd_bodies_exactly_as_from_azmlinfsrv(
    raw: Pair, body: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    reference, _ = same(raw, "POST", "/score", content=body, headers=headers)
    assert reference.status == 200


def test_plain_invalid_utf8_is_400(plain: Pair) -> None:
    reference, _ = same(plain, "POST", "/score", content=b'{"data": "\xff\xfe"}', headers=JSON)
    assert reference.status == 400
    assert reference.body["message"].startswith("Input cannot be decoded as UTF-8: ")


def test_plain_options_is_200(plain: Pair) -> None:
    reference = call(plain.reference, "OPTIONS", "/score")
    assert reference.status == 200
    ours = mlws_side(plain, "OPTIONS", "/score")
    assert ours.status == 200


def test_plain_overlong_request_id_is_431(plain: Pair) -> None:
    headers = {**JSON, "x-request-id": "r" * 101}
    reference, _ = same(plain, "POST", "/score", json={"data": [[0, 0, 0]]}, headers=headers)
    assert (reference.status, reference.body) == (
        431,
        {"message": "x-request-id must not exceed 100 characters"},
    )


# --- a script echoing what run() received ------------------------------------------------------


@pytest.fixture(scope="module")
def echo(compat_python: Path, model_root: Path, log_dir: Path) -> Iterator[Pair]:
    yield from start_pair(compat_python, "echo_headers.py", model_root / "single", log_dir)


@pytest.mark.parametrize(
    "payload",
    [
        {"text": "naïve 🙂 ünïcode", "n": [1, 2.5, -3e-7, None, True]},
        [1, "two", {"three": 3}],
        "a bare string",
        12.5,
        False,
    ],
)
def test_echo_round_trips_json(echo: Pair, payload: Any) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    reference, _ = same(echo, "POST", "/score", content=body, headers=JSON)
    assert reference.status == 200
    assert reference.body == payload


def test_echo_get_with_repeated_and_typed_query_parameters(echo: Pair) -> None:
    query = [("a", "1"), ("a", "x"), ("b", "null"), ("c", '{"k": [1]}'), ("d", "text")]
    reference, _ = same(echo, "GET", "/score", params=query)
    assert reference.status == 200
    assert reference.body == {"a": [1, "x"], "b": None, "c": {"k": [1]}, "d": "text"}


def test_echo_get_without_parameters_is_an_empty_object(echo: Pair) -> None:
    reference, _ = same(echo, "GET", "/score")
    assert (reference.status, reference.body) == (200, {})


def test_echo_run_returning_none_is_an_empty_object(echo: Pair) -> None:
    """azmlinfsrv sends ``{}`` when run() returns None (AMLResponse(None) is ``{}``)."""
    reference, _ = same(echo, "POST", "/score", json={"return": "none"})
    assert (reference.status, reference.body) == (200, {})


def test_echo_run_receives_request_headers_by_their_usual_names(echo: Pair) -> None:
    """run(raw_data, request_headers) gets the headers as werkzeug spells them ("X-Custom")."""
    headers = {**JSON, "x-custom": "hello"}
    reference, _ = same(echo, "POST", "/score", json={"return": "header"}, headers=headers)
    assert reference.status == 200
    assert reference.body == {"custom": "hello", "type": "application/json"}


def test_echo_nan_and_infinity_in_the_request_reach_run(echo: Pair) -> None:
    """Python's json (json.dumps of a float('nan') in a client, json.loads in run()) speaks NaN and
    Infinity; azmlinfsrv hands the body to run() untouched, so such requests score."""
    body = b'{"v": NaN, "w": [Infinity, -Infinity, 1.5]}'
    reference = call(echo.reference, "POST", "/score", content=body, headers=JSON)
    assert reference.status == 200
    assert reference.text == '{"v": NaN, "w": [Infinity, -Infinity, 1.5]}'
    ours = mlws_side(echo, "POST", "/score", content=body, headers=JSON)
    assert ours.status == 200, ours.text
    assert json.loads(ours.text)["w"][2] == 1.5


def test_echo_big_integer_result(echo: Pair) -> None:
    """json.dumps writes integers of any size; 2**70 must not become an error."""
    reference, _ = same(echo, "POST", "/score", json={"return": "big_int"})
    assert (reference.status, reference.text) == (200, '{"id": 1180591620717411303424}')


@pytest.mark.parametrize(
    ("ask", "expected"),
    [("numpy_int", {"count": 3}), ("datetime", {"at": "2026-01-02T03:04:05"})],
)
def test_deliberate_difference_numpy_scalars_and_datetimes_are_serialised(
    echo: Pair, ask: str, expected: dict[str, Any]
) -> None:
    """json.dumps rejects numpy integers and datetimes (azmlinfsrv: 500 internal error); mlws
    writes them as numbers and ISO 8601 text."""
    reference = call(echo.reference, "POST", "/score", json={"return": ask})
    assert (reference.status, reference.body) == (500, {"message": INTERNAL_ERROR})
    ours = mlws_side(echo, "POST", "/score", json={"return": ask})
    assert (ours.status, ours.body) == (200, expected)


def test_echo_nan(echo: Pair) -> None:
    """json.dumps writes NaN (not JSON, though Python's json reads it back)."""
    reference = call(echo.reference, "POST", "/score", json={"return": "nan"})
    assert reference.status == 200
    assert reference.text == '{"value": NaN}'
    ours = mlws_side(echo, "POST", "/score", json={"return": "nan"})
    assert ours.status == 200
    assert ours.text.replace(" ", "") in ('{"value":NaN}', '{"value":null}')


# --- the scoring timeout ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow(compat_python: Path, model_root: Path, log_dir: Path) -> Iterator[Pair]:
    yield from start_pair(
        compat_python,
        "slow.py",
        model_root / "single",
        log_dir,
        reference_env={"SCORING_TIMEOUT_MS": "1500"},
        mlws_args=["--scoring-timeout-ms", "1500"],
    )


def test_slow_but_in_time(slow: Pair) -> None:
    reference, _ = same(slow, "POST", "/score", json={"sleep": 0.1})
    assert (reference.status, reference.body) == (200, {"slept": 0.1})


def test_deliberate_difference_scoring_timeout_is_504(slow: Pair) -> None:
    """azmlinfsrv answers a scoring timeout with 500; mlws with 504 Gateway Timeout, the status
    Azure ML's own front end uses for it, so clients can tell a timeout from a failing script."""
    reference = call(slow.reference, "POST", "/score", json={"sleep": 4})
    assert (reference.status, reference.body) == (500, {"message": "Scoring timeout after 1500 ms"})
    assert reference.headers["x-ms-run-function-failed"] == "True"
    ours = mlws_side(slow, "POST", "/score", json={"sleep": 4})
    assert ours.status == 504
    assert ours.body["message"] == "Scoring timeout after 1500 ms"


# --- an inference_schema-decorated script ---------------------------------------------------------


def test_schema_post_with_all_parameters(schema: Pair) -> None:
    reference, _ = same(schema, "POST", "/score", json={"data": [[1, 2, 3]], "scale": 2.0})
    assert reference.status == 200
    assert reference.body == {"predictions": pytest.approx([29.0]), "scale": 2.0}


def test_schema_default_parameter_is_used(schema: Pair) -> None:
    reference, _ = same(schema, "POST", "/score", json={"data": [[1, 2, 3], [1, 1, 1]]})
    assert reference.status == 200
    assert reference.body == {"predictions": pytest.approx([14.5, 6.5]), "scale": 1.0}


def test_schema_get_score_with_query_parameters(schema: Pair) -> None:
    params = {"data": "[[1, 2, 3]]", "scale": "3"}
    reference, _ = same(schema, "GET", "/score", params=params)
    assert reference.status == 200
    assert reference.body == {"predictions": pytest.approx([43.5]), "scale": 3}


def test_schema_missing_parameter_is_400(schema: Pair) -> None:
    reference, _ = same(schema, "POST", "/score", json={"scale": 2.0})
    assert (reference.status, reference.body) == (
        400,
        {"message": "A value is not provided for the 'data' parameter."},
    )


def test_schema_body_must_be_an_object(schema: Pair) -> None:
    reference, _ = same(schema, "POST", "/score", json=[[1, 2, 3]])
    assert (reference.status, reference.body) == (
        400,
        {"message": "POST body should be a JSON dictionary."},
    )


def test_schema_empty_body_is_400(schema: Pair) -> None:
    reference, _ = same(schema, "POST", "/score", content=b"", headers=JSON)
    assert (reference.status, reference.body) == (
        400,
        {"message": "POST body is empty. Expecting a JSON dictionary."},
    )


def test_schema_malformed_json_is_400(schema: Pair) -> None:
    reference, _ = same(schema, "POST", "/score", content=b"{not json", headers=JSON)
    assert reference.status == 400
    assert reference.body["message"].startswith("POST body could not be decoded as JSON: ")


def test_schema_wrong_content_type_is_415(schema: Pair) -> None:
    body = json.dumps({"data": [[1, 2, 3]]}).encode()
    reference, _ = same(
        schema, "POST", "/score", content=body, headers={"Content-Type": "text/plain"}
    )
    assert (reference.status, reference.body) == (
        415,
        {"message": "Expects Content-Type to be application/json"},
    )


def test_schema_input_that_does_not_fit_the_schema_fails_in_run(schema: Pair) -> None:
    reference, _ = same(schema, "POST", "/score", json={"data": "not an array"})
    assert (reference.status, reference.body) == (500, {"message": RUN_FAILED})


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
def test_schema_swagger_documents_are_identical(schema: Pair, version: str) -> None:
    reference, ours = same_swagger(schema, {"version": version})
    assert reference.status == 200

    def schemas(doc: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = (
            doc["definitions"] if version == "2" else doc["components"]["schemas"]
        )
        return {k: found[k] for k in ("ServiceInput", "ServiceOutput")}

    reference_schemas = schemas(reference.body)
    assert reference_schemas["ServiceInput"]["properties"]["data"]["type"] == "array"
    assert reference_schemas["ServiceInput"]["properties"]["scale"]["type"] == "number"
    if ours is not None:
        assert schemas(ours.body) == reference_schemas


@pytest.fixture(scope="module")
def nested(compat_python: Path, model_root: Path, log_dir: Path) -> Iterator[Pair]:
    yield from start_pair(compat_python, "schema_nested.py", model_root / "single", log_dir)


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            {"Inputs": {"data": [[1, 2, 3]]}, "GlobalParameters": {"round": 1}},
            200,
            {"Results": [14.5], "dtype": "float64"},
        ),
        ({"Inputs": {"data": [[1, 1, 1]]}}, 200, {"Results": [6.5], "dtype": "float64"}),
        ({"GlobalParameters": {"round": 1}}, 400, None),
        ({"Inputs": {"rows": [[1, 2, 3]]}}, 500, {"message": RUN_FAILED}),
    ],
)
def test_nested_schema_inputs(
    nested: Pair, body: dict[str, Any], status: int, expected: Any
) -> None:
    reference, _ = same(nested, "POST", "/score", json=body)
    assert reference.status == status
    if expected is not None:
        assert reference.body == expected


@pytest.mark.parametrize("version", ["2", "3"])
def test_nested_schema_swagger_documents_are_identical(nested: Pair, version: str) -> None:
    reference, _ = same_swagger(nested, {"version": version})
    assert reference.status == 200
    text = json.dumps(reference.body)
    assert "GlobalParameters" in text
    assert "Inputs" in text


# --- a script returning a (JSON) string -----------------------------------------------------------


def test_string_result_is_sent_json_encoded(string: Pair) -> None:
    reference, ours = same(string, "POST", "/score", json={"data": [[1, 2, 3]]})
    assert reference.status == 200
    assert isinstance(reference.body, str)
    assert json.loads(reference.body) == {"result": pytest.approx([14.5])}
    if ours is not None:
        assert ours.headers["content-type"].startswith("application/json")


# --- a script raising in run() --------------------------------------------------------------------


def test_raising_run_is_500_without_internals(raising: Pair) -> None:
    reference, ours = same(raising, "POST", "/score", json={"data": 1})
    assert (reference.status, reference.body) == (500, {"message": RUN_FAILED})
    assert "secret internals" not in reference.text
    assert "Traceback" not in reference.text
    if ours is not None:
        assert "secret internals" not in ours.text
        assert "Traceback" not in ours.text


def test_run_function_failed_header(raising: Pair, plain: Pair) -> None:
    """azmlinfsrv tells callers whether run() failed: x-ms-run-function-failed True/False."""
    failed = call(raising.reference, "POST", "/score", json={"data": 1})
    succeeded = call(plain.reference, "POST", "/score", json={"data": [[0, 0, 0]]})
    assert failed.headers["x-ms-run-function-failed"] == "True"
    assert succeeded.headers["x-ms-run-function-failed"] == "False"
    ours_failed = mlws_side(raising, "POST", "/score", json={"data": 1})
    ours_succeeded = mlws_side(plain, "POST", "/score", json={"data": [[0, 0, 0]]})
    assert ours_failed.headers.get("x-ms-run-function-failed") == "True"
    assert ours_succeeded.headers.get("x-ms-run-function-failed") == "False"


# --- several models: $AZUREML_MODEL_DIR/$MODEL_NAME/$VERSION --------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [("doubler:1", [2.0, 4.0]), ("doubler:2", [4.0, 8.0]), ("negator:1", [-1.0, -2.0])],
)
def test_multi_model_layout(multi: Pair, model: str, expected: list[float]) -> None:
    reference, _ = same(multi, "POST", "/score", json={"model": model, "data": [[1], [2]]})
    assert reference.status == 200
    assert reference.body == {"model": model, "predictions": pytest.approx(expected)}


def test_multi_model_unknown_model_is_a_run_failure(multi: Pair) -> None:
    reference, _ = same(multi, "POST", "/score", json={"model": "tripler:1", "data": [[1]]})
    assert (reference.status, reference.body) == (500, {"message": RUN_FAILED})


def test_multi_model_named_models_flag_matches_the_layout(
    multi: Pair, model_root: Path, log_dir: Path
) -> None:
    """`mlws serve --model NAME:VERSION=PATH` gives the layout azmlinfsrv reads from a folder."""
    reference = call(multi.reference, "POST", "/score", json={"model": "negator:1", "data": [[3]]})
    assert reference.body == {"model": "negator:1", "predictions": pytest.approx([-3.0])}
    multi.require_mlws()
    flags: list[str] = []
    for name, version in (("doubler", "1"), ("doubler", "2"), ("negator", "1")):
        flags += ["--model", f"{name}:{version}={model_root / 'multi' / name / version}"]
    server = mlws_server(SCRIPTS / "multi_model.py", None, log_dir, extra=flags)
    server.start()
    try:
        server.wait_ready()
        ours = call(server, "POST", "/score", json={"model": "negator:1", "data": [[3]]})
    finally:
        server.stop()
    assert (ours.status, ours.body) == (reference.status, reference.body)


# --- a script returning a numpy array -------------------------------------------------------------


def test_deliberate_difference_numpy_result_is_serialised(numpy_result: Pair) -> None:
    """azmlinfsrv's json.dumps cannot serialise an ndarray (500, outside the script's error path);
    mlws serialises numpy arrays and scalars as JSON."""
    reference = call(numpy_result.reference, "POST", "/score", json={"data": [[1, 2, 3]]})
    assert (reference.status, reference.body) == (500, {"message": INTERNAL_ERROR})
    ours = mlws_side(numpy_result, "POST", "/score", json={"data": [[1, 2, 3]]})
    assert ours.status == 200
    assert ours.body == pytest.approx([14.5])


# --- several worker processes ---------------------------------------------------------------------


def test_two_workers_answer_once_ready(compat_python: Path, tmp_path: Path, log_dir: Path) -> None:
    """Once the readiness probe passes, no request may meet a worker still in init().

    azmlinfsrv's gunicorn workers accept connections only after init(); the second worker of
    staggered_init.py takes 4 s longer than the first.
    """
    script = SCRIPTS / "staggered_init.py"
    reference = azmlinfsrv_server(compat_python, script, tmp_path / "ref", log_dir)
    reference.command += ["--worker_count", "2"]
    servers = [reference]
    if mlws_runtime_missing() is None:
        servers.append(mlws_server(script, tmp_path / "mlws", log_dir, extra=["--workers", "2"]))
    statuses: dict[str, list[int]] = {}
    for server in servers:
        (tmp_path / ("ref" if server is reference else "mlws")).mkdir()
        server.start()
    try:
        for server in servers:
            server.wait_ready()
            statuses[server.name] = [
                call(server, "POST", "/score", json={}).status for _ in range(20)
            ]
    finally:
        stop_all(servers)
    assert statuses[reference.name] == [200] * 20
    if len(servers) == 1:
        pytest.skip(mlws_runtime_missing() or "")
    assert statuses[servers[1].name] == [200] * 20


# --- init() failing -------------------------------------------------------------------------------


def test_failing_init_stops_both_servers_with_the_error_in_the_log(
    compat_python: Path, model_root: Path, log_dir: Path
) -> None:
    script = SCRIPTS / "init_failing.py"
    servers = [azmlinfsrv_server(compat_python, script, model_root / "single", log_dir)]
    if mlws_runtime_missing() is None:
        servers.append(mlws_server(script, model_root / "single", log_dir))
    for server in servers:
        server.start()
    try:
        for server in servers:
            assert server.wait_exit(60) != 0, server.log()
            assert "model file is corrupt" in server.log(), server.log()
    finally:
        stop_all(servers)
    if len(servers) == 1:
        pytest.skip(mlws_runtime_missing() or "")
