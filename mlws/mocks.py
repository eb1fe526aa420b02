"""Run a Pulumi program in-process under mocks and record its resource graph.

No engine, no cloud, no Docker: every resource registration is answered by :class:`MlwsMocks`
(inputs echoed back plus computed outputs from a per-type table) and recorded by
:class:`RecordingMonitor` with its parent, dependencies and which inputs are secret. This serves
three users:

- tests (``tests/conftest.py``'s ``pulumi_mocks`` fixture, a :class:`MockHarness`): graphs,
  parent links, secret-ness;
- offline diffs: :func:`diff_programs` runs a program twice with one input changed and reports what
  a ``pulumi preview`` would show (created, deleted, and updated resources with changed fields);
- ``mlws render``: :func:`run_program` + :meth:`Recording.to_json`.

Computed outputs are deterministic functions of a resource's name and inputs (a mocked random
password changes exactly when its ``keepers`` change), so two runs of the same program record the
same graph. Extend the table by adding a rule to :data:`OUTPUT_RULES` (product-wide) or pass
``MlwsMocks(outputs={token: rule})`` (one run).
"""

import asyncio
import base64
import contextvars
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import pulumi
from google.protobuf import empty_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import SETTINGS, configure
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

__all__ = [
    "MOCK_SUBSCRIPTION_ID",
    "OUTPUT_RULES",
    "SECRET_PLACEHOLDER",
    "Change",
    "GraphDiff",
    "MlwsMocks",
    "MockHarness",
    "RecordedResource",
    "Recording",
    "RecordingMonitor",
    "diff_programs",
    "diff_recordings",
    "install_mocks",
    "run_program",
    "secret",
]

SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - what a secret value is shown as
"""How a secret value appears in masked inputs, renders and diffs."""

OutputRule = Callable[[str, dict[str, Any]], dict[str, Any]]
"""Computes extra outputs from a resource's name and (secret-unwrapped) inputs."""
CallRule = Callable[[dict[str, Any]], dict[str, Any]]
"""Answers an invoke from its (secret-unwrapped) arguments."""

_T = TypeVar("_T")

MOCK_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000000"
"""The Azure subscription ``getClientConfig`` answers with under mocks."""


def secret(value: Any) -> Any:
    """Mark a computed output value as secret (as a real provider or the engine would)."""
    return rpc.wrap_rpc_secret(value)


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _random_text(name: str, inputs: dict[str, Any]) -> str:
    length = int(inputs.get("length", 16))
    seed = _digest("random", name, inputs)
    out = ""
    counter = 0
    while len(out) < length:
        block = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        out += "".join(_ALNUM[b % len(_ALNUM)] for b in block)
        counter += 1
    return out[:length]


