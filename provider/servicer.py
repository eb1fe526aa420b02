"""The gRPC servicer: the SDK's component servicer plus its typed servicer for custom resources.

The SDK has two servicers and the plugin needs both: ``pulumi.provider.server.ProviderServicer``
answers ``Construct``/``Call``/``GetSchema`` for the components (the ``ComponentProvider`` is a
provider of that interface), and ``pulumi.provider.experimental.server.ProviderServicer`` turns
``Check``/``Diff``/``Create``/``Read``/``Update``/``Delete`` into typed requests for a
``pulumi.provider.experimental.provider.Provider``. :class:`MlwsServicer` is the first, and hands
the resource calls to the second (whose methods the SDK leaves unannotated), hosting
:class:`~mlws.provider.resource_provider.CustomResourceProvider`; a
:class:`~mlws.provider.custom_resource.ResourceError` becomes the call's error message (the SDK
would report it as an unexpected exception).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf import empty_pb2
from pulumi.provider.experimental import server as typed_server
from pulumi.provider.server import ProviderServicer
from pulumi.runtime import proto

from mlws.provider.custom_resource import ResourceError
from mlws.provider.package import MlwsProvider
from mlws.provider.resource_provider import CustomResourceProvider

T = TypeVar("T")


class MlwsServicer(ProviderServicer):
    """The SDK's component servicer; custom-resource calls go to the SDK's typed servicer."""

    def __init__(self, provider: MlwsProvider, args: list[str], engine_address: str) -> None:
        super().__init__(provider, args, engine_address)
        self.resources = CustomResourceProvider(provider.resources)
        self.custom = typed_server.ProviderServicer(
            args, provider.version or "", self.resources, engine_address
        )

    async def _forward(self, call: Awaitable[T], context: grpc.aio.ServicerContext[Any, Any]) -> T:
        """Run a call of the SDK's typed servicer; a :class:`ResourceError` is the call's error."""
        try:
            return await call
        except ResourceError as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, str(exc))
            raise AssertionError("unreachable") from None  # abort raises

    async def CheckConfig(self, request: proto.CheckRequest, context: Any) -> proto.CheckResponse:
        """The provider takes no configuration: accept whatever is given."""
        return await self._forward(self.custom.CheckConfig(request, context), context)

    async def DiffConfig(self, request: proto.DiffRequest, context: Any) -> proto.DiffResponse:
        """No configuration, so never a change.

        Answered here: the SDK's typed ``DiffConfig`` (3.259) copies the response's ``changes``
        bool into the enum, so "no change" would arrive as DIFF_UNKNOWN.
        """
        return proto.DiffResponse(changes=proto.DiffResponse.DIFF_NONE)

    async def Configure(
        self, request: proto.ConfigureRequest, context: Any
    ) -> proto.ConfigureResponse:
        """Secrets, resource references and output values are handled; preview is supported."""
        return await self._forward(self.custom.Configure(request, context), context)

    async def Cancel(self, request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
        """Make running health waits give up."""
        call = self.custom.Cancel(request, context)  # type: ignore[no-untyped-call]
        return await self._forward(call, context)

    async def Check(self, request: proto.CheckRequest, context: Any) -> proto.CheckResponse:
        """Validate a custom resource's inputs."""
        return await self._forward(self.custom.Check(request, context), context)

    async def Diff(self, request: proto.DiffRequest, context: Any) -> proto.DiffResponse:
        """Which inputs changed, and whether that means an update or a replacement."""
        return await self._forward(self.custom.Diff(request, context), context)

    # Create, Read, Update and Delete are alike on purpose: gRPC dispatches each RPC by name to a
    # typed method of its own; what they share is _forward.
    async def Create(self, request: proto.CreateRequest, context: Any) -> proto.CreateResponse:
        """Create the resource (or, in preview, show what it would be)."""
        call = self.custom.Create(request, context)  # type: ignore[no-untyped-call]
        return await self._forward(call, context)

    async def Read(self, request: proto.ReadRequest, context: Any) -> proto.ReadResponse:
        """Refresh: the current state, or an empty id when the resource no longer exists."""
        call = self.custom.Read(request, context)  # type: ignore[no-untyped-call]
        return await self._forward(call, context)

    async def Update(self, request: proto.UpdateRequest, context: Any) -> proto.UpdateResponse:
        """Apply changed inputs in place."""
        call = self.custom.Update(request, context)  # type: ignore[no-untyped-call]
        return await self._forward(call, context)

    async def Delete(self, request: proto.DeleteRequest, context: Any) -> empty_pb2.Empty:
        """Remove what the resource owns."""
        call = self.custom.Delete(request, context)  # type: ignore[no-untyped-call]
        return await self._forward(call, context)
