"""Where a service's logs come from, per kind of target (``get_webservice_logs``).

- ``local-process``: the log file the background ``mlws serve`` writes (read, tailed, followed).
- ``docker``: the Docker Engine API over its socket (``DOCKER_HOST`` or ``/var/run/docker.sock``);
  no docker CLI needed.
- ``aci``: the Azure Resource Manager REST API (container group, then each container's logs), with
  a token from ``azure-identity`` when installed or from ``az account get-access-token``.
- ``aks``: ``kubectl logs -l <selector>`` over every replica, each line labelled by its pod.

Each source yields :class:`LogLine` objects; every failure is a :class:`LogError` whose message is
one line naming what is missing.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

from mlws.service import ServiceError, ServiceKind, ServiceOutputs

POLL_SECONDS = 0.25
"""How often a followed log file is checked for new lines."""

REMOTE_POLL_SECONDS = 3.0
"""How often followed ACI logs are fetched again (ACI has no log stream over REST)."""

ACI_API_VERSION = "2023-05-01"
"""Azure Container Instances REST API version."""

ARM_ENDPOINT_ENV = "MLWS_ARM_ENDPOINT"
"""Overrides the Azure Resource Manager endpoint (sovereign clouds, tests)."""

_DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
_AZ_TOKEN_QUERY = ("--query", "accessToken", "--output", "tsv")


class LogError(ServiceError):
    """Logs could not be read; the message names what is missing."""


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line and where it came from (a pod or container name, or None)."""

    text: str
    source: str | None = None

    def render(self) -> str:
        """The line as printed: ``[source] text`` when labelled."""
        return f"[{self.source}] {self.text}" if self.source else self.text


class LogSource(Protocol):
    """Something that can produce a service's log lines."""

    def lines(
        self, *, tail: int | None, follow: bool, init: bool, stop: threading.Event
    ) -> Iterator[LogLine]:
        """Yield the last ``tail`` lines (all when None), then new ones while ``follow`` until
        ``stop`` is set. ``init`` selects the start-up (init container) logs."""
        ...


#: Paths of health probes and scrapes; their request lines do not end the start-up section.
PROBE_PATHS = frozenset({"/", "/live", "/ready", "/metrics"})


def request_path(text: str) -> str | None:
    """The path of the runtime's per-request JSON log line, or None for any other line."""
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or "status" not in data:
        return None
    if "request_id" not in data and "path" not in data and "method" not in data:
        return None
    path = data.get("path")
    return path if isinstance(path, str) else ""


def is_request_line(text: str) -> bool:
    """True for the runtime's per-request JSON log line (it has a status and a request id)."""
    return request_path(text) is not None


def startup_lines(lines: Iterable[str]) -> Iterator[str]:
    """The start-up part of a log: every line before the first real (non-probe) request,
    without the probe request lines."""
    for line in lines:
        path = request_path(line)
        if path is None:
            yield line
        elif path not in PROBE_PATHS:
            return


def _tail(lines: Iterable[str], tail: int | None) -> list[str]:
    if tail is None:
        return list(lines)
    if tail <= 0:
        return []
    return list(deque(lines, maxlen=tail))


