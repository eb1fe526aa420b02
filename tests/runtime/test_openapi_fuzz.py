"""schemathesis against every OpenAPI document the server serves, over real HTTP.

A real ``mlws serve``, in each auth mode (none, key, token), serves a decorated script that checks
its own input and answers 400 through ``AMLResponse`` for what it cannot score, so ``run()``'s own
errors stay out of the count. For each document (``?version=2``, ``3``, ``3.1``) schemathesis
generates requests for every operation it lists and checks each answer: no 5xx, the status,
content type, headers and body as the document says, and the documented security really
enforced (a request without the key or token is refused, ``ignored_auth``). The figures are
printed (``pytest -s``).
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response

from tests.runtime.live_server import Server, start_serve

pytestmark = pytest.mark.slow

KEY = "fuzz-key-0123456789"
RUN_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."
TOKEN_SECRET = "fuzz-token-secret-0123456789abcdef"
AUDIENCE = "fuzz"
#: Settings per auth mode, and the Authorization header each request carries.
AUTH_ENV = {
    "none": {"MLWS_AUTH_MODE": "none"},
    "key": {"MLWS_AUTH_MODE": "key", "MLWS_PRIMARY_KEY": KEY},
    "token": {
        "MLWS_AUTH_MODE": "token",
        "MLWS_TOKEN_SECRET": TOKEN_SECRET,
        "MLWS_TOKEN_AUDIENCE": AUDIENCE,
    },
}
#: Generated requests per operation and document: 5 operations x 3 documents x this, a few
#: seconds in all.
MAX_EXAMPLES = 40
SCRIPT = """
    import math
    from azureml.contrib.services.aml_response import AMLResponse
    from inference_schema.schema_decorators import input_schema, output_schema
    from inference_schema.parameter_types.standard_py_parameter_type import (
        StandardPythonParameterType,
    )

    def init():
        pass

    @input_schema("data", StandardPythonParameterType([[1.0, 2.0, 3.0]]))
    @input_schema("scale", StandardPythonParameterType(1.0), optional=True)
    @output_schema(StandardPythonParameterType({"rows": 1, "total": 6.0}))
    def run(data, scale=1.0):
        # Checks its own input: what it cannot score is the caller's error, not a crash.
        def refuse(why):
            return AMLResponse({"message": why}, 400, json_str=True)

        if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
            return refuse("data must be a list of rows")
        numbers = [x for row in data for x in row]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers):
            return refuse("data must hold numbers")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            return refuse("scale must be a number")
        try:
            total = float(sum(numbers)) * float(scale)
        except OverflowError:
            total = math.inf
        if not math.isfinite(total):
            return refuse("the total is not a finite number")
        return {"rows": len(data), "total": total}
