"""``mlws logs``: a service's logs, like the seed's ``get_webservice_logs``.

Where the logs come from depends on the service kind in the stack outputs (see
:mod:`mlws.logsources`); options name the target directly when there is no stack.
"""

from __future__ import annotations

import itertools
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from mlws.cli._service import (
    CwdOpt,
    OutputsOpt,
    ServiceArg,
    ServiceNameOpt,
    ServiceRef,
    StackOpt,
    cli_errors,
    fail,
    resolve_service,
)

_KINDS = ("local-process", "docker", "aci", "aks")


def logs(
    # Typer reads options from each command's signature: the shared ones are _service's aliases.
    service: ServiceArg = None,
    stack: StackOpt = None,
    cwd: CwdOpt = None,
    outputs: OutputsOpt = None,
    service_name: ServiceNameOpt = None,
    tail: Annotated[
        int | None,
        typer.Option(
            "--tail",
            "-n",
            help="Print the last N lines (default 5000, as the seed).",
            show_default=False,
        ),
    ] = None,
    all_lines: Annotated[bool, typer.Option("--all", help="Print every line.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C stops).")
    ] = False,
    init: Annotated[
        bool,
        typer.Option(
            "--init",
            help="Start-up logs: init containers (ACI/AKS), or the lines before the first "
            "request (local process, docker).",
        ),
    ] = False,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="local-process, docker, aci or aks.", show_default=False),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", help="local-process: the log file.", show_default=False),
    ] = None,
    container: Annotated[
        str | None,
        typer.Option(
            "--container",
            help="docker: the container; aci: one container of the group.",
            show_default=False,
        ),
    ] = None,
    docker_host: Annotated[
        str | None,
        typer.Option(
            "--docker-host",
            help="docker: engine address (default DOCKER_HOST or the local socket).",
            show_default=False,
        ),
    ] = None,
    subscription: Annotated[
        str | None, typer.Option("--subscription", help="aci: subscription id.", show_default=False)
    ] = None,
    resource_group: Annotated[
        str | None,
        typer.Option("--resource-group", help="aci: resource group.", show_default=False),
    ] = None,
    container_group: Annotated[
        str | None,
        typer.Option("--container-group", help="aci: container group name.", show_default=False),
    ] = None,
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="aks: kubeconfig path.", show_default=False)
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="aks: kubeconfig context.", show_default=False)
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="aks: namespace.", show_default=False)
    ] = None,
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", help="aks: pod label selector.", show_default=False),
    ] = None,
) -> None:
    """Print the logs of SERVICE: a local process's log file, a docker container, an ACI
    container group or every AKS replica (each line labelled by pod)."""
    with cli_errors("logs"):
        from mlws.logsources import LocalFileLogs, source_for
        from mlws.service import ServiceOutputs

        if kind is not None and kind not in _KINDS:
            fail(f"--kind must be one of {', '.join(_KINDS)}, not {kind!r}")
        if tail is not None and tail < 0:
            fail(f"--tail must be 0 or more, not {tail}")
        if tail is not None and all_lines:
            fail("give --tail or --all, not both")
        overrides: dict[str, Any] = {
            "service_kind": kind,
            "log_file": str(log_file) if log_file is not None else None,
            "container_name": container,
            "docker_host": docker_host,
            "subscription_id": subscription,
            "resource_group": resource_group,
            "container_group_name": container_group,
            "kubeconfig": SecretStr(kubeconfig) if kubeconfig else None,
            "kube_context": context,
            "namespace": namespace,
            "label_selector": selector,
        }
        overrides = {name: value for name, value in overrides.items() if value is not None}
        if service is None and stack is None and outputs is None:
            if not overrides:
                fail(
                    "name the service (URL, outputs file, --stack or --outputs) or its log "
                    "target (--log-file, --container, --container-group, --selector)"
                )
            svc = ServiceOutputs(scoring_uri="http://localhost/score")
        else:
            svc = resolve_service(ServiceRef(service, stack, cwd, outputs, service_name))
        if overrides:
            svc = svc.model_copy(update=overrides)
        source = source_for(svc)
        count = None if all_lines else (5000 if tail is None else tail)
        stop = threading.Event()
        out = sys.stdout
        try:
            lines = iter(source.lines(tail=count, follow=follow, init=init, stop=stop))
            if not isinstance(source, LocalFileLogs):
                from rich.console import Console

                with Console(stderr=True).status("Fetching logs ..."):
                    first = next(lines, None)
                if first is not None:
                    lines = itertools.chain([first], lines)
            for line in lines:
                out.write(line.render() + "\n")
                if follow:
                    out.flush()
        except KeyboardInterrupt:
            stop.set()
        except BrokenPipeError:
            stop.set()
        out.flush()


def register(app: typer.Typer) -> None:
    """Add ``mlws logs`` to ``app``."""
    app.command("logs")(logs)