# --- local process: a log file -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalFileLogs:
    """The log file of a service run by ``mlws serve`` in the background."""

    path: Path

    def lines(
        self, *, tail: int | None, follow: bool, init: bool, stop: threading.Event
    ) -> Iterator[LogLine]:
        """Read the file's last lines, then follow appends (and truncation or replacement)."""
        if not self.path.is_file():
            raise LogError(f"log file {str(self.path)!r} does not exist (has the service started?)")
        with self.path.open("rb") as handle:
            data = handle.read()
            position = handle.tell()
            inode = os.fstat(handle.fileno()).st_ino
        text = data.decode("utf-8", errors="replace")
        complete, _, partial = text.rpartition("\n") if "\n" in text else ("", "", text)
        existing = complete.split("\n") if complete else []
        if partial and not follow:
            existing.append(partial)
        if init:
            for line in _tail(startup_lines(existing), tail):
                yield LogLine(line)
            return
        for line in _tail(existing, tail):
            yield LogLine(line)
        if not follow:
            return
        yield from self._follow(position - len(partial.encode("utf-8")), inode, stop)

    def _follow(self, position: int, inode: int, stop: threading.Event) -> Iterator[LogLine]:
        buffer = b""
        while not stop.is_set():
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                stop.wait(POLL_SECONDS)
                continue
            if stat.st_ino != inode or stat.st_size < position:
                inode, position, buffer = stat.st_ino, 0, b""
            if stat.st_size > position:
                with self.path.open("rb") as handle:
                    handle.seek(position)
                    chunk = handle.read()
                    position = handle.tell()
                buffer += chunk
                *done, buffer = buffer.split(b"\n")
                for raw in done:
                    yield LogLine(raw.decode("utf-8", errors="replace"))
                continue
            stop.wait(POLL_SECONDS)


# --- docker: the engine API ----------------------------------------------------------------------


def _docker_client(host: str | None) -> tuple[httpx.Client, str]:
    address = host or os.environ.get("DOCKER_HOST") or _DEFAULT_DOCKER_HOST
    parts = urlsplit(address)
    if parts.scheme == "unix":
        socket_path = parts.path
        if not Path(socket_path).exists():
            raise LogError(
                f"no Docker engine: socket {socket_path} does not exist "
                "(start Docker, or set DOCKER_HOST / export docker_host)"
            )
        transport = httpx.HTTPTransport(uds=socket_path)
        return httpx.Client(transport=transport, base_url="http://docker"), address
    if parts.scheme in ("tcp", "http"):
        return httpx.Client(base_url=f"http://{parts.netloc}"), address
    if parts.scheme == "https":
        return httpx.Client(base_url=f"https://{parts.netloc}"), address
    raise LogError(f"unsupported Docker host {address!r} (use unix:// or tcp://)")


def demux_docker_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split the engine's multiplexed log stream (8-byte frame headers) into payload chunks."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 8:
            size = int.from_bytes(buffer[4:8], "big")
            if len(buffer) < 8 + size:
                break
            yield buffer[8 : 8 + size]
            buffer = buffer[8 + size :]


def _split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *done, buffer = buffer.split(b"\n")
        for raw in done:
            yield raw.decode("utf-8", errors="replace").rstrip("\r")
    if buffer:
        yield buffer.decode("utf-8", errors="replace").rstrip("\r")


@dataclass(frozen=True, slots=True)
class DockerLogs:
    """A container's logs from the Docker Engine API."""

    container: str
    host: str | None = None

    def lines(
        self, *, tail: int | None, follow: bool, init: bool, stop: threading.Event
    ) -> Iterator[LogLine]:
        """Stream the container's stdout and stderr."""
        client, address = _docker_client(self.host)
        name = quote(self.container, safe="")
        try:
            with client:
                info = client.get(f"/containers/{name}/json", timeout=10.0)
                if info.status_code == 404:
                    raise LogError(
                        f"no Docker container named {self.container!r} at {address} "
                        "(is the service deployed? `docker ps -a`)"
                    )
                info.raise_for_status()
                tty = bool(info.json().get("Config", {}).get("Tty"))
                params = {
                    "stdout": "1",
                    "stderr": "1",
                    "follow": "1" if follow and not init else "0",
                    "tail": "all" if tail is None or init else str(tail),
                }
                with client.stream(
                    "GET", f"/containers/{name}/logs", params=params, timeout=None
                ) as response:
                    if response.status_code != 200:
                        response.read()
                        raise LogError(f"Docker engine refused the logs: {response.text.strip()}")
                    chunks: Iterable[bytes] = response.iter_raw()
                    if not tty:
                        chunks = demux_docker_stream(chunks)
                    texts: Iterable[str] = _split_lines(chunks)
                    if init:
                        texts = _tail(startup_lines(texts), tail)
                    for text in texts:
                        if stop.is_set():
                            return
                        yield LogLine(text)
        except httpx.ConnectError as exc:
            raise LogError(f"cannot connect to the Docker engine at {address}: {exc}") from None
        except httpx.HTTPStatusError as exc:
            raise LogError(
                f"Docker engine error {exc.response.status_code}: {exc.response.text.strip()}"
            ) from None


