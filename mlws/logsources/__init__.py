"""Where a service's logs come from, one module per kind of target (``get_webservice_logs``).

- ``local-process`` (:mod:`.local_file`): the log file the background ``mlws serve`` writes (read,
  tailed, followed).
- ``docker`` (:mod:`.docker`): the Docker Engine API through the Docker SDK for Python
  (``DOCKER_HOST`` or ``/var/run/docker.sock``); no docker CLI needed.
- ``aci`` (:mod:`.aci`): the Azure SDK's container-instance client (container group, then each
  container's logs), with a token from ``azure-identity`` when installed or from
  ``az account get-access-token``.
- ``aks`` (:mod:`.aks`): ``kubectl logs -l <selector>`` over every replica, each line labelled by
  its pod.

Each source yields :class:`LogLine` objects; every failure is a :class:`LogError` whose message is
one line naming what is missing. The docker and aci sources need their SDK (extras
``mlws[docker]``, ``mlws[aci]``) and say so when it is absent.
"""

from __future__ import annotations

from pathlib import Path

from mlws.logsources.aci import AciLogs
from mlws.logsources.aks import AksLogs
from mlws.logsources.base import (
    PROBE_PATHS,
    LogError,
    LogLine,
    LogSource,
    is_request_line,
    request_path,
    startup_lines,
)
from mlws.logsources.docker import DockerLogs
from mlws.logsources.local_file import LocalFileLogs
from mlws.service import ServiceKind, ServiceOutputs

__all__ = [
    "PROBE_PATHS",
    "AciLogs",
    "AksLogs",
    "DockerLogs",
    "LocalFileLogs",
    "LogError",
    "LogLine",
    "LogSource",
    "infer_kind",
    "is_request_line",
    "request_path",
    "source_for",
    "startup_lines",
]


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
