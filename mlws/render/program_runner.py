"""Run a Pulumi Python program in-process under mocks and record every resource it registers.

No engine, no plugins, no cloud credentials: Pulumi's mock monitor answers every registration, the
configured :class:`pulumi.runtime.Mocks` computes provider outputs, and a recording monitor keeps
each request (type, name, parent, inputs as sent on the wire, diff-relevant options).

Each run happens on its own thread, in a fresh :class:`contextvars.Context` with its own event
loop, so the Pulumi SDK's ambient state (settings, root stack, config) does not leak from one render
to the next, nor into the caller; the working directory, ``sys.path`` and modules imported from the
program's folder are restored afterwards.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import runpy
import sys
import sysconfig
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_in_stack

from mlws.mocks import MlwsMocks, RecordingMonitor
from mlws.render.errors import ProgramError
from mlws.render.model import Render, RenderedResource
from mlws.render.project import Project, StackConfig
from mlws.render.values import normalize_props

STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"
#: Dynamic resources carry their provider, pickled, in this input: shown as a marker instead.
DYNAMIC_PROVIDER_INPUT = "__provider"


def default_mocks() -> pulumi.runtime.Mocks:
    """The project's mocks: inputs echoed back plus computed outputs (``mlws.mocks.MlwsMocks``)."""
    return MlwsMocks()


def _struct_to_dict(struct: Any) -> dict[str, Any]:
    raw = json_format.MessageToDict(struct)
    return raw if isinstance(raw, dict) else {}


def _inputs(request: Any) -> dict[str, Any]:
    inputs = normalize_props(_struct_to_dict(request.object))
    if request.type.startswith("pulumi-python:dynamic") and DYNAMIC_PROVIDER_INPUT in inputs:
        inputs[DYNAMIC_PROVIDER_INPUT] = "[pickled dynamic provider]"
    return inputs


def _options(request: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for wire, key in (
        ("replaceOnChanges", "replaceOnChanges"),
        ("ignoreChanges", "ignoreChanges"),
        ("additionalSecretOutputs", "additionalSecretOutputs"),
    ):
        values = sorted(getattr(request, wire, []) or [])
        if values:
            out[key] = values
    for flag in ("protect", "deleteBeforeReplace", "retainOnDelete"):
        if bool(getattr(request, flag, False)):
            out[flag] = True
    provider = str(getattr(request, "provider", "") or "")
    if provider:
        out["provider"] = provider.split("::")[-2] if provider.count("::") >= 4 else provider
    return out


class _StackReferenceDefaults(pulumi.runtime.Mocks):
    """Delegates to ``inner``; a ``StackReference`` the mocks know nothing of has no outputs.

    (The SDK reads the reference's ``outputs`` map; without one every ``get_output`` would fail.
    With an empty one it gives ``None``, which is all an offline render can know.)
    """

    def __init__(self, inner: pulumi.runtime.Mocks) -> None:
        self.inner = inner

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[Any, Any]]:
        """The inner mocks' answer, with ``outputs`` defaulted for stack references."""
        resource_id, state = self.inner.new_resource(args)
        if args.typ == STACK_REFERENCE_TYPE and state.get("outputs") is None:
            state = {**state, "outputs": {}, "secretOutputNames": []}
        return resource_id, state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        """The inner mocks' answer."""
        return self.inner.call(args)