# --- ACI: Azure Resource Manager REST ------------------------------------------------------------


def arm_endpoint() -> str:
    """The Azure Resource Manager endpoint (``MLWS_ARM_ENDPOINT`` or the public cloud's)."""
    return os.environ.get(ARM_ENDPOINT_ENV, "https://management.azure.com").rstrip("/")


def azure_access_token(resource: str) -> str:
    """An ARM access token from azure-identity (when installed) or the Azure CLI (``az``)."""
    try:
        identity: Any = importlib.import_module("azure.identity")
    except ImportError:
        identity = None
    if identity is not None:
        try:
            credential = identity.DefaultAzureCredential()
            return str(credential.get_token(resource.rstrip("/") + "/.default").token)
        except Exception as exc:
            raise LogError(
                f"azure-identity found no usable Azure credentials ({str(exc).splitlines()[0]}): "
                "run `az login` or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET"
            ) from None
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


@dataclass(frozen=True, slots=True)
class AciLogs:
    """An ACI container group's container logs through Azure Resource Manager."""

    subscription_id: str
    resource_group: str
    container_group: str
    container: str | None = None

    def _group_url(self) -> str:
        return (
            f"{arm_endpoint()}/subscriptions/{quote(self.subscription_id, safe='')}"
            f"/resourceGroups/{quote(self.resource_group, safe='')}"
            f"/providers/Microsoft.ContainerInstance/containerGroups/"
            f"{quote(self.container_group, safe='')}"
        )

    def _get(self, client: httpx.Client, url: str, params: dict[str, str]) -> Any:
        response = client.get(url, params={"api-version": ACI_API_VERSION, **params})
        if response.status_code == 404:
            raise LogError(
                f"no container group {self.container_group!r} in resource group "
                f"{self.resource_group!r} of subscription {self.subscription_id!r}"
            )
        if response.status_code in (401, 403):
            raise LogError(
                f"Azure refused access ({response.status_code}): {_arm_message(response)}"
            )
        if not response.is_success:
            raise LogError(f"Azure error {response.status_code}: {_arm_message(response)}")
        return response.json()

    def lines(
        self, *, tail: int | None, follow: bool, init: bool, stop: threading.Event
    ) -> Iterator[LogLine]:
        """Fetch each container's logs (polling again while ``follow``), labelled by container."""
        endpoint = arm_endpoint()
        token = azure_access_token(endpoint + "/")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            with httpx.Client(headers=headers, timeout=60.0) as client:
                group = self._get(client, self._group_url(), {})
                props = group.get("properties", {}) if isinstance(group, dict) else {}
                field = "initContainers" if init else "containers"
                names = [str(c.get("name")) for c in props.get(field) or [] if isinstance(c, dict)]
                if self.container is not None:
                    if self.container not in names:
                        raise LogError(
                            f"container group {self.container_group!r} has no "
                            f"{'init ' if init else ''}container {self.container!r} "
                            f"(it has: {', '.join(map(str, names)) or 'none'})"
                        )
                    names = [self.container]
                if not names:
                    kind = "init containers" if init else "containers"
                    raise LogError(f"container group {self.container_group!r} has no {kind}")
                label = len(names) > 1
                seen: dict[str, int] = {}
                while True:
                    for name in names:
                        url = f"{self._group_url()}/containers/{quote(str(name), safe='')}/logs"
                        # without --follow, let Azure cut the tail (it returns at most 4 MB)
                        query = {"tail": str(tail)} if tail and not follow else {}
                        content = self._get(client, url, query).get("content") or ""
                        lines = content.splitlines()
                        previous = seen.get(name)
                        if previous is None:
                            fresh = _tail(lines, tail)
                        else:
                            fresh = lines[previous:] if len(lines) >= previous else lines
                        seen[name] = len(lines)
                        for text in fresh:
                            yield LogLine(text, str(name) if label else None)
                    if not follow or init or stop.wait(REMOTE_POLL_SECONDS):
                        return
        except httpx.HTTPError as exc:
            raise LogError(f"cannot reach Azure Resource Manager at {endpoint}: {exc}") from None


