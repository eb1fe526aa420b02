"""The diabetes scikit-learn model as a scoring container on the local Docker engine.

The seed's local deployment (``local_webservice_deployment_config(port = 8890)``) as a Pulumi
program: the scoring image (``scoring/score.py`` and ``model/`` laid out for
``AZUREML_MODEL_DIR``, the mlws runtime as entrypoint; tagged by content hash, so an unchanged
model and script give no diff), two service keys, and the container on ``port``. No registry and
no cloud: ``pulumi up`` needs only Docker. See README.md.
"""

from pathlib import Path

import pulumi

from mlws import service
from mlws.components.local_web_service import LocalWebService
from mlws.components.scoring_image import ScoringImage
from mlws.components.service_keys import ServiceKeys

HERE = Path(__file__).parent

config = pulumi.Config()
name = config.require("serviceName")
auth_enabled = config.require_bool("authEnabled")

image = ScoringImage(
    name,
    {
        "entry_script": "score.py",
        "source_directory": str(HERE / "scoring"),
        "pip_packages": ["scikit-learn==1.7.2", "joblib", "numpy"],
        "models": [
            {
                "name": "diabetes",
                "version": config.require_int("modelVersion"),
                "path": str(HERE / "model"),
            }
        ],
    },
)
keys = ServiceKeys(
    f"{name}-keys",
    {
        "primary_rotation": config.get(service.PRIMARY_KEY_ROTATION) or "0",
        "secondary_rotation": config.get(service.SECONDARY_KEY_ROTATION) or "0",
    },
)
svc = LocalWebService(
    name,
    {
        "image": image.ref,
        "host_port": config.require_int("port"),
        "auth_enabled": auth_enabled,
        "primary_key": keys.primary_key,
        "secondary_key": keys.secondary_key,
    },
)

pulumi.export("image_ref", image.ref)
pulumi.export(service.SCORING_URI, svc.scoring_uri)
pulumi.export(service.SWAGGER_URI, svc.swagger_uri)
pulumi.export(service.AUTH_MODE, svc.auth_mode)
pulumi.export(service.PRIMARY_KEY, keys.primary_key)
pulumi.export(service.SECONDARY_KEY, keys.secondary_key)
pulumi.export(service.SERVICE_KIND, "docker")
pulumi.export(service.CONTAINER_NAME, svc.container_name)
