"""``mlws invoke --deployment``: a request pinned to one deployment of an endpoint.

The endpoint's Gateway is stood in for by a small router on 127.0.0.1 that routes each request by
the HTTPRoute ``AksEndpoint`` renders, with Gateway API's rule: of the rules whose matches all
hold, the one with the most header matches wins; the weighted rule picks a backend by weight.
Each backend answers with its own name, so the output says where the request went.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlws.components.aks_endpoint_config import DEPLOYMENT_HEADER, parse_endpoint_config
from mlws.components.aks_endpoint_manifests import http_route
from tests.cli.cli_helpers import assert_one_line_error, run_cli

IMAGE = "myacr.azurecr.io/diabetes@sha256:" + "b" * 64


def rendered_route(traffic: dict[str, int]) -> dict[str, Any]:
    config, _ = parse_endpoint_config(
        {
            "hostname": "diabetes.ml.example.com",
            "gateway_class_name": "istio",
            "auth_enabled": False,
            "deployments": {"blue": {"image": IMAGE}, "green": {"image": IMAGE}},
            "traffic": traffic,
        },
        subject="AksEndpoint 'diabetes'",
        name="diabetes",
        references=(),
    )
    return http_route(config)


def backend_for(route: Mapping[str, Any], headers: Mapping[str, str], roll: float) -> str:
    """The Service a request with ``headers`` reaches (``roll`` in [0, 1) draws the weight)."""

    def holds(match: Mapping[str, Any]) -> bool:
        return all(headers.get(h["name"].lower()) == h["value"] for h in match.get("headers", []))

    candidates = [
        (len(match.get("headers", [])), rule)
        for rule in route["spec"]["rules"]
        for match in rule["matches"]
        if holds(match)
    ]
    _, rule = max(candidates, key=lambda found: found[0])
    refs = rule["backendRefs"]
    total = sum(ref.get("weight", 1) for ref in refs)
    point = roll * total
    for ref in refs:
        point -= ref.get("weight", 1)
        if point < 0:
            return str(ref["name"])
    raise AssertionError("no backend with weight")


@pytest.fixture
def router() -> Iterator[tuple[str, dict[str, Any]]]:
    """A router on a free port serving ``state["route"]``; yields its URL and the state."""
    state: dict[str, Any] = {"route": rendered_route({"blue": 100}), "seen": []}
    draw = random.Random(7)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            state["seen"].append(headers.get(DEPLOYMENT_HEADER))
            body = json.dumps({"backend": backend_for(state["route"], headers, draw.random())})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def outputs_file(folder: Path, url: str) -> Path:
    path = folder / "outputs.json"
    outputs = {"scoring_uri": f"{url}/score", "auth_mode": "none", "deployments": ["blue", "green"]}
    path.write_text(json.dumps(outputs))
    return path


def invoke(*args: str) -> str:
    result = run_cli("invoke", *args, "--data", '{"data": [[1, 2]]}')
    assert result.exit_code == 0, result.stderr
    return str(json.loads(result.stdout)["backend"])


def test_deployment_pins_the_request_whatever_the_split(
    router: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    url, state = router
    outputs = str(outputs_file(tmp_path, url))
    assert invoke("--outputs", outputs) == "diabetes-blue"  # blue takes all live traffic
    assert invoke("--outputs", outputs, "--deployment", "green") == "diabetes-green"
    assert invoke("--outputs", outputs, "--deployment", "blue") == "diabetes-blue"
    state["route"] = rendered_route({"blue": 0, "green": 100})
    assert invoke("--outputs", outputs) == "diabetes-green"
    assert invoke("--outputs", outputs, "--deployment", "blue") == "diabetes-blue"
    assert state["seen"] == [None, "green", "blue", None, "blue"]


def test_the_split_follows_the_weights(router: tuple[str, dict[str, Any]]) -> None:
    url, state = router
    state["route"] = rendered_route({"blue": 90, "green": 10})
    reached = [invoke(f"{url}/score") for _ in range(100)]
    assert 0.8 < reached.count("diabetes-blue") / len(reached) < 0.97


def test_an_unknown_deployment_is_one_line_naming_the_known_ones(
    router: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    url, state = router
    result = run_cli(
        "invoke",
        "--outputs",
        str(outputs_file(tmp_path, url)),
        "--deployment",
        "purple",
        "-d",
        "{}",
    )
    assert_one_line_error(
        result, "no deployment 'purple' on this endpoint (deployments: blue, green)"
    )
    assert state["seen"] == []  # refused before sending