def _arm_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return response.text.strip()[:300]


# --- AKS: kubectl --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AksLogs:
    """Every replica's logs with ``kubectl``, each line labelled by its pod."""

    label_selector: str
    namespace: str = "default"
    kubeconfig: str | None = None
    """kubeconfig content or path; default: ``KUBECONFIG`` or ``~/.kube/config``."""
    context: str | None = None

    def _kubectl(self) -> str:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise LogError(
                "AKS logs need kubectl on PATH (https://kubernetes.io/docs/tasks/tools/, or "
                "`az aks install-cli`)"
            )
        return kubectl

    def _kubeconfig_path(self, stack: list[Path]) -> Path:
        if self.kubeconfig:
            value = self.kubeconfig
            if "\n" in value or value.lstrip().startswith(("apiVersion", "{")):
                handle, name = tempfile.mkstemp(prefix="mlws-kubeconfig-", suffix=".yaml")
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(value)
                path = Path(name)
                stack.append(path)
                return path
            path = Path(value).expanduser()
            if not path.is_file():
                raise LogError(f"kubeconfig {value!r} does not exist")
            return path
        env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        if env and Path(env).is_file():
            return Path(env)
        default = Path.home() / ".kube" / "config"
        if default.is_file():
            return default
        raise LogError(
            "AKS logs need a kubeconfig: export kubeconfig from the stack, pass --kubeconfig, "
            "set KUBECONFIG, or run `az aks get-credentials`"
        )

    def _base(self, kubectl: str, kubeconfig: Path) -> list[str]:
        cmd = [kubectl, "--kubeconfig", str(kubeconfig)]
        if self.context:
            cmd += ["--context", self.context]
        return [*cmd, "--namespace", self.namespace]

    def lines(
        self, *, tail: int | None, follow: bool, init: bool, stop: threading.Event
    ) -> Iterator[LogLine]:
        """Run ``kubectl logs`` over the selector's pods (or their init containers)."""
        kubectl = self._kubectl()
        temporary: list[Path] = []
        try:
            base = self._base(kubectl, self._kubeconfig_path(temporary))
            tail_arg = ["--tail", str(-1 if tail is None else tail)]
            if init:
                pods = self._init_containers(base)
                if not pods:
                    raise LogError(f"no pod matching {self.label_selector!r} has init containers")
                for pod, container in pods:
                    cmd = [*base, "logs", pod, "--container", container, *tail_arg]
                    for text in _run_lines(cmd, stop):
                        yield LogLine(text, f"{pod}/{container}")
                return
            cmd = [*base, "logs", "--selector", self.label_selector, "--prefix", *tail_arg]
            cmd += ["--max-log-requests", "64", "--ignore-errors"]
            if follow:
                cmd.append("--follow")
            for text in _run_lines(cmd, stop):
                yield _pod_line(text)
        finally:
            for path in temporary:
                path.unlink(missing_ok=True)

    def _init_containers(self, base: list[str]) -> list[tuple[str, str]]:
        cmd = [*base, "get", "pods", "--selector", self.label_selector, "--output", "json"]
        output = "\n".join(_run_lines(cmd, threading.Event()))
        try:
            data = json.loads(output or "{}")
        except ValueError:
            raise LogError("kubectl get pods did not print JSON") from None
        pods = data.get("items", []) if isinstance(data, dict) else []
        if not pods:
            raise LogError(f"no pods match {self.label_selector!r} in namespace {self.namespace!r}")
        found: list[tuple[str, str]] = []
        for pod in pods:
            name = pod.get("metadata", {}).get("name", "?")
            for container in pod.get("spec", {}).get("initContainers") or []:
                found.append((str(name), str(container.get("name"))))
        return found


