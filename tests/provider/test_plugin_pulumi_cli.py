"""The plugin under the real Pulumi CLI: a YAML program with LocalProcessService + HealthGate.

Runs under the engine ``scripts/pulumi-engine`` builds (skipped, saying why, where it cannot).
Uses the local file backend in the test's tmp folder (no
Pulumi Cloud, no cloud account). The plugin folder used here is a copy of ``provider/`` whose
``PulumiPlugin.yaml`` points at the current virtualenv, so no ``pip install`` runs; the real
folder's requirements install is what ``docs/provider.md`` describes.

What it checks: ``pulumi up`` starts the service and the gate passes; a model change restarts the
service on the next ``pulumi up`` (and the gate re-checks); ``pulumi refresh`` after the process was
killed drops it, and ``pulumi up`` starts it again; a failing sample request fails ``pulumi up``
with the service's error and log; ``pulumi destroy`` stops the process.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlws.provider.local_process import ProcessRecord, is_alive, port_in_use
from tests.ports import free_port
from tests.pulumi_engine import PulumiProject, mlws_plugin

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.needs_pulumi, pytest.mark.slow]

SCRIPT = textwrap.dedent(
    """
    import json, os

    def init():
        global factor
        with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "factor.txt")) as handle:
            factor = float(handle.read())

    def run(raw_data):
        data = json.loads(raw_data)["data"]
        if data == "boom":
            raise ValueError("boom from run()")
        return {"result": [x * factor for x in data]}
    """
)


def _program(plugin_dir: Path, port: int, sample: str) -> str:
    return textwrap.dedent(
        f"""
        name: mlws-local-cli-test
        runtime: yaml
        packages:
          mlws: {plugin_dir}
        config:
          serviceKey:
            type: string
            secret: true
        resources:
          svc:
            type: mlws:index:LocalProcessService
            properties:
              sourceDirectory: ./scoring
              modelDir: ./model
              port: {port}
              authMode: key
              primaryKey: ${{serviceKey}}
              logFile: ./service.log
              startTimeoutSeconds: 60
          gate:
            type: mlws:index:HealthGate
            properties:
              scoringUri: ${{svc.scoringUri}}
              key: ${{serviceKey}}
              sampleRequest: '{sample}'
              logFile: ${{svc.logPath}}
              timeoutSeconds: 30
        outputs:
          scoringUri: ${{svc.scoringUri}}
          pid: ${{svc.pid}}
          processStartTicks: ${{svc.processStartTicks}}
          healthy: ${{gate.healthy}}
        """
    )


def test_local_service_lifecycle_under_the_cli(tmp_path: Path) -> None:
    plugin = mlws_plugin(tmp_path)
    program = tmp_path / "program"
    (program / "scoring").mkdir(parents=True)
    (program / "model").mkdir()
    (program / "scoring" / "score.py").write_text(SCRIPT)
    (program / "model" / "factor.txt").write_text("2")
    port = free_port()
    (program / "Pulumi.yaml").write_text(_program(plugin, port, '{"data": [1, 2]}'))
    project = PulumiProject(tmp_path, program)
    project.run("stack", "init", "dev")
    project.run("config", "set", "--secret", "serviceKey", "k-cli-123")

    try:
        project.run("up", "--yes", "--skip-preview")
        first = project.outputs()
        assert first["healthy"] is True
        answer = httpx.post(
            first["scoringUri"],
            json={"data": [3]},
            headers={"Authorization": "Bearer k-cli-123"},
            timeout=10,
        )
        assert answer.json() == {"result": [6.0]}

        preview = project.run("preview", "--diff")
        assert "no changes" in preview.stdout.lower() or "unchanged" in preview.stdout.lower()

        (program / "model" / "factor.txt").write_text("5")
        project.run("up", "--yes", "--skip-preview")
        second = project.outputs()
        assert second["pid"] != first["pid"]
        assert not is_alive(ProcessRecord(first["pid"], first["processStartTicks"]))
        answer = httpx.post(
            second["scoringUri"],
            json={"data": [1]},
            headers={"Authorization": "Bearer k-cli-123"},
            timeout=10,
        )
        assert answer.json() == {"result": [5.0]}

        os.killpg(second["pid"], signal.SIGKILL)
        project.run("refresh", "--yes", "--skip-preview")
        project.run("up", "--yes", "--skip-preview")
        third = project.outputs()
        assert is_alive(ProcessRecord(third["pid"], third["processStartTicks"]))

        (program / "Pulumi.yaml").write_text(_program(plugin, port, '{"data": "boom"}'))
        failed = project.run("up", "--yes", "--skip-preview", check=False)
        assert failed.returncode != 0
        report = failed.stdout + failed.stderr
        assert "sample request got HTTP 500" in report
        assert "boom from run()" in report
        assert "k-cli-123" not in report
    finally:
        project.run("destroy", "--yes", "--skip-preview", check=False)
    assert not port_in_use("127.0.0.1", port)


def _item(prop: dict[str, Any]) -> tuple[str | None, str | None]:
    item = prop.get("items") or prop.get("additionalProperties") or {}
    return item.get("type"), item.get("$ref")


def _shape(schema: dict[str, Any]) -> dict[str, Any]:
    """What a generated SDK is made from: per resource, each property's name, type and
    secrecy, and which are required (the engine re-serialises descriptions and defaults)."""

    def props(found: dict[str, Any]) -> dict[str, Any]:
        return {
            name: (p.get("type"), p.get("$ref"), p.get("secret", False), _item(p))
            for name, p in found.items()
        }

    return {
        token: {
            "component": res.get("isComponent", False),
            "inputs": props(res.get("inputProperties", {})),
            "outputs": props(res.get("properties", {})),
            "required_inputs": sorted(res.get("requiredInputs", [])),
            "required": sorted(res.get("required", [])),
        }
        for token, res in schema["resources"].items()
    }


def test_the_engine_reads_the_plugin_schema(tmp_path: Path) -> None:
    """``pulumi package get-schema`` runs the plugin through the engine (the Python host's
    RunPlugin) and gets the reviewed schema: what `pulumi package add` generates SDKs from."""
    plugin = mlws_plugin(tmp_path)
    program = tmp_path / "program"
    program.mkdir()
    project = PulumiProject(tmp_path, program)
    done = project.run("package", "get-schema", str(plugin))
    served = json.loads(done.stdout)
    reviewed = json.loads((REPO / "tests" / "provider" / "snapshots" / "schema.json").read_text())
    assert served["name"] == reviewed["name"] == "mlws"
    assert _shape(served) == _shape(reviewed)
