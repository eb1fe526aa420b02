"""Shared fixtures: the one Pulumi-mocks fixture (STYLE #6)."""

import asyncio
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class PulumiMocks:
    """What the ``pulumi_mocks`` fixture gives a test.

    Two ways to use it:

    - ``pulumi_mocks.run(program)`` runs a whole program in an isolated context and returns its
      :class:`mlws.mocks.Recording` (graphs, secrets, diffs via :func:`mlws.mocks.diff_recordings`);
    - tests decorated with ``@pulumi.runtime.test`` run against the mocks installed for the test
      and read :attr:`recording` (assert inside ``Output.all(...).apply(...)``).
    """

    mocks: Any
    """The :class:`mlws.mocks.MlwsMocks` answering registrations."""
    monitor: Any
    """The :class:`mlws.mocks.RecordingMonitor` installed for ``@pulumi.runtime.test`` tests."""
    runs: list[Any] = field(default_factory=list)

    @property
    def recording(self) -> Any:
        """What ``@pulumi.runtime.test`` code in this test registered so far."""
        return self.monitor.recording

    def run(self, program: Callable[[], object], **kwargs: Any) -> Any:
        """Run ``program`` in isolation (see :func:`mlws.mocks.run_program`)."""
        from mlws.mocks import run_program

        recording = run_program(program, mocks=self.mocks, **kwargs)
        self.runs.append(recording)
        return recording


@pytest.fixture
def pulumi_mocks() -> Iterator[PulumiMocks]:
    """Pulumi mocks for one test: no engine, no cloud; outputs resolve (``preview=False``)."""
    pytest.importorskip("pulumi", reason="needs mlws[infra]")
    from pulumi.runtime import settings
    from pulumi.runtime.stack import Stack, wait_for_rpcs

    from mlws.mocks import MlwsMocks, install_mocks

    mocks = MlwsMocks()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    root: contextvars.Token[Any] = settings.ROOT.set(None)
    monitor = install_mocks(mocks, preview=False)
    Stack()._finish()
    try:
        yield PulumiMocks(mocks=mocks, monitor=monitor)
    finally:
        try:
            loop.run_until_complete(wait_for_rpcs())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            asyncio.set_event_loop(None)
            monitor.close()
            settings.ROOT.reset(root)
