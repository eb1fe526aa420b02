"""Mock output rules for Pulumi programs run without an engine, and a thin test harness.

:class:`MlwsMocks` answers every resource registration with its inputs plus computed outputs from
a per-type table (:data:`OUTPUT_RULES`) and every invoke from :data:`CALL_RULES`. Computed outputs
are deterministic functions of a resource's name and inputs (a mocked random password changes
exactly when its ``keepers`` change), so two runs of the same program record the same graph.
Extend the table by adding a rule (product-wide) or pass ``MlwsMocks(outputs={token: rule})``
(one run).

The harness runs programs with :mod:`mlws.render`'s runner, monitor and diff (the same ones
``mlws render`` uses):

- :func:`run_program` runs a callable in isolation and returns its :class:`Recording`;
- :class:`MockHarness` is ``tests/conftest.py``'s ``pulumi_mocks`` fixture: isolated runs, or
  mocks installed for code written with ``@pulumi.runtime.test``;
- :func:`diff_programs` runs a program twice with one input changed and reports what a
  ``pulumi preview`` would act on (:class:`GraphDiff`, a summary of
  :func:`mlws.render.diff.diff_renders`).
"""

import asyncio
import base64
import contextvars
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pulumi.runtime import mocks as pulumi_mocks

from mlws.render.diff import diff_renders
from mlws.render.model import SECRET
from mlws.render.monitor import RecordedResource, Recording, RecordingMonitor, secret, unwrap
from mlws.render.program_runner import install_mocks, run_isolated

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

SECRET_PLACEHOLDER = SECRET
"""How a secret value appears in masked inputs, renders and diffs."""

OutputRule = Callable[[str, dict[str, Any]], dict[str, Any]]
"""Computes extra outputs from a resource's name and (secret-unwrapped) inputs."""
CallRule = Callable[[dict[str, Any]], dict[str, Any]]
"""Answers an invoke from its (secret-unwrapped) arguments."""

_T = TypeVar("_T")

MOCK_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000000"
"""The Azure subscription ``getClientConfig`` answers with under mocks."""


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
            state.update(rule(args.name, unwrap(args.inputs)))
        resource_id = args.resource_id or (f"{args.name}-id" if args.custom else None)
        return resource_id, state

    def call(
        self, args: pulumi_mocks.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        """Answer an invoke from :attr:`calls`, or with ``{}``."""
        plain = unwrap(args.args)
        self.invokes.append((args.token, plain))
        rule = self.calls.get(args.token)
        return (rule(plain) if rule is not None else {}), []  # pulumi iterates the failures


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
    """Run ``program`` in isolation under ``mocks`` (default :class:`MlwsMocks`); see
    :func:`mlws.render.program_runner.run_isolated`. ``config`` keys are full (``project:key``).
    """
    return run_isolated(
        program,
        mocks=mocks or MlwsMocks(),
        project=project,
        stack=stack,
        preview=preview,
        config=config,
        secret_config_keys=secret_config_keys or [],
    )


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
    """``create``, ``delete`` or ``update`` (inputs changed, replacements included)."""
    urn: str
    """The resource's URN."""
    type: str
    """Its type token."""
    name: str
    """Its logical name."""
    fields: tuple[str, ...] = ()
    """For updates: the changed input paths, e.g. ``envs[0]`` or ``keepers.rotation``."""

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


_ORDER = {"create": 0, "update": 1, "delete": 2}


def diff_recordings(old: Recording, new: Recording) -> GraphDiff:
    """Compare two runs with :func:`mlws.render.diff.diff_renders`, secret values included.

    Only fields whose values differ are listed (not those a render would mark as changed "via" a
    replaced resource); components have no inputs of their own, so they appear only when created
    or deleted.
    """
    views = [r.to_render(project="", stack="", masked=False) for r in (old, new)]
    changes = []
    for change in diff_renders(*views).changes:
        kind: ChangeKind = "update" if change.kind == "replace" else change.kind
        fields = tuple(f.path for f in change.fields if f.via is None)
        if kind != "update" or fields:
            changes.append(Change(kind, change.urn, change.type, change.name, fields))
    changes.sort(key=lambda c: _ORDER[c.kind])
    return GraphDiff(tuple(changes))


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
