"""Fixtures for the runtime tests: toy entry scripts written to a temporary folder, settings, and an
in-process client for the ASGI app (httpx + ASGITransport, no sockets)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlws.runtime.app import ScoringApp
from tests.runtime.runtime_helpers import make_settings, write_script


@pytest.fixture
def script_dir(tmp_path: Path) -> Path:
    return tmp_path / "scoring"


@pytest.fixture
async def serve_app(
    script_dir: Path,
) -> AsyncIterator[Callable[..., Any]]:
    """``await serve_app("echo", **settings)`` -> (app, client) with init() finished."""
    started: list[tuple[ScoringApp, httpx.AsyncClient]] = []

    async def start(
        script: str, *, wait: bool = True, **overrides: Any
    ) -> tuple[ScoringApp, httpx.AsyncClient]:
        write_script(script_dir, script)
        app = ScoringApp(make_settings(script_dir, **overrides))
        await app.startup()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        started.append((app, client))
        if wait:
            await app.wait_ready()
        return app, client

    yield start
    for app, client in started:
        await client.aclose()
        await app.shutdown()


@pytest.fixture(autouse=True)
def _restore_model_dir_env() -> Iterator[None]:
    """Entry scripts set AZUREML_MODEL_DIR, AML_APP_ROOT and AZUREML_ENTRY_SCRIPT for the process
    (as azmlinfsrv does); unset them before and put them back after each test."""
    names = ("AZUREML_MODEL_DIR", "AML_APP_ROOT", "AZUREML_ENTRY_SCRIPT")
    saved = {name: os.environ.pop(name, None) for name in names}
    yield
    for name, value in saved.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value
