"""AksWebService under Pulumi mocks: GPU placement, HPA, secrets, validation, diffs."""

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest

from mlws.components.aks_cluster import AksCluster, GpuNodePool
from mlws.components.aks_web_service import AksWebService, AksWebServiceArgs, reference_problems
from mlws.components.deployment_config import AksDeploymentConfig
from mlws.components.errors import ConfigError, parse_config
from mlws.components.service_keys import ServiceKeys
from mlws.mocks import RecordedResource, diff_programs
from mlws.runtime.settings import env_var_name
from tests.components.secret_checks import assert_only_secret

IMAGE = "myacr.azurecr.io/accidents@sha256:" + "1" * 64
PRIMARY, SECONDARY, TOKEN = "pk-" + "p" * 29, "sk-" + "s" * 29, "ts-" + "t" * 29
KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: kube-s3cret\n"
)
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def service_args(**overrides: Any) -> AksWebServiceArgs:
    args: dict[str, Any] = {
        "image": IMAGE,
        "kubeconfig": KUBECONFIG,
        "primary_key": PRIMARY,
        "secondary_key": SECONDARY,
        "namespace": "ml",
        "cpu_cores": 1,
        "memory_gb": 2,
        "autoscale_min_replicas": 2,
        "autoscale_max_replicas": 8,
        "sample_request": '{"data": [[1, 2]]}',
    }
    args.update(overrides)
    for key in ("primary_key", "secondary_key", "token_secret", "kubeconfig"):
        if args.get(key) is not None:
            args[key] = pulumi.Output.secret(args[key])
    return {k: v for k, v in args.items() if v is not None}  # type: ignore[return-value]


def program(**overrides: Any) -> Callable[[], None]:
    def run() -> None:
        svc = AksWebService("accidents", service_args(**overrides))
        pulumi.export("scoring_uri", svc.scoring_uri)
        pulumi.export("swagger_uri", svc.swagger_uri)
        pulumi.export("label_selector", svc.label_selector)

    return run


def gpu_program() -> None:
    cluster = AksCluster("ml", {"resource_group_name": "ml-rg", "location": "westeurope"})
    pool = GpuNodePool(
        "gpu",
        {
            "resource_group_name": "ml-rg",
            "cluster_name": cluster.cluster_name,
            "kubeconfig": cluster.kubeconfig,
            "node_taint": "sku=gpu:NoSchedule",
            "node_label": "pool=a100",
            "min_count": 1,
            "max_count": 4,
        },
    )
    svc = AksWebService(
        "accidents",
        {
            "image": IMAGE,
            "kubeconfig": cluster.kubeconfig,
            "token_auth_enabled": True,
            "token_secret": pulumi.Output.secret(TOKEN),
            "gpu_cores": 1,
            "gpu_toleration": pool.toleration,
            "gpu_node_selector": pool.node_selector,
            "autoscale_max_replicas": 3,
        },
        pulumi.ResourceOptions(depends_on=[pool]),
    )
    pulumi.export("scoring_uri", svc.scoring_uri)


