"""The one Pulumi program runner: run a program in-process under mocks, record what it registers.

No engine, no plugins, no cloud credentials: :class:`~mlws.render.monitor.RecordingMonitor`
answers every registration from the configured :class:`pulumi.runtime.Mocks` and records it.

:func:`run_isolated` runs any callable that declares resources (what the test harness in
:mod:`mlws.mocks` uses); :func:`run_program` runs a project folder's ``__main__.py`` with its
stack config (what ``mlws render`` uses). Each run happens on its own thread, in a fresh
:class:`contextvars.Context` with its own event loop, so the Pulumi SDK's ambient state (settings,
root stack, config) does not leak from one run to the next, nor into the caller; a project's
working directory, ``sys.path`` and modules imported from its folder are restored afterwards.
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict, Unpack

import pulumi
import pulumi.runtime
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack

from mlws.components import errors as component_errors
from mlws.render import apply_origin
from mlws.render.errors import ProgramError
from mlws.render.model import Render
from mlws.render.monitor import Recording, RecordingMonitor
from mlws.render.project import Project, StackConfig


def default_mocks() -> pulumi.runtime.Mocks:
    """The project's mocks: inputs echoed back plus computed outputs (``mlws.mocks.MlwsMocks``)."""
    from mlws.mocks import MlwsMocks  # mlws.mocks' harness is built on this module

    return MlwsMocks()


class MockRunOptions(TypedDict, total=False):
    """How a program runs under mocks (:func:`install_mocks`, :func:`run_isolated`)."""

    project: str
    """The project name (default ``project``)."""
    stack: str
    """The stack name (default ``stack``)."""
    preview: bool
    """Run as ``pulumi preview``: outputs the mocks do not compute stay unknown."""
    config: Mapping[str, str] | None
    """Stack config; keys are full names (``project:key``)."""
    secret_config_keys: Sequence[str]
    """Which of ``config``'s keys are secrets."""
    logger: logging.Logger | None
    """Where the engine's log messages go."""


def install_mocks(
    mocks: pulumi.runtime.Mocks, **options: Unpack[MockRunOptions]
) -> RecordingMonitor:
    """Point the Pulumi runtime of the *current* context at a new recording monitor over ``mocks``.

    What ``pulumi.runtime.set_mocks`` does, minus creating the root stack: :func:`run_isolated`
    lets ``run_in_stack`` create it (as the real language host does), so the stack's outputs are
    registered after the program ran, where the monitor sees them; the test harness creates it
    itself. ``config`` keys are full names (``project:key``).
    """
    project = options.get("project", "project")
    config = options.get("config")
    monitor = RecordingMonitor(mocks)
    features = set(monitor.GetDeploymentInfo(None).supportedFeatures)  # type: ignore[no-untyped-call]
    pulumi_settings.configure(
        pulumi_mocks.MockSettings(  # type: ignore[no-untyped-call]
            monitor=monitor,
            monitor_features=features,
            engine=pulumi_mocks.MockEngine(options.get("logger")),
            project=project,
            stack=options.get("stack", "stack"),
            dry_run=options.get("preview", False),
            organization="organization",  # what the local backends report
            callbacks=None,
        )
    )
    # Some of Pulumi's context variables default to one shared mutable object; give this context
    # its own so outputs pending in another context (another run, a test) are never awaited here.
    settings = pulumi_settings.SETTINGS
    settings.outputs = set()
    settings.lock = threading.Lock()
    settings.package_refs = {}
    if hasattr(settings, "base_providers_by_ref"):  # pulumi newer than the pinned 3.259
        settings.base_providers_by_ref = {}
    pulumi_settings.ROOT.set(None)
    set_all_config(dict(config or {}), list(options.get("secret_config_keys", ())))
    return monitor


