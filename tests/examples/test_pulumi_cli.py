"""The local example under the real Pulumi engine: ``pulumi preview``, ``up`` and ``destroy``.

These run under the engine ``scripts/pulumi-engine`` builds and need the docker and random
provider plugins and a Docker engine; each skips saying which is missing (on these machines the
two providers cannot be built: ``pulumi_engine.UNAVAILABLE_PROVIDERS``). State lives in a
throw-away local file backend with a passphrase secrets provider, and the program runs from a copy
of the example so no stack file is written into the repository.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from mlws.components.dockerfile import base_image
from mlws.components.inference_config import InferenceConfig
from tests.docker_support import DockerEngine, require_base_image
from tests.pulumi_engine import PulumiProject, require_providers

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "local-sklearn"

pytestmark = [pytest.mark.needs_pulumi, pytest.mark.needs_docker, pytest.mark.slow]


def _require_engines(docker: DockerEngine) -> None:
    """The providers, and the base image ``pulumi up`` builds the example's image on (an engine
    that cannot pull it skips, saying why)."""
    require_providers("docker", "random")
    config = InferenceConfig(entry_script="score.py", source_directory=str(EXAMPLE / "scoring"))
    reason = require_base_image(docker, base_image(config))
    if reason is not None:
        pytest.skip(reason)


def _project(root: Path, program: Path, docker: DockerEngine) -> PulumiProject:
    project = PulumiProject(root, program)
    project.env.update(docker.env)  # DOCKER_HOST of the engine scripts/docker-engine provides
    return project


def _copy_example(target: Path) -> None:
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".mlws", "__pycache__"))


@pytest.fixture
def workspace(tmp_path: Path, docker_engine: DockerEngine) -> PulumiProject:
    """A copy of the example as a project with a dev stack."""
    _require_engines(docker_engine)
    program = tmp_path / "local-sklearn"
    _copy_example(program)
    project = _project(tmp_path, program, docker_engine)
    project.run("stack", "select", "--create", "dev")
    return project


def test_preview_plans_the_rendered_resources(workspace: PulumiProject) -> None:
    from mlws.render import render_program

    program = workspace.program
    out = workspace.run("preview", "--json").stdout
    steps = json.loads(out).get("steps", [])
    planned = {step["urn"].rsplit("::", 1)[-1] for step in steps if step.get("op") == "create"}
    rendered = {r.name for r in render_program(program, stack="dev").resources}
    assert rendered <= planned


def test_up_serves_then_destroy_removes(workspace: PulumiProject) -> None:
    try:
        workspace.run("up", "--yes", "--skip-preview")
        outputs = workspace.outputs()
        request = urllib.request.Request(
            outputs["scoring_uri"],
            data=json.dumps(
                {"data": [[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02]]}
            ).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {outputs['primary_key']}",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            assert isinstance(json.loads(response.read()), list)
    finally:
        workspace.run("destroy", "--yes", "--skip-preview")
    assert workspace.resources() == []


def test_root_project_previews_the_local_example(
    tmp_path: Path, docker_engine: DockerEngine
) -> None:
    """The repository's Pulumi.yaml (``main: examples/local-sklearn``) works with the real CLI."""
    _require_engines(docker_engine)
    root = tmp_path / "repo"
    _copy_example(root / "examples" / "local-sklearn")
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(REPO / name, root / name)
    project = _project(tmp_path, root, docker_engine)
    project.run("stack", "select", "--create", "dev")
    steps = json.loads(project.run("preview", "--json").stdout).get("steps", [])
    planned = {step["urn"].rsplit("::", 1)[-1] for step in steps if step.get("op") == "create"}
    assert {"diabetes-image", "diabetes-container", "diabetes-keys-primary"} <= planned
