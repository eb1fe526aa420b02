"""Fixtures for the render tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.render.render_programs import KEYS_PROGRAM, KEYS_STACK, write_program


@pytest.fixture
def keys_program(tmp_path: Path) -> Path:
    """The :data:`KEYS_PROGRAM` with a ``dev`` stack."""
    pytest.importorskip("pulumi_random", reason="needs mlws[infra]")
    return write_program(tmp_path / "keysapp", KEYS_PROGRAM, stacks={"dev": KEYS_STACK})
