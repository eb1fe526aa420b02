"""One scoring endpoint on Azure Kubernetes Service with a blue and a green deployment.

Resource group, AKS cluster, the endpoint's keys, and an ``AksEndpoint``: per deployment a
Deployment, ClusterIP Service, autoscaler, disruption budget, ServiceAccount and NetworkPolicy;
for the endpoint one keys Secret, its Gateway and the HTTPRoute that splits traffic by the
``traffic`` percents (and ``mirrorTraffic``, if set). Deployments and traffic are stack config,
so a rollout step is a one-line change that ``mlws render --diff`` and ``pulumi preview`` show as
a change to the HTTPRoute alone. See README.md and docs/rollouts.md.
"""

from typing import Any

import pulumi
from pulumi_azure_native import resources

from mlws import service
from mlws.components.aks_cluster import AksCluster
from mlws.components.aks_endpoint import AksEndpoint
from mlws.components.service_keys import ServiceKeys

config = pulumi.Config()
location = pulumi.Config("azure-native").require("location")
name = config.require("endpointName")
deployments: dict[str, dict[str, Any]] = config.require_object("deployments")

group = resources.ResourceGroup(
    "group",
    resource_group_name=f"{pulumi.get_project()}-{pulumi.get_stack()}",
    location=location,
)
cluster = AksCluster(
    "aks",
    {
        "resource_group_name": group.name,
        "location": location,
        "system_node_count": config.require_int("systemNodeCount"),
    },
)
keys = ServiceKeys(
    f"{name}-keys",
    {
        "primary_rotation": config.get(service.PRIMARY_KEY_ROTATION) or "0",
        "secondary_rotation": config.get(service.SECONDARY_KEY_ROTATION) or "0",
    },
)
endpoint = AksEndpoint(
    name,
    {
        "kubeconfig": cluster.kubeconfig,
        "namespace": "scoring",
        "create_namespace": True,
        "hostname": config.require("hostname"),
        "gateway_class_name": config.require("gatewayClassName"),
        "primary_key": keys.primary_key,
        "secondary_key": keys.secondary_key,
        "deployments": deployments,
        "traffic": config.require_object("traffic"),
        "mirror_traffic": config.get_object("mirrorTraffic") or {},
        # A rollout step should not wait on DNS for the host name; `mlws invoke` checks it.
        "health_check": False,
    },
)

pulumi.export(service.SCORING_URI, endpoint.scoring_uri)
pulumi.export(service.SWAGGER_URI, endpoint.swagger_uri)
pulumi.export(service.AUTH_MODE, endpoint.auth_mode)
pulumi.export(service.PRIMARY_KEY, keys.primary_key)
pulumi.export(service.SECONDARY_KEY, keys.secondary_key)
pulumi.export(service.SERVICE_KIND, "aks")
pulumi.export(service.KUBECONFIG, cluster.kubeconfig)
pulumi.export(service.NAMESPACE, endpoint.namespace)
pulumi.export(service.LABEL_SELECTOR, endpoint.label_selector)
pulumi.export(service.DEPLOYMENTS, endpoint.deployment_names)
pulumi.export("traffic", endpoint.traffic)
