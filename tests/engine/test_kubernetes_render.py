"""AksWebService's Kubernetes objects through the real pulumi-kubernetes provider, with no cluster.

The program gives AksWebService an explicit ``kubernetes.Provider`` in render-to-directory mode:
``pulumi up`` under the real engine (CLI, mlws's Python host, ``pulumi-resource-kubernetes`` built
by ``scripts/pulumi-engine``) makes the provider write each object as a YAML file instead of
applying it. Every file is then validated against the Kubernetes schemas the mock tests use
(``kubernetes_validate``, strict), and its key fields checked; ``pulumi destroy`` removes them.
Where the plugin was left out (``MLWS_ENGINE_KUBERNETES=0``) or its build failed, this skips,
saying so.
"""

from __future__ import annotations

import base64
import functools
import json
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from mlws.components.dockerfile import USER_ID
from tests.pulumi_engine import PulumiProject, engine_versions, require_providers

pytestmark = [pytest.mark.needs_pulumi, pytest.mark.slow]

K8S_VERSIONS = ("1.30", "1.33")
IMAGE = "myacr.azurecr.io/accidents@sha256:" + "a" * 64
GPU_IMAGE = "myacr.azurecr.io/detector@sha256:" + "b" * 64
SECRETS = {
    "primaryKey": "pk-render-5d2f9a7c1e3b",
    "secondaryKey": "sk-render-8b4e6d0a2c9f",
    "tokenSecret": "ts-render-3a7c9e1b5d2f",
    "sslKey": "ssl-render-key-6e1d9c4a",
}
CERT = "-----BEGIN CERTIFICATE-----render-cert"

PROGRAM = textwrap.dedent(
    f"""
    import pulumi
    import pulumi_kubernetes as k8s
    from mlws.components.aks_web_service import AksWebService

    config = pulumi.Config()
    render = k8s.Provider(
        "render",
        render_yaml_to_directory=config.require("renderDir"),
        opts=pulumi.ResourceOptions(version=config.require("providerVersion")),
    )
    through_render = pulumi.ResourceOptions(providers=[render])
    AksWebService(
        "accidents",
        {{
            "image": {IMAGE!r},
            "primary_key": config.require_secret("primaryKey"),
            "secondary_key": config.require_secret("secondaryKey"),
            "namespace": "ml",
            "create_namespace": True,
            "cpu_cores": 1,
            "memory_gb": 2,
            "autoscale_min_replicas": 2,
            "autoscale_max_replicas": 6,
            "health_check": False,
        }},
        through_render,
    )
    detector = AksWebService(
        "detector",
        {{
            "image": {GPU_IMAGE!r},
            "token_auth_enabled": True,
            "token_secret": config.require_secret("tokenSecret"),
            "namespace": "ml",
            "gpu_cores": 1,
            "num_replicas": 2,
            "ssl_enabled": True,
            "ssl_cname": "detector.example.com",
            "ssl_certificate": {CERT!r},
            "ssl_key": config.require_secret("sslKey"),
            "health_check": False,
        }},
        through_render,
    )
    pulumi.export("detector_uri", detector.scoring_uri)
    """
)


@pytest.fixture(autouse=True, scope="module")
def _cached_schemas() -> Iterator[None]:
    """Parse each schema file once per module (kubernetes_validate re-reads them per call)."""
    cached = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubernetes_validate.utils, "schema_contents", cached)
        yield


def _project(tmp_path: Path, render_dir: Path) -> PulumiProject:
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: mlws-k8s-render\nruntime: python\n")
    (program / "__main__.py").write_text(PROGRAM)
    project = PulumiProject(tmp_path, program)
    project.run("stack", "init", "dev")
    project.run("config", "set", "renderDir", str(render_dir))
    project.run(
        "config", "set", "providerVersion", engine_versions()["KUBERNETES_PROVIDER_VERSION"]
    )
    for key, value in SECRETS.items():
        project.run("config", "set", "--secret", key, value)
    return project


