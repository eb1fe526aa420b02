"""``aci`` logs: an ACI container group's container logs through the Azure SDK's container-instance
client (``azure-mgmt-containerinstance``).

Credentials come from ``azure-identity``'s ``DefaultAzureCredential`` when it is installed, else
from the Azure CLI (``az account get-access-token``). ``MLWS_ARM_ENDPOINT`` points the client at
another Resource Manager (sovereign clouds, tests).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from mlws.logsources.base import LogError, LogLine, tail_of

REMOTE_POLL_SECONDS = 3.0
"""How often followed ACI logs are fetched again (ACI has no log stream over REST)."""

ARM_ENDPOINT_ENV = "MLWS_ARM_ENDPOINT"
"""Overrides the Azure Resource Manager endpoint (sovereign clouds, tests)."""

_AZ_TOKEN_QUERY = ("--query", "accessToken", "--output", "tsv")
_TOKEN_SECONDS = 300


def arm_endpoint() -> str:
    """The Azure Resource Manager endpoint (``MLWS_ARM_ENDPOINT`` or the public cloud's)."""
    return os.environ.get(ARM_ENDPOINT_ENV, "https://management.azure.com").rstrip("/")


def azure_cli_token(resource: str) -> str:
    """An access token for ``resource`` from the Azure CLI (``az``)."""
    az = shutil.which("az")
    if az is None:
        raise LogError(
            "ACI logs need Azure credentials, but neither the Azure CLI (`az`) nor the "
            "azure-identity package is installed: install one and sign in (`az login`)"
        )
    done = subprocess.run(  # noqa: S603 - fixed argv
        [az, "account", "get-access-token", "--resource", resource, *_AZ_TOKEN_QUERY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit code {done.returncode}"
        raise LogError(f"the Azure CLI gave no access token ({reason}): run `az login`")
    return token


class _AccessToken(NamedTuple):
    token: str
    expires_on: int


class AzureCliCredential:
    """An ``azure-core`` token credential backed by ``az account get-access-token``."""

    def get_token(self, *scopes: str, **_: Any) -> _AccessToken:
        """A token for the first scope (``<resource>/.default``)."""
        resource = scopes[0].removesuffix(".default")
        return _AccessToken(azure_cli_token(resource), int(time.time()) + _TOKEN_SECONDS)


def _credential() -> Any:
    try:
        identity: Any = importlib.import_module("azure.identity")
    except ImportError:
        return AzureCliCredential()
    return identity.DefaultAzureCredential()


def _client(subscription_id: str, endpoint: str) -> Any:
    try:
        module: Any = importlib.import_module("azure.mgmt.containerinstance")
    except ImportError:
        raise LogError(
            "ACI logs need the Azure SDK's container-instance client: pip install 'mlws[aci]'"
        ) from None
    return module.ContainerInstanceManagementClient(
        _credential(),
        subscription_id,
        base_url=endpoint,
        credential_scopes=[f"{endpoint}/.default"],
        retry_total=0,
    )


def _is_loopback(endpoint: str) -> bool:
    return urlsplit(endpoint).hostname in ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class AciLogs:
    """An ACI container group's container logs through Azure Resource Manager."""

    subscription_id: str
    resource_group: str
    container_group: str
    container: str | None = None

    def lines(
        self, *, tail: int | None, follow: bool, init: bool, stop: threading.Event
    ) -> Iterator[LogLine]:
        """Fetch each container's logs (polling again while ``follow``), labelled by container."""
        endpoint = arm_endpoint()
        client = _client(self.subscription_id, endpoint)
        # Bearer tokens go over TLS only, except to a Resource Manager stand-in on this machine.
        options = {"enforce_https": False} if _is_loopback(endpoint) else {}
        exceptions: Any = importlib.import_module("azure.core.exceptions")
        try:
            with client:
                yield from self._lines(
                    client, options, tail=tail, follow=follow, init=init, stop=stop
                )
        except exceptions.ClientAuthenticationError as exc:
            if exc.status_code is None:  # raised by the credential, before any request
                raise LogError(
                    f"azure-identity found no usable Azure credentials ({_message(exc)}): "
                    "run `az login` or set AZURE_CLIENT_ID, AZURE_TENANT_ID and "
                    "AZURE_CLIENT_SECRET"
                ) from None
            raise LogError(self._refused(exc)) from None
        except exceptions.ResourceNotFoundError:
            raise LogError(
                f"no container group {self.container_group!r} in resource group "
                f"{self.resource_group!r} of subscription {self.subscription_id!r}"
            ) from None
        except exceptions.HttpResponseError as exc:
            if exc.status_code in (401, 403):
                raise LogError(self._refused(exc)) from None
            raise LogError(f"Azure error {exc.status_code}: {_message(exc)}") from None
        except exceptions.AzureError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LogError(f"cannot reach Azure Resource Manager at {endpoint}: {reason}") from None

    def _refused(self, exc: Any) -> str:
        status = exc.status_code or 401
        return f"Azure refused access ({status}): {_message(exc)}"

    def _lines(
        self,
        client: Any,
        options: dict[str, Any],
        *,
        tail: int | None,
        follow: bool,
        init: bool,
        stop: threading.Event,
    ) -> Iterator[LogLine]:
        group = client.container_groups.get(self.resource_group, self.container_group, **options)
        members = (group.init_containers if init else group.containers) or []
        names = [str(member.name) for member in members]
        if self.container is not None:
            if self.container not in names:
                raise LogError(
                    f"container group {self.container_group!r} has no "
                    f"{'init ' if init else ''}container {self.container!r} "
                    f"(it has: {', '.join(names) or 'none'})"
                )
            names = [self.container]
        if not names:
            kind = "init containers" if init else "containers"
            raise LogError(f"container group {self.container_group!r} has no {kind}")
        label = len(names) > 1
        seen: dict[str, int] = {}
        while True:
            for name in names:
                # without --follow, let Azure cut the tail (it returns at most 4 MB)
                cut = tail if tail and not follow else None
                logs = client.containers.list_logs(
                    self.resource_group, self.container_group, name, tail=cut, **options
                )
                lines = (logs.content or "").splitlines()
                previous = seen.get(name)
                if previous is None:
                    fresh = tail_of(lines, tail)
                else:
                    fresh = lines[previous:] if len(lines) >= previous else lines
                seen[name] = len(lines)
                for text in fresh:
                    yield LogLine(text, name if label else None)
            if not follow or init or stop.wait(REMOTE_POLL_SECONDS):
                return


def _message(exc: Any) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    if isinstance(message, str) and message:
        return message
    return str(getattr(exc, "reason", "") or exc).splitlines()[0][:300]
