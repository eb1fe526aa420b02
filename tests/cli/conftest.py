"""Real ``mlws serve`` processes on free localhost ports for the operations-command tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.cli.cli_helpers import (
    AUDIENCE,
    ISSUER,
    PRIMARY,
    SECONDARY,
    TOKEN_SECRET,
    Served,
    start_server,
    stop_server,
)


@pytest.fixture(scope="session")
def serve_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[dict[str, str]], Served]]:
    started: list[Served] = []

    def start(env_extra: dict[str, str]) -> Served:
        served = start_server(tmp_path_factory.mktemp("serve"), env_extra)
        started.append(served)
        return served

    yield start
    for served in started:
        stop_server(served)


@pytest.fixture(scope="session")
def open_service(serve_factory: Callable[[dict[str, str]], Served]) -> Served:
    return serve_factory({"MLWS_AUTH_MODE": "none"})


@pytest.fixture(scope="session")
def key_service(serve_factory: Callable[[dict[str, str]], Served]) -> Served:
    return serve_factory(
        {"MLWS_AUTH_MODE": "key", "MLWS_PRIMARY_KEY": PRIMARY, "MLWS_SECONDARY_KEY": SECONDARY}
    )


@pytest.fixture(scope="session")
def token_service(serve_factory: Callable[[dict[str, str]], Served]) -> Served:
    return serve_factory(
        {
            "MLWS_AUTH_MODE": "token",
            "MLWS_TOKEN_SECRET": TOKEN_SECRET,
            "MLWS_TOKEN_AUDIENCE": AUDIENCE,
            "MLWS_TOKEN_ISSUER": ISSUER,
        }
    )


@pytest.fixture(autouse=True)
def _clean_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads MLWS_KEY / MLWS_TOKEN / MLWS_TOKEN_SECRET; a developer's shell must not leak
    into the tests."""
    for name in ("MLWS_KEY", "MLWS_TOKEN", "MLWS_TOKEN_SECRET", "MLWS_ARM_ENDPOINT", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
