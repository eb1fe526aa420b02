"""The lock-down the pure builders render, setting by setting (docs/security.md).

checkov (test_checkov.py) says whether a platform team's scanner is satisfied; these say exactly
what is set, that the overrides do only what they say, and that the device plugin gets only its
stated needs.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from pydantic import ValidationError

from mlws.components.aci_spec import container_group_args
from mlws.components.aks_cluster_spec import (
    DEVICE_PLUGIN_DIR,
    DEVICE_PLUGIN_NEEDS,
    GpuNodePoolConfig,
    nvidia_device_plugin,
    nvidia_device_plugin_network_policy,
)
from mlws.components.deployment_config import (
    CONTAINER_PORT,
    SECRET_SETTINGS,
    AciDeploymentConfig,
    AksDeploymentConfig,
)
from mlws.components.dockerfile import USER_ID
from mlws.components.k8s_manifests import manifests
from mlws.components.k8s_setup import namespace, network_policy, service_account
from mlws.components.k8s_workload import deployment
from mlws.runtime.settings import env_var_name

IMAGE = "myacr.azurecr.io/accidents@sha256:" + "a" * 64
SECRETS = {"primary_key": "p" * 32, "secondary_key": "s" * 32, "token_secret": "t" * 32}


def config(**settings: Any) -> AksDeploymentConfig:
    settings.setdefault("service_name", "accidents")
    return AksDeploymentConfig(**settings)


def pod_of(cfg: AksDeploymentConfig) -> dict[str, Any]:
    return deployment(cfg, image=IMAGE)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def validate(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, "1.30", strict=True)


def test_pods_run_as_the_images_user_without_privileges() -> None:
    pod = pod_of(config())
    assert USER_ID == 10001
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "fsGroup": USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["imagePullPolicy"] == "Always"
    assert pod["serviceAccountName"] == "accidents"
    assert pod["automountServiceAccountToken"] is False


def test_only_tmp_and_the_writable_paths_are_writable() -> None:
    pod = pod_of(config(writable_paths=["/var/cache/model", "/opt/app.data"], tmp_size_gb=2))
    (container,) = pod["containers"]
    empty_dirs = {v["name"]: v["emptyDir"] for v in pod["volumes"] if "emptyDir" in v}
    assert len(empty_dirs) == 3
    assert all(d == {"sizeLimit": "2048Mi"} for d in empty_dirs.values())
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    writable = {path for path, m in mounts.items() if m["name"] in empty_dirs}
    assert writable == {"/tmp", "/var/cache/model", "/opt/app.data"}
    assert all(not m.get("readOnly") for m in mounts.values() if m["name"] in empty_dirs)
    validate(deployment(config(writable_paths=["/var/cache/model"]), image=IMAGE))


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["relative/path"], "not an absolute folder path"),
        (["/a/../etc"], "not an absolute folder path"),
        (["/tmp"], "mounted by mlws already"),
        (["/etc/mlws/secrets"], "mounted by mlws already"),
        (["/x", "/x"], "each path once"),
    ],
)
def test_writable_paths_are_checked(paths: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config(writable_paths=paths)


def test_run_as_user_overrides_the_uid_but_never_root() -> None:
    pod = pod_of(config(run_as_user=1000))
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["containers"][0]["securityContext"]["runAsGroup"] == 1000
    with pytest.raises(ValidationError, match="run_as_user"):
        config(run_as_user=0)


def test_the_environment_holds_only_paths_to_the_secret_files() -> None:
    for auth in ({}, {"token_auth_enabled": True}):
        objects = manifests(config(**auth), image=IMAGE, secret_values=SECRETS)
        (container,) = objects["deployment"]["spec"]["template"]["spec"]["containers"]
        names = {item["name"] for item in container["env"]}
        for setting in SECRET_SETTINGS:
            assert env_var_name(setting) not in names
        assert all(set(item) == {"name", "value"} for item in container["env"])
        for value in SECRETS.values():
            assert value not in repr(objects["deployment"])


def test_service_account_mounts_no_token() -> None:
    account = service_account(config())
    validate(account)
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["name"] == "accidents"


def test_created_namespace_enforces_the_restricted_standard() -> None:
    created = namespace(config(namespace="scoring", create_namespace=True))
    assert created is not None
    validate(created)
    labels = created["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest"


def test_network_policy_behind_a_load_balancer_admits_the_scoring_port_only() -> None:
    policy = network_policy(config())
    assert policy is not None
    validate(policy)
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {"mlws.io/service": "accidents"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [{"ports": [{"protocol": "TCP", "port": CONTAINER_PORT}]}]
    (dns,) = spec["egress"]  # key auth calls nothing out
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}


def test_network_policy_behind_an_ingress_admits_the_controller_and_named_namespaces() -> None:
    cfg = config(
        ssl_enabled=True,
        ssl_cname="ml.example.com",
        ingress_controller_namespace="app-routing-system",
        allowed_ingress_namespaces=["monitoring"],
    )
    policy = network_policy(cfg)
    assert policy is not None
    validate(policy)
    (admit,) = policy["spec"]["ingress"]
    assert admit["ports"] == [{"protocol": "TCP", "port": CONTAINER_PORT}]
    assert [peer["namespaceSelector"]["matchLabels"] for peer in admit["from"]] == [
        {"kubernetes.io/metadata.name": "app-routing-system"},
        {"kubernetes.io/metadata.name": "monitoring"},
    ]


def test_egress_reaches_the_token_issuer_and_the_given_cidrs_only() -> None:
    cfg = config(
        token_auth_enabled=True,
        token_jwks_url="https://login.example.com:8443/keys",
        token_issuer="https://login.example.com",
        egress_cidrs=["10.0.0.0/16", "2001:db8::/32"],
    )
    policy = network_policy(cfg)
    assert policy is not None
    validate(policy)
    _dns, issuer, cidrs = policy["spec"]["egress"]
    assert issuer["ports"] == [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 8443}]
    assert cidrs == {
        "to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}, {"ipBlock": {"cidr": "2001:db8::/32"}}]
    }
    with pytest.raises(ValidationError, match="not a CIDR block"):
        config(egress_cidrs=["10.0.0.1/16"])  # host bits set


def test_network_policy_can_be_left_to_the_platform() -> None:
    assert network_policy(config(network_policy_enabled=False)) is None
    assert "networkpolicy" not in manifests(
        config(network_policy_enabled=False), image=IMAGE, secret_values=SECRETS
    )


def test_gpu_pods_stay_schedulable_under_the_restricted_standard() -> None:
    """What restricted forbids (privileged, host namespaces, hostPath, added capabilities, root)
    a GPU pod does not use: the device plugin and the node's runtime give it the GPU."""
    pod = pod_of(config(gpu_cores=1))
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod)
    assert all("hostPath" not in volume for volume in pod["volumes"])
    assert "add" not in container["securityContext"]["capabilities"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]


