"""Shared fixtures: the one Pulumi-mocks fixture (STYLE #6) and the Docker engine."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mlws.mocks import MockHarness
    from tests.docker_support import DockerEngine


@pytest.fixture
def pulumi_mocks() -> Iterator["MockHarness"]:
    """Pulumi mocks for one test: no engine, no cloud; outputs resolve (``preview=False``).

    ``pulumi_mocks.run(program)`` runs a program in isolation and returns its recording; tests
    decorated with ``@pulumi.runtime.test`` register against the installed mocks and read
    ``pulumi_mocks.recording``. See :class:`mlws.mocks.MockHarness`.
    """
    pytest.importorskip("pulumi", reason="needs mlws[infra]")
    from mlws.mocks import MockHarness

    harness = MockHarness()
    harness.install()
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture(scope="session")
def docker_engine() -> "DockerEngine":
    """A Docker engine that answers (``scripts/docker-engine`` provides it where it can, once per
    session); the test skips with the script's reason where none can be had."""
    from tests.docker_support import provide_engine

    engine = provide_engine()
    if isinstance(engine, str):
        pytest.skip(engine)
    return engine
