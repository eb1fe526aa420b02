"""A scoring service on Azure Kubernetes Service with a GPU node pool and token auth.

Resource group, container registry, AKS cluster with a GPU node pool (NVIDIA device plugin
included) whose kubelet identity may pull (``AcrPull``) from the registry, the scoring image built
and pushed by digest, and the service itself: Deployment with ``nvidia.com/gpu`` requests,
tolerations and node selector for the GPU pool, Service, autoscaler, disruption budget and the
token-signing secret. ``mlws token`` signs tokens with the exported ``token_secret``. See README.md.
"""

from pathlib import Path

import pulumi
from pulumi_azure_native import containerregistry, resources

from mlws import service
from mlws.components.aks_cluster import AksCluster, GpuNodePool
from mlws.components.aks_web_service import AksWebService
from mlws.components.scoring_image import ScoringImage
from mlws.components.service_keys import ServiceKeys

HERE = Path(__file__).parent
MODEL_DIR = HERE.parent / "local-sklearn" / "model"
SCORING_DIR = HERE.parent / "local-sklearn" / "scoring"

config = pulumi.Config()
location = pulumi.Config("azure-native").require("location")
name = config.require("serviceName")

group = resources.ResourceGroup(
    "group",
    resource_group_name=f"{pulumi.get_project()}-{pulumi.get_stack()}",
    location=location,
)

# dev builds the image; prod runs the digest dev built (config `imageRef`, see Pulumi.prod.yaml).
image_ref: pulumi.Input[str]
pull_from: list[pulumi.Input[str]] = []  # registries the cluster's kubelet gets AcrPull on
promoted = config.get("imageRef")
if promoted is None:
    registry = containerregistry.Registry(
        "registry",
        registry_name=config.require("registryName"),
        resource_group_name=group.name,
        sku={"name": "Basic"},
        admin_user_enabled=True,
    )
    credentials = containerregistry.list_registry_credentials_output(
        resource_group_name=group.name, registry_name=registry.name
    )
    image = ScoringImage(
        name,
        {
            "entry_script": "score.py",
            "source_directory": str(SCORING_DIR),
            "pip_packages": ["scikit-learn==1.7.2", "joblib", "numpy"],
            "models": [
                {
                    "name": "diabetes",
                    "version": config.require_int("modelVersion"),
                    "path": str(MODEL_DIR),
                }
            ],
            "gpu": True,
            "registry_server": registry.login_server,
            "registry_username": credentials.username,
            "registry_password": pulumi.Output.secret(
                credentials.passwords.apply(lambda passwords: (passwords or [])[0].value or "")
            ),
        },
    )
    image_ref = image.ref
    pull_from.append(registry.id)
else:
    image_ref = promoted
    # prod's cluster pulls from dev's registry: give its resource ID to grant AcrPull there too.
    if (shared := config.get("pullRegistryId")) is not None:
        pull_from.append(shared)

cluster = AksCluster(
    "aks",
    {
        "resource_group_name": group.name,
        "location": location,
        "system_node_count": config.require_int("systemNodeCount"),
        "acr_pull_registry_ids": pull_from,
    },
)
pool = GpuNodePool(
    "gpu",
    {
        "resource_group_name": group.name,
        "cluster_name": cluster.cluster_name,
        "kubeconfig": cluster.kubeconfig,
        "vm_size": config.require("gpuVmSize"),
        "min_count": 0,
        "max_count": config.require_int("gpuNodesMax"),
    },
)
keys = ServiceKeys(
    f"{name}-keys",
    {
        "primary_rotation": config.get(service.PRIMARY_KEY_ROTATION) or "0",
        "secondary_rotation": config.get(service.SECONDARY_KEY_ROTATION) or "0",
        "token_secret_enabled": True,
        "token_rotation": config.get("tokenSecretRotation") or "0",
    },
)
svc = AksWebService(
    name,
    {
        "image": image_ref,
        "kubeconfig": cluster.kubeconfig,
        # Its own namespace, created with the `restricted` Pod Security Standard enforced.
        "namespace": "scoring",
        "create_namespace": True,
        "auth_enabled": False,
        "token_auth_enabled": True,
        "token_secret": keys.token_secret,
        "token_audience": config.require("tokenAudience"),
        "cpu_cores": config.require_float("cpu_cores"),
        "memory_gb": config.require_float("memory_gb"),
        "gpu_cores": config.require_int("gpu_cores"),
        "autoscale_min_replicas": config.require_int("autoscale_min_replicas"),
        "autoscale_max_replicas": config.require_int("autoscale_max_replicas"),
        "gpu_toleration": pool.toleration,
        "gpu_node_selector": pool.node_selector,
    },
    pulumi.ResourceOptions(depends_on=[pool]),
)

pulumi.export("image_ref", image_ref)
pulumi.export(service.SCORING_URI, svc.scoring_uri)
pulumi.export(service.SWAGGER_URI, svc.swagger_uri)
pulumi.export(service.AUTH_MODE, svc.auth_mode)
pulumi.export(service.TOKEN_SECRET, keys.token_secret)
pulumi.export(service.TOKEN_AUDIENCE, config.require("tokenAudience"))
pulumi.export(service.SERVICE_KIND, "aks")
pulumi.export(service.KUBECONFIG, cluster.kubeconfig)
pulumi.export(service.NAMESPACE, svc.namespace)
pulumi.export(service.LABEL_SELECTOR, svc.label_selector)
