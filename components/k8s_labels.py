"""Kubernetes and Azure names, node taints and labels: their validators, in one place.

Pure functions and annotated types used by the deployment configs (namespaces, service names, GPU
tolerations and node selectors), the AKS cluster's node pools and the policy pack.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

#: A Kubernetes namespace or object name (DNS-1123 label).
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: A Kubernetes Service name or ACI DNS label (DNS-1035 label: starts with a letter).
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def parse_taint(value: str) -> tuple[str, str, str]:
    """Split ``key=value:Effect`` into its parts; raise ``ValueError`` when malformed."""
    match = re.fullmatch(
        r"([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*):(NoSchedule|PreferNoSchedule|NoExecute)", value
    )
    if not match:
        raise ValueError(
            f"{value!r} is not a taint: expected key=value:Effect with Effect one of "
            "NoSchedule, PreferNoSchedule, NoExecute"
        )
    return match.group(1), match.group(2), match.group(3)


def parse_label(value: str) -> tuple[str, str]:
    """Split ``key=value`` into its parts; raise ``ValueError`` when malformed."""
    match = re.fullmatch(r"([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)", value)
    if not match:
        raise ValueError(f"{value!r} is not a node label: expected key=value")
    return match.group(1), match.group(2)


def _valid_taint(value: str) -> str:
    parse_taint(value)
    return value


def _valid_label(value: str) -> str:
    parse_label(value)
    return value


Taint = Annotated[str, AfterValidator(_valid_taint)]
"""A node taint / pod toleration ``key=value:Effect``, checked by :func:`parse_taint`."""

NodeLabel = Annotated[str, AfterValidator(_valid_label)]
"""A node label / node selector ``key=value``, checked by :func:`parse_label`."""

GPU_TAINT = "sku=gpu:NoSchedule"
"""The GPU pool's taint, and the toleration GPU workloads carry."""

GPU_LABEL = "accelerator=nvidia"
"""The GPU pool's node label, and the node selector GPU workloads use."""


def check_label(value: str, pattern: re.Pattern[str], what: str) -> str:
    """Return ``value`` if it matches ``pattern`` (at most 63 characters); else raise ValueError."""
    if len(value) > 63 or not pattern.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid {what}: at most 63 lowercase letters, digits or '-', "
            + ("starting with a letter" if pattern is DNS1035_LABEL else "starting")
            + " and ending with a letter or digit"
        )
    return value