class RenderMonitor(RecordingMonitor):
    """``mlws.mocks``' monitor, also keeping what a render shows.

    The base class answers registrations as the engine would (computed outputs from the mocks,
    ``additionalSecretOutputs`` marked secret, an event loop per executor thread); this class adds
    engine-style URNs, per-property dependencies, diff-relevant options, reads and stack outputs in
    the render's normalized form.
    """

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(_StackReferenceDefaults(mocks))
        self._render_lock = threading.Lock()
        self.recorded: dict[str, RenderedResource] = {}
        self.stack_outputs: dict[str, Any] = {}
        self._urns: dict[str, str] = {}
        self._qualified_types: dict[str, str] = {}

    def _identify(self, mock_parent: str, type_: str, name: str) -> tuple[str, str | None]:
        """The URN the Pulumi engine would give (the mock's drops outer types), and the parent's.

        Remembers it under the mock monitor's URN, which is what children name as their parent.
        """
        mock_urn = self.make_urn(mock_parent, type_, name)
        with self._render_lock:
            parent = self._urns.get(mock_parent) if mock_parent else None
            qualified = type_
            if parent is not None:
                qualified = f"{self._qualified_types[parent]}${type_}"
            urn = f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{qualified}::{name}"
            self._urns[mock_urn] = urn
            self._qualified_types[urn] = qualified
        return urn, parent

    def _record(self, res: RenderedResource) -> None:
        with self._render_lock:
            self.recorded[res.urn] = res

    def _dependencies(self, request: Any) -> dict[str, list[str]]:
        """Which registered resources each input property was computed from (URNs, sorted)."""
        out: dict[str, list[str]] = {}
        with self._render_lock:
            for prop, deps in request.propertyDependencies.items():
                urns = sorted({self._urns.get(u, u) for u in deps.urns})
                if urns:
                    out[str(prop)] = urns
        return dict(sorted(out.items()))

    def RegisterResource(self, request: Any) -> Any:
        """Record the registration, then let the mocks answer it."""
        if request.type != STACK_TYPE:
            urn, parent = self._identify(request.parent, request.type, request.name)
            self._record(
                RenderedResource(
                    urn=urn,
                    type=request.type,
                    name=request.name,
                    parent=parent,
                    custom=bool(request.custom),
                    inputs=_inputs(request),
                    options=_options(request),
                    dependencies=self._dependencies(request),
                )
            )
        return super().RegisterResource(request)

    def ReadResource(self, request: Any) -> Any:
        """Record a ``Resource.get`` read, then let the mocks answer it."""
        urn, parent = self._identify(request.parent, request.type, request.name)
        inputs = normalize_props(_struct_to_dict(request.properties))
        inputs["id"] = request.id
        self._record(
            RenderedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=parent,
                custom=True,
                inputs=inputs,
                read=True,
            )
        )
        return super().ReadResource(request)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        """Keep the stack's outputs (``pulumi.export``)."""
        if f"::{STACK_TYPE}::" in request.urn:
            outputs = normalize_props(_struct_to_dict(request.outputs))
            with self._render_lock:
                self.stack_outputs = outputs
        return super().RegisterResourceOutputs(request)

    def tree_order(self) -> list[RenderedResource]:
        """Resources depth-first from the stack, siblings sorted by (type, name)."""
        children: dict[str | None, list[RenderedResource]] = {}
        for res in self.recorded.values():
            parent = res.parent if res.parent in self.recorded else None
            children.setdefault(parent, []).append(res)
        out: list[RenderedResource] = []

        def visit(parent: str | None) -> None:
            for res in sorted(children.get(parent, []), key=lambda r: (r.type, r.name, r.urn)):
                out.append(res)
                visit(res.urn)

        visit(None)
        return out


class _CollectingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname.lower()}: {record.getMessage()}")


@contextmanager
def _program_process_state(work_dir: Path) -> Iterator[None]:
    """Run with cwd = the program folder and it first on ``sys.path``; undo both afterwards."""
    old_cwd = Path.cwd()
    old_path = list(sys.path)
    old_modules = set(sys.modules)
    os.chdir(work_dir)
    sys.path.insert(0, str(work_dir))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        root = str(work_dir.resolve())
        for name in set(sys.modules) - old_modules:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file and str(Path(file).resolve()).startswith(root + os.sep):
                del sys.modules[name]


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"]}
    here = str(Path(__file__).resolve().parent)
    return (*sorted(str(Path(d).resolve()) + os.sep for d in dirs), here + os.sep)