def pod_spec(deployment: RecordedResource) -> dict[str, Any]:
    return deployment.inputs["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def manifest_of(resource: RecordedResource) -> dict[str, Any]:
    return dict(resource.inputs)


def test_graph_outputs_and_valid_objects(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program())
    component = recording.named("accidents", "mlws:index:AksWebService")
    children = {r.name: r.type for r in recording.children(component)}
    assert children == {
        "accidents-k8s": "pulumi:providers:kubernetes",
        "accidents-auth": "kubernetes:core/v1:Secret",
        "accidents-serviceaccount": "kubernetes:core/v1:ServiceAccount",
        "accidents-networkpolicy": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "accidents-deployment": DEPLOYMENT,
        "accidents-service": "kubernetes:core/v1:Service",
        "accidents-hpa": "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "accidents-pdb": "kubernetes:policy/v1:PodDisruptionBudget",
        "accidents-health": "pulumi-python:dynamic/mlws:HealthGate",
    }
    provider = recording.named("accidents-k8s")
    for resource in recording:
        if resource.type.startswith("kubernetes:"):
            assert resource.provider.startswith(provider.urn)
            kubernetes_validate.validate(manifest_of(resource), "1.30", strict=True)
    out = recording.stack_outputs
    assert out["scoring_uri"].startswith("http://52.")
    assert out["scoring_uri"].endswith("/score")
    assert out["swagger_uri"] == out["scoring_uri"].replace("/score", "/swagger.json")
    assert out["label_selector"] == "mlws.io/service=accidents"
    gate = recording.named("accidents-health")
    assert gate.inputs["scoring_uri"] == out["scoring_uri"]
    assert recording.named("accidents-deployment").urn in gate.dependencies


def test_hpa_min_max_match_config(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program(autoscale_min_replicas=3, autoscale_max_replicas=12))
    hpa = recording.named("accidents-hpa").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert "replicas" not in recording.named("accidents-deployment").inputs["spec"]


def test_fixed_replicas_have_no_hpa(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(
        program(num_replicas=4, autoscale_min_replicas=None, autoscale_max_replicas=None)
    )
    assert not recording.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert recording.named("accidents-deployment").inputs["spec"]["replicas"] == 4


def test_keys_and_kubeconfig_only_ever_secret(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program())
    assert assert_only_secret(recording, PRIMARY) == 2  # the Secret and the health gate
    assert assert_only_secret(recording, SECONDARY) == 1
    assert assert_only_secret(recording, "kube-s3cret") == 1
    deployment = recording.named("accidents-deployment")
    assert not deployment.secret_paths  # the spec stays reviewable in a preview
    env = {e["name"]: e for e in pod_spec(deployment)["containers"][0]["env"]}
    secret_name = recording.named("accidents-auth").outputs["metadata"]["name"]
    assert env_var_name("primary_key") not in env
    assert env[env_var_name("primary_key_file")]["value"].endswith("/primary-key")
    (keys,) = [v for v in pod_spec(deployment)["volumes"] if "secret" in v]
    assert keys["secret"]["secretName"] == secret_name
    sa = recording.named("accidents-serviceaccount")
    assert sa.urn in deployment.dependencies  # pods are created once their ServiceAccount is


def test_gpu_service_on_the_gpu_pool(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(gpu_program)
    deployment = recording.named("accidents-deployment")
    pod = pod_spec(deployment)
    (main,) = pod["containers"]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == "1"
    pool = recording.named("gpu-pool")
    (taint,) = pool.inputs["nodeTaints"]
    key, rest = taint.split("=")
    value, effect = rest.split(":")
    assert {"key": key, "operator": "Equal", "value": value, "effect": effect} in pod["tolerations"]
    assert pod["nodeSelector"] == pool.inputs["nodeLabels"] == {"pool": "a100"}
    hpa = recording.named("accidents-hpa").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 3)
    env = {e["name"]: e for e in main["env"]}
    assert env[env_var_name("auth_mode")]["value"] == "token"
    assert env_var_name("token_secret_file") in env
    assert env_var_name("token_secret") not in env
    assert env_var_name("primary_key_file") not in env
    assert pool.urn in recording.named("accidents").dependencies
    assert assert_only_secret(recording, TOKEN) == 2  # the Secret and the health gate
    gate = recording.named("accidents-health")
    assert "token_secret" in gate.secret_paths
    provider = recording.named("accidents-k8s")
    assert "kubeconfig" in provider.secret_paths
    assert "clusters:" in provider.inputs["kubeconfig"]


def test_tls_ingress(pulumi_mocks: Any) -> None:
    cert, key = "CERT", "KEY-s3cret"
    recording = pulumi_mocks.run(
        program(ssl_enabled=True, ssl_cname="ml.example.com", ssl_certificate=cert, ssl_key=key)
    )
    ingress = recording.named("accidents-ingress")
    tls_secret = recording.named("accidents-tls")
    assert ingress.inputs["spec"]["tls"] == [
        {"hosts": ["ml.example.com"], "secretName": tls_secret.outputs["metadata"]["name"]}
    ]
    assert recording.named("accidents-service").inputs["spec"]["type"] == "ClusterIP"
    assert recording.stack_outputs["scoring_uri"] == "https://ml.example.com/score"
    assert_only_secret(recording, "KEY-s3cret")


def test_invalid_config_registers_nothing_and_names_every_field(pulumi_mocks: Any) -> None:
    errors: list[ConfigError] = []

    def run() -> None:
        try:
            AksWebService(
                "accidents",
                service_args(
                    autoscale_enabled=True,
                    num_replicas=2,
                    autoscale_min_replicas=5,
                    autoscale_max_replicas=3,
                    namespace="ML_Prod",
                    primary_key=None,
                    memory_gb=-1,
                ),
            )
        except ConfigError as error:
            errors.append(error)

    recording = pulumi_mocks.run(run)
    assert len(recording) == 0
    (error,) = errors
    assert set(error.fields) == {
        "autoscale_enabled",
        "autoscale_min_replicas",
        "namespace",
        "primary_key",
        "memory_gb",
    }


def test_token_auth_needs_its_secret(pulumi_mocks: Any) -> None:
    with pytest.raises(ConfigError, match="token_secret"):
        pulumi_mocks.run(program(token_auth_enabled=True))


def test_a_missing_key_says_how_to_turn_key_auth_off() -> None:
    # Key auth is on by default on AKS, so the user may not know it is on.
    (missing,) = [p for p in reference_problems({"image": IMAGE}) if p.field == "primary_key"]
    assert missing.message.endswith("or set auth_enabled False")
    assert not [p for p in reference_problems({"image": IMAGE, "auth_enabled": False})]


def test_inherited_provider_without_kubeconfig(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program(kubeconfig=None))
    assert not recording.of_type("pulumi:providers:kubernetes")
    assert recording.named("accidents-deployment").provider == ""


# --- diffs: run, change one input, run again ------------------------------------------------------


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    result, _, _ = diff_programs(lambda overrides: program(**overrides), old, new)
    assert not result.deleted
    assert not result.created
    return result.updated


def test_cpu_change_touches_only_the_deployment() -> None:
    updated = diff({"cpu_cores": 1}, {"cpu_cores": 2})
    assert set(updated) == {"accidents-deployment"}
    assert set(updated["accidents-deployment"]) == {
        "spec.template.spec.containers[0].resources.requests.cpu",
        "spec.template.spec.containers[0].resources.limits.cpu",
    }


def test_new_image_changes_only_the_workload_and_its_health_check() -> None:
    updated = diff({}, {"image": IMAGE.replace("1" * 64, "2" * 64)})
    assert set(updated) == {"accidents-deployment", "accidents-health"}
    assert updated["accidents-deployment"] == ("spec.template.spec.containers[0].image",)


def test_key_rotation_replaces_the_secret_and_rolls_its_consumers() -> None:
    updated = diff({}, {"primary_key": "pk-" + "q" * 29})
    assert set(updated) == {"accidents-auth", "accidents-deployment", "accidents-health"}
    assert updated["accidents-auth"] == ("stringData.primary-key",)
    # the Secret is replaced under a new name; the pods move to it (no secret in the spec)
    assert updated["accidents-deployment"] == ("spec.template.spec.volumes[1].secret.secretName",)
    assert updated["accidents-health"] == ("key",)


def test_secondary_key_rotation_leaves_the_health_check_alone() -> None:
    updated = diff({}, {"secondary_key": "sk-" + "r" * 29})
    assert set(updated) == {"accidents-auth", "accidents-deployment"}


def test_callers_provider_reaches_the_objects(pulumi_mocks: Any) -> None:
    def run() -> None:
        mine = k8s.Provider("mine", kubeconfig="apiVersion: v1")
        AksWebService(
            "accidents",
            service_args(kubeconfig=None),
            pulumi.ResourceOptions(providers=[mine], protect=True),
        )

    recording = pulumi_mocks.run(run)
    mine = recording.named("mine")
    deployment = recording.named("accidents-deployment")
    assert deployment.provider.startswith(mine.urn)
    assert deployment.protect
    assert recording.named("accidents").protect


def keyed_program(rotation: str) -> Callable[[], None]:
    """ServiceKeys feeding the service: rotating the primary key through its trigger."""

    def run() -> None:
        keys = ServiceKeys("accidents-keys", {"primary_rotation": rotation})
        AksWebService(
            "accidents",
            {
                "image": IMAGE,
                "primary_key": keys.primary_key,
                "secondary_key": keys.secondary_key,
            },
        )

    return run


def test_service_keys_rotation_reaches_only_the_key_consumers() -> None:
    result, before, after = diff_programs(keyed_program, "0", "1")
    assert not result.created
    assert not result.deleted
    assert set(result.updated) == {
        "accidents-keys-primary",
        "accidents-auth",
        "accidents-deployment",
        "accidents-health",
    }
    assert result.updated["accidents-keys-primary"] == ("keepers.rotation",)
    old_secret = before.named("accidents-auth").inputs["stringData"]
    new_secret = after.named("accidents-auth").inputs["stringData"]
    assert old_secret["secondary-key"] == new_secret["secondary-key"]
    assert old_secret["primary-key"] != new_secret["primary-key"]
    assert "stringData" in after.named("accidents-auth").secret_paths


def test_external_token_issuer_needs_no_secret(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(
        program(
            token_auth_enabled=True,
            primary_key=None,
            secondary_key=None,
            token_jwks_url="https://login.example.com/keys",
            token_audience="api://scoring",
        )
    )
    assert not recording.of_type("kubernetes:core/v1:Secret")
    env = {
        e["name"]: e
        for e in pod_spec(recording.named("accidents-deployment"))["containers"][0]["env"]
    }
    assert env[env_var_name("token_jwks_url")]["value"] == "https://login.example.com/keys"
    assert env_var_name("token_secret") not in env
    gate = recording.named("accidents-health")
    assert "sample_request" not in gate.inputs or gate.inputs["sample_request"] is None


def test_missing_secondary_key_is_not_referenced(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program(secondary_key=None))
    env = {
        e["name"] for e in pod_spec(recording.named("accidents-deployment"))["containers"][0]["env"]
    }
    assert env_var_name("primary_key_file") in env
    assert env_var_name("secondary_key_file") not in env
    assert set(recording.named("accidents-auth").inputs["stringData"]) == {"primary-key"}


def test_tls_certificate_and_existing_secret_conflict() -> None:
    args: AksWebServiceArgs = {
        "image": IMAGE,
        "primary_key": PRIMARY,
        "ssl_enabled": True,
        "ssl_cname": "ml.example.com",
        "tls_secret_name": "wildcard",
        "ssl_certificate": "C",
        "ssl_key": "K",
    }
    assert [p.field for p in reference_problems(args)] == ["ssl_certificate"]


def test_created_namespace_comes_first(pulumi_mocks: Any) -> None:
    recording = pulumi_mocks.run(program(namespace="ml-prod", create_namespace=True))
    namespace = recording.named("accidents-namespace")
    assert namespace.inputs["metadata"]["name"] == "ml-prod"
    kubernetes_validate.validate(manifest_of(namespace), "1.30", strict=True)
    for role in ("auth", "deployment", "service", "hpa", "pdb"):
        resource = recording.named(f"accidents-{role}")
        assert namespace.urn in resource.dependencies, role
        assert resource.inputs["metadata"]["namespace"] == "ml-prod"


def test_creating_a_builtin_namespace_is_rejected() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(
            AksDeploymentConfig,
            {"create_namespace": True, "namespace": "kube-system"},
            subject="AksWebService 'a'",
            defaults={"service_name": "a"},
        )
    assert error.value.fields == ("create_namespace",)
