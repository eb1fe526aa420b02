"""What mlws's language hosts share: how they serve the engine, report their version, and answer
the calls they answer alike (:class:`LanguageHostBase`).

``scripts/pulumi-engine`` installs this module beside the hosts (``pulumi-language-python``,
``pulumi-language-nodejs``), which import it from there.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

_VERSION_FILE = Path(__file__).with_name("mlws-language-host.version")
VERSION = _VERSION_FILE.read_text().strip() if _VERSION_FILE.exists() else "0.0.0"
"""The engine's version, reported as the hosts' own (scripts/pulumi-engine writes the file)."""

BAIL_EXIT_CODE = 32
"""A program's exit code for "the error was already shown to the user" (both SDKs use it)."""


def options_of(info: Any) -> dict[str, Any]:
    """The runtime options of Pulumi.yaml (``runtime.options``) as plain values."""
    return json_format.MessageToDict(info.options) if info.HasField("options") else {}


def run_response(code: int, error: str) -> Any:
    """The ``RunResponse`` for a program's exit code: success, bail, or ``error`` (with the code
    appended)."""
    if code == 0:
        return language_pb2.RunResponse()
    if code == BAIL_EXIT_CODE:
        return language_pb2.RunResponse(bail=True)
    return language_pb2.RunResponse(error=f"{error}: {code}")


class Children:
    """The processes a host runs for the engine, so that ``Cancel`` can end them."""

    def __init__(self) -> None:
        self._running: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    def wait(self, child: subprocess.Popen[bytes]) -> int:
        """Wait for ``child`` to end; its exit code."""
        with self._lock:
            self._running.add(child)
        try:
            return child.wait()
        finally:
            with self._lock:
                self._running.discard(child)

    def terminate_all(self) -> None:
        """Ask every running child to stop."""
        with self._lock:
            for child in self._running:
                child.terminate()

    def stream(self, child: subprocess.Popen[bytes], context: Any) -> Iterator[Any]:
        """Relay a plugin's stdout and stderr as ``RunPluginResponse`` chunks as they come, then
        its exit code; the plugin ends when the engine ends the call."""

        def end() -> None:
            if child.poll() is None:
                child.terminate()

        context.add_callback(end)
        chunks: list[Any] = []
        ready = threading.Condition()

        def pump(stream: Any, field: str) -> None:
            for chunk in iter(lambda: stream.read1(65536), b""):
                with ready:
                    chunks.append(language_pb2.RunPluginResponse(**{field: chunk}))
                    ready.notify()
            with ready:
                chunks.append(None)
                ready.notify()

        threads = [
            threading.Thread(target=pump, args=(child.stdout, "stdout"), daemon=True),
            threading.Thread(target=pump, args=(child.stderr, "stderr"), daemon=True),
        ]
        for thread in threads:
            thread.start()
        finished = 0
        with self._lock:
            self._running.add(child)
        try:
            while finished < len(threads):
                with ready:
                    while not chunks:
                        ready.wait()
                    pending, chunks[:] = list(chunks), []
                for item in pending:
                    if item is None:
                        finished += 1
                    else:
                        yield item
            yield language_pb2.RunPluginResponse(exitcode=child.wait())
        finally:
            with self._lock:
                self._running.discard(child)


class LanguageHostBase(language_pb2_grpc.LanguageRuntimeServicer):
    """The ``LanguageRuntime`` calls both hosts answer the same way: the handshake, the version,
    no dependency discovery (the engine loads each provider when a resource first asks for it),
    and ``Cancel`` ending the processes they run (:attr:`children`)."""

    def __init__(self, engine_address: str) -> None:
        self.engine_address = engine_address
        self.children = Children()

    def Handshake(self, request: Any, context: Any) -> Any:
        self.engine_address = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetRequiredPlugins(self, request: Any, context: Any) -> Any:
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request: Any, context: Any) -> Any:
        return language_pb2.GetRequiredPackagesResponse()

    def GetProgramDependencies(self, request: Any, context: Any) -> Any:
        return language_pb2.GetProgramDependenciesResponse()

    def Cancel(self, request: Any, context: Any) -> Any:
        self.children.terminate_all()
        return empty_pb2.Empty()


def watch_engine(address: str) -> None:
    """End this host when the engine that started it is gone (as upstream's health check does)."""
    host, _, port = address.rpartition(":")
    failures = 0
    while failures < 3:
        time.sleep(5)
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
                failures = 0
        except OSError:
            failures += 1
    os._exit(1)


def serve(
    prog: str,
    make_host: Callable[[str], language_pb2_grpc.LanguageRuntimeServicer],
    argv: list[str] | None = None,
) -> int:
    """A host's ``main``: serve ``make_host(engine address)`` on a free port, print the port (the
    engine reads it), and serve until the engine stops it."""
    parser = argparse.ArgumentParser(prog=prog, prefix_chars="-")
    parser.add_argument("-tracing", "--tracing", default="")
    parser.add_argument("-version", "--version", action="store_true")
    parser.add_argument("engine_address", nargs="?", default="")
    args, _unknown = parser.parse_known_args(argv)
    if args.version:
        print(VERSION)
        return 0
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)],
    )
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(make_host(args.engine_address), server)
    port = server.add_insecure_port("127.0.0.1:0")
    # The engine interrupts its plugins when it is done with them: that is a normal end.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.stop(grace=1))
    server.start()
    print(port, flush=True)
    if args.engine_address:
        threading.Thread(target=watch_engine, args=(args.engine_address,), daemon=True).start()
    server.wait_for_termination()
    return 0
