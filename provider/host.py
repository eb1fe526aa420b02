"""The plugin process: hosts the mlws components and serves the custom resources over gRPC.

``pulumi.provider.experimental.component_provider_host`` serves components only: its
``ComponentProvider`` infers the schema and answers ``Construct``, and the SDK's gRPC servicer
leaves ``Check``/``Diff``/``Create``/``Read``/``Update``/``Delete`` unimplemented. This module
composes the two halves instead of copying either:

- :class:`~mlws.provider.package.MlwsProvider` *is* a ``ComponentProvider`` (schema inference
  and ``Construct`` for the components) whose schema also lists the custom resources;
- :class:`~mlws.provider.servicer.MlwsServicer` *is* the SDK's ``ProviderServicer``, handing the
  custom-resource calls to the SDK's typed servicer
  (:class:`~mlws.provider.resource_provider.CustomResourceProvider`).

:func:`main` is what ``provider/__main__.py`` runs; like the SDK's host it prints the port it
listens on and takes the engine address as its first argument.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import grpc
import grpc.aio
from pulumi.runtime.proto import provider_pb2_grpc

from mlws.provider.package import build_provider
from mlws.provider.servicer import MlwsServicer

GRPC_SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.server_max_unrequested_time_in_server", 30 * 60),
]
"""What the Pulumi SDK's own gRPC servers set: requests up to 400 MB (a large schema or state)
instead of 4 MB, and a long wait for a queued request while a slow Create runs."""


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the plugin: print the gRPC port on stdout, then serve until terminated."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="mlws-provider", description="mlws Pulumi plugin")
    parser.add_argument("engine", nargs="?", default="", help="Pulumi engine address")
    parser.add_argument("--logflow", action="store_true", help="ignored (engine flag)")
    parser.add_argument("--logtostderr", action="store_true", help="ignored (engine flag)")
    parser.add_argument("-v", dest="verbosity", default=None, help="ignored (engine flag)")
    parser.add_argument("--tracing", default=None, help="ignored (engine flag)")
    parser.add_argument(
        "--print-schema", action="store_true", help="print the package schema and exit"
    )
    known, _ = parser.parse_known_args(args)
    provider = build_provider()
    if known.print_schema:
        sys.stdout.write(f"{provider.schema}\n")
        return

    async def serve() -> None:
        server = grpc.aio.server(options=GRPC_SERVER_OPTIONS)
        servicer = MlwsServicer(provider, args, engine_address=known.engine)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await server.wait_for_termination()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
