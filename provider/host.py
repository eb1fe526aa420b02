"""The plugin process: hosts the mlws components and serves the custom resources over gRPC.

``pulumi.provider.experimental.component_provider_host`` serves components only: its
``ComponentProvider`` infers the schema and answers ``Construct``, and the SDK's gRPC servicer
leaves ``Check``/``Diff``/``Create``/``Read``/``Update``/``Delete`` unimplemented. This module
composes the two halves instead of copying either:

- :class:`MlwsProvider` *is* a ``ComponentProvider`` (schema inference and ``Construct`` for the
  components, unchanged) whose schema also lists the custom resources;
- :class:`MlwsServicer` *is* the SDK's ``ProviderServicer`` plus the custom-resource methods, which
  decode the request (:mod:`mlws.provider.wire`), run the resource's method
  (:class:`mlws.provider.custom_resource.CustomResource`) in a worker thread so the server keeps
  answering, and encode the answer.

:func:`main` is what ``provider/__main__.py`` runs; like the SDK's host it prints the port it
listens on and takes the engine address as its first argument.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio
from google.protobuf import empty_pb2, struct_pb2
from mlws.components import health_gate
from mlws.components._package import PACKAGE
from mlws.components.errors import ConfigError
from mlws.provider.custom_resource import CustomResource, Diff, Operation, ResourceError
from mlws.provider.health_gate_resource import HealthGateResource
from mlws.provider.local_process_resource import LocalProcessServiceResource
from mlws.provider.schema_builder import component_secrets, mark_component_secrets, merge_resources
from mlws.provider.wire import Props, decode, encode, to_camel
from pulumi import ComponentResource
from pulumi.errors import InputPropertiesError, InputPropertyErrorDetails
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ComponentInitError, ProviderServicer
from pulumi.runtime import proto
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import provider_pb2_grpc
from pydantic import ValidationError

from mlws import __version__

COMPONENTS: tuple[tuple[str, str], ...] = (
    ("mlws.components.scoring_image", "ScoringImage"),
    ("mlws.components.service_keys", "ServiceKeys"),
    ("mlws.components.local_web_service", "LocalWebService"),
    ("mlws.components.aci_web_service", "AciWebService"),
    ("mlws.components.aks_cluster", "AksCluster"),
    ("mlws.components.aks_cluster", "GpuNodePool"),
    ("mlws.components.aks_web_service", "AksWebService"),
)
"""(module, class) of every component the plugin hosts, in schema order."""

T = TypeVar("T")


def hosted_components() -> list[type[ComponentResource]]:
    """The component classes of :data:`COMPONENTS`, imported."""
    classes: list[type[ComponentResource]] = []
    for module, name in COMPONENTS:
        cls = getattr(importlib.import_module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, ComponentResource)):
            raise TypeError(f"{module}.{name} is not a ComponentResource")
        classes.append(cls)
    return classes


def custom_resources() -> list[CustomResource]:
    """The custom resources the plugin implements."""
    return [HealthGateResource(), LocalProcessServiceResource()]


class MlwsProvider(ComponentProvider):
    """The components' ``ComponentProvider`` with the custom resources added to its schema."""

    def __init__(
        self,
        components: list[type[ComponentResource]],
        resources: Sequence[CustomResource],
        version: str = __version__,
    ) -> None:
        super().__init__(components, PACKAGE, version=version)
        self.resources = {r.token: r for r in resources}
        schema = mark_component_secrets(
            self.schema or "{}",
            {f"{PACKAGE}:index:{c.__name__}": component_secrets(c) for c in components},
        )
        schema = merge_resources(schema, {r.token: r.schema() for r in resources})
        self.schema = _describe_package(schema)


def _markdown(value: Any) -> Any:
    """Docstrings use reST literals (````x````); schema descriptions are Markdown (```x```)."""
    if isinstance(value, dict):
        return {
            k: (v.replace("``", "`") if k == "description" and isinstance(v, str) else _markdown(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_markdown(v) for v in value]
    return value


def _describe_package(schema_json: str) -> str:
    schema = _markdown(json.loads(schema_json))
    schema["displayName"] = "mlws"
    schema["description"] = (
        "Deploy ML models as authenticated scoring web services: scoring images, service keys, "
        "ACI and AKS web services, GPU node pools, a deployment health gate and a local process "
        "service."
    )
    schema["license"] = "Apache-2.0"
    schema["keywords"] = ["mlws", "machine-learning", "azure", "kubernetes", "category/utility"]
    return json.dumps(schema, indent=2, sort_keys=True)


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


def build_provider() -> MlwsProvider:
    """The provider with every hosted component and custom resource."""
    return MlwsProvider(hosted_components(), custom_resources())


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the plugin: print the gRPC port on stdout, then serve until terminated."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="mlws-provider", description="mlws Pulumi plugin")
    parser.add_argument("engine", nargs="?", default="", help="Pulumi engine address")
    parser.add_argument("--logflow", action="store_true", help="ignored (engine flag)")
    parser.add_argument("--logtostderr", action="store_true", help="ignored (engine flag)")
    parser.add_argument("-v", dest="verbosity", default=None, help="ignored (engine flag)")
    parser.add_argument("--tracing", default=None, help="ignored (engine flag)")
    known, _ = parser.parse_known_args(args)
    health_gate.use_plugin_resource()  # components built here gate through this plugin's resource
    provider = build_provider()

    async def serve() -> None:
        server = grpc.aio.server(options=_GRPC_CHANNEL_OPTIONS)
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
