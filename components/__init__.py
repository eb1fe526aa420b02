"""Pulumi ComponentResources that deploy mlws scoring services, with their config models.

Names are imported lazily (on first access), so ``import mlws.components.errors`` does not load
every cloud SDK; ``from mlws.components import ScoringImage`` works as usual.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlws.components._package import PACKAGE as PACKAGE
    from mlws.components.aci_web_service import AciWebService as AciWebService
    from mlws.components.aci_web_service import AciWebServiceArgs as AciWebServiceArgs
    from mlws.components.aks_cluster import AksCluster as AksCluster
    from mlws.components.aks_cluster import AksClusterArgs as AksClusterArgs
    from mlws.components.aks_cluster import GpuNodePool as GpuNodePool
    from mlws.components.aks_cluster import GpuNodePoolArgs as GpuNodePoolArgs
    from mlws.components.aks_endpoint import AksEndpoint as AksEndpoint
    from mlws.components.aks_endpoint import AksEndpointArgs as AksEndpointArgs
    from mlws.components.aks_web_service import AksWebService as AksWebService
    from mlws.components.aks_web_service import AksWebServiceArgs as AksWebServiceArgs
    from mlws.components.deployment_config import AciDeploymentConfig as AciDeploymentConfig
    from mlws.components.deployment_config import AksDeploymentConfig as AksDeploymentConfig
    from mlws.components.errors import ConfigError as ConfigError
    from mlws.components.inference_config import Environment as Environment
    from mlws.components.inference_config import EnvironmentArgs as EnvironmentArgs
    from mlws.components.inference_config import InferenceConfig as InferenceConfig
    from mlws.components.inference_config import InferenceConfigArgs as InferenceConfigArgs
    from mlws.components.inference_config import Model as Model
    from mlws.components.inference_config import ModelArgs as ModelArgs
    from mlws.components.local_web_service import LocalDeploymentConfig as LocalDeploymentConfig
    from mlws.components.local_web_service import LocalWebService as LocalWebService
    from mlws.components.local_web_service import LocalWebServiceArgs as LocalWebServiceArgs
    from mlws.components.scoring_image import ScoringImage as ScoringImage
    from mlws.components.scoring_image import ScoringImageArgs as ScoringImageArgs
    from mlws.components.service_keys import ServiceKeys as ServiceKeys
    from mlws.components.service_keys import ServiceKeysArgs as ServiceKeysArgs

#: Exported name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "PACKAGE": "_package",
    "ConfigError": "errors",
    "Environment": "inference_config",
    "EnvironmentArgs": "inference_config",
    "InferenceConfig": "inference_config",
    "InferenceConfigArgs": "inference_config",
    "Model": "inference_config",
    "ModelArgs": "inference_config",
    "LocalDeploymentConfig": "local_web_service",
    "LocalWebService": "local_web_service",
    "LocalWebServiceArgs": "local_web_service",
    "ScoringImage": "scoring_image",
    "ScoringImageArgs": "scoring_image",
    "ServiceKeys": "service_keys",
    "ServiceKeysArgs": "service_keys",
    "AciWebService": "aci_web_service",
    "AciWebServiceArgs": "aci_web_service",
    "AksCluster": "aks_cluster",
    "AksClusterArgs": "aks_cluster",
    "GpuNodePool": "aks_cluster",
    "GpuNodePoolArgs": "aks_cluster",
    "AksEndpoint": "aks_endpoint",
    "AksEndpointArgs": "aks_endpoint",
    "AksWebService": "aks_web_service",
    "AksWebServiceArgs": "aks_web_service",
    "AciDeploymentConfig": "deployment_config",
    "AksDeploymentConfig": "deployment_config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
