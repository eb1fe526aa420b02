"""Two models in one scoring image: ``diabetes`` (regression) and ``iris`` (classification).

With several models the image lays them out as ``AZUREML_MODEL_DIR/$MODEL_NAME/$VERSION/``, the
way Azure ML does; ``scoring/score.py`` loads both and routes each request by its ``model`` field.
The image runs as one container on the local Docker engine with key auth. Each model's version
comes from the stack config, so a new version of one model is a one-line config change whose
preview (``mlws render --diff``) shows the image and the container changing and nothing else.
See README.md.
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

image = ScoringImage(
    name,
    {
        "entry_script": "score.py",
        "source_directory": str(HERE / "scoring"),
        "pip_packages": ["scikit-learn==1.7.2", "joblib", "numpy"],
        "models": [
            {
                "name": "diabetes",
                "version": config.require_int("diabetesVersion"),
                "path": str(HERE.parent / "local-sklearn" / "model"),
            },
            {
                "name": "iris",
                "version": config.require_int("irisVersion"),
                "path": str(HERE / "models" / "iris"),
            },
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
        "auth_enabled": True,
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
