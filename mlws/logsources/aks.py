"""``aks`` logs: every replica's logs with ``kubectl logs -l <selector>``, labelled by pod."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlws.logsources.base import LogError, LogLine


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
