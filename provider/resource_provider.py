"""The custom resources' CRUD on the Pulumi SDK's typed provider interface.

:class:`CustomResourceProvider` is a ``pulumi.provider.experimental.provider.Provider``: the SDK's
servicer for that interface decodes each gRPC request into a typed request (``CheckRequest``,
``CreateRequest``, ...) of ``PropertyValue`` maps and encodes the typed response. Each method here
converts those maps to plain snake_case dicts (:mod:`mlws.provider.wire`), runs the resource's
method (:class:`mlws.provider.custom_resource.CustomResource`) in a worker thread so the server
keeps answering, and converts the answer back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    PropertyDiff,
    PropertyDiffKind,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)
from pydantic import ValidationError

from mlws.provider.custom_resource import CustomResource, Diff, Operation, ResourceError
from mlws.provider.wire import Props, decode, encode, to_camel

T = TypeVar("T")


class CustomResourceProvider(Provider):
    """Check/Diff/Create/Read/Update/Delete of the plugin's custom resources, by type token.

    A failure the user must see is raised as :class:`ResourceError` (the gRPC layer turns it into
    the call's error message); an unknown type token is one too.
    """

    def __init__(self, resources: Mapping[str, CustomResource]) -> None:
        self.resources = dict(resources)
        self.cancel_event = threading.Event()
        """Set by the engine's Cancel: running health waits give up."""

    def _resource(self, type_token: str) -> CustomResource:
        resource = self.resources.get(type_token.split("$")[-1])
        if resource is None:
            known = ", ".join(sorted(self.resources))
            raise ResourceError(
                f"mlws provider has no custom resource {type_token.split('$')[-1]!r} "
                f"(it has: {known})"
            )
        return resource

    @staticmethod
    async def _run(fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except ValidationError as exc:  # e.g. an import (Read) without the required inputs
            problems = "; ".join(
                f"{'.'.join(to_camel(str(p)) for p in e['loc']) or 'inputs'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ResourceError(f"invalid inputs: {problems}") from None

    def _operation(self, urn: str, preview: bool, timeout: float) -> Operation:
        return Operation(
            name=urn.split("::")[-1], preview=preview, cancel=self.cancel_event, timeout=timeout
        )

    @staticmethod
    def _state(
        resource: CustomResource, state: dict[str, Any], given: Props
    ) -> dict[str, PropertyValue]:
        """The state to return: inputs that came secret, and the resource's secrets, stay secret."""
        secret = set(given.secret) | set(resource.secret_fields)
        return encode(state, secret & set(state))

    async def cancel(self) -> None:
        """Make running health waits give up."""
        self.cancel_event.set()

    async def check(self, request: CheckRequest) -> CheckResponse:
        """Validate a custom resource's inputs; failures name the (camelCase) property."""
        resource = self._resource(request.type)
        olds, news = decode(request.old_inputs), decode(request.new_inputs)
        checked, failures = await self._run(lambda: resource.check(olds, news))
        secret = news.secret | (resource.secret_fields & set(checked))
        return CheckResponse(
            inputs=encode(checked, secret),
            failures=[CheckFailure(property=to_camel(f), reason=r) for f, r in failures],
        )

    async def diff(self, request: DiffRequest) -> DiffResponse:
        """Which inputs changed, and whether that means an update or a replacement."""
        resource = self._resource(request.type)
        olds, news = decode(request.old_state), decode(request.new_inputs)
        ignored = {name.split(".")[0] for name in request.ignore_changes}
        news_values = {
            k: (olds.values.get(k) if to_camel(k) in ignored else v) for k, v in news.values.items()
        }
        diff = await self._run(lambda: resource.diff(request.resource_id, olds.values, news_values))
        return _diff_response(diff)

    async def create(self, request: CreateRequest) -> CreateResponse:
        """Create the resource (or, in preview, show what it would be)."""
        resource = self._resource(request.type)
        props = decode(request.properties)
        op = self._operation(request.urn, request.preview, request.timeout)
        resource_id, state = await self._run(lambda: resource.create(props.values, op))
        return CreateResponse(
            resource_id=resource_id, properties=self._state(resource, state, props)
        )

    async def read(self, request: ReadRequest) -> ReadResponse:
        """Refresh: the current state, or an empty id when the resource no longer exists."""
        resource = self._resource(request.type)
        props = decode(request.properties)
        resource_id, state = await self._run(
            lambda: resource.read(request.resource_id, props.values)
        )
        inputs = {k: v for k, v in state.items() if k in resource.input_names()}
        return ReadResponse(
            resource_id=resource_id,
            properties=self._state(resource, state, props),
            inputs=encode(inputs, props.secret | resource.secret_fields),
        )

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        """Apply changed inputs in place."""
        resource = self._resource(request.type)
        olds, news = decode(request.olds), decode(request.news)
        op = self._operation(request.urn, request.preview, request.timeout)
        state = await self._run(
            lambda: resource.update(request.resource_id, olds.values, news.values, op)
        )
        return UpdateResponse(properties=self._state(resource, state, news))

    async def delete(self, request: DeleteRequest) -> None:
        """Remove what the resource owns."""
        resource = self._resource(request.type)
        props = decode(request.properties)
        await self._run(lambda: resource.delete(request.resource_id, props.values))


def _diff_response(diff: Diff) -> DiffResponse:
    kinds: dict[str, PropertyDiff] = {}
    for name in (*diff.changed, *diff.replaces):
        replace = name in diff.replaces
        kind = PropertyDiffKind.UPDATE_REPLACE if replace else PropertyDiffKind.UPDATE
        kinds[to_camel(name)] = PropertyDiff(kind=kind, input_diff=True)
    return DiffResponse(
        changes=diff.has_changes,
        replaces=[to_camel(n) for n in diff.replaces],
        diffs=sorted({to_camel(n) for n in (*diff.changed, *diff.replaces)}),
        delete_before_replace=diff.delete_before_replace,
        detailed_diff=kinds,
    )