def test_the_device_plugin_gets_root_and_its_host_path_only() -> None:
    plugin = nvidia_device_plugin(GpuNodePoolConfig())
    validate(plugin)
    pod = plugin["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsUser"] == 0  # the stated need
    assert [v["hostPath"]["path"] for v in pod["volumes"]] == [DEVICE_PLUGIN_DIR]
    assert [m["mountPath"] for m in container["volumeMounts"]] == [DEVICE_PLUGIN_DIR]
    security = container["securityContext"]
    assert security["privileged"] is False
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert (pod["hostNetwork"], pod["hostPID"], pod["hostIPC"]) == (False, False, False)
    assert pod["automountServiceAccountToken"] is False
    assert set(container["resources"]) == {"requests", "limits"}
    annotations = plugin["metadata"]["annotations"]
    skipped = {value.split("=", 1)[0]: value.split("=", 1)[1] for value in annotations.values()}
    assert skipped == DEVICE_PLUGIN_NEEDS
    assert all(key.startswith("checkov.io/skip") for key in annotations)


def test_the_device_plugin_network_policy_denies_everything() -> None:
    config = GpuNodePoolConfig(pool_name="a100")
    policy = nvidia_device_plugin_network_policy(config)
    validate(policy)
    plugin = nvidia_device_plugin(config)
    assert policy["spec"]["podSelector"]["matchLabels"] == plugin["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"]
    assert "egress" not in policy["spec"]


def test_aci_keeps_keys_out_of_every_containers_environment() -> None:
    cfg = AciDeploymentConfig(auth_enabled=True, ssl_enabled=True, dns_name_label="accidents")
    args = container_group_args(
        cfg,
        image=IMAGE,
        resource_group_name="rg",
        secrets={"primary_key": "cA==", "secondary_key": "cw=="},
        tls_site="accidents.westeurope.azurecontainer.io",
    )
    for container in args["containers"]:
        for item in container["environment_variables"]:
            assert set(item) == {"name", "value"}
            assert item["name"] not in {env_var_name(s) for s in SECRET_SETTINGS}
    scoring, sidecar = args["containers"]
    assert [m["name"] for m in scoring["volume_mounts"]] == ["secrets"]
    assert all(m["name"] != "secrets" for m in sidecar["volume_mounts"])
