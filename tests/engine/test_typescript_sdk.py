"""A TypeScript program on an SDK generated from the mlws plugin's schema, under the real engine.

``pulumi package gen-sdk --language nodejs`` asks mlws's Node.js language host, which runs
upstream's Node.js code generator (``mlws-nodejs-codegen``, built by ``scripts/pulumi-engine``);
``npm install`` builds the generated SDK (its ``postinstall`` runs ``tsc``) next to
``@pulumi/pulumi`` from npm at the engine's version; the machine's ``node`` runs the program
through the same host. The program creates a ``LocalProcessService`` and a ``HealthGate``:
preview creates nothing, up starts the service and the gate passes, the service answers with the
configured key, destroy stops the process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import httpx
import pytest

from mlws.provider.local_process import ProcessRecord, is_alive, port_in_use
from tests.ports import free_port
from tests.pulumi_engine import PulumiProject, engine_versions, mlws_plugin

pytestmark = [pytest.mark.needs_pulumi, pytest.mark.slow]

KEY = "ts-key-" + "t" * 20
NPM_INSTALL = ("npm", "install", "--install-links", "--no-audit", "--no-fund", "--prefer-offline")

SCRIPT = textwrap.dedent(
    """
    import json

    def init():
        pass

    def run(raw_data):
        return {"result": [x * 3 for x in json.loads(raw_data)["data"]]}
    """
)

PROGRAM = textwrap.dedent(
    """
    import * as pulumi from "@pulumi/pulumi";
    import * as mlws from "@pulumi/mlws";

    const config = new pulumi.Config();
    const key: pulumi.Output<string> = config.requireSecret("serviceKey");
    const svc = new mlws.LocalProcessService("svc", {
        sourceDirectory: "./scoring",
        modelDir: "./model",
        port: config.requireNumber("port"),
        authMode: "key",
        primaryKey: key,
        logFile: "./service.log",
        startTimeoutSeconds: 60,
    });
    const gate = new mlws.HealthGate("gate", {
        scoringUri: svc.scoringUri,
        key: key,
        sampleRequest: JSON.stringify({ data: [1, 2] }),
        expectedResponse: JSON.stringify({ result: [3, 6] }),
        logFile: svc.logPath,
        timeoutSeconds: 30,
    });
    export const scoringUri = svc.scoringUri;
    export const pid = svc.pid;
    export const processStartTicks = svc.processStartTicks;
    export const healthy = gate.healthy;
    """
)


def _npm_install(program: Path, sdk: Path) -> None:
    """The program's dependencies: ``@pulumi/pulumi`` at the engine's version and the generated
    SDK, copied in (``--install-links``) so that both share one ``@pulumi/pulumi``."""
    package = {
        "name": "mlws-typescript-test",
        "private": True,
        "main": "index.ts",
        "dependencies": {
            "@pulumi/pulumi": engine_versions()["PULUMI_VERSION"],
            "@pulumi/mlws": f"file:{sdk}",
        },
    }
    (program / "package.json").write_text(json.dumps(package, indent=2))
    cache = Path(os.environ.get("MLWS_CACHE", Path.home() / ".cache" / "mlws")) / "npm"
    done = subprocess.run(
        [*NPM_INSTALL, "--cache", str(cache)],
        cwd=program,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"npm install failed:\n{done.stdout}\n{done.stderr}")


@pytest.mark.timeout(1800)  # gen-sdk, npm install, preview, up, destroy: 3 min idle, more when busy
@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="needs Node.js and npm on PATH (Debian: apt-get install nodejs npm)",
)
def test_typescript_program_on_the_generated_sdk_preview_up_destroy(tmp_path: Path) -> None:
    plugin = mlws_plugin(tmp_path)
    program = tmp_path / "program"
    (program / "scoring").mkdir(parents=True)
    (program / "model").mkdir()
    (program / "scoring" / "score.py").write_text(SCRIPT)
    project = PulumiProject(tmp_path, program)

    sdk = tmp_path / "sdk"
    project.run(
        "package", "gen-sdk", str(plugin), "--language", "nodejs", "--local", "--out", str(sdk)
    )
    generated = sdk / "nodejs"
    assert (generated / "localProcessService.ts").exists()
    assert (generated / "healthGate.ts").exists()
    assert "mlws:index:LocalProcessService" in (generated / "localProcessService.ts").read_text()

    _npm_install(program, generated)
    (program / "index.ts").write_text(PROGRAM)
    (program / "Pulumi.yaml").write_text(
        f"name: mlws-typescript-test\nruntime: nodejs\npackages:\n  mlws: {plugin}\n"
    )
    port = free_port()
    project.run("stack", "init", "dev")
    project.run("config", "set", "port", str(port))
    project.run("config", "set", "--secret", "serviceKey", KEY)

    try:
        preview = project.run("preview")
        assert "mlws:index:LocalProcessService" in preview.stdout
        assert "mlws:index:HealthGate" in preview.stdout
        assert project.resources() == []
        assert not port_in_use("127.0.0.1", port)

        project.run("up", "--yes", "--skip-preview")
        outputs = project.outputs()
        assert outputs["healthy"] is True
        answer = httpx.post(
            outputs["scoringUri"],
            json={"data": [5]},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=10,
        )
        assert answer.json() == {"result": [15]}
        refused = httpx.post(outputs["scoringUri"], json={"data": [5]}, timeout=10)
        assert refused.status_code == 401
        assert KEY not in json.dumps(project.export())
    finally:
        project.run("destroy", "--yes", "--skip-preview", check=False)
    assert not is_alive(ProcessRecord(outputs["pid"], outputs["processStartTicks"]))
    assert not port_in_use("127.0.0.1", port)
    assert project.resources() == []
