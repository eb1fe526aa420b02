"""Test helpers for the provider plugin: the plugin as a real process, a fake engine, a toy server.

The plugin is started the way the Pulumi engine starts it (``python provider/ <engine address>``,
reading the port it prints on stdout) and driven over gRPC with Pulumi's generated stubs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.runtime import proto
from pulumi.runtime.proto import (
    engine_pb2,
    engine_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
)

from mlws.provider import wire

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "provider"


def encode(values: Mapping[str, Any], secret: Iterable[str] = ()) -> struct_pb2.Struct:
    """A property map on the wire, as the engine sends it (camelCase, secrets tagged)."""
    return PropertyValue.marshal_map(wire.encode(values, secret))


def decode(struct: struct_pb2.Struct, *, snake: bool = True) -> wire.Props:
    """A property map from the wire, as the plugin reads it."""
    return wire.decode(PropertyValue.unmarshal_map(struct), snake=snake)


class FakeEngine(engine_pb2_grpc.EngineServicer):
    """The engine's ``Engine`` service, enough for a plugin to log to."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    def Log(self, request: engine_pb2.LogRequest, context: Any) -> empty_pb2.Empty:
        self.logs.append(request.message)
        return empty_pb2.Empty()


@dataclass
class Plugin:
    """A running plugin process and a stub talking to it."""

    process: subprocess.Popen[str]
    stub: provider_pb2_grpc.ResourceProviderStub
    channel: grpc.Channel

    def check(
        self, token: str, news: dict[str, Any], olds: dict[str, Any] | None = None, **kw: Any
    ) -> proto.CheckResponse:
        response: proto.CheckResponse = self.stub.Check(
            proto.CheckRequest(
                urn=urn(token), olds=encode(olds or {}), news=encode(news, **kw), randomSeed=b"x"
            )
        )
        return response

    def checked(self, token: str, news: dict[str, Any], **kw: Any) -> struct_pb2.Struct:
        """Check inputs that must pass, returning the checked inputs."""
        response = self.check(token, news, **kw)
        assert list(response.failures) == [], response.failures
        return response.inputs


def urn(token: str, name: str = "test") -> str:
    return f"urn:pulumi:dev::proj::{token}::{name}"


def start_plugin(engine_address: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PLUGIN_DIR), engine_address, "--logtostderr"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def details(error: BaseException) -> str:
    """The message of a failed gRPC call."""
    assert isinstance(error, grpc.RpcError)
    return str(error.details())


def state(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Decoded snake_case values of a property map."""
    return decode(struct).values


# --- a toy scoring server (stdlib), for health checks before/without the real runtime ----------


@dataclass
class ToyBehaviour:
    """How the toy server answers; tests change it while it runs."""

    ready_status: int = 200
    score_status: int = 200
    score_body: Callable[[bytes], bytes] = field(
        default=lambda body: json.dumps({"echo": json.loads(body or b"null")}).encode()
    )
    key: str | None = None
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)


@dataclass
class ToyServer:
    url: str
    behaviour: ToyBehaviour

    @property
    def scoring_uri(self) -> str:
        return f"{self.url}/score"


def toy_handler(behaviour: ToyBehaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            behaviour.requests.append(("GET", self.path, self.headers.get("Authorization")))
            if self.path == "/ready":
                self._send(
                    behaviour.ready_status, b"ready" if behaviour.ready_status == 200 else b"init"
                )
            else:
                self._send(200 if self.path == "/" else 404, b"Healthy")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            auth = self.headers.get("Authorization")
            behaviour.requests.append(("POST", self.path, auth))
            if behaviour.key is not None and auth != f"Bearer {behaviour.key}":
                self._send(401, b'{"error": "missing or wrong key"}')
                return
            self._send(behaviour.score_status, behaviour.score_body(body))

    return Handler


# --- a fake resource monitor, so Construct can run components inside the plugin ------------------


@dataclass
class Registration:
    """One RegisterResource call the plugin made."""

    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    secret: frozenset[str]
    additional_secret_outputs: list[str]


class FakeMonitor(resource_pb2_grpc.ResourceMonitorServicer):
    """The engine's ResourceMonitor, as far as a component's construction needs it (preview)."""

    def __init__(self) -> None:
        self.registrations: list[Registration] = []
        self.outputs: dict[str, dict[str, Any]] = {}

    def SupportsFeature(
        self, request: resource_pb2.SupportsFeatureRequest, context: Any
    ) -> resource_pb2.SupportsFeatureResponse:
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in {"secrets"})

    def RegisterResource(
        self, request: resource_pb2.RegisterResourceRequest, context: Any
    ) -> resource_pb2.RegisterResourceResponse:
        props = decode(request.object, snake=False)
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                custom=request.custom,
                parent=request.parent,
                inputs=props.values,
                secret=props.secret,
                additional_secret_outputs=list(request.additionalSecretOutputs),
            )
        )
        urn = f"urn:pulumi:dev::proj::{request.type}::{request.name}"
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=f"id-{request.name}" if request.custom else "", object=request.object
        )

    def RegisterResourceOutputs(
        self, request: resource_pb2.RegisterResourceOutputsRequest, context: Any
    ) -> empty_pb2.Empty:
        self.outputs[request.urn] = decode(request.outputs, snake=False).values
        return empty_pb2.Empty()

    def Invoke(
        self, request: resource_pb2.ResourceInvokeRequest, context: Any
    ) -> provider_pb2.InvokeResponse:
        return provider_pb2.InvokeResponse()

    def of_type(self, token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == token]