"""


@dataclass
class Tally:
    """What one run did: requests per operation, the failures schemathesis reported, and the
    500s that were the script's own (``x-ms-run-function-failed: True``, not the server's)."""

    requests: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    run_failures: int = 0

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def script_failed(response: Response) -> bool:
    """A 500 that ``run()`` raised, e.g. inference_schema's decorator refusing a value that does
    not fit the schema (``ValueError: Invalid input data type to parse``): azmlinfsrv answers it
    the same way (tests/compat ``test_schema_input_that_does_not_fit_the_schema_fails_in_run``).
    """
    return (
        response.status_code == 500
        and response.headers.get("x-ms-run-function-failed") == ["True"]
        and response.json().get("message") == RUN_FAILED
    )


def credentials(mode: str) -> dict[str, str]:
    """The Authorization header a caller of a ``mode`` server sends (none without auth)."""
    if mode == "key":
        return {"Authorization": f"Bearer {KEY}"}
    if mode == "token":
        now = int(time.time())
        token = jwt.encode(
            {"aud": AUDIENCE, "nbf": now - 5, "exp": now + 3600}, TOKEN_SECRET, algorithm="HS256"
        )
        return {"Authorization": f"Bearer {token}"}
    return {}


@dataclass(frozen=True)
class Served:
    """A running server, its auth mode and the header its callers send."""

    server: Server
    mode: str
    auth: dict[str, str]


@pytest.fixture(scope="module", params=sorted(AUTH_ENV))
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    mode: str = request.param
    source = tmp_path_factory.mktemp(f"fuzz-{mode}")
    (source / "score.py").write_text(textwrap.dedent(SCRIPT).lstrip())
    servers: list[Server] = []
    env = {**AUTH_ENV[mode], "MLWS_LOG_LEVEL": "warning"}
    started = start_serve(servers, source, "--entry-script", "score.py", env=env)
    try:
        started.wait_ready(timeout=180)
        yield Served(started, mode, credentials(mode))
    finally:
        for each in servers:
            each.kill()


def fuzz(served: Served, version: str, mode: GenerationMode) -> Tally:
    """Run schemathesis over every operation of the ``version`` document ``served`` serves, with
    requests the document allows (``positive``) or ones it does not (``negative``)."""
    server = served.server
    # The served document, loaded as a dict: from_url would leave out the /swagger.json operation.
    document = httpx.get(
        f"{server.url}/swagger.json", params={"version": version}, headers=served.auth, timeout=30
    )
    assert document.status_code == 200, document.text
    schema = schemathesis.openapi.from_dict(document.json())
    checks = [
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.response_headers_conformance,
        schemathesis.checks.response_schema_conformance,
        schemathesis.checks.ignored_auth,
    ]
    tally = Tally()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        exercise(served, result.ok(), mode, checks, tally)
    return tally


def exercise(
    served: Served,
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    checks: list[schemathesis.CheckFunction],
    tally: Tally,
) -> None:
    """Up to MAX_EXAMPLES generated requests to one operation, each answer checked."""
    server, auth = served.server, served.auth
    name = f"{operation.method.upper()} {operation.path}"
    tally.requests[name] = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=server.url, headers=auth, timeout=30)
        tally.requests[name] += 1
        try:
            case.validate_response(response, checks=checks, headers=auth)
        except FailureGroup as failure:  # record each, keep going (the test asserts none)
            sent = f"query {case.query!r}, body {case.body!r}"[:300]
            for e in failure.exceptions:
                if isinstance(e, ServerError) and script_failed(response):
                    tally.run_failures += 1
                    continue
                tally.failures.append(
                    f"{name} {response.status_code}: {e} ({sent}; answer {response.text[:300]!r})"
                )

    try:
        one()
    except Unsatisfiable:  # negative mode: an operation without parameters has nothing to break
        if mode is not GenerationMode.NEGATIVE:
            raise
        del tally.requests[name]


@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
@pytest.mark.parametrize("version", ["2", "3", "3.1"])
def test_every_served_document_holds_under_generated_requests(
    served: Served, version: str, mode: GenerationMode
) -> None:
    log_before = len(served.server.log)
    tally = fuzz(served, version, mode)
    print(
        f"\nschemathesis, auth {served.mode}, OpenAPI {version}, {mode.value}: {tally.total} "
        f"requests {tally.requests}, {tally.run_failures} refused by the schema decorator in run()"
    )
    with_inputs = {"POST /score", "GET /swagger.json"}
    expected = with_inputs | {"GET /", "GET /live", "GET /ready"}
    assert set(tally.requests) == (with_inputs if mode is GenerationMode.NEGATIVE else expected)
    assert all(count > 0 for count in tally.requests.values()), tally.requests
    assert tally.failures == [], "\n".join(tally.failures[:10])
    log = served.server.log[log_before:]
    assert "internal error" not in log, log[-3000:]  # the server's own failures
    if mode is GenerationMode.POSITIVE:  # what the document allows never fails, even in run()
        assert tally.run_failures == 0
        assert "Traceback" not in log, log[-3000:]
