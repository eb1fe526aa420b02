"""Fixtures for the provider plugin tests (helpers in ``plugin_harness``)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import ThreadingHTTPServer

import grpc
import pytest
from pulumi.runtime.proto import engine_pb2_grpc, provider_pb2_grpc, resource_pb2_grpc

from tests.ports import free_port
from tests.provider.plugin_harness import (
    FakeEngine,
    FakeMonitor,
    Plugin,
    ToyBehaviour,
    ToyServer,
    start_plugin,
    toy_handler,
)


@pytest.fixture(scope="session")
def fake_engine() -> Iterator[tuple[str, FakeEngine]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine = FakeEngine()
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", engine
    server.stop(grace=None)


@pytest.fixture(scope="session")
def plugin(
    fake_engine: tuple[str, FakeEngine], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Plugin]:
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path_factory.mktemp("state")))
    process = start_plugin(fake_engine[0], env)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.isdigit():
        process.kill()
        _, err = process.communicate(timeout=10)
        pytest.fail(f"plugin did not print its port (got {line!r}); stderr:\n{err}")
    channel = grpc.insecure_channel(f"127.0.0.1:{line}")
    grpc.channel_ready_future(channel).result(timeout=10)
    yield Plugin(process, provider_pb2_grpc.ResourceProviderStub(channel), channel)
    channel.close()
    process.terminate()
    try:
        process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


@pytest.fixture
def toy_server() -> Iterator[ToyServer]:
    behaviour = ToyBehaviour()
    server = ThreadingHTTPServer(("127.0.0.1", 0), toy_handler(behaviour))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ToyServer(f"http://127.0.0.1:{server.server_port}", behaviour)
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on."""
    return free_port()


@pytest.fixture
def fake_monitor() -> Iterator[tuple[str, FakeMonitor]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    monitor = FakeMonitor()
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", monitor
    server.stop(grace=None)
