"""Each example program's whole resource graph under mocks, its secrets, and offline diffs.

Expected counts are read off each ``__main__.py`` and the components it declares (comments say
which declaration makes which resources), so a component growing or losing a child, or an example
changing shape, fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlws.render import Render, diff_renders, render_program
from tests.examples.example_support import EXAMPLES, assert_no_plaintext, render_example

IMAGE = "docker:index/image:Image"
CONTAINER = "docker:index/container:Container"
PASSWORD = "random:index/randomPassword:RandomPassword"
GATE = "pulumi-python:dynamic/mlws:HealthGate"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
K8S_SECRET = "kubernetes:core/v1:Secret"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

# ScoringImage -> the docker Image; ServiceKeys -> a RandomPassword per key;
# LocalWebService -> the container and its health gate.
LOCAL = {
    "mlws:index:ScoringImage": 1,
    IMAGE: 1,
    "mlws:index:ServiceKeys": 1,
    PASSWORD: 2,
    "mlws:index:LocalWebService": 1,
    CONTAINER: 1,
    GATE: 1,
}

# prod builds nothing (ScoringImage, its Image and the Registry are dev's).
AKS_PROD = {
    "azure-native:resources:ResourceGroup": 1,
    # AksCluster -> ManagedCluster
    "mlws:index:AksCluster": 1,
    "azure-native:containerservice:ManagedCluster": 1,
    # GpuNodePool -> AgentPool, a Kubernetes provider from the kubeconfig, the device plugin
    # and its deny-all NetworkPolicy
    "mlws:index:GpuNodePool": 1,
    "azure-native:containerservice:AgentPool": 1,
    "kubernetes:apps/v1:DaemonSet": 1,
    # ServiceKeys with token_secret_enabled -> primary, secondary and the token secret
    "mlws:index:ServiceKeys": 1,
    PASSWORD: 3,
    # AksWebService -> its own provider, its Namespace, ServiceAccount, NetworkPolicy, auth
    # Secret, Deployment, Service, HPA, PDB, health gate
    "mlws:index:AksWebService": 1,
    "pulumi:providers:kubernetes": 2,
    "kubernetes:core/v1:Namespace": 1,
    "kubernetes:core/v1:ServiceAccount": 1,
    NETWORK_POLICY: 2,
    K8S_SECRET: 1,
    DEPLOYMENT: 1,
    "kubernetes:core/v1:Service": 1,
    HPA: 1,
    "kubernetes:policy/v1:PodDisruptionBudget": 1,
    GATE: 1,
}
AKS_DEV = {
    **AKS_PROD,
    "azure-native:containerregistry:Registry": 1,
    # AksCluster's acr_pull_registry_ids=[registry.id] -> the kubelet's AcrPull role assignment
    "azure-native:authorization:RoleAssignment": 1,
    "mlws:index:ScoringImage": 1,
    IMAGE: 1,
}

# AksEndpoint with two deployments (examples/aks-blue-green, prod): per deployment a
# ServiceAccount, NetworkPolicy, Deployment, Service, HPA and PDB; for the endpoint its provider,
# Namespace, keys Secret, Gateway and HTTPRoute (health_check off: no gate).
AKS_BLUE_GREEN = {
    "azure-native:resources:ResourceGroup": 1,
    "mlws:index:AksCluster": 1,
    "azure-native:containerservice:ManagedCluster": 1,
    "mlws:index:ServiceKeys": 1,
    PASSWORD: 2,
    "mlws:index:AksEndpoint": 1,
    "pulumi:providers:kubernetes": 1,
    "kubernetes:core/v1:Namespace": 1,
    K8S_SECRET: 1,
    "kubernetes:core/v1:ServiceAccount": 2,
    NETWORK_POLICY: 2,
    DEPLOYMENT: 2,
    "kubernetes:core/v1:Service": 2,
    HPA: 2,
    "kubernetes:policy/v1:PodDisruptionBudget": 2,
    "kubernetes:gateway.networking.k8s.io/v1:Gateway": 1,
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute": 1,
}

EXPECTED_COUNTS = {
    ("local-sklearn", "dev"): LOCAL,
    ("multi-model", "dev"): LOCAL,
    ("aks-gpu", "dev"): AKS_DEV,
    ("aks-gpu", "prod"): AKS_PROD,
    ("aks-blue-green", "prod"): AKS_BLUE_GREEN,
    # dev: one deployment with a fixed replica count (no HPA)
    ("aks-blue-green", "dev"): {
        **{t: n for t, n in AKS_BLUE_GREEN.items() if t != HPA},
        **dict.fromkeys(
            (
                "kubernetes:core/v1:ServiceAccount",
                NETWORK_POLICY,
                DEPLOYMENT,
                "kubernetes:core/v1:Service",
                "kubernetes:policy/v1:PodDisruptionBudget",
            ),
            1,
        ),
    },
}


def _named(render: Render, name: str) -> Any:
    [found] = [r for r in render.resources if r.name == name]
    return found


@pytest.mark.parametrize(("example", "stack"), sorted(EXPECTED_COUNTS))
def test_resource_graph(example: str, stack: str) -> None:
    render, secrets = render_example(example, stack)
    assert render.counts() == dict(sorted(EXPECTED_COUNTS[(example, stack)].items()))
    by_urn = render.by_urn()
    components = {r.urn for r in render.resources if not r.custom}
    for res in render.resources:
        if res.parent is not None:
            assert res.parent in components, f"{res.name}'s parent is not a component"
            assert res.name.startswith(by_urn[res.parent].name), res.name
    assert_no_plaintext(render, secrets)


STACK_FILES = [
    *((EXAMPLES / e / f"Pulumi.{s}.yaml", EXAMPLES / e) for e, s in sorted(EXPECTED_COUNTS)),
    *(
        (EXAMPLES / "r-accident" / f"Pulumi.{s}.yaml", EXAMPLES / "r-accident")
        for s in ("dev", "prod")
    ),
    (EXAMPLES.parent / "Pulumi.dev.yaml", EXAMPLES / "local-sklearn"),
]


@pytest.mark.parametrize(("stack_file", "program_dir"), STACK_FILES, ids=lambda p: p.name)
def test_stack_files_name_only_config_the_program_reads(
    stack_file: Path, program_dir: Path
) -> None:
    """A mistyped key or namespace in a stack file would be silently unused: none is."""
    import yaml

    from mlws import service

    project = yaml.safe_load((stack_file.parent / "Pulumi.yaml").read_text())["name"]
    program = (program_dir / "__main__.py").read_text()
    rotation = {service.PRIMARY_KEY_ROTATION, service.SECONDARY_KEY_ROTATION}
    for key in yaml.safe_load(stack_file.read_text())["config"]:
        namespace, _, name = key.partition(":")
        if namespace == "azure-native":
            assert name == "location", key
            continue
        assert namespace == project, key
        assert f'"{name}"' in program or name in rotation, key


def test_keys_are_secrets_everywhere() -> None:
    render, _ = render_example("local-sklearn")
    assert render.outputs["primary_key"] == "[secret]"
    assert render.outputs["secondary_key"] == "[secret]"
    assert _named(render, "diabetes-container").inputs["envs"] == "[secret]"
    assert _named(render, "diabetes-health").inputs["key"] == "[secret]"


def test_aks_gpu_deployment_is_placed_on_the_gpu_pool() -> None:
    render, _ = render_example("aks-gpu")
    pool = _named(render, "gpu")
    assert pool.type == "mlws:index:GpuNodePool"
    agent_pool = _named(render, "gpu-pool").inputs
    assert agent_pool["nodeTaints"] == ["sku=gpu:NoSchedule"]
    assert agent_pool["nodeLabels"] == {"accelerator": "nvidia"}
    pod = _named(render, "diabetes-gpu-deployment").inputs["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] in (1, "1")
    assert {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert pod["nodeSelector"] == {"accelerator": "nvidia"}
    hpa = _named(render, "diabetes-gpu-hpa").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 2)
    assert _named(render, "diabetes-gpu-auth").inputs["stringData"] == "[secret]"
    assert render.outputs["auth_mode"] == "token"
    assert render.outputs["token_secret"] == "[secret]"


def test_aks_gpu_dev_cluster_may_pull_from_the_registry() -> None:
    render, _ = render_example("aks-gpu")
    grant = _named(render, "aks-acrpull-0")
    assert grant.parent == _named(render, "aks").urn
    assert grant.dependencies["scope"] == [_named(render, "registry").urn]
    assert grant.dependencies["principalId"] == [_named(render, "aks-cluster").urn]
    assert grant.inputs["roleDefinitionId"].endswith("/7f951dda-4ed3-4680-a7ca-43fe172d538d")
    assert grant.inputs["principalType"] == "ServicePrincipal"
    assert grant.inputs["principalId"]


def test_aks_gpu_prod_autoscales_as_configured() -> None:
    render, _ = render_example("aks-gpu", "prod")
    hpa = _named(render, "diabetes-gpu-hpa").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)


def assert_prod_runs_the_image_dev_built(example: str) -> None:
    """prod, given dev's image reference, runs exactly that digest and builds nothing."""
    dev, _ = render_example(example, "dev")
    built = dev.outputs["image_ref"]
    assert "@sha256:" in built
    prod, _ = render_example(example, "prod", {"imageRef": built})
    assert prod.outputs["image_ref"] == built
    assert prod.of_type(IMAGE) == []
    rendered = prod.to_json()
    assert rendered.count(built) >= 2  # the workload and its health gate run exactly that digest


