"""Kubernetes manifests of AksWebService and the GPU pool, validated against the Kubernetes schema.

Every manifest is checked with ``kubernetes_validate`` (the official OpenAPI-derived JSON schemas,
strict: unknown fields fail) for the oldest and newest Kubernetes versions AKS supports here, for
hand-picked and hypothesis-generated configurations.
"""

import functools
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlws.components.aks_cluster_spec import GpuNodePoolConfig, nvidia_device_plugin
from mlws.components.deployment_config import CONTAINER_PORT, SECRETS_MOUNT, AksDeploymentConfig
from mlws.components.k8s_manifests import manifests
from mlws.components.k8s_metadata import SELECTOR_LABEL, Manifest
from mlws.components.k8s_pod import GPU_RESOURCE, SECRETS_VOLUME, cpu_quantity, memory_quantity
from mlws.components.k8s_setup import auth_secret
from mlws.components.k8s_workload import deployment, horizontal_pod_autoscaler, ingress, service
from mlws.runtime.settings import env_var_name

K8S_VERSIONS = ("1.30", "1.33")
IMAGE = "myacr.azurecr.io/accidents@sha256:" + "a" * 64
SECRETS = {"primary_key": "p" * 32, "secondary_key": "s" * 32, "token_secret": "t" * 32}
CERT, KEY = "-----BEGIN CERTIFICATE-----", "-----BEGIN PRIVATE KEY-----"


@pytest.fixture(autouse=True, scope="module")
def _cached_schemas() -> Iterator[None]:
    """Parse each schema file once per module (kubernetes_validate re-reads them per call)."""
    cached = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubernetes_validate.utils, "schema_contents", cached)
        yield


def validate(manifest: Manifest) -> None:
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)


def config(**settings: Any) -> AksDeploymentConfig:
    settings.setdefault("service_name", "accidents")
    return AksDeploymentConfig(**settings)


def render(cfg: AksDeploymentConfig) -> dict[str, Manifest]:
    return manifests(cfg, image=IMAGE, secret_values=SECRETS, tls_certificate=CERT, tls_key=KEY)


