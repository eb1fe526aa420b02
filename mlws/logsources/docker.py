"""``docker`` logs: a container's stdout and stderr through the Docker SDK for Python.

The SDK talks to the engine API over ``DOCKER_HOST`` (or ``/var/run/docker.sock``), negotiates the
API version, and splits the engine's multiplexed stream (tty or not) into payload chunks.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlws.logsources.base import LogError, LogLine, startup_lines, tail_of

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
"""Where the engine listens when ``DOCKER_HOST`` is not set."""


def _docker_sdk() -> Any:
    try:
        return importlib.import_module("docker")
    except ImportError:
        raise LogError(
            "docker logs need the Docker SDK for Python: pip install 'mlws[docker]'"
        ) from None


def _address(host: str | None) -> str:
    address = host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    parts = urlsplit(address)
    if parts.scheme == "unix":
        if not Path(parts.path).exists():
            raise LogError(
                f"no Docker engine: socket {parts.path} does not exist "
                "(start Docker, or set DOCKER_HOST / export docker_host)"
            )
    elif parts.scheme not in ("tcp", "http", "https"):
        raise LogError(f"unsupported Docker host {address!r} (use unix:// or tcp://)")
    return address


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Lines of a byte stream whose chunks may end anywhere (``\\r\\n`` or ``\\n``)."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *done, buffer = buffer.split(b"\n")
        for raw in done:
            yield raw.decode("utf-8", errors="replace").rstrip("\r")
    if buffer:
        yield buffer.decode("utf-8", errors="replace").rstrip("\r")


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


@dataclass(frozen=True, slots=True)
class DockerLogs:
    """A container's logs from the Docker Engine API."""

    container: str
    host: str | None = None

    def lines(
        self, *, tail: int | None, follow: bool, init: bool, stop: threading.Event
    ) -> Iterator[LogLine]:
        """Stream the container's stdout and stderr."""
        sdk = _docker_sdk()
        address = _address(self.host)
        errors = sdk.errors
        try:
            client = sdk.DockerClient(base_url=address, version="auto", timeout=10)
        except errors.DockerException as exc:
            raise LogError(
                f"cannot connect to the Docker engine at {address}: {_first_line(exc)}"
            ) from None
        try:
            container = client.containers.get(self.container)
            chunks: Iterable[bytes] = container.logs(
                stdout=True,
                stderr=True,
                stream=True,
                follow=follow and not init,
                tail="all" if tail is None or init else tail,
            )
            texts: Iterable[str] = split_lines(chunks)
            if init:
                texts = tail_of(startup_lines(texts), tail)
            for text in texts:
                if stop.is_set():
                    return
                yield LogLine(text)
        except errors.NotFound:
            raise LogError(
                f"no Docker container named {self.container!r} at {address} "
                "(is the service deployed? `docker ps -a`)"
            ) from None
        except errors.APIError as exc:
            reason = _first_line(exc.explanation or exc)
            raise LogError(f"Docker engine error {exc.status_code}: {reason}") from None
        except errors.DockerException as exc:
            raise LogError(
                f"cannot connect to the Docker engine at {address}: {_first_line(exc)}"
            ) from None
        finally:
            client.close()
