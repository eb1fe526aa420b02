"""One scoring endpoint on AKS, a stack per environment, promoted dev -> staging -> prod by digest.

dev builds the scoring image (the diabetes model of ``../local-sklearn``) into its registry;
staging runs the ``image_ref`` dev exports and prod the one staging exports, each read with a
``StackReference`` (``promotion.py``), so prod runs byte for byte what staging ran. Every stack has
its own resource group, AKS cluster (allowed to pull from dev's registry), keys and
``AksEndpoint``, and exports ``image_ref`` and ``registry_id`` for the next. The endpoint's
``deployments`` and ``traffic`` are stack config: dev and staging run one deployment; prod runs
blue (the digest it ran before, pinned) and green (the promoted digest), and the last step of a
promotion is shifting ``traffic`` from blue to green. See docs/promotion.md and README.md.
"""

from pathlib import Path

import pulumi
from promotion import (
    IMAGE_REF,
    IMAGES,
    REGISTRY_ID,
    deployment_images,
    promoted_deployments,
    promoted_image,
    upstream,
)
from pulumi_azure_native import containerregistry, resources

from mlws import service
from mlws.components.aks_cluster import AksCluster
from mlws.components.aks_endpoint import AksEndpoint, AksEndpointArgs
from mlws.components.scoring_image import ScoringImage
from mlws.components.service_keys import ServiceKeys

HERE = Path(__file__).parent
SAMPLE = HERE.parent / "local-sklearn"

config = pulumi.Config()
location = pulumi.Config("azure-native").require("location")
name = config.require("serviceName")
source = upstream(config)

group = resources.ResourceGroup(
    "group",
    resource_group_name=f"{pulumi.get_project()}-{pulumi.get_stack()}",
    location=location,
)

registry_id: pulumi.Output[str]
if source is None:
    registry = containerregistry.Registry(
        "registry",
        registry_name=config.require("registryName"),
        resource_group_name=group.name,
        sku={"name": "Basic"},
        admin_user_enabled=True,
    )
    registry_id = registry.id
else:
    registry_id = source.reference.get_output(REGISTRY_ID)


def build() -> pulumi.Output[str]:
    """dev: build the image and push it to dev's registry; its ``image_ref`` is by digest."""
    credentials = containerregistry.list_registry_credentials_output(
        resource_group_name=group.name, registry_name=registry.name
    )
    image = ScoringImage(
        name,
        {
            "entry_script": "score.py",
            "source_directory": str(SAMPLE / "scoring"),
            "pip_packages": ["scikit-learn==1.7.2", "joblib", "numpy"],
            "models": [
                {
                    "name": "diabetes",
                    "version": config.require_int("modelVersion"),
                    "path": str(SAMPLE / "model"),
                }
            ],
            "registry_server": registry.login_server,
            "registry_username": credentials.username,
            "registry_password": pulumi.Output.secret(
                credentials.passwords.apply(lambda passwords: (passwords or [])[0].value or "")
            ),
        },
    )
    return image.ref


image_ref = promoted_image(config, build, source)
deployments = promoted_deployments(config.require_object("deployments"), image_ref)

cluster = AksCluster(
    "aks",
    {
        "resource_group_name": group.name,
        "location": location,
        "system_node_count": config.require_int("systemNodeCount"),
        "acr_pull_registry_ids": [registry_id],
    },
)
keys = ServiceKeys(
    f"{name}-keys",
    {
        "primary_rotation": config.get(service.PRIMARY_KEY_ROTATION) or "0",
        "secondary_rotation": config.get(service.SECONDARY_KEY_ROTATION) or "0",
    },
)
endpoint_args: AksEndpointArgs = {
    "kubeconfig": cluster.kubeconfig,
    "namespace": "scoring",
    "create_namespace": True,
    "hostname": config.require("hostname"),
    "gateway_class_name": config.require("gatewayClassName"),
    "auth_enabled": True,
    "primary_key": keys.primary_key,
    "secondary_key": keys.secondary_key,
    "deployments": deployments,
    # A rollout step should not wait on DNS for the host name: try a deployment with
    # `mlws invoke --deployment` before it takes traffic.
    "health_check": False,
}
traffic = config.get_object("traffic")
if traffic is not None:  # one deployment: all of it
    endpoint_args["traffic"] = traffic
endpoint = AksEndpoint(name, endpoint_args)

pulumi.export(IMAGE_REF, image_ref)
pulumi.export(IMAGES, deployment_images(deployments))
pulumi.export(REGISTRY_ID, registry_id)
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