def test_aks_prod_runs_the_image_dev_built_by_digest() -> None:
    assert_prod_runs_the_image_dev_built("aks-gpu")


def _changes(old: Render, new: Render) -> dict[str, str]:
    return {c.name: c.kind for c in diff_renders(old, new).changes}


def test_cpu_cores_changes_only_the_deployment() -> None:
    old, _ = render_example("aks-gpu")
    new, _ = render_example("aks-gpu", overrides={"cpu_cores": "2"})
    diff = diff_renders(old, new)
    assert {c.name: c.kind for c in diff.changes} == {"diabetes-gpu-deployment": "update"}
    paths = {f.path: (f.old, f.new) for f in diff.changes[0].fields}
    assert paths["spec.template.spec.containers[0].resources.requests.cpu"] == ("1000m", "2000m")


def test_new_model_version_changes_image_and_workload_not_keys() -> None:
    old, _ = render_example("multi-model")
    new, _ = render_example("multi-model", overrides={"irisVersion": "2"})
    assert _changes(old, new) == {
        "two-models-image": "update",
        "two-models-container": "replace",
        "two-models-health": "update",
    }
    assert old.outputs["image_ref"] != new.outputs["image_ref"]


def test_rotating_the_primary_key_changes_it_and_its_consumers() -> None:
    old, _ = render_example("local-sklearn")
    new, _ = render_example("local-sklearn", overrides={"primaryKeyRotation": "1"})
    assert _changes(old, new) == {
        "diabetes-keys-primary": "replace",
        "diabetes-container": "replace",
        "diabetes-health": "update",
    }


