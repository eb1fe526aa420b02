"""What the plugin serves: the hosted components, the custom resources, and the merged schema.

``MlwsProvider`` *is* the SDK's ``ComponentProvider`` (schema inference from the components'
``TypedDict`` args and ``Construct``); its schema additionally lists the custom resources
(generated from their pydantic models), describes the inputs declared in base args classes and
marks the components' secret properties (the analyzer can do neither), and turns reST literals in
descriptions into Markdown. Its ``construct`` builds each component with the plugin's own
HealthGate resource and reports a component's invalid configuration per property.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any

from pulumi import ComponentResource, Inputs, ResourceOptions
from pulumi.errors import InputPropertiesError, InputPropertyErrorDetails
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.provider import ConstructResult
from pulumi.provider.server import ComponentInitError

from mlws import __version__
from mlws.components._package import PACKAGE
from mlws.components.errors import ConfigError
from mlws.components.health_gate import plugin_gates
from mlws.provider.custom_resource import CustomResource
from mlws.provider.health_gate_resource import HealthGateResource
from mlws.provider.local_process_resource import LocalProcessServiceResource
from mlws.provider.schema_builder import (
    component_secrets,
    describe_inherited_inputs,
    mark_component_secrets,
    merge_resources,
)
from mlws.provider.wire import to_camel

COMPONENTS: tuple[tuple[str, str], ...] = (
    ("mlws.components.scoring_image", "ScoringImage"),
    ("mlws.components.service_keys", "ServiceKeys"),
    ("mlws.components.local_web_service", "LocalWebService"),
    ("mlws.components.aci_web_service", "AciWebService"),
    ("mlws.components.aks_cluster", "AksCluster"),
    ("mlws.components.aks_cluster", "GpuNodePool"),
    ("mlws.components.aks_web_service", "AksWebService"),
)
"""(module, class) of every component the plugin hosts, in schema order."""


def hosted_components() -> list[type[ComponentResource]]:
    """The component classes of :data:`COMPONENTS`, imported."""
    classes: list[type[ComponentResource]] = []
    for module, name in COMPONENTS:
        cls = getattr(importlib.import_module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, ComponentResource)):
            raise TypeError(f"{module}.{name} is not a ComponentResource")
        classes.append(cls)
    return classes


def custom_resources() -> list[CustomResource]:
    """The custom resources the plugin implements."""
    return [HealthGateResource(), LocalProcessServiceResource()]


class MlwsProvider(ComponentProvider):
    """The components' ``ComponentProvider`` with the custom resources added to its schema."""

    def __init__(
        self,
        components: list[type[ComponentResource]],
        resources: Sequence[CustomResource],
        version: str = __version__,
    ) -> None:
        super().__init__(components, PACKAGE, version=version)
        self.resources = {r.token: r for r in resources}
        schema = mark_component_secrets(
            describe_inherited_inputs(self.schema or "{}", components, PACKAGE),
            {f"{PACKAGE}:index:{c.__name__}": component_secrets(c) for c in components},
        )
        schema = merge_resources(schema, {r.token: r.schema() for r in resources})
        self.schema = _describe_package(schema)

    def construct(
        self,
        name: str,
        resource_type: str,
        inputs: Inputs,
        options: ResourceOptions | None = None,
    ) -> ConstructResult:
        """The SDK's Construct, gating through the plugin's HealthGate resource (a YAML or
        TypeScript program has no Python environment to run a dynamic provider in).

        A component rejects bad input with a ``ConfigError`` listing each problem; the SDK would
        report it as an unexpected exception with a traceback. Raised as ``InputPropertiesError``,
        the SDK's Construct answers INVALID_ARGUMENT with one entry per property, which the CLI
        prints as ``property X: reason``.
        """
        try:
            with plugin_gates():
                return super().construct(name, resource_type, inputs, options)
        except ComponentInitError as exc:
            if not isinstance(exc.inner, ConfigError):
                raise
            errors: list[InputPropertyErrorDetails] = [
                {"property_path": property_path(p.field), "reason": p.message}
                for p in exc.inner.problems
            ]
            raise InputPropertiesError(str(exc.inner), errors) from None


def property_path(field: str) -> str:
    """A component's snake_case field path as a schema property path (``models[1].version``)."""
    return ".".join(to_camel(part) if part else part for part in field.split("."))


def _markdown(value: Any) -> Any:
    """Docstrings use reST literals (````x````); schema descriptions are Markdown (```x```)."""
    if isinstance(value, dict):
        return {
            k: (v.replace("``", "`") if k == "description" and isinstance(v, str) else _markdown(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_markdown(v) for v in value]
    return value


def _describe_package(schema_json: str) -> str:
    schema = _markdown(json.loads(schema_json))
    schema["displayName"] = "mlws"
    schema["description"] = (
        "Deploy ML models as authenticated scoring web services: scoring images, service keys, "
        "ACI and AKS web services, GPU node pools, a deployment health gate and a local process "
        "service."
    )
    schema["license"] = "Apache-2.0"
    schema["keywords"] = ["mlws", "machine-learning", "azure", "kubernetes", "category/utility"]
    return json.dumps(schema, indent=2, sort_keys=True)


def build_provider() -> MlwsProvider:
    """The provider with every hosted component and custom resource."""
    return MlwsProvider(hosted_components(), custom_resources())
