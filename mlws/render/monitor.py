"""The one recording monitor: answer a Pulumi program's registrations from mocks, keep each one.

:class:`RecordingMonitor` is a :class:`pulumi.runtime.mocks.MockMonitor` that answers as the engine
would (computed outputs from the mocks, ``additionalSecretOutputs`` marked secret, engine-style
URNs that carry every ancestor's type, an event loop per executor thread) and records each
registration, read and stack output into a :class:`Recording`. A recording has two views:

- the test view (:class:`RecordedResource`): inputs and outputs as Python values with secrets
  unwrapped, which paths were secret, and a masked copy;
- the render view (:meth:`Recording.to_render`): inputs as sent on the wire, normalized by
  :mod:`mlws.render.values` (secrets ``[secret]``), diff-relevant options and per-property
  dependencies: what ``mlws render`` prints and :func:`mlws.render.diff.diff_renders` compares.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pulumi
from google.protobuf import empty_pb2, json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2

from mlws.render.model import SECRET, Render, RenderedResource
from mlws.render.values import normalize_props

_T = TypeVar("_T")

STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"
#: Dynamic resources carry their provider, pickled, in this input: shown as a marker instead.
DYNAMIC_PROVIDER_INPUT = "__provider"


def secret(value: Any) -> Any:
    """Mark a computed output value as secret (as a real provider or the engine would)."""
    return rpc.wrap_rpc_secret(value)


def unwrap(value: Any) -> Any:
    """Remove every secret marker, keeping the values (integral floats become ints)."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _secret_paths(value: Any, path: str = "") -> Iterator[str]:
    if rpc.is_rpc_secret(value):
        yield path
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _secret_paths(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _secret_paths(v, f"{path}[{i}]")


def _mask(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return _plain(value)


def _plain(value: Any) -> Any:
    """Make a deserialized value JSON-friendly (resource references, assets, unknowns)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    return f"<{type(value).__name__}>"


def _struct_to_dict(struct: Any) -> dict[str, Any]:
    raw = json_format.MessageToDict(struct)
    return raw if isinstance(raw, dict) else {}


def _wire_inputs(type_: str, struct: Any) -> dict[str, Any]:
    inputs = normalize_props(_struct_to_dict(struct))
    if type_.startswith("pulumi-python:dynamic") and DYNAMIC_PROVIDER_INPUT in inputs:
        inputs[DYNAMIC_PROVIDER_INPUT] = "[pickled dynamic provider]"
    return inputs


def _options(request: Any) -> dict[str, Any]:
    """The registration options that change how Pulumi diffs, as a render shows them."""
    out: dict[str, Any] = {}
    for key in ("replaceOnChanges", "ignoreChanges", "additionalSecretOutputs"):
        values = sorted(getattr(request, key, []) or [])
        if values:
            out[key] = values
    for flag in ("protect", "deleteBeforeReplace", "retainOnDelete"):
        if bool(getattr(request, flag, False)):
            out[flag] = True
    provider = str(getattr(request, "provider", "") or "")
    if provider:
        out["provider"] = provider.split("::")[-2] if provider.count("::") >= 4 else provider
    return out


def _property_dependencies(request: Any) -> dict[str, list[str]]:
    out = {str(prop): sorted(set(deps.urns)) for prop, deps in request.propertyDependencies.items()}
    return {prop: urns for prop, urns in sorted(out.items()) if urns}


@dataclass(frozen=True)
class RecordedResource:
    """One registered (or read) resource as the engine would have received it."""

    urn: str
    """The resource's URN, as the Pulumi engine would make it."""
    type: str
    """Type token, e.g. ``docker:index/image:Image`` or ``mlws:index:ScoringImage``."""
    name: str
    """Logical name."""
    custom: bool
    """True for provider resources, False for components."""
    parent: str
    """The parent's URN (the stack's for top-level resources)."""
    inputs: dict[str, Any]
    """Inputs as sent (camelCase keys), secret values unwrapped."""
    secret_paths: frozenset[str]
    """Dotted paths in :attr:`inputs` whose values were sent as secrets ("" = everything)."""
    masked_inputs: dict[str, Any]
    """:attr:`inputs` with every secret value replaced by ``[secret]``."""
    dependencies: tuple[str, ...] = ()
    """URNs the resource depends on."""
    provider: str = ""
    """Explicit provider reference, if any."""
    protect: bool = False
    """Whether ``protect`` was set."""
    id: str | None = None
    """The mocked physical id."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """Mocked state (custom resources) or registered outputs (components), secrets unwrapped."""
    masked_outputs: dict[str, Any] = field(default_factory=dict)
    """:attr:`outputs` with secrets replaced by ``[secret]``."""
    wire_inputs: dict[str, Any] = field(default_factory=dict)
    """Inputs as on the wire, normalized (:mod:`mlws.render.values`): what a render shows."""
    options: dict[str, Any] = field(default_factory=dict)
    """Diff-relevant resource options (``replaceOnChanges``, ``protect``, provider name, ...)."""
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Per input property, the URNs of the resources its value was computed from."""
    read: bool = False
    """True for an existing resource read with ``Resource.get``."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly view with secrets masked."""
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent,
            "inputs": self.masked_inputs,
            "secretInputs": sorted(self.secret_paths),
            "dependencies": list(self.dependencies),
            "protect": self.protect,
        }


@dataclass
class Recording:
    """Everything one program run registered.

    Iteration (and :meth:`to_json`) follows the resource tree, depth first, siblings sorted by
    name then type: the same program gives the same order, although Pulumi registers siblings
    concurrently. Reads (``Resource.get``) are kept apart in :attr:`reads`.
    """

    resources: dict[str, RecordedResource] = field(default_factory=dict)
    """By URN, in the order registrations arrived (which varies between runs)."""
    reads: dict[str, RecordedResource] = field(default_factory=dict)
    """Resources read with ``Resource.get``, by URN."""
    stack_urn: str = ""
    """The root stack's URN."""
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    """``pulumi.export``-ed values, secrets unwrapped."""
    masked_stack_outputs: dict[str, Any] = field(default_factory=dict)
    """Exports with secrets replaced by ``[secret]``."""
    wire_stack_outputs: dict[str, Any] = field(default_factory=dict)
    """Exports as on the wire, normalized (what a render shows)."""

    def __iter__(self) -> Iterator[RecordedResource]:
        children: dict[str, list[RecordedResource]] = {}
        for resource in self.resources.values():
            children.setdefault(resource.parent, []).append(resource)
        for group in children.values():
            group.sort(key=lambda r: (r.name, r.type))
        seen: set[str] = set()

        def walk(parent: str) -> Iterator[RecordedResource]:
            for child in children.get(parent, []):
                if child.urn not in seen:
                    seen.add(child.urn)
                    yield child
                    yield from walk(child.urn)

        yield from walk(self.stack_urn)
        for orphan in sorted(self.resources.values(), key=lambda r: r.urn):
            if orphan.urn not in seen:
                seen.add(orphan.urn)
                yield orphan
                yield from walk(orphan.urn)

    def __len__(self) -> int:
        return len(self.resources)

    def of_type(self, type_token: str) -> list[RecordedResource]:
        """Every resource of ``type_token``."""
        return [r for r in self if r.type == type_token]

    def named(self, name: str, type_token: str | None = None) -> RecordedResource:
        """The one resource called ``name`` (optionally of ``type_token``); KeyError otherwise."""
        found = [r for r in self if r.name == name and type_token in (None, r.type)]
        if len(found) != 1:
            names = ", ".join(sorted(r.name for r in self))
            raise KeyError(f"{len(found)} resources named {name!r} (have: {names})")
        return found[0]

    def children(self, parent: RecordedResource) -> list[RecordedResource]:
        """Direct children of ``parent``."""
        return [r for r in self if r.parent == parent.urn]

    def type_counts(self) -> dict[str, int]:
        """How many resources of each type were registered."""
        counts: dict[str, int] = {}
        for r in self:
            counts[r.type] = counts.get(r.type, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly view with secrets masked: resources and stack outputs."""
        return {
            "resources": [r.to_json() for r in self],
            "outputs": self.masked_stack_outputs,
        }

    def to_render(
        self,
        *,
        project: str,
        stack: str,
        config: dict[str, str] | None = None,
        messages: list[str] | None = None,
        masked: bool = True,
    ) -> Render:
        """The render view: resources depth-first from the stack, siblings by (type, name).

        ``masked=False`` keeps secret values (for diffing two runs in a test, never printed).
        """
        everything = {**self.resources, **self.reads}
        rendered = [
            RenderedResource(
                urn=r.urn,
                type=r.type,
                name=r.name,
                parent=r.parent if r.parent in everything else None,
                custom=r.custom,
                inputs=r.wire_inputs if masked else r.inputs,
                options=r.options,
                read=r.read,
                dependencies=r.property_dependencies,
            )
            for r in everything.values()
        ]
        children: dict[str | None, list[RenderedResource]] = {}
        for res in rendered:
            children.setdefault(res.parent, []).append(res)
        ordered: list[RenderedResource] = []

        def visit(parent: str | None) -> None:
            for res in sorted(children.get(parent, []), key=lambda r: (r.type, r.name, r.urn)):
                ordered.append(res)
                visit(res.urn)

        visit(None)
        return Render(
            project=project,
            stack=stack,
            config=dict(config or {}),
            resources=ordered,
            outputs=self.wire_stack_outputs if masked else self.stack_outputs,
            messages=list(messages or []),
        )


class StackReferenceDefaults(pulumi_mocks.Mocks):
    """Delegates to ``inner``; a ``StackReference`` the mocks know nothing of has no outputs.

    (The SDK reads the reference's ``outputs`` map; without one every ``get_output`` would fail.
    With an empty one it gives ``None``, which is all an offline run can know.)
    """

    def __init__(self, inner: pulumi_mocks.Mocks) -> None:
        self.inner = inner

    def new_resource(
        self, args: pulumi_mocks.MockResourceArgs
    ) -> tuple[str | None, dict[Any, Any]]:
        """The inner mocks' answer, with ``outputs`` defaulted for stack references."""
        resource_id, state = self.inner.new_resource(args)
        if args.typ == STACK_REFERENCE_TYPE and state.get("outputs") is None:
            state = {**state, "outputs": {}, "secretOutputNames": []}
        return resource_id, state

    def call(
        self, args: pulumi_mocks.MockCallArgs
    ) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        """The inner mocks' answer."""
        return self.inner.call(args)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that records each registration, read and stack output into :attr:`recording`.

    It gives resources the URNs the engine would (every ancestor's type, the stack's left out),
    marks ``additionalSecretOutputs`` as secret in the answered state, as the engine does, and
    gives each executor thread an event loop it closes in :meth:`close`.
    """

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(StackReferenceDefaults(mocks))
        self.recording = Recording()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._loops: list[asyncio.AbstractEventLoop] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the Pulumi engine gives: the parent's qualified type, ``$``, this type."""
        if parent and parent != self.recording.stack_urn:
            type_ = f"{parent.split('::')[2]}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        """This thread's own event loop, made on first use and closed by :meth:`close`.

        The SDK calls the monitor from its executor threads, which have no loop, yet
        deserializing resource references needs a current one: there it becomes the current
        loop. The main thread's current loop is the program's and stays so.
        """
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None:
            loop = asyncio.new_event_loop()
            if threading.current_thread() is not threading.main_thread():
                asyncio.set_event_loop(loop)
            self._local.loop = loop
            with self._lock:
                self._loops.append(loop)
        return loop

    def _run(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Run ``work`` to its end on this thread's own loop, for a synchronous monitor call.

        A call from inside a running loop is refused: that loop cannot be run again from within
        (Pulumi's private ``_sync_await`` re-enters it), and another loop cannot run in its thread.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # none running: an executor thread, as the SDK calls the monitor
        else:
            work.close()
            raise RuntimeError(
                "RecordingMonitor was called inside a running event loop; the Pulumi SDK calls "
                "it from its executor threads, where it waits on a loop of its own"
            )
        return self._thread_loop().run_until_complete(work)

    def close(self) -> None:
        """Close the event loops created for executor threads."""
        with self._lock:
            loops, self._loops = self._loops, []
        for loop in loops:
            if not loop.is_closed():
                loop.close()

    def RegisterResource(self, request: Any) -> Any:
        """Answer via the mocks and record the registration."""
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            self.recording.stack_urn = urn
            return resource_pb2.RegisterResourceResponse(urn=urn)
        self._thread_loop()
        inputs = rpc.deserialize_properties(request.object)
        resource_args = pulumi_mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
        )
        resource_id, state = self.mocks.new_resource(resource_args)
        for key in request.additionalSecretOutputs:
            if key in state:
                state[key] = secret(state[key])
        obj_proto = self._run(rpc.serialize_properties(state, {}))
        record = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            inputs=unwrap(inputs),
            secret_paths=frozenset(_secret_paths(inputs)),
            masked_inputs=_mask(inputs),
            dependencies=tuple(request.dependencies),
            provider=request.provider,
            protect=bool(request.protect),
            id=resource_id,
            outputs=unwrap(state) if request.custom else {},
            masked_outputs=_mask(state) if request.custom else {},
            wire_inputs=_wire_inputs(request.type, request.object),
            options=_options(request),
            property_dependencies=_property_dependencies(request),
        )
        with self._lock:
            self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(
                urn, resource_id or "", state
            )
            self.recording.resources[urn] = record
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=resource_id or "", object=obj_proto
        )

    def RegisterResourceOutputs(self, request: Any) -> Any:
        """Record a component's (or the stack's) registered outputs."""
        self._thread_loop()
        outputs = rpc.deserialize_properties(request.outputs)
        with self._lock:
            if request.urn == self.recording.stack_urn:
                self.recording.stack_outputs = unwrap(outputs)
                self.recording.masked_stack_outputs = _mask(outputs)
                self.recording.wire_stack_outputs = normalize_props(
                    _struct_to_dict(request.outputs)
                )
            elif request.urn in self.recording.resources:
                old = self.recording.resources[request.urn]
                self.recording.resources[request.urn] = replace(
                    old, outputs=unwrap(outputs), masked_outputs=_mask(outputs)
                )
        return empty_pb2.Empty()

    def Invoke(self, request: Any) -> Any:
        """Answer an invoke via the mocks."""
        self._thread_loop()
        return super().Invoke(request)  # type: ignore[no-untyped-call]

    def ReadResource(self, request: Any) -> Any:
        """Answer a read (``Resource.get``) via the mocks and record it."""
        self._thread_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        props = rpc.deserialize_properties(request.properties)
        wire = normalize_props(_struct_to_dict(request.properties))
        wire["id"] = request.id
        record = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=True,
            parent=request.parent,
            inputs={**unwrap(props), "id": request.id},
            secret_paths=frozenset(_secret_paths(props)),
            masked_inputs={**_mask(props), "id": request.id},
            provider=request.provider,
            id=request.id,
            wire_inputs=wire,
            read=True,
        )
        with self._lock:
            self.recording.reads[urn] = record
        return super().ReadResource(request)  # type: ignore[no-untyped-call]