def test_rotating_the_token_secret_reaches_the_kubernetes_secret() -> None:
    old, _ = render_example("aks-gpu")
    new, _ = render_example("aks-gpu", overrides={"tokenSecretRotation": "1"})
    # the Secret is replaced (new data, new autoname), so the Deployment's reference to it changes
    assert _changes(old, new) == {
        "diabetes-gpu-keys-token-secret": "replace",
        "diabetes-gpu-auth": "replace",
        "diabetes-gpu-deployment": "update",
        "diabetes-gpu-health": "update",
    }


def test_root_project_deploys_the_local_example() -> None:
    root = EXAMPLES.parent
    via_root = render_program(root, stack="dev")
    direct = render_program(EXAMPLES / "local-sklearn", stack="dev")
    assert via_root.project == "mlws-quickstart"

    def shape(render: Render) -> list[tuple[str, str, Any]]:
        return [(r.type, r.name, r.inputs) for r in render.resources]

    assert shape(via_root) == shape(direct)
    assert via_root.outputs == direct.outputs


def test_every_example_renders_on_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlws.cli.main import app

    runner = CliRunner()
    for example in sorted({e for e, _ in EXPECTED_COUNTS}):
        result = runner.invoke(app, ["render", str(EXAMPLES / example)])
        assert result.exit_code == 0, f"{example}: {result.output}"
        assert result.stdout.startswith(f"# Render of project `mlws-{example}`")


def test_promotion_diff_from_dev_to_prod() -> None:
    """dev vs prod of one program: prod builds nothing and runs bigger, the rest is the same."""
    dev, _ = render_example("aks-gpu", "dev")
    prod, _ = render_example("aks-gpu", "prod")
    changes = _changes(dev, prod)
    assert {name for name, kind in changes.items() if kind == "delete"} == {
        "registry",
        "aks-acrpull-0",  # the kubelet's AcrPull on that registry
        "diabetes-gpu",  # the ScoringImage component
        "diabetes-gpu-image",
    }
    assert "create" not in changes.values()
    assert changes["diabetes-gpu-deployment"] == "update"
    assert changes["diabetes-gpu-hpa"] == "update"
    assert "diabetes-gpu-keys-primary" not in changes


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_aks_gpu_kubernetes_objects_are_valid_as_sent(stack: str) -> None:
    """Each Kubernetes object, with the inputs the program really sends, passes the official schema.

    Secret fields are only ``[secret]`` in a render; an empty map stands in for them.
    """
    import kubernetes_validate

    render, _ = render_example("aks-gpu", stack)
    objects = [r for r in render.resources if r.type.startswith("kubernetes:") and r.custom]
    assert {r.type for r in objects} == {
        DEPLOYMENT,
        HPA,
        K8S_SECRET,
        "kubernetes:core/v1:Service",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:apps/v1:DaemonSet",
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:ServiceAccount",
        NETWORK_POLICY,
    }
    for obj in objects:
        manifest = {k: ({} if v == "[secret]" else v) for k, v in obj.inputs.items()}
        kubernetes_validate.validate(manifest, "1.30", strict=True)
