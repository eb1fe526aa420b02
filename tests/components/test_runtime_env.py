"""The one mapping from Azure ML names to runtime settings, and the renamed port arguments."""

from __future__ import annotations

import pytest

from mlws.components.deployment_config import (
    AciDeploymentConfig,
    AksDeploymentConfig,
    DeploymentConfig,
)
from mlws.components.errors import ConfigError, parse_config, renamed_notes
from mlws.components.local_web_service import LocalDeploymentConfig
from mlws.components.runtime_env import (
    AZUREML_SETTINGS,
    LOCAL_HOST_PORT,
    runtime_env,
    settings_env,
)
from mlws.runtime.settings import RuntimeSettings, env_var_name


@pytest.mark.parametrize(
    "made",
    [AciDeploymentConfig(), AksDeploymentConfig(service_name="s"), LocalDeploymentConfig()],
    ids=["aci", "aks", "local"],
)
def test_azure_ml_settings_take_the_runtimes_defaults(made: DeploymentConfig) -> None:
    for azure_name, field in AZUREML_SETTINGS.items():
        assert getattr(made, azure_name) == RuntimeSettings.model_fields[field].default


def test_every_mapped_setting_reaches_the_container_environment() -> None:
    values = {name: 7 + i for i, name in enumerate(AZUREML_SETTINGS)}
    env = runtime_env(AciDeploymentConfig(**values), port=5001)
    for i, (azure_name, field) in enumerate(AZUREML_SETTINGS.items()):
        assert env[env_var_name(field)] == str(7 + i), azure_name
    # and the runtime reads them back as those fields
    read = RuntimeSettings.model_validate(
        {field: env[env_var_name(field)] for field in AZUREML_SETTINGS.values()}
    )
    assert [getattr(read, f) for f in AZUREML_SETTINGS.values()] == [7, 8, 9]


def test_bounds_come_from_the_runtime() -> None:
    with pytest.raises(ConfigError, match="max_request_wait_time: Input should be greater"):
        parse_config(AciDeploymentConfig, {"max_request_wait_time": -1}, subject="x")


def test_settings_env_leaves_out_unset_values() -> None:
    assert settings_env({"port": 1, "model_dir": None}) == {"MLWS_PORT": "1"}


def test_local_host_port_is_the_runtimes_port() -> None:
    assert LOCAL_HOST_PORT == RuntimeSettings.model_fields["port"].default
    assert LocalDeploymentConfig().host_port == LOCAL_HOST_PORT


@pytest.mark.parametrize(
    ("config", "new"), [(LocalDeploymentConfig, "host_port"), (AciDeploymentConfig, "public_port")]
)
def test_the_old_port_name_still_sets_the_new_field(
    config: type[LocalDeploymentConfig], new: str
) -> None:
    parsed = parse_config(config, {"port": 8080}, subject="svc")
    assert getattr(parsed, new) == 8080
    assert renamed_notes(config, {"port": 8080}, subject="svc") == [
        f"svc: 'port' is deprecated, write {new!r} (same meaning)"
    ]
    assert renamed_notes(config, {new: 8080}, subject="svc") == []
    with pytest.raises(ConfigError) as both:
        parse_config(config, {"port": 8080, new: 8081}, subject="svc")
    assert both.value.fields == ("port",)
    with pytest.raises(ConfigError) as bad:
        parse_config(config, {"port": 70000}, subject="svc")
    assert bad.value.fields == ("port",)  # reported under the name the caller wrote


def test_aci_public_port_defaults() -> None:
    assert AciDeploymentConfig().public_port == 5001
    assert AciDeploymentConfig(ssl_enabled=True, dns_name_label="a").public_port == 443
    assert "public_port" not in AciDeploymentConfig().as_args()


def _documented_defaults(args_class: type) -> dict[str, str]:
    """``{field: N}`` for each field docstring of ``args_class`` (its bases' included) saying
    ``(default N...``."""
    import re

    from mlws.provider.schema_builder import field_docstrings

    found: dict[str, str] = {}
    for field, doc in field_docstrings(args_class).items():
        match = re.search(r"\(default (\d+(?:\.\d+)?)\b", doc)
        if match:
            found[field] = match.group(1)
    return found


def test_documented_defaults_are_the_real_ones() -> None:
    """The args' docstrings (the schema's docs) repeat some defaults: they must stay true."""
    from mlws.components.aci_web_service import AciWebServiceArgs
    from mlws.components.aks_web_service import AksWebServiceArgs
    from mlws.components.local_web_service import LocalWebServiceArgs

    checked = 0
    for args_class, config in (
        (LocalWebServiceArgs, LocalDeploymentConfig()),
        (AciWebServiceArgs, AciDeploymentConfig()),
        (AksWebServiceArgs, AksDeploymentConfig(service_name="s")),
    ):
        for field, shown in _documented_defaults(args_class).items():
            actual = getattr(config, field, None)
            if actual is not None:  # None: unset means something else (e.g. the image's user)
                assert float(shown) == float(actual), (args_class, field)
                checked += 1
    assert checked >= 9  # the three Azure ML runtime settings on each target, at least