def _rendered(render_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The rendered objects by (kind, metadata.name), each file holding exactly one."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((render_dir / "1-manifest").glob("*.yaml")):
        (document,) = list(yaml.safe_load_all(path.read_text()))
        key = (document["kind"], document["metadata"]["name"])
        assert key not in found, f"{key} rendered twice"
        found[key] = document
    return found


def _one(objects: dict[tuple[str, str], dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    (match,) = [doc for (k, name), doc in objects.items() if k == kind and name.startswith(prefix)]
    return match


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def _assert_hardened(deployment: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = _container(deployment)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == USER_ID
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


def _assert_probes(deployment: dict[str, Any]) -> None:
    container = _container(deployment)
    assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}


def test_aks_web_service_renders_valid_manifests_through_the_real_provider(
    tmp_path: Path,
) -> None:
    """``pulumi up`` writes every object of two AksWebServices as schema-valid YAML with the
    images, probes, hardening and secret wiring the components build; secrets reach only the
    Secret files (base64 in their data, in files only the owner can read)
    and never the state; a second preview changes nothing; ``pulumi destroy`` removes the files."""
    require_providers("kubernetes")
    render_dir = tmp_path / "rendered"
    project = _project(tmp_path, render_dir)

    up = project.run("up", "--yes", "--skip-preview")
    objects = _rendered(render_dir)
    for document in objects.values():
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(document, version, strict=True)

    kinds = sorted(kind for kind, _ in objects)
    assert kinds == sorted(
        ["Namespace"]
        + [
            "ServiceAccount",
            "NetworkPolicy",
            "Secret",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
        ]
        * 2
        + ["HorizontalPodAutoscaler", "Secret", "Ingress"]
    )
    assert (
        objects[("Namespace", "ml")]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )
    assert {doc["metadata"].get("namespace") for (kind, _), doc in objects.items()} == {None, "ml"}

    accidents = objects[("Deployment", "accidents")]
    assert _container(accidents)["image"] == IMAGE
    # The provider writes quantities in canonical form (k8s_manifests gives 1000m and 2048Mi).
    assert _container(accidents)["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert "replicas" not in accidents["spec"]  # the HPA owns the count
    hpa = objects[("HorizontalPodAutoscaler", "accidents")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert objects[("Service", "accidents")]["spec"]["type"] == "LoadBalancer"

    detector = objects[("Deployment", "detector")]
    assert _container(detector)["image"] == GPU_IMAGE
    assert _container(detector)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert detector["spec"]["replicas"] == 2
    assert objects[("Service", "detector")]["spec"]["type"] == "ClusterIP"
    ingress = objects[("Ingress", "detector")]["spec"]
    assert ingress["rules"][0]["host"] == "detector.example.com"
    for deployment in (accidents, detector):
        _assert_probes(deployment)
        _assert_hardened(deployment)

    # The engine autonames the keys Secrets; each Deployment mounts the one rendered beside it.
    for service in ("accidents", "detector"):
        secret = _one(objects, "Secret", f"{service}-auth-")
        volumes = objects[("Deployment", service)]["spec"]["template"]["spec"]["volumes"]
        names = [v["secret"]["secretName"] for v in volumes if "secret" in v]
        assert names == [secret["metadata"]["name"]]
    tls = _one(objects, "Secret", "detector-tls-")
    assert ingress["tls"][0]["secretName"] == tls["metadata"]["name"]

    # What the provider does with secret values in render mode: it turns stringData into data,
    # so the values are in the Secret files base64-encoded (not encrypted), nowhere else in
    # plain text; it warns about each such file and keeps the files owner-only.
    texts = {path.name: path.read_text() for path in (render_dir / "1-manifest").glob("*.yaml")}
    for text in texts.values():
        for value in SECRETS.values():
            assert value not in text
    decoded = {
        f"{doc['metadata']['name']}": {base64.b64decode(v).decode() for v in doc["data"].values()}
        for (kind, _), doc in objects.items()
        if kind == "Secret"
    }
    assert set(SECRETS.values()) <= set().union(*decoded.values())
    assert all("stringData" not in doc for (kind, _), doc in objects.items() if kind == "Secret")
    assert "contains a secret value in plaintext" in up.stdout + up.stderr
    for path in (render_dir / "1-manifest").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((render_dir / "1-manifest").stat().st_mode) == 0o700
    state = json.dumps(project.export())
    for value in SECRETS.values():
        assert value not in state

    assert project.outputs()["detector_uri"] == "https://detector.example.com/score"
    project.run("preview", "--expect-no-changes")

    project.run("destroy", "--yes", "--skip-preview")
    assert list((render_dir / "1-manifest").iterdir()) == []
    assert project.resources() == []
