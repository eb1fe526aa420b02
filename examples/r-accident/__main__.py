"""The seed's R accident model on Azure Container Instances, with key auth.

The seed's ``deploy_model(ws, 'accidents', list(model), inference_config,
aci_webservice_deployment_config(cpu_cores = 1, memory_gb = 1, auth_enabled = TRUE))``, as a
Pulumi program: a resource group, a container registry (dev), the scoring image (R base image,
``score.R`` and ``model/model.rds`` laid out for ``AZUREML_MODEL_DIR``) pushed by digest, the
service's two keys, and the ACI container group serving it. See README.md.
"""

from pathlib import Path

import pulumi
from pulumi_azure_native import authorization, containerregistry, resources

from mlws import service
from mlws.components.aci_web_service import AciWebService
from mlws.components.scoring_image import ScoringImage
from mlws.components.service_keys import ServiceKeys

HERE = Path(__file__).parent

config = pulumi.Config()
location = pulumi.Config("azure-native").require("location")
name = config.require("serviceName")
registry_name = config.require("registryName")

group = resources.ResourceGroup(
    "group",
    resource_group_name=f"{pulumi.get_project()}-{pulumi.get_stack()}",
    location=location,
)

# dev builds and pushes the image; prod runs the digest dev built (config `imageRef`).
promoted = config.get("imageRef")
if promoted is None:
    registry = containerregistry.Registry(
        "registry",
        registry_name=registry_name,
        resource_group_name=group.name,
        sku={"name": "Basic"},
        admin_user_enabled=True,
    )
    registry_group: pulumi.Input[str] = group.name
    login_server: pulumi.Input[str] = registry.login_server
else:
    registry_group = config.require("registryResourceGroup")
    login_server = f"{registry_name}.azurecr.io"
credentials = containerregistry.list_registry_credentials_output(
    resource_group_name=registry_group, registry_name=registry_name
)
registry_username = credentials.username.apply(lambda user: user or "")
registry_password = pulumi.Output.secret(
    credentials.passwords.apply(lambda passwords: (passwords or [])[0].value or "")
)

image_ref: pulumi.Input[str]
if promoted is None:
    image = ScoringImage(
        name,
        {
            "entry_script": "score.R",
            "source_directory": str(HERE / "scoring"),
            "language": "r",
            "cran_packages": ["jsonlite"],
            "models": [
                {
                    "name": "accidents",
                    "version": config.require_int("modelVersion"),
                    "path": str(HERE / "model"),
                }
            ],
            "registry_server": login_server,
            "registry_username": registry_username,
            "registry_password": registry_password,
        },
    )
    image_ref = image.ref
else:
    image_ref = promoted

keys = ServiceKeys(
    f"{name}-keys",
    {
        "primary_rotation": config.get(service.PRIMARY_KEY_ROTATION) or "0",
        "secondary_rotation": config.get(service.SECONDARY_KEY_ROTATION) or "0",
    },
)
svc = AciWebService(
    name,
    {
        "image": image_ref,
        "resource_group_name": group.name,
        "location": location,
        "auth_enabled": True,
        "primary_key": keys.primary_key,
        "secondary_key": keys.secondary_key,
        "registry_server": login_server,
        "registry_username": registry_username,
        "registry_password": registry_password,
        "cpu_cores": config.require_float("cpu_cores"),
        "memory_gb": config.require_float("memory_gb"),
        "dns_name_label": config.require("dnsNameLabel"),
        "sample_request": (
            '[{"dvcat":"10-24","seatbelt":"none","frontal":"frontal","sex":"f","ageOFocc":22,'
            '"yearVeh":2002,"airbag":"none","occRole":"pass"}]'
        ),
    },
)

pulumi.export("image_ref", image_ref)
pulumi.export(service.SCORING_URI, svc.scoring_uri)
pulumi.export(service.SWAGGER_URI, svc.swagger_uri)
pulumi.export(service.AUTH_MODE, svc.auth_mode)
pulumi.export(service.PRIMARY_KEY, keys.primary_key)
pulumi.export(service.SECONDARY_KEY, keys.secondary_key)
pulumi.export(service.SERVICE_KIND, "aci")
pulumi.export(service.SUBSCRIPTION_ID, authorization.get_client_config_output().subscription_id)
pulumi.export(service.RESOURCE_GROUP, group.name)
pulumi.export(service.CONTAINER_GROUP_NAME, svc.container_group_name)