def _random_password(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    result = _random_text(name, inputs)
    return {"result": secret(result), "bcryptHash": secret("$2a$10$" + _digest(result)[:53])}


def _random_string(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"result": _random_text(name, inputs)}


def _random_uuid(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    h = _digest("uuid", name, inputs)
    return {"result": f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"}


def _docker_image(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    image_name = str(inputs.get("imageName", name))
    repo = image_name.rsplit(":", 1)[0] if ":" in image_name.rsplit("/", 1)[-1] else image_name
    build = inputs.get("build") or {}
    registry = inputs.get("registry") or {}
    out: dict[str, Any] = {
        "baseImageName": image_name,
        "context": build.get("context", "."),
        "dockerfile": build.get("dockerfile", "Dockerfile"),
        "platform": build.get("platform", ""),
        "registryServer": registry.get("server", ""),
    }
    if not inputs.get("skipPush"):
        out["repoDigest"] = f"{repo}@sha256:{_digest('image', image_name, build)}"
    return out


def _docker_container(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"name": inputs.get("name", name), "exitCode": 0, "networkDatas": []}


def _container_group(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    ip = dict(inputs.get("ipAddress") or {})
    location = inputs.get("location", "westeurope")
    h = hashlib.sha256(name.encode()).digest()
    ip.setdefault("ip", f"20.{h[0]}.{h[1]}.{h[2]}")
    group = inputs.get("containerGroupName", name)
    if ip.get("dnsNameLabel"):
        ip["fqdn"] = f"{ip['dnsNameLabel']}.{location}.azurecontainer.io"
    return {"ipAddress": ip, "provisioningState": "Succeeded", "name": group}


def _container_registry(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    registry = str(inputs.get("registryName", name)).lower()
    return {"loginServer": f"{registry}.azurecr.io", "name": registry}


def _kubernetes_service(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    h = hashlib.sha256(name.encode()).digest()
    spec = inputs.get("spec") or {}
    status: dict[str, Any] = {"loadBalancer": {}}
    if spec.get("type") == "LoadBalancer":
        status["loadBalancer"] = {"ingress": [{"ip": f"52.{h[0]}.{h[1]}.{h[2]}"}]}
    return {"status": status}


def _kubernetes_autonamed(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Secrets/ConfigMaps without ``metadata.name`` get ``<name>-<suffix>`` (Pulumi autonaming).

    Pulumi replaces them when their data changes (a new suffix), so the suffix follows the inputs.
    """
    metadata = dict(inputs.get("metadata") or {})
    metadata.setdefault("name", f"{name}-{_digest('autoname', name, inputs)[:8]}")
    return {"metadata": metadata}


def _uuid(*parts: Any) -> str:
    h = _digest("uuid", *parts)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _managed_cluster(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster = str(inputs.get("resourceName") or name)
    region = str(inputs.get("location", "westeurope"))
    kubelet = {
        "clientId": _uuid("kubelet-client", name),
        "objectId": _uuid("kubelet-object", name),
        "resourceId": f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/resourceGroups/MC_{cluster}"
        f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{cluster}-agentpool",
    }
    return {
        "name": cluster,
        "fqdn": f"{inputs.get('dnsPrefix', cluster)}.hcp.{region}.azmk8s.io",
        "identityProfile": {"kubeletidentity": kubelet},
    }


def _managed_cluster_credentials(args: dict[str, Any]) -> dict[str, Any]:
    cluster = str(args.get("resourceName", "cluster"))
    kubeconfig = (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {cluster}\n  cluster:\n    server: https://{cluster}.hcp.azmk8s.io\n"
        f"contexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: clusterUser\n"
        f"current-context: {cluster}\n"
        "users:\n- name: clusterUser\n  user:\n    token: mock-token\n"
    )
    value = base64.b64encode(kubeconfig.encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": secret(value)}]}


OUTPUT_RULES: dict[str, OutputRule] = {
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomString:RandomString": _random_string,
    "random:index/randomUuid:RandomUuid": _random_uuid,
    "docker:index/image:Image": _docker_image,
    "docker:index/container:Container": _docker_container,
    "azure-native:containerinstance:ContainerGroup": _container_group,
    "azure-native:containerregistry:Registry": _container_registry,
    "kubernetes:core/v1:Service": _kubernetes_service,
    "kubernetes:core/v1:Secret": _kubernetes_autonamed,
    "kubernetes:core/v1:ConfigMap": _kubernetes_autonamed,
    "azure-native:containerservice:ManagedCluster": _managed_cluster,
    "azure-native:resources:ResourceGroup": lambda name, inputs: {
        "name": inputs.get("resourceGroupName", name)
    },
    "azure-native:containerservice:AgentPool": lambda name, inputs: {
        "name": inputs.get("agentPoolName", name)
    },
}
"""Computed outputs per resource type token; add a rule when a component reads a new output."""

CALL_RULES: dict[str, CallRule] = {
    "azure-native:containerservice:listManagedClusterUserCredentials": _managed_cluster_credentials,
    "azure-native:authorization:getClientConfig": lambda args: {
        "subscriptionId": MOCK_SUBSCRIPTION_ID,
        "tenantId": "00000000-0000-4000-8000-000000000001",
        "clientId": "00000000-0000-4000-8000-000000000002",
        "objectId": "00000000-0000-4000-8000-000000000003",
    },
    "azure-native:containerregistry:listRegistryCredentials": lambda args: {
        "username": str(args.get("registryName", "registry")),
        "passwords": [{"name": "password", "value": secret("mock-registry-password")}],
    },
}
"""Answers per invoke token; unknown invokes answer ``{}``."""


def _unwrap(value: Any) -> Any:
    """Remove every secret marker, keeping the values (integral floats become ints)."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
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
        return SECRET_PLACEHOLDER
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


class MlwsMocks(pulumi_mocks.Mocks):
    """Answer registrations with their inputs plus computed outputs; answer invokes by token.

    ``outputs`` and ``calls`` add to (and override) :data:`OUTPUT_RULES` and :data:`CALL_RULES`.
    """

    def __init__(
        self,
        outputs: Mapping[str, OutputRule] | None = None,
        calls: Mapping[str, CallRule] | None = None,
    ) -> None:
        self.outputs: dict[str, OutputRule] = {**OUTPUT_RULES, **(outputs or {})}
        self.calls: dict[str, CallRule] = {**CALL_RULES, **(calls or {})}
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        """Every invoke seen, as (token, unwrapped args)."""
        self.registrations: list[tuple[str, str]] = []
        """Every registration seen, as (type token, name), even from a run that failed."""

    def new_resource(
        self, args: pulumi_mocks.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        """Echo the inputs (secrets stay secret) and add the type's computed outputs."""
        self.registrations.append((args.typ, args.name))
        state = dict(args.inputs)
        rule = self.outputs.get(args.typ)
        if rule is not None:
            state.update(rule(args.name, _unwrap(args.inputs)))
        resource_id = args.resource_id or (f"{args.name}-id" if args.custom else None)
        return resource_id, state

    def call(
        self, args: pulumi_mocks.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        """Answer an invoke from :attr:`calls`, or with ``{}``."""
        plain = _unwrap(args.args)
        self.invokes.append((args.token, plain))
        rule = self.calls.get(args.token)
        return (rule(plain) if rule is not None else {}), []  # pulumi iterates the failures


@dataclass(frozen=True)
class RecordedResource:
    """One registered resource as the engine would have received it."""

    urn: str
    """The resource's URN."""
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
    """:attr:`inputs` with every secret value replaced by :data:`SECRET_PLACEHOLDER`."""
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
    """:attr:`outputs` with secrets replaced by :data:`SECRET_PLACEHOLDER`."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly view with secrets masked (what ``mlws render`` prints)."""
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
    concurrently.
    """

    resources: dict[str, RecordedResource] = field(default_factory=dict)
    """By URN, in the order registrations arrived (which varies between runs)."""
    stack_urn: str = ""
    """The root stack's URN."""
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    """``pulumi.export``-ed values, secrets unwrapped."""
    masked_stack_outputs: dict[str, Any] = field(default_factory=dict)
    """Exports with secrets replaced by :data:`SECRET_PLACEHOLDER`."""

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


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that records each registration into :attr:`recording`.

    It also marks ``additionalSecretOutputs`` as secret in the answered state, as the engine does,
    and gives each executor thread an event loop it closes in :meth:`close`.
    """

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.recording = Recording()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._loops: list[asyncio.AbstractEventLoop] = []

    def _thread_loop(self) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        if getattr(self._local, "loop", None) is None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._local.loop = loop
            with self._lock:
                self._loops.append(loop)

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
        if request.type == "pulumi:pulumi:Stack":
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
        obj_proto = _sync_await(rpc.serialize_properties(state, {}))
        record = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            inputs=_unwrap(inputs),
            secret_paths=frozenset(_secret_paths(inputs)),
            masked_inputs=_mask(inputs),
            dependencies=tuple(request.dependencies),
            provider=request.provider,
            protect=bool(request.protect),
            id=resource_id,
            outputs=_unwrap(state) if request.custom else {},
            masked_outputs=_mask(state) if request.custom else {},
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
                self.recording.stack_outputs = _unwrap(outputs)
                self.recording.masked_stack_outputs = _mask(outputs)
            elif request.urn in self.recording.resources:
                old = self.recording.resources[request.urn]
                self.recording.resources[request.urn] = RecordedResource(
                    **{
                        **old.__dict__,
                        "outputs": _unwrap(outputs),
                        "masked_outputs": _mask(outputs),
                    }
                )
        return empty_pb2.Empty()

    def Invoke(self, request: Any) -> Any:
        """Answer an invoke via the mocks."""
        self._thread_loop()
        return super().Invoke(request)  # type: ignore[no-untyped-call]

    def ReadResource(self, request: Any) -> Any:
        """Answer a read (``Resource.get``) via the mocks."""
        self._thread_loop()
        return super().ReadResource(request)  # type: ignore[no-untyped-call]


def install_mocks(
    mocks: pulumi_mocks.Mocks,
    *,
    project: str = "project",
    stack: str = "stack",
    preview: bool = False,
    config: Mapping[str, str] | None = None,
    secret_config_keys: list[str] | None = None,
) -> RecordingMonitor:
    """Configure the Pulumi runtime in the *current* context to use ``mocks`` (no root stack).

    :func:`run_program` calls this in a fresh context; ``tests/conftest.py`` calls it for tests
    written with ``@pulumi.runtime.test``. ``config`` keys are full names (``project:key``).
    """
    monitor = RecordingMonitor(mocks)
    info = monitor.GetDeploymentInfo(empty_pb2.Empty())  # type: ignore[no-untyped-call]
    features = set(info.supportedFeatures)
    configure(
        pulumi_mocks.MockSettings(  # type: ignore[no-untyped-call]
            monitor=monitor,
            monitor_features=features,
            engine=pulumi_mocks.MockEngine(None),
            project=project,
            stack=stack,
            dry_run=preview,
            organization="organization",
            callbacks=None,
        )
    )
    # Some of Pulumi's context variables default to one shared mutable object; give this context
    # its own so outputs pending in another context (another run, a test) are never awaited here.
    SETTINGS.outputs = set()
    SETTINGS.lock = threading.Lock()
    SETTINGS.package_refs = {}
    SETTINGS.base_providers_by_ref = {}
    set_all_config(dict(config or {}), secret_config_keys or [])
    return monitor


def run_program(
    program: Callable[[], object],
    *,
    mocks: pulumi_mocks.Mocks | None = None,
    project: str = "project",
    stack: str = "stack",
    preview: bool = False,
    config: Mapping[str, str] | None = None,
    secret_config_keys: list[str] | None = None,
) -> Recording:
    """Run ``program`` (a callable that declares resources, like a ``__main__.py``) under mocks.

    Each run is isolated: a fresh ``contextvars`` context (Pulumi's settings, root stack and config
    live in context variables) and a fresh event loop, closed afterwards; nothing leaks into the
    caller's process state. The program's exceptions propagate unchanged. With ``preview=True``
    outputs the mocks do not compute stay unknown, as in ``pulumi preview``.
    """
    context = contextvars.Context()
    return context.run(
        _run_isolated,
        program,
        mocks or MlwsMocks(),
        project,
        stack,
        preview,
        config,
        secret_config_keys,
    )


def _run_isolated(
    program: Callable[[], object],
    mocks: pulumi_mocks.Mocks,
    project: str,
    stack: str,
    preview: bool,
    config: Mapping[str, str] | None,
    secret_config_keys: list[str] | None,
) -> Recording:
    monitor = install_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=preview,
        config=config,
        secret_config_keys=secret_config_keys,
    )

    def body() -> None:
        program()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run_in_stack(body))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            monitor.close()
    return monitor.recording


class MockHarness:
    """Pulumi mocks for one test, usable two ways (``tests/conftest.py``'s ``pulumi_mocks``).

    - :meth:`run` runs a whole program in isolation and returns its :class:`Recording`;
    - while :meth:`install`-ed, code decorated with ``@pulumi.runtime.test`` registers against
      these mocks and :attr:`recording` shows what it registered (assert inside
      ``Output.all(...).apply(...)``).

    :meth:`install` sets a fresh event loop and a root stack in the current context; :meth:`close`
    drains pending work and restores both.
    """

    def __init__(self, mocks: MlwsMocks | None = None) -> None:
        self.mocks = mocks or MlwsMocks()
        """The mocks answering registrations (``registrations`` lists what was registered)."""
        self.runs: list[Recording] = []
        """Recordings of every :meth:`run`."""
        self._monitor: RecordingMonitor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._root: contextvars.Token[Any] | None = None

    @property
    def recording(self) -> Recording:
        """What code run against the installed mocks registered so far."""
        if self._monitor is None:
            raise RuntimeError("MockHarness.install() was not called")
        return self._monitor.recording

    def run(self, program: Callable[[], object], **kwargs: Any) -> Recording:
        """Run ``program`` in isolation (see :func:`run_program`) with :attr:`mocks`."""
        recording = run_program(program, mocks=self.mocks, **kwargs)
        self.runs.append(recording)
        return recording

    def install(self, *, preview: bool = False) -> None:
        """Install the mocks in the current context, with a root stack and an event loop."""
        from pulumi.runtime import settings
        from pulumi.runtime.stack import Stack

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._root = settings.ROOT.set(None)
        self._monitor = install_mocks(self.mocks, preview=preview)
        Stack()._finish()

    def close(self) -> None:
        """Finish pending registrations, close the loop, restore the previous root resource."""
        from pulumi.runtime import settings
        from pulumi.runtime.stack import wait_for_rpcs

        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            loop.run_until_complete(wait_for_rpcs())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            asyncio.set_event_loop(None)
            if self._monitor is not None:
                self._monitor.close()
            if self._root is not None:
                settings.ROOT.reset(self._root)
                self._root = None


# --- diffs ---------------------------------------------------------------------------------------

ChangeKind = Literal["create", "delete", "update"]


@dataclass(frozen=True)
class Change:
    """One resource a ``pulumi preview`` would act on."""

    kind: ChangeKind
    """``create``, ``delete`` or ``update`` (inputs changed; the provider decides replace)."""
    urn: str
    """The resource's URN."""
    type: str
    """Its type token."""
    name: str
    """Its logical name."""
    fields: tuple[str, ...] = ()
    """For updates: the changed input paths, e.g. ``envs`` or ``keepers.rotation``."""

    def __str__(self) -> str:
        sign = {"create": "+", "delete": "-", "update": "~"}[self.kind]
        detail = f" [{', '.join(self.fields)}]" if self.fields else ""
        return f"{sign} {self.name} ({self.type}){detail}"


@dataclass(frozen=True)
class GraphDiff:
    """What changed between two recordings. Values are never included, only paths."""

    changes: tuple[Change, ...]
    """Every change, creates first, then updates, then deletes."""

    @property
    def created(self) -> set[str]:
        """Names of resources only in the new run."""
        return {c.name for c in self.changes if c.kind == "create"}

    @property
    def deleted(self) -> set[str]:
        """Names of resources only in the old run."""
        return {c.name for c in self.changes if c.kind == "delete"}

    @property
    def updated(self) -> dict[str, tuple[str, ...]]:
        """Names of resources whose inputs changed, with the changed paths."""
        return {c.name: c.fields for c in self.changes if c.kind == "update"}

    @property
    def changed_names(self) -> set[str]:
        """Names of every created, deleted or updated resource."""
        return {c.name for c in self.changes}

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self.changes) or "no changes"


def _changed_paths(old: Any, new: Any, path: str = "") -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                yield sub
            else:
                yield from _changed_paths(old[key], new[key], sub)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _changed_paths(a, b, f"{path}[{i}]")
    elif old != new:
        yield path


def diff_recordings(old: Recording, new: Recording) -> GraphDiff:
    """Compare two runs resource by resource (by URN) and input by input.

    Components have no inputs of their own: they appear only when created or deleted.
    """
    creates = [Change("create", r.urn, r.type, r.name) for r in new if r.urn not in old.resources]
    deletes = [Change("delete", r.urn, r.type, r.name) for r in old if r.urn not in new.resources]
    updates = []
    for r in new:
        before = old.resources.get(r.urn)
        if before is None:
            continue
        paths = tuple(_changed_paths(before.inputs, r.inputs))
        if paths:
            updates.append(Change("update", r.urn, r.type, r.name, paths))
    return GraphDiff(tuple(creates + updates + deletes))


def diff_programs(
    make_program: Callable[[_T], Callable[[], object]],
    old: _T,
    new: _T,
    **run_kwargs: Any,
) -> tuple[GraphDiff, Recording, Recording]:
    """Run the program built from ``old``, then from ``new``, and diff the two recordings.

    ``make_program(value)`` returns the program for one input value; ``run_kwargs`` go to
    :func:`run_program` for both runs (e.g. ``project``, ``config``). Example::

        def program(version: int) -> Callable[[], None]:
            def run() -> None:
                models = [{"name": "m", "version": version, "path": "model"}]
                image = ScoringImage("app", {..., "models": models})
                ...
            return run

        diff, _, _ = diff_programs(program, 1, 2)
        assert diff.changed_names == {"app-image", "web-container"}
    """
    before = run_program(make_program(old), **run_kwargs)
    after = run_program(make_program(new), **run_kwargs)
    return diff_recordings(before, after), before, after
