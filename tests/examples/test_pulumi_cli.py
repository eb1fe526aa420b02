"""The local example under the real Pulumi engine: ``pulumi preview``, ``up`` and ``destroy``.

These need the ``pulumi`` CLI (and, for the Docker resources, a Docker engine) and skip with the
reason when either is missing. State lives in a throw-away local file backend
(``PULUMI_BACKEND_URL=file://...``) with a passphrase secrets provider, and the program runs from a
copy of the example so no stack file is written into the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "local-sklearn"

pytestmark = [
    pytest.mark.needs_pulumi,
    pytest.mark.needs_docker,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("pulumi") is None, reason="the pulumi CLI is not installed"),
    pytest.mark.skipif(
        shutil.which("docker") is None or not Path("/var/run/docker.sock").exists(),
        reason="no Docker engine (the local example runs a container)",
    ),
]


def _docker_answers() -> bool:
    done = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30)
    return done.returncode == 0


def _environment(tmp_path: Path) -> dict[str, str]:
    state = tmp_path / "state"
    state.mkdir()
    return {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": "mlws-test-passphrase",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # the program imports mlws from this virtual environment
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _copy_example(target: Path) -> None:
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".mlws", "__pycache__"))


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the example, and an environment with a local backend and this venv's Python."""
    if not _docker_answers():
        pytest.skip("the Docker engine does not answer `docker info`")
    program = tmp_path / "local-sklearn"
    _copy_example(program)
    env = _environment(tmp_path)
    _pulumi(["stack", "select", "--create", "dev"], program, env)
    return program, env


def _pulumi(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"pulumi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_preview_plans_the_rendered_resources(workspace: tuple[Path, dict[str, str]]) -> None:
    from mlws.render import render_program

    program, env = workspace
    out = _pulumi(["preview", "--json"], program, env)
    steps = json.loads(out).get("steps", [])
    planned = {step["urn"].rsplit("::", 1)[-1] for step in steps if step.get("op") == "create"}
    rendered = {r.name for r in render_program(program, stack="dev").resources}
    assert rendered <= planned


def test_up_serves_then_destroy_removes(workspace: tuple[Path, dict[str, str]]) -> None:
    program, env = workspace
    try:
        _pulumi(["up", "--yes", "--skip-preview"], program, env)
        outputs = json.loads(_pulumi(["stack", "output", "--json", "--show-secrets"], program, env))
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
        _pulumi(["destroy", "--yes", "--skip-preview"], program, env)
    remaining = json.loads(_pulumi(["stack", "export"], program, env))
    resources = remaining.get("deployment", {}).get("resources") or []
    assert [r for r in resources if r.get("type") != "pulumi:pulumi:Stack"] == []


def test_root_project_previews_the_local_example(tmp_path: Path) -> None:
    """The repository's Pulumi.yaml (``main: examples/local-sklearn``) works with the real CLI."""
    if not _docker_answers():
        pytest.skip("the Docker engine does not answer `docker info`")
    root = tmp_path / "repo"
    _copy_example(root / "examples" / "local-sklearn")
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(REPO / name, root / name)
    env = _environment(tmp_path)
    _pulumi(["stack", "select", "--create", "dev"], root, env)
    steps = json.loads(_pulumi(["preview", "--json"], root, env)).get("steps", [])
    planned = {step["urn"].rsplit("::", 1)[-1] for step in steps if step.get("op") == "create"}
    assert {"diabetes-image", "diabetes-container", "diabetes-keys-primary"} <= planned
