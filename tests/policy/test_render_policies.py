"""Every guardrail over a real example rendered by `mlws render` (mocks: no engine, no cloud)."""

import shutil
from pathlib import Path

from mlws_guardrails.offline import check_render
from mlws_guardrails.policies import POLICIES, PROD_AUTH, PROD_AVAILABILITY

from mlws.render import render_program

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "aks-gpu"


def test_aks_gpu_dev_and_prod_pass_every_rule() -> None:
    for stack in ("dev", "prod"):
        render = render_program(EXAMPLE, stack=stack)
        assert render.of_type("kubernetes:apps/v1:Deployment"), "nothing to check"
        assert check_render(render) == [], stack


def test_aks_gpu_prod_without_auth_fails_naming_the_rule(tmp_path: Path) -> None:
    program = shutil.copytree(EXAMPLE, tmp_path / "aks-gpu")
    # dev builds the image from the sibling example's model and scoring script.
    shutil.copytree(EXAMPLE.parent / "local-sklearn", tmp_path / "local-sklearn")
    main = program / "__main__.py"
    source = main.read_text()
    assert '"token_auth_enabled": True,' in source
    main.write_text(source.replace('"token_auth_enabled": True,', '"token_auth_enabled": False,'))
    violations = check_render(render_program(program, stack="prod"))
    assert [v.policy for v in violations] == [PROD_AUTH]
    (violation,) = violations
    assert violation.urn is not None
    assert violation.urn.endswith("::diabetes-gpu-deployment")
    assert "Deployment 'diabetes-gpu-deployment'" in violation.message
    assert "MLWS_AUTH_MODE='none'" in violation.message
    # The same program on the dev stack is not production: the rule does not apply.
    assert check_render(render_program(program, stack="dev")) == []


def test_every_policy_has_a_unique_mlws_name() -> None:
    names = [p.name for p in POLICIES]
    assert len(set(names)) == len(names) == 8
    assert all(name.startswith("mlws-") for name in names)


def test_aks_blue_green_prod_passes_every_rule() -> None:
    render = render_program(EXAMPLE.parent / "aks-blue-green", stack="prod")
    assert len(render.of_type("kubernetes:apps/v1:Deployment")) == 2, "nothing to check"
    assert render.of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    assert check_render(render) == []


def test_aks_blue_green_prod_with_one_green_replica_fails_availability() -> None:
    import json

    import yaml

    stack = yaml.safe_load((EXAMPLE.parent / "aks-blue-green" / "Pulumi.prod.yaml").read_text())
    deployments = stack["config"]["mlws-aks-blue-green:deployments"]
    deployments["green"]["autoscale_min_replicas"] = 1
    render = render_program(
        EXAMPLE.parent / "aks-blue-green",
        stack="prod",
        overrides={"deployments": json.dumps(deployments)},
    )
    violations = check_render(render)
    assert [v.policy for v in violations] == [PROD_AVAILABILITY]
    assert "Deployment 'diabetes-green-deployment'" in violations[0].message