def _ignore_unretrieved(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if "exception" in context and "never retrieved" in str(context.get("message", "")):
        return
    loop.default_exception_handler(context)


def _run_in_fresh_context(
    program: Callable[[], object], install: Callable[[], RecordingMonitor]
) -> Recording:
    loop = asyncio.new_event_loop()
    # A failed program leaves many outputs holding the same exception; it is reported once, by the
    # caller, not again by asyncio as "Future exception was never retrieved" at collection.
    loop.set_exception_handler(_ignore_unretrieved)
    asyncio.set_event_loop(loop)
    monitor: RecordingMonitor | None = None

    def body() -> None:
        program()

    try:
        monitor = install()
        loop.run_until_complete(run_in_stack(body))
    except BaseException as exc:
        # Cancelling the tasks left (below) re-raises this same exception inside them, which
        # replaces its traceback: keep the one it was raised with, which says where it was.
        raised = exc.__traceback__
        _shut_down(loop, monitor)
        raise exc.with_traceback(raised)  # noqa: B904 - the same exception, not a new one
    _shut_down(loop, monitor)
    assert monitor is not None  # install() raised otherwise
    return monitor.recording


def _shut_down(loop: asyncio.AbstractEventLoop, monitor: RecordingMonitor | None) -> None:
    """Cancel what the program left running, close its loop and the mocks' monitor."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    asyncio.set_event_loop(None)
    if monitor is not None:
        monitor.close()


def run_isolated(
    program: Callable[[], object],
    *,
    mocks: pulumi.runtime.Mocks | None = None,
    **options: Unpack[MockRunOptions],
) -> Recording:
    """Run ``program`` (a callable that declares resources, like a ``__main__.py``) under mocks.

    The run happens on a thread of its own, in an empty ``contextvars`` context, with an event loop
    of its own: the caller's event loop and Pulumi settings are left exactly as they were. The
    program's exceptions propagate as raised (one raised in an ``apply`` callback also carries the
    traceback of that raise: :mod:`mlws.render.apply_origin`). With ``preview=True`` outputs the
    mocks do not compute stay unknown, as in ``pulumi preview``.
    """
    chosen = mocks or default_mocks()
    result: list[Recording] = []
    failure: list[BaseException] = []

    def install() -> RecordingMonitor:
        return install_mocks(chosen, **options)

    apply_origin.install()

    def target() -> None:
        try:
            result.append(contextvars.Context().run(_run_in_fresh_context, program, install))
        except BaseException as exc:  # re-raised on the caller's thread below
            failure.append(exc)

    worker = threading.Thread(
        target=target, name=f"mlws-program-{options.get('project', 'project')}", daemon=True
    )
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result[0]


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
    # Packages can also come from site folders outside this interpreter's own (scripts/venv puts
    # the dependencies in a shared venv on sys.path): those are libraries too.
    dirs |= {entry for entry in sys.path if Path(entry).name in ("site-packages", "dist-packages")}
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
    if isinstance(exc, component_errors.ConfigError):
        # every problem, shown where the program made the component (not inside the components)
        text = exc.one_line()
        libraries = (*libraries, str(Path(component_errors.__file__).resolve().parent) + os.sep)
    raised: str | None = None
    program: str | None = None
    for frame in traceback.extract_tb(apply_origin.raised_traceback(exc)):
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


def run_program(
    project: Project,
    stack: str,
    config: StackConfig,
    mocks: pulumi.runtime.Mocks | None = None,
) -> Render:
    """Run ``project``'s program for ``stack`` with ``config`` under ``mocks``; return the render.

    Runs as :func:`run_isolated` does, with the program's folder as working directory and first on
    ``sys.path``. Raises :class:`ProgramError` (one-line message) when the program, or an ``apply``
    in it, fails.
    """
    handler = _CollectingHandler()
    logger = logging.getLogger(f"mlws.render.program.{id(handler)}")
    logger.propagate = False
    logger.addHandler(handler)
    entry = str(project.entry)

    def program() -> None:
        runpy.run_path(entry, run_name="__main__")

    try:
        with _program_process_state(project.work_dir):
            recording = run_isolated(
                program,
                mocks=mocks,
                project=project.name,
                stack=stack,
                config=config.values,
                secret_config_keys=sorted(config.secret_keys),
                logger=logger,
            )
    except (Exception, SystemExit) as exc:
        raise ProgramError(_describe(exc, project.entry)) from exc
    finally:
        logger.removeHandler(handler)
    return recording.to_render(
        project=project.name, stack=stack, config=config.shown(), messages=handler.messages
    )