def _pod_line(text: str) -> LogLine:
    """Turn kubectl's ``[pod/NAME/CONTAINER] line`` into a line labelled ``NAME``."""
    if text.startswith("[pod/"):
        label, sep, rest = text.partition("] ")
        if sep:
            parts = label[len("[pod/") :].split("/")
            return LogLine(rest, parts[0])
    return LogLine(text)


def _run_lines(cmd: list[str], stop: threading.Event) -> Iterator[str]:
    """Run a command and yield its stdout lines; a failure raises :class:`LogError` with the last
    line of its stderr."""
    process = subprocess.Popen(  # noqa: S603 - argv built from a resolved executable
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
    )
    stderr_lines: list[str] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(process.stderr or []), daemon=True)
    reader.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if stop.is_set():
                break
            yield line.rstrip("\n")
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        code = process.wait()
        reader.join(timeout=5)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    if code != 0 and not stop.is_set():
        tool = Path(cmd[0]).name
        lines = [line.strip() for line in stderr_lines if line.strip()]
        reason = lines[-1] if lines else f"exit code {code}"
        raise LogError(f"{tool} {cmd_verb(cmd)} failed: {reason}")


def cmd_verb(cmd: list[str]) -> str:
    """The kubectl verb of a command line (``logs``, ``get``), for messages."""
    for word in ("logs", "get"):
        if word in cmd:
            return word
    return ""


# --- choosing a source ---------------------------------------------------------------------------


def infer_kind(outputs: ServiceOutputs) -> ServiceKind | None:
    """The service kind from what the outputs identify, when ``service_kind`` is not exported."""
    if outputs.service_kind is not None:
        return outputs.service_kind
    if outputs.log_file:
        return "local-process"
    if outputs.label_selector or outputs.kubeconfig:
        return "aks"
    if outputs.container_group_name:
        return "aci"
    if outputs.container_name:
        return "docker"
    return None


def _need(kind: str, values: dict[str, str | None]) -> None:
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise LogError(
            f"{kind} logs need {', '.join(values)} (stack outputs or options); "
            f"missing: {', '.join(missing)}"
        )


def source_for(outputs: ServiceOutputs) -> LogSource:
    """The log source for a service, from its kind and identifiers."""
    kind = infer_kind(outputs)
    if kind is None:
        raise LogError(
            "cannot tell where this service's logs are: export service_kind and its identifiers "
            "from the stack, or pass --log-file / --container / --container-group / --selector"
        )
    if kind == "local-process":
        _need(kind, {"log_file": outputs.log_file})
        assert outputs.log_file is not None
        return LocalFileLogs(Path(outputs.log_file))
    if kind == "docker":
        _need(kind, {"container_name": outputs.container_name})
        assert outputs.container_name is not None
        return DockerLogs(outputs.container_name, outputs.docker_host)
    if kind == "aci":
        _need(
            kind,
            {
                "subscription_id": outputs.subscription_id,
                "resource_group": outputs.resource_group,
                "container_group_name": outputs.container_group_name,
            },
        )
        assert outputs.subscription_id
        assert outputs.resource_group
        assert outputs.container_group_name
        return AciLogs(
            outputs.subscription_id,
            outputs.resource_group,
            outputs.container_group_name,
            outputs.container_name,
        )
    _need(kind, {"label_selector": outputs.label_selector})
    assert outputs.label_selector is not None
    if outputs.kubeconfig is None and outputs.is_hidden("kubeconfig"):
        raise outputs.secret_missing("kubeconfig", "")
    return AksLogs(
        label_selector=outputs.label_selector,
        namespace=outputs.namespace or "default",
        kubeconfig=outputs.kubeconfig.get_secret_value() if outputs.kubeconfig else None,
        context=outputs.kube_context,
    )
