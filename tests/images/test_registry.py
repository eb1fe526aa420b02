"""The push path for real: Debian's ``docker-registry`` (the CNCF distribution registry) on
127.0.0.1 with htpasswd (bcrypt) auth, and the reference scheme ScoringImage computes.

The pulumi-docker provider cannot be built here (the Go module proxy serves no version of
``github.com/pulumi/pulumi-docker/provider/v5``), so the engine's own client pushes, with the
name :func:`image_name` makes and the digest :func:`digest_of` reads, exactly as the component
hands them to ``docker.Image``.
"""

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mlws.cli.package import write_package
from mlws.components.scoring_image import default_repository, digest_of, image_name
from tests.docker_support import DockerEngine
from tests.images.image_support import EXAMPLES, BuiltImage, RenderedImage, build
from tests.ports import free_port

pytestmark = [pytest.mark.needs_docker, pytest.mark.slow, pytest.mark.timeout(1800)]

USER = "mlws"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


@dataclass(frozen=True)
class Registry:
    """A running registry and a docker client logged in to it (its own DOCKER_CONFIG)."""

    server: str
    password: str
    engine: DockerEngine

    def api(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(
            f"http://{self.server}/v2/{path}", auth=(USER, self.password), headers=headers
        )


@pytest.fixture(scope="module")
def registry(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    binary, htpasswd = shutil.which("docker-registry"), shutil.which("htpasswd")
    if binary is None or htpasswd is None:
        pytest.skip("needs Debian's docker-registry and apache2-utils (scripts/docker-engine)")
    root = tmp_path_factory.mktemp("registry")
    password = f"pw-{uuid.uuid4().hex}"
    users = subprocess.run(
        [htpasswd, "-Bbn", USER, password], capture_output=True, text=True, check=True
    ).stdout
    (root / "htpasswd").write_text(users)
    assert users.startswith(f"{USER}:$2y$")  # bcrypt
    port = free_port()
    # Blobs kept between runs (like the engine's data root): a warm run's push sends no layer.
    storage = Path(os.environ.get("MLWS_CACHE", Path.home() / ".cache" / "mlws")) / "registry"
    (root / "config.yml").write_text(
        json.dumps(
            {
                "version": 0.1,
                "storage": {"filesystem": {"rootdirectory": str(storage)}},
                "http": {"addr": f"127.0.0.1:{port}"},
                "auth": {"htpasswd": {"realm": "mlws-test", "path": str(root / "htpasswd")}},
            }
        )
    )
    log = (root / "registry.log").open("w")
    process = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=log, stderr=log)
    server = f"127.0.0.1:{port}"
    client = DockerEngine(
        docker_engine.docker, {**docker_engine.env, "DOCKER_CONFIG": str(root / "client")}
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://{server}/v2/", timeout=1).status_code == 401:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (root / "registry.log").read_text()
            assert time.monotonic() < deadline, "the registry did not answer"
            time.sleep(0.2)
        yield Registry(server, password, client)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def login(registry: Registry, password: str) -> subprocess.CompletedProcess[str]:
    return registry.engine.run(
        "login", registry.server, "--username", USER, "--password-stdin",
        input=password, check=False,
    )  # fmt: skip


def test_wrong_password_fails_clearly_and_nothing_is_pushed(
    registry: Registry, example_image: Callable[[str], BuiltImage]
) -> None:
    image = example_image("local-sklearn")
    failed = login(registry, "wrong-" + registry.password)
    assert failed.returncode != 0
    assert "unauthorized" in failed.stderr.lower()
    name = image_name(registry.server, "denied/local-sklearn", image.rendered.tag)
    registry.engine.run("tag", image.ref, name)
    try:
        push = registry.engine.run("push", name, check=False)
        assert push.returncode != 0
        assert "no basic auth credentials" in push.stderr or "unauthorized" in push.stderr
    finally:
        registry.engine.run("rmi", name, check=False)
    assert registry.api("denied/local-sklearn/tags/list").status_code == 404


def test_push_by_digest_and_run_from_the_registry(
    registry: Registry, example_image: Callable[[str], BuiltImage], tmp_path: Path
) -> None:
    image = example_image("local-sklearn")
    assert login(registry, registry.password).returncode == 0
    repository = default_repository("Local_Sklearn")
    name = image_name(registry.server, repository, image.rendered.tag)
    assert name == f"{registry.server}/local-sklearn:{image.rendered.tag}"
    registry.engine.run("tag", image.ref, name)
    pushed = registry.engine.run("push", name).stdout
    reported = next(x for x in pushed.splitlines() if "digest: sha256:" in x).split()[2]

    manifest = registry.api(f"{repository}/manifests/{image.rendered.tag}", Accept=MANIFEST_TYPES)
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == reported
    repo_digests = json.loads(registry.engine.inspect("{{json .RepoDigests}}", name))
    ref = f"{registry.server}/{repository}@{reported}"
    assert ref in repo_digests  # what pulumi-docker's repo_digest holds
    assert digest_of(ref) == reported

    # No key or password in what the registry serves: the image config (env, history).
    config_digest = manifest.json()["config"]["digest"]
    config = registry.api(f"{repository}/blobs/{config_digest}").text
    assert registry.password not in config
    assert "MLWS_PRIMARY_KEY" not in config

    registry.engine.run("rmi", name)
    registry.engine.run("pull", ref)
    done = registry.engine.run(
        "run", "--rm", "--entrypoint", "python3", ref, "-c",
        "import os, mlws.runtime; print(os.environ['AZUREML_MODEL_DIR'])",
    )  # fmt: skip
    assert done.stdout.strip() == "/var/azureml-app/azureml-models/diabetes/1"


def test_a_base_image_pinned_by_digest_builds(registry: Registry, tmp_path: Path) -> None:
    """``base_image_digest``: the stand-in base pushed, the example's image pinned to its digest;
    a digest the registry does not hold fails the build."""
    assert login(registry, registry.password).returncode == 0
    base = image_name(registry.server, "base/python", "3.11-slim")
    registry.engine.run("tag", "python:3.11-slim", base)
    pushed = registry.engine.run("push", base).stdout
    digest = next(x for x in pushed.splitlines() if "digest: sha256:" in x).split()[2]
    sklearn = EXAMPLES / "local-sklearn"

    def context(pin: str) -> RenderedImage:
        out = tmp_path / pin[7:19]
        args = {
            "entry_script": "score.py",
            "source_directory": str(sklearn / "scoring"),
            "pip_packages": ["scikit-learn==1.7.2", "joblib", "numpy"],
            "models": [{"name": "diabetes", "version": 1, "path": str(sklearn / "model")}],
            "build_dir": str(out),
            "base_image": base,
            "base_image_digest": pin,
        }
        name, _ = write_package(args, out)
        return RenderedImage(
            "pinned", out, name.rpartition(":")[2], (out / "Dockerfile").read_text()
        )

    pinned = context(digest)
    assert pinned.base_image == f"{base}@{digest}"  # name:tag@digest: the digest decides
    built = build(registry.engine, pinned)
    assert registry.engine.inspect("{{.Id}}", built.ref)
    missing = context("sha256:" + "0" * 64)
    failed = registry.engine.run("build", str(missing.context), check=False)
    assert failed.returncode != 0
    assert "manifest unknown" in failed.stdout + failed.stderr
