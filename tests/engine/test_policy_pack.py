"""``pulumi preview --policy-pack policy`` under the real engine (``scripts/pulumi-engine``).

The program is YAML with the mlws plugin's ``LocalProcessService`` (the resources the engine can
preview here without cloud providers); its auth mode comes from the stack's configuration. On the
``prod`` stack with auth off, the guardrails pack fails the preview naming
``mlws-prod-auth-required``; with key auth configured the same preview passes. Preview creates
nothing, so no process is started.

A second, throw-away pack reports what it sees of the stack (name, project, configuration, dry
run): mlws's Python language host must start packs with the stack in their environment, as
upstream's host does through its policy proxy (``pulumi_policy`` reads ``PULUMI_STACK`` and
``PULUMI_CONFIG``; without them it sees a stack named ``stack`` and no configuration).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.pulumi_engine import REPO, PulumiProject, mlws_plugin

pytestmark = [pytest.mark.needs_pulumi, pytest.mark.slow]

POLICY = REPO / "policy"
PROJECT = "mlws-policy-preview"
PORT = 18655  # preview starts no process, so nothing listens on it

ENV_PACK = textwrap.dedent(
    f"""
    import os

    import pulumi
    from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


    def show(args, report_violation):
        if args.resource_type != "mlws:index:LocalProcessService":
            return
        config = pulumi.Config("{PROJECT}")
        report_violation(
            f"seen stack={{pulumi.get_stack()}} project={{pulumi.get_project()}} "
            f"authMode={{config.get('authMode')}} dryRun={{os.environ.get('PULUMI_DRY_RUN')}}"
        )


    PolicyPack(
        "stack-seen",
        [ResourceValidationPolicy("show-stack", "what the pack sees", show,
                                  EnforcementLevel.ADVISORY)],
    )
    """
)


def _program(plugin: Path, port: int) -> str:
    return textwrap.dedent(
        f"""
        name: {PROJECT}
        runtime: yaml
        packages:
          mlws: {plugin}
        config:
          authMode:
            type: string
          serviceKey:
            type: string
            default: ""
        resources:
          svc:
            type: mlws:index:LocalProcessService
            properties:
              sourceDirectory: ./scoring
              modelDir: ./model
              port: {port}
              authMode: ${{authMode}}
              primaryKey: ${{serviceKey}}
        """
    )


@pytest.mark.timeout(900)  # two previews: about a minute each on a busy 2-core machine
def test_policy_pack_fails_an_open_prod_service_and_passes_when_fixed(tmp_path: Path) -> None:
    program = tmp_path / "program"
    (program / "scoring").mkdir(parents=True)
    (program / "model").mkdir()
    (program / "scoring" / "score.py").write_text(
        "def init():\n    pass\n\n\ndef run(d):\n    return d\n"
    )
    (program / "Pulumi.yaml").write_text(_program(mlws_plugin(tmp_path), PORT))
    env_pack = tmp_path / "env-pack"
    env_pack.mkdir()
    (env_pack / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (env_pack / "__main__.py").write_text(ENV_PACK)
    project = PulumiProject(tmp_path, program)
    project.run("stack", "init", "prod")
    project.run("config", "set", "authMode", "none")

    failed = project.run(
        "preview", "--policy-pack", str(POLICY), "--policy-pack", str(env_pack), check=False
    )
    report = failed.stdout + failed.stderr
    assert failed.returncode != 0, report
    assert "mlws-prod-auth-required" in report
    assert "LocalProcessService 'svc': authMode is 'none'" in report
    assert f"seen stack=prod project={PROJECT} authMode=none dryRun=true" in report

    project.run("config", "set", "authMode", "key")
    project.run("config", "set", "--secret", "serviceKey", "policy-key-" + "k" * 16)
    passed = project.run("preview", "--policy-pack", str(POLICY))
    assert "mlws-prod-auth-required" not in passed.stdout
    assert "mlws-guardrails" in passed.stdout
    assert project.resources() == []


def test_a_pack_that_cannot_start_fails_the_preview_with_its_error(tmp_path: Path) -> None:
    program = tmp_path / "program"
    (program / "scoring").mkdir(parents=True)
    (program / "model").mkdir()
    (program / "Pulumi.yaml").write_text(_program(mlws_plugin(tmp_path), PORT))
    broken = tmp_path / "broken-pack"
    broken.mkdir()
    (broken / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (broken / "__main__.py").write_text("raise SystemExit('broken pack: no module xyz')\n")
    project = PulumiProject(tmp_path, program)
    project.run("stack", "init", "prod")
    project.run("config", "set", "authMode", "none")
    failed = project.run("preview", "--policy-pack", str(broken), check=False)
    assert failed.returncode != 0
    assert (
        "the policy pack did not start: broken pack: no module xyz" in failed.stdout + failed.stderr
    )
