"""The gRPC servicer: the SDK's component servicer plus the custom resources' CRUD.

The SDK's ``ProviderServicer`` answers ``Construct``/``Call``/``GetSchema`` for components and
leaves ``Check``/``Diff``/``Create``/``Read``/``Update``/``Delete`` unimplemented.
:class:`MlwsServicer` adds them: each decodes the request (:mod:`mlws.provider.wire`), runs the
resource's method (:class:`mlws.provider.custom_resource.CustomResource`) in a worker thread so the
server keeps answering, and encodes the answer. It also reports a component's invalid
configuration per property instead of as a traceback.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio
from google.protobuf import empty_pb2, struct_pb2
from mlws.components.errors import ConfigError
from mlws.provider.custom_resource import CustomResource, Diff, Operation, ResourceError
from mlws.provider.package import MlwsProvider
from mlws.provider.wire import Props, decode, encode, to_camel
from pulumi.errors import InputPropertiesError, InputPropertyErrorDetails
from pulumi.provider.server import ComponentInitError, ProviderServicer
from pulumi.runtime import proto
from pydantic import ValidationError

T = TypeVar("T")


class MlwsServicer(ProviderServicer):
    """The SDK's component servicer plus Check/Diff/Create/Read/Update/Delete for custom types."""

    def __init__(self, provider: MlwsProvider, args: list[str], engine_address: str) -> None:
        super().__init__(provider, args, engine_address)
        self.resources = provider.resources
        self.cancel_event = threading.Event()

    async def _construct(
        self, request: proto.ConstructRequest, context: Any
    ) -> proto.ConstructResponse:
        """The SDK's Construct, with a component's invalid configuration reported per property.

        A component rejects bad input with a ``ConfigError`` listing each problem; the SDK would
        report it as an unexpected exception with a traceback. Raised as ``InputPropertiesError``,
        the SDK's Construct answers INVALID_ARGUMENT with one entry per property, which the CLI
        prints as ``property X: reason``.
        """
        try:
            response: proto.ConstructResponse = await super()._construct(request, context)
        except ComponentInitError as exc:
            if not isinstance(exc.inner, ConfigError):
                raise
            errors: list[InputPropertyErrorDetails] = [
                {"property_path": property_path(p.field), "reason": p.message}
                for p in exc.inner.problems
            ]
            raise InputPropertiesError(str(exc.inner), errors) from None
        return response

    def _resource(self, urn: str) -> CustomResource | None:
        return self.resources.get(_urn_type(urn))

    async def _fail(self, context: grpc.aio.ServicerContext[Any, Any], message: str) -> NoReturn:
        await context.abort(grpc.StatusCode.UNKNOWN, message)
        raise AssertionError("unreachable")  # abort raises

    async def _run(self, context: grpc.aio.ServicerContext[Any, Any], fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except ResourceError as exc:
            await self._fail(context, str(exc))
        except ValidationError as exc:  # e.g. an import (Read) without the required inputs
            problems = "; ".join(
                f"{'.'.join(to_camel(str(p)) for p in e['loc']) or 'inputs'}: {e['msg']}"
                for e in exc.errors()
            )
            await self._fail(context, f"invalid inputs: {problems}")

    async def _unknown_type(
        self, context: grpc.aio.ServicerContext[Any, Any], urn: str
    ) -> NoReturn:
        known = ", ".join(sorted(self.resources))
        await self._fail(
            context, f"mlws provider has no custom resource {_urn_type(urn)!r} (it has: {known})"
        )

    async def CheckConfig(self, request: proto.CheckRequest, context: Any) -> proto.CheckResponse:
        """The provider takes no configuration: accept whatever is given."""
        return proto.CheckResponse(inputs=request.news)

    async def DiffConfig(self, request: proto.DiffRequest, context: Any) -> proto.DiffResponse:
        """No configuration, so never a change."""
        return proto.DiffResponse(changes=proto.DiffResponse.DIFF_NONE)

    async def Configure(
        self, request: proto.ConfigureRequest, context: Any
    ) -> proto.ConfigureResponse:
        """Secrets, resource references and output values are handled; preview is supported."""
        return proto.ConfigureResponse(
            acceptSecrets=True, acceptResources=True, acceptOutputs=True, supportsPreview=True
        )

    async def Cancel(self, request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
        """Make running health waits give up."""
        self.cancel_event.set()
        return empty_pb2.Empty()

    async def Check(self, request: proto.CheckRequest, context: Any) -> proto.CheckResponse:
        """Validate a custom resource's inputs; failures name the (camelCase) property."""
        resource = self._resource(request.urn)
        if resource is None:
            await self._unknown_type(context, request.urn)
        olds, news = decode(request.olds), decode(request.news)
        checked, failures = await self._run(context, lambda: resource.check(olds, news))
        secret = news.secret | (resource.secret_fields & set(checked))
        return proto.CheckResponse(
            inputs=encode(checked, secret),
            failures=[proto.CheckFailure(property=to_camel(f), reason=r) for f, r in failures],
        )

    async def Diff(self, request: proto.DiffRequest, context: Any) -> proto.DiffResponse:
        """Which inputs changed, and whether that means an update or a replacement."""
        resource = self._resource(request.urn)
        if resource is None:
            await self._unknown_type(context, request.urn)
        olds, news = decode(request.olds), decode(request.news)
        ignored = {name.split(".")[0] for name in request.ignoreChanges}
        news_values = {
            k: (olds.values.get(k) if to_camel(k) in ignored else v) for k, v in news.values.items()
        }
        diff = await self._run(context, lambda: resource.diff(request.id, olds.values, news_values))
        return _diff_response(diff)

    async def Create(self, request: proto.CreateRequest, context: Any) -> proto.CreateResponse:
        """Create the resource (or, in preview, show what it would be)."""
        resource = self._resource(request.urn)
        if resource is None:
            await self._unknown_type(context, request.urn)
        props = decode(request.properties)
        op = self._operation(request.urn, request.preview, request.timeout)
        resource_id, state = await self._run(context, lambda: resource.create(props.values, op))
        return proto.CreateResponse(id=resource_id, properties=self._state(resource, state, props))

    async def Read(self, request: proto.ReadRequest, context: Any) -> proto.ReadResponse:
        """Refresh: the current state, or an empty id when the resource no longer exists."""
        resource = self._resource(request.urn)
        if resource is None:
            await self._unknown_type(context, request.urn)
        props = decode(request.properties)
        resource_id, state = await self._run(
            context, lambda: resource.read(request.id, props.values)
        )
        inputs = {k: v for k, v in state.items() if k in resource.input_names()}
        return proto.ReadResponse(
            id=resource_id,
            properties=self._state(resource, state, props),
            inputs=encode(inputs, props.secret | resource.secret_fields),
        )

    async def Update(self, request: proto.UpdateRequest, context: Any) -> proto.UpdateResponse:
        """Apply changed inputs in place."""
        resource = self._resource(request.urn)
        if resource is None:
            await self._unknown_type(context, request.urn)
        olds, news = decode(request.olds), decode(request.news)
        op = self._operation(request.urn, request.preview, request.timeout)
        state = await self._run(
            context, lambda: resource.update(request.id, olds.values, news.values, op)
        )
        return proto.UpdateResponse(properties=self._state(resource, state, news))

    async def Delete(self, request: proto.DeleteRequest, context: Any) -> empty_pb2.Empty:
        """Remove what the resource owns."""
        resource = self._resource(request.urn)
        if resource is None:
            await self._unknown_type(context, request.urn)
        props = decode(request.properties)
        await self._run(context, lambda: resource.delete(request.id, props.values))
        return empty_pb2.Empty()

    def _operation(self, urn: str, preview: bool, timeout: float) -> Operation:
        return Operation(
            name=urn.split("::")[-1], preview=preview, cancel=self.cancel_event, timeout=timeout
        )

    @staticmethod
    def _state(resource: CustomResource, state: dict[str, Any], given: Props) -> struct_pb2.Struct:
        """The state to return: inputs that came secret, and the resource's secrets, stay secret."""
        secret = set(given.secret) | set(resource.secret_fields)
        return encode(state, secret & set(state))


def property_path(field: str) -> str:
    """A component's snake_case field path as a schema property path (``models[1].version``)."""
    return ".".join(to_camel(part) if part else part for part in field.split("."))


def _urn_type(urn: str) -> str:
    parts = urn.split("::")
    return parts[-2].split("$")[-1] if len(parts) >= 3 else ""


def _diff_response(diff: Diff) -> proto.DiffResponse:
    kinds: dict[str, Any] = {}
    for name in (*diff.changed, *diff.replaces):
        replace = name in diff.replaces
        kind = proto.PropertyDiff.UPDATE_REPLACE if replace else proto.PropertyDiff.UPDATE
        kinds[to_camel(name)] = proto.PropertyDiff(kind=kind, inputDiff=True)
    return proto.DiffResponse(
        changes=proto.DiffResponse.DIFF_SOME if diff.has_changes else proto.DiffResponse.DIFF_NONE,
        replaces=[to_camel(n) for n in diff.replaces],
        diffs=sorted({to_camel(n) for n in (*diff.changed, *diff.replaces)}),
        deleteBeforeReplace=diff.delete_before_replace,
        detailedDiff=kinds,
        hasDetailedDiff=True,
    )
