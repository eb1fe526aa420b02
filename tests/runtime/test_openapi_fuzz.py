"""schemathesis against every OpenAPI document the server serves, over real HTTP.

A real ``mlws serve`` (key auth) serves a decorated script that checks its own input and answers
400 through ``AMLResponse`` for what it cannot score, so ``run()``'s own errors stay out of the
count. For each document (``?version=2``, ``3``, ``3.1``) schemathesis generates requests for every
operation it lists and checks each answer: no 5xx, the status, content type, headers and body as
the document says, and the documented security really enforced (a request without the key is
refused, ``ignored_auth``). The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from live_server import Server, start_serve
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

pytestmark = pytest.mark.slow

KEY = "fuzz-key-0123456789"
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
    """What one run did: requests per operation and the failures schemathesis reported."""

    requests: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.requests.values())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    source = tmp_path_factory.mktemp("fuzz")
    (source / "score.py").write_text(textwrap.dedent(SCRIPT).lstrip())
    servers: list[Server] = []
    env = {"MLWS_AUTH_MODE": "key", "MLWS_PRIMARY_KEY": KEY, "MLWS_LOG_LEVEL": "warning"}
    started = start_serve(servers, source, "--entry-script", "score.py", env=env)
    try:
        started.wait_ready(timeout=180)
        yield started
    finally:
        for each in servers:
            each.kill()


def fuzz(server: Server, version: str) -> Tally:
    """Run schemathesis over every operation of the ``version`` document ``server`` serves."""
    # The served document, loaded as a dict: from_url would leave out the /swagger.json operation.
    served = httpx.get(f"{server.url}/swagger.json", params={"version": version}, timeout=30)
    assert served.status_code == 200, served.text
    schema = schemathesis.openapi.from_dict(served.json())
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
        exercise(server, result.ok(), checks, tally)
    return tally


def exercise(
    server: Server,
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    checks: list[schemathesis.CheckFunction],
    tally: Tally,
) -> None:
    """Up to MAX_EXAMPLES generated requests to one operation, each answer checked."""
    auth = {"Authorization": f"Bearer {KEY}"}
    name = f"{operation.method.upper()} {operation.path}"
    tally.requests[name] = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def one(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=server.url, headers=auth, timeout=30)
        tally.requests[name] += 1
        try:
            case.validate_response(response, checks=checks, headers=auth)
        except FailureGroup as failure:  # record each, keep going (the test asserts none)
            tally.failures.extend(f"{name} {response.status_code}: {e}" for e in failure.exceptions)

    one()


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
def test_every_served_document_holds_under_generated_requests(server: Server, version: str) -> None:
    tally = fuzz(server, version)
    print(f"\nschemathesis, OpenAPI {version}: {tally.total} requests {tally.requests}")
    assert set(tally.requests) == {
        "GET /",
        "POST /score",
        "GET /swagger.json",
        "GET /live",
        "GET /ready",
    }
    assert all(count > 0 for count in tally.requests.values()), tally.requests
    assert tally.failures == [], "\n".join(tally.failures[:10])
    assert "Traceback" not in server.log, server.log[-3000:]