def _shown_path(filename: str, folder: str) -> str:
    path = Path(filename).resolve()
    if str(path).startswith(folder + os.sep):
        return str(path.relative_to(folder))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _describe(exc: BaseException, entry: Path) -> str:
    """One line: the error, where it was raised outside libraries, and the entry file's line."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = type(exc).__name__
    text = f"{kind}: {message}" if message else kind
    if isinstance(exc, pulumi.RunError | pulumi.ConfigMissingError):
        text = message or kind
    folder = str(entry.parent.resolve())
    libraries = _library_dirs()
    raised: str | None = None
    program: str | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        filename = str(Path(frame.filename).resolve())
        if frame.filename.startswith("<") or filename.startswith(libraries):
            continue
        raised = f"{_shown_path(frame.filename, folder)}:{frame.lineno}"
        if filename == str(entry.resolve()):
            program = raised
    if raised is None:
        return text
    if program is None or program == raised:
        return f"{text} (at {raised})"
    return f"{text} (at {raised}, from {program})"


def _configure_mocks(
    monitor: RenderMonitor, project: str, stack: str, logger: logging.Logger
) -> None:
    """What ``pulumi.runtime.set_mocks`` does, minus creating the root stack.

    ``run_in_stack`` creates the stack (as the real language host does), so its outputs are
    registered after the program ran, where :class:`RenderMonitor` sees them. (Like
    ``mlws.mocks.install_mocks``, but with this monitor and a logger that keeps warnings.)
    """
    features = set(monitor.GetDeploymentInfo(None).supportedFeatures)  # type: ignore[no-untyped-call]
    pulumi_settings.configure(
        pulumi_mocks.MockSettings(  # type: ignore[no-untyped-call]
            monitor=monitor,
            monitor_features=features,
            engine=pulumi_mocks.MockEngine(logger),
            project=project,
            stack=stack,
            dry_run=False,
            organization="organization",  # what the local backends report
            callbacks=None,
        )
    )
    pulumi_settings.ROOT.set(None)


def _ignore_unretrieved(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if "exception" in context and "never retrieved" in str(context.get("message", "")):
        return
    loop.default_exception_handler(context)


def _run_in_fresh_context(
    project: Project, stack: str, config: StackConfig, mocks: pulumi.runtime.Mocks
) -> Render:
    monitor = RenderMonitor(mocks)
    logger = logging.getLogger(f"mlws.render.program.{id(monitor)}")
    logger.propagate = False
    handler = _CollectingHandler()
    logger.addHandler(handler)
    loop = asyncio.new_event_loop()
    # A failed program leaves many outputs holding the same exception; it is reported once, as a
    # ProgramError, not again by asyncio as "Future exception was never retrieved" at collection.
    loop.set_exception_handler(_ignore_unretrieved)
    asyncio.set_event_loop(loop)
    try:
        _configure_mocks(monitor, project.name, stack, logger)
        pulumi.runtime.set_all_config(dict(config.values), sorted(config.secret_keys))
        entry = str(project.entry)

        def program() -> None:
            runpy.run_path(entry, run_name="__main__")

        failure: BaseException | None = None
        with _program_process_state(project.work_dir):
            try:
                loop.run_until_complete(run_in_stack(program))
            except (Exception, SystemExit) as exc:
                failure = exc
        if failure is not None:
            raise ProgramError(_describe(failure, project.entry)) from failure
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(None)
        monitor.close()
        logger.removeHandler(handler)
    return Render(
        project=project.name,
        stack=stack,
        config=config.shown(),
        resources=monitor.tree_order(),
        outputs=monitor.stack_outputs,
        messages=handler.messages,
    )


def run_program(
    project: Project,
    stack: str,
    config: StackConfig,
    mocks: pulumi.runtime.Mocks | None = None,
) -> Render:
    """Run ``project``'s program for ``stack`` with ``config`` under ``mocks``; return the render.

    The run happens on a thread of its own, in an empty ``contextvars`` context, with an event loop
    of its own: the caller's event loop and Pulumi settings are left exactly as they were.
    Raises :class:`ProgramError` (one-line message) when the program, or an ``apply`` in it, fails.
    """
    chosen = mocks or default_mocks()
    result: list[Render] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(
                contextvars.Context().run(_run_in_fresh_context, project, stack, config, chosen)
            )
        except BaseException as exc:  # re-raised on the caller's thread below
            failure.append(exc)

    worker = threading.Thread(target=target, name=f"mlws-render-{project.name}", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result[0]
