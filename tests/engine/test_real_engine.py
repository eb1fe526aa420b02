"""Python programs under the real Pulumi engine that ``scripts/pulumi-engine`` builds.

The engine here is the real ``pulumi`` CLI (Go, from the module proxy) with mlws's Python language
host (``scripts/engine/pulumi_language_python.py``) running upstream's program shim, and upstream's
dynamic-provider script for :class:`~mlws.components.health_gate.HealthGate`. What needs the
random or docker providers cannot run here (see ``pulumi_engine.UNAVAILABLE_PROVIDERS``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ports import free_port
from tests.pulumi_engine import PulumiProject, engine_bin, engine_versions

pytestmark = [pytest.mark.needs_pulumi, pytest.mark.slow]

KEY = "gate-key-5f1c2b"

SCRIPT = textwrap.dedent(
    """
    import json

    def init():
        print("model ready")

    def run(raw_data):
        data = json.loads(raw_data)["data"]
        if data == "boom":
            raise ValueError("boom from run()")
        return [x * 2 for x in data]
    """
)

GATE_PROGRAM = textwrap.dedent(
    """
    import pulumi
    from mlws.components.health_gate import HealthGate

    config = pulumi.Config()
    gate = HealthGate(
        "gate",
        {
            "scoring_uri": config.require("uri"),
            "key": config.require_secret("key"),
            "sample_request": config.require("sample"),
            "expected_response": config.get("expected"),
            "log_file": config.require("logFile"),
            "timeout_seconds": 30,
        },
    )
    pulumi.export("healthy", gate.healthy)
    pulumi.export("reason", gate.reason)
    """
)


@pytest.fixture
def scoring_service(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``mlws serve`` with key auth on a free port; yields its scoring URI and log file."""
    source = tmp_path / "scoring"
    source.mkdir()
    (source / "score.py").write_text(SCRIPT)
    log = tmp_path / "service.log"
    port = free_port()
    mlws = Path(sys.executable).with_name("mlws")
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(mlws), "serve", str(source), "--port", str(port), "--auth", "key"],
            env={"MLWS_PRIMARY_KEY": KEY, "PATH": str(Path(sys.executable).parent)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    uri = f"http://127.0.0.1:{port}/score"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(uri.replace("/score", "/ready"), timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"mlws serve did not become ready:\n{log.read_text()}")
        yield uri, log
    finally:
        server.terminate()
        server.wait(timeout=30)


def _python_project(tmp_path: Path, source: str) -> PulumiProject:
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: mlws-engine-test\nruntime: python\n")
    (program / "__main__.py").write_text(source)
    project = PulumiProject(tmp_path, program)
    project.run("stack", "init", "dev")
    return project


def _changes(preview_json: str) -> dict[str, str]:
    """``pulumi preview --json``: each resource's name and what the engine would do to it."""
    steps = json.loads(preview_json).get("steps", [])
    return {step["urn"].rsplit("::", 1)[-1]: step["op"] for step in steps}


def test_engine_versions_match_the_pinned_sdk() -> None:
    """The CLI the script builds is the version the tests pin the Python SDK to."""
    versions = engine_versions()
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'"pulumi=={versions["PULUMI_VERSION"]}"' in pyproject
    assert importlib.metadata.version("pulumi") == versions["PULUMI_VERSION"]
    done = subprocess.run(
        [str(engine_bin() / "pulumi"), "version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"v{versions['PULUMI_VERSION']}"


def test_health_gate_lifecycle_failure_and_repair(
    tmp_path: Path, scoring_service: tuple[str, Path]
) -> None:
    """up passes against a healthy service; a sample that makes run() raise fails ``pulumi up``
    with the gate's report and the service's log; fixing it repairs the stack; refresh finds no
    drift; destroy leaves an empty stack. The key never appears in output or state."""
    uri, log = scoring_service
    project = _python_project(tmp_path, GATE_PROGRAM)
    project.run("config", "set", "uri", uri)
    project.run("config", "set", "--secret", "key", KEY)
    project.run("config", "set", "logFile", str(log))
    project.run("config", "set", "sample", json.dumps({"data": [1, 2]}))
    project.run("config", "set", "expected", json.dumps([2, 4]))

    project.run("up", "--yes", "--skip-preview")
    assert project.outputs()["healthy"] is True

    unchanged = project.run("preview", "--json")
    assert set(_changes(unchanged.stdout).values()) <= {"same"}

    project.run("config", "set", "sample", json.dumps({"data": "boom"}))
    failed = project.run("up", "--yes", "--skip-preview", check=False)
    report = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "HTTP 500" in report
    assert "boom from run()" in report  # the service's own log line, attached by the gate
    assert KEY not in report

    project.run("config", "set", "sample", json.dumps({"data": [3]}))
    project.run("config", "set", "expected", json.dumps([6]))
    project.run("up", "--yes", "--skip-preview")
    assert project.outputs()["healthy"] is True

    project.run("refresh", "--yes", "--skip-preview", "--expect-no-changes")  # no drift
    state = json.dumps(project.export())
    assert KEY not in state

    project.run("destroy", "--yes", "--skip-preview")
    assert project.resources() == []


BAD_CONFIGS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "local": (
        "mlws.components.local_web_service",
        "LocalWebService",
        {"image": "mlws/x:1", "cpu_cores": -1, "memory_gb": 0, "port": 70000},
    ),
    "aci": (
        "mlws.components.aci_web_service",
        "AciWebService",
        {
            "image": "mlws/x:1",
            "resource_group_name": "rg",
            "location": "westeurope",
            "cpu_cores": -1,
            "memory_gb": 100,
        },
    ),
    "aks": (
        "mlws.components.aks_web_service",
        "AksWebService",
        {
            "image": "mlws/x:1",
            "kubeconfig": "k",
            "cpu_cores": -1,
            "autoscale_min_replicas": 5,
            "autoscale_max_replicas": 2,
        },
    ),
}
"""Per web service: its module, class and inputs with at least two problems."""


def _expected_problems(kind: str) -> list[str]:
    """The problems the component itself raises for the same inputs, outside any engine."""
    from mlws.components.errors import ConfigError

    module, name, args = BAD_CONFIGS[kind]
    component = getattr(importlib.import_module(module), name)
    with pytest.raises(ConfigError) as raised:
        component("svc", args)
    return [str(problem) for problem in raised.value.problems]


@pytest.mark.parametrize("kind", sorted(BAD_CONFIGS))
def test_bad_configuration_is_rejected_at_preview(tmp_path: Path, kind: str) -> None:
    """``pulumi preview`` fails listing every problem the component finds, each naming its field,
    and nothing is created."""
    module, name, args = BAD_CONFIGS[kind]
    program = f"from {module} import {name}\n\n{name}('svc', {args!r})\n"
    project = _python_project(tmp_path, program)
    done = project.run("preview", check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    problems = _expected_problems(kind)
    assert len(problems) >= 2
    for problem in problems:
        assert problem in output, f"{problem!r} not in:\n{output}"
    assert "Traceback" not in output  # a configuration mistake is not a crash
    assert project.resources() == []


OPEN_GATE_PROGRAM = GATE_PROGRAM.replace('config.require_secret("key")', 'config.require("key")')
"""The gate program with the key as plain config, so that ``mlws render`` reads the stack file."""

ENGINE_KINDS = {
    "create": "create",
    "update": "update",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "delete": "delete",
}


def _engine_plan(project: PulumiProject) -> dict[str, str]:
    """What the real ``pulumi preview`` would do, per resource name (unchanged ones left out)."""
    ops = _changes(project.run("preview", "--json").stdout)
    return {name: ENGINE_KINDS[op] for name, op in ops.items() if op in ENGINE_KINDS}


MLWS = str(Path(sys.executable).with_name("mlws"))


def _render(project: PulumiProject, target: Path) -> Path:
    """``mlws render`` of the project's dev stack, as JSON, into ``target``."""
    cmd = [MLWS, "render", str(project.program), "--stack", "dev", "-f", "json", "-o", str(target)]
    subprocess.run(cmd, check=True, capture_output=True)
    return target


def _render_plan(project: PulumiProject, old: Path, new: Path) -> dict[str, str]:
    """What ``mlws render --diff`` says the change from ``old`` to now does, per resource name."""
    diff = subprocess.run(
        [MLWS, "render", "--diff", str(old), str(_render(project, new)), "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return {r["name"]: r["kind"] for r in json.loads(diff.stdout)["resources"]}


def test_render_diff_names_what_the_real_engine_changes(
    tmp_path: Path, scoring_service: tuple[str, Path]
) -> None:
    """The offline preview and the real engine agree on what a change touches."""
    uri, log = scoring_service
    project = _python_project(tmp_path, OPEN_GATE_PROGRAM)
    for key, value in {
        "uri": uri,
        "key": KEY,
        "logFile": str(log),
        "sample": json.dumps({"data": [1]}),
        "expected": json.dumps([2]),
    }.items():
        project.run("config", "set", key, value)
    project.run("up", "--yes", "--skip-preview")
    base = _render(project, tmp_path / "base.json")

    assert _engine_plan(project) == _render_plan(project, base, tmp_path / "same.json") == {}

    project.run("config", "set", "sample", json.dumps({"data": [4]}))
    project.run("config", "set", "expected", json.dumps([8]))
    changed = _engine_plan(project)
    assert changed == {"gate": "update"}
    assert _render_plan(project, base, tmp_path / "changed.json") == changed
    project.run("destroy", "--yes", "--skip-preview")