def container(manifest: Manifest) -> dict[str, Any]:
    (only,) = manifest["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def test_validator_rejects_a_broken_manifest() -> None:
    broken = deployment(config(), image=IMAGE)
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGets"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_default_service_objects_are_valid() -> None:
    objects = render(config())
    assert set(objects) == {
        "auth",
        "deployment",
        "service",
        "hpa",
        "pdb",
        "serviceaccount",
        "networkpolicy",
    }
    for manifest in objects.values():
        validate(manifest)


def test_deployment_resources_probes_and_rollout() -> None:
    cfg = config(cpu_cores=0.5, memory_gb=2, cpu_cores_limit=2, initial_delay_seconds=60)
    manifest = deployment(cfg, image=IMAGE)
    main = container(manifest)
    assert main["image"] == IMAGE
    assert main["resources"] == {
        "requests": {"cpu": "500m", "memory": "2048Mi"},
        "limits": {"cpu": "2000m", "memory": "2048Mi"},
    }
    assert main["livenessProbe"]["httpGet"] == {"path": "/live", "port": "http"}
    assert main["livenessProbe"]["initialDelaySeconds"] == 60
    assert main["livenessProbe"]["periodSeconds"] == 10
    assert main["livenessProbe"]["failureThreshold"] == 3
    assert main["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert main["ports"] == [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}]
    assert manifest["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in manifest["spec"]  # the HPA owns the replica count
    pod = manifest["spec"]["template"]["spec"]
    assert "tolerations" not in pod
    assert "nodeSelector" not in pod
    assert GPU_RESOURCE not in main["resources"]["limits"]


def test_gpu_deployment_requests_gpus_and_targets_the_pool() -> None:
    pool = GpuNodePoolConfig(node_taint="gpu=true:NoExecute", node_label="pool=a100")
    cfg = config(gpu_cores=2, gpu_toleration=pool.node_taint, gpu_node_selector=pool.node_label)
    manifest = deployment(cfg, image=IMAGE)
    validate(manifest)
    assert container(manifest)["resources"]["limits"][GPU_RESOURCE] == "2"
    pod = manifest["spec"]["template"]["spec"]
    assert {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoExecute"} in pod[
        "tolerations"
    ]
    assert pod["nodeSelector"] == {"pool": "a100"}


def test_runtime_env_and_secret_files() -> None:
    manifest = deployment(config(scoring_timeout_ms=5000), image=IMAGE, auth_secret_name="keys-x1")
    env = {item["name"]: item for item in container(manifest)["env"]}
    assert env[env_var_name("port")]["value"] == str(CONTAINER_PORT)
    assert env[env_var_name("auth_mode")]["value"] == "key"
    assert env[env_var_name("scoring_timeout_ms")]["value"] == "5000"
    for setting, key in (("primary_key", "primary-key"), ("secondary_key", "secondary-key")):
        assert env_var_name(setting) not in env  # only the file's path is in the environment
        assert env[env_var_name(f"{setting}_file")]["value"] == f"{SECRETS_MOUNT}/{key}"
    assert all("valueFrom" not in item for item in env.values())
    pod = manifest["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes[SECRETS_VOLUME]["secret"] == {
        "secretName": "keys-x1",
        "defaultMode": 0o440,
        "items": [
            {"key": "primary-key", "path": "primary-key"},
            {"key": "secondary-key", "path": "secondary-key"},
        ],
    }
    mounts = {mount["name"]: mount for mount in container(manifest)["volumeMounts"]}
    assert mounts[SECRETS_VOLUME] == {
        "name": SECRETS_VOLUME,
        "mountPath": SECRETS_MOUNT,
        "readOnly": True,
    }
    text = repr(manifest)
    assert SECRETS["primary_key"] not in text


def test_token_auth_secret_holds_only_the_token_secret() -> None:
    cfg = config(token_auth_enabled=True, token_issuer="https://issuer")
    secret = auth_secret(cfg, SECRETS)
    assert secret is not None
    assert secret["stringData"] == {"token-secret": SECRETS["token_secret"]}
    env = {item["name"] for item in container(deployment(cfg, image=IMAGE))["env"]}
    assert env_var_name("token_secret_file") in env
    assert env_var_name("token_secret") not in env
    assert env_var_name("token_issuer") in env
    assert env_var_name("primary_key_file") not in env


def test_no_auth_means_no_secret() -> None:
    cfg = config(auth_enabled=False)
    assert auth_secret(cfg, SECRETS) is None
    assert "auth" not in render(cfg)


def test_autonamed_secret_has_no_name() -> None:
    secret = auth_secret(config(), SECRETS, autoname=True)
    assert secret is not None
    assert "name" not in secret["metadata"]
    validate(secret)


def test_hpa_matches_config_and_fixed_replicas_drop_it() -> None:
    hpa = horizontal_pod_autoscaler(
        config(autoscale_min_replicas=2, autoscale_max_replicas=8, autoscale_target_utilization=50)
    )
    assert hpa is not None
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 50
    assert hpa["spec"]["scaleTargetRef"]["name"] == "accidents"
    fixed = config(num_replicas=3)
    assert horizontal_pod_autoscaler(fixed) is None
    assert deployment(fixed, image=IMAGE)["spec"]["replicas"] == 3
    off = config(autoscale_enabled=False)
    assert deployment(off, image=IMAGE)["spec"]["replicas"] == 1


def test_tls_ingress_and_cluster_ip_service() -> None:
    cfg = config(ssl_enabled=True, ssl_cname="ml.example.com", namespace="ml")
    objects = render(cfg)
    assert set(objects) == {
        "auth",
        "deployment",
        "service",
        "hpa",
        "pdb",
        "ingress",
        "tls",
        "serviceaccount",
        "networkpolicy",
    }
    for manifest in objects.values():
        validate(manifest)
        assert manifest["metadata"]["namespace"] == "ml"
    assert objects["service"]["spec"]["type"] == "ClusterIP"
    rule = objects["ingress"]["spec"]["tls"][0]
    assert rule == {"hosts": ["ml.example.com"], "secretName": "accidents-tls"}
    assert objects["tls"]["type"] == "kubernetes.io/tls"
    existing = config(ssl_enabled=True, ssl_cname="ml.example.com", tls_secret_name="wildcard")
    assert "tls" not in render(existing)
    assert ingress(existing)["spec"]["tls"][0]["secretName"] == "wildcard"  # type: ignore[index]


def test_load_balancer_service_by_default() -> None:
    manifest = service(config())
    assert manifest["spec"]["type"] == "LoadBalancer"
    assert manifest["spec"]["selector"] == {SELECTOR_LABEL: "accidents"}
    assert manifest["spec"]["ports"][0]["port"] == 80


def test_quantities() -> None:
    assert cpu_quantity(0.1) == "100m"
    assert cpu_quantity(0.0001) == "1m"
    assert memory_quantity(0.5) == "512Mi"
    assert memory_quantity(1.5) == "1536Mi"


def test_device_plugin_daemonset_is_valid_and_targets_the_pool() -> None:
    pool = GpuNodePoolConfig(pool_name="a100", node_taint="sku=gpu:NoSchedule")
    manifest = nvidia_device_plugin(pool)
    validate(manifest)
    spec = manifest["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"kubernetes.azure.com/agentpool": "a100"}
    assert {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    assert spec["containers"][0]["image"].endswith(":v0.17.0")


# --- generated configurations ---------------------------------------------------------------------

dns_label = st.from_regex(r"\A[a-z]([-a-z0-9]{0,20}[a-z0-9])?\Z")
hostname = st.lists(dns_label, min_size=2, max_size=4).map(".".join)
taint = st.tuples(
    st.from_regex(r"\A[a-z][a-z0-9.-]{0,10}\Z"),
    st.from_regex(r"\A[a-z0-9]{1,10}\Z"),
    st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
).map(lambda t: f"{t[0]}={t[1]}:{t[2]}")
label = st.tuples(
    st.from_regex(r"\A[a-z][a-z0-9.-]{0,10}\Z"), st.from_regex(r"\A[a-z0-9]{1,10}\Z")
).map(lambda t: f"{t[0]}={t[1]}")


@st.composite
def aks_configs(draw: st.DrawFn) -> AksDeploymentConfig:
    cpu = draw(st.floats(min_value=0.01, max_value=64))
    memory = draw(st.floats(min_value=0.05, max_value=512))
    settings: dict[str, Any] = {
        "service_name": draw(dns_label),
        "namespace": draw(dns_label),
        "cpu_cores": cpu,
        "memory_gb": memory,
        "gpu_cores": draw(st.integers(0, 8)),
        "scoring_timeout_ms": draw(st.integers(1, 600_000)),
        "replica_max_concurrent_requests": draw(st.integers(1, 64)),
        "max_request_wait_time": draw(st.integers(0, 60_000)),
        "period_seconds": draw(st.integers(1, 300)),
        "initial_delay_seconds": draw(st.integers(0, 3600)),
        "timeout_seconds": draw(st.integers(1, 60)),
        "success_threshold": draw(st.integers(1, 10)),
        "failure_threshold": draw(st.integers(1, 10)),
        "gpu_toleration": draw(taint),
        "gpu_node_selector": draw(label),
        "tags": draw(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3)),
    }
    if draw(st.booleans()):
        settings["cpu_cores_limit"] = cpu * draw(st.floats(1, 4))
    if draw(st.booleans()):
        settings["memory_gb_limit"] = memory * draw(st.floats(1, 4))
    auth = draw(st.sampled_from(["default", "key", "token", "none"]))
    if auth == "key":
        settings["auth_enabled"] = True
    elif auth == "token":
        settings["token_auth_enabled"] = True
        settings["token_audience"] = draw(st.one_of(st.none(), st.text(min_size=1, max_size=10)))
        settings["token_jwks_url"] = draw(st.sampled_from([None, "https://login.example.com/k"]))
    elif auth == "none":
        settings["auth_enabled"] = False
    if draw(st.booleans()):
        settings["num_replicas"] = draw(st.integers(1, 100))
        settings["autoscale_enabled"] = draw(st.sampled_from([None, False]))
    else:
        low = draw(st.integers(1, 50))
        settings["autoscale_min_replicas"] = low
        settings["autoscale_max_replicas"] = draw(st.integers(low, 100))
        settings["autoscale_target_utilization"] = draw(st.integers(1, 100))
    if draw(st.booleans()):
        settings["ssl_enabled"] = True
        settings["ssl_cname"] = draw(hostname)
        settings["tls_secret_name"] = draw(st.one_of(st.none(), dns_label))
    return AksDeploymentConfig(**settings)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(aks_configs())
def test_generated_configs_render_valid_manifests(cfg: AksDeploymentConfig) -> None:
    objects = render(cfg)
    for manifest in objects.values():
        validate(manifest)
    main = container(objects["deployment"])
    assert ("hpa" in objects) == cfg.autoscale
    assert (GPU_RESOURCE in main["resources"]["limits"]) == (cfg.gpu_cores > 0)
    assert ("ingress" in objects) == cfg.ssl_enabled
    for name in ("requests", "limits"):
        assert main["resources"][name]["cpu"].endswith("m")
    env_names = {item["name"] for item in main["env"]}
    assert env_var_name("auth_mode") in env_names
    for manifest in objects.values():
        if manifest["kind"] != "Secret":
            assert SECRETS["primary_key"] not in repr(manifest)
            assert SECRETS["token_secret"] not in repr(manifest)


@settings(max_examples=30, deadline=None)
@given(
    pool_name=st.from_regex(r"\A[a-z][a-z0-9]{0,11}\Z"),
    node_taint=taint,
    node_label=label,
    version=st.tuples(st.integers(0, 20), st.integers(0, 30), st.integers(0, 9)),
)
def test_generated_device_plugins_are_valid(
    pool_name: str, node_taint: str, node_label: str, version: tuple[int, int, int]
) -> None:
    pool = GpuNodePoolConfig(
        pool_name=pool_name,
        node_taint=node_taint,
        node_label=node_label,
        device_plugin_version="v{}.{}.{}".format(*version),
    )
    validate(nvidia_device_plugin(pool))
