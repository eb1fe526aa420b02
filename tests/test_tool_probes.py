"""Tests that need an external tool probe what they really need, through the shared probes.

A Docker engine is reached only through ``docker_support`` (the ``docker_engine`` fixture: the
engine ``scripts/docker-engine`` provides, wherever its socket is, with ``DOCKER_HOST`` set), and
a test that builds on a base image asks ``require_base_image`` first (an engine that answers but
cannot pull skips it, saying why, instead of failing it). A hand-made probe
(``/var/run/docker.sock``, a bare ``docker info``) skips where the project's engine runs (its
socket is under ``~/.cache/mlws/docker``), or runs where a build cannot.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SHARED_PROBES = {TESTS / "docker_support.py", Path(__file__).resolve()}
TEST_FILES = sorted(p for p in TESTS.rglob("*.py") if p not in SHARED_PROBES)

_HAND_MADE_DOCKER_PROBES = (
    re.compile(r"/var/run/docker\.sock"),
    re.compile(r"""["']docker["']\s*,\s*["']info["']"""),
    re.compile(r"""which\(\s*["']docker["']"""),
)


def _name(path: Path) -> str:
    return str(path.relative_to(TESTS))


@pytest.mark.parametrize("path", TEST_FILES, ids=_name)
def test_docker_is_probed_through_docker_support(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for probe in _HAND_MADE_DOCKER_PROBES:
        match = probe.search(text)
        assert match is None, (
            f"{_name(path)} probes Docker by hand ({match[0]!r}): take the docker_engine fixture"
        )


def test_the_probes_find_a_hand_made_probe() -> None:
    text = 'shutil.which("docker") is None or not Path("/var/run/docker.sock").exists()'
    assert all(probe.search(text) for probe in _HAND_MADE_DOCKER_PROBES[::2])
    assert _HAND_MADE_DOCKER_PROBES[1].search('subprocess.run(["docker", "info"])')
