"""examples/promotion under mocks: dev builds, staging runs dev's digest and prod staging's, each
read by StackReference (the mocks answer a reference with the referenced stack's render outputs);
the last step changes only the Deployment's image; a one-line pin rolls prod back; prod passes
the policy pack. The StackReference flow under the real engine is
tests/engine/test_promotion_engine.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlws.mocks import MlwsMocks
from mlws.render import ProgramError, Render, diff_renders, render_program

pytest.importorskip("pulumi_azure_native", reason="examples/promotion is an Azure program")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "promotion"
sys.path.insert(0, str(EXAMPLE.parents[1] / "policy"))

from mlws_guardrails.offline import check_render  # noqa: E402

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ORG = "organization/mlws-promotion"


def _render(stack: str, outputs: dict[str, dict[str, Any]] | None = None, **config: str) -> Render:
    """Render a stack; a StackReference to ``organization/mlws-promotion/S`` gets outputs[S]."""

    def reference(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        stack_name = str(inputs["name"])
        assert stack_name.startswith(f"{ORG}/"), stack_name
        return {"outputs": dict((outputs or {}).get(stack_name.removeprefix(f"{ORG}/"), {}))}

    mocks = MlwsMocks(outputs={"pulumi:pulumi:StackReference": reference})
    return render_program(EXAMPLE, stack=stack, overrides=config, mocks=mocks)


def _image(render: Render) -> str:
    (deployment,) = render.of_type(DEPLOYMENT)
    image = deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
    assert isinstance(image, str)
    return image


@pytest.fixture(scope="module")
def chain() -> dict[str, Render]:
    """dev, then staging reading dev's outputs, then prod reading staging's."""
    dev = _render("dev")
    staging = _render("staging", {"dev": dev.outputs})
    prod = _render("prod", {"staging": staging.outputs})
    return {"dev": dev, "staging": staging, "prod": prod}


def test_the_same_digest_runs_in_every_environment(chain: dict[str, Render]) -> None:
    built = chain["dev"].outputs["image_ref"]
    assert built.startswith("mlwspromotiondev.azurecr.io/diabetes@sha256:")
    for stack in ("dev", "staging", "prod"):
        assert _image(chain[stack]) == built, stack
        assert chain[stack].outputs["image_ref"] == built, stack
    assert chain["prod"].outputs["registry_id"] == chain["dev"].outputs["registry_id"]


def test_only_dev_builds_and_the_others_read_the_stack_before_them(
    chain: dict[str, Render],
) -> None:
    refs = {
        stack: [r.name for r in render.resources if r.type == "pulumi:pulumi:StackReference"]
        for stack, render in chain.items()
    }
    assert refs == {"dev": [], "staging": [f"{ORG}/dev"], "prod": [f"{ORG}/staging"]}
    built = {
        stack: sorted(
            r.type
            for r in render.resources
            if r.type in ("mlws:index:ScoringImage", "azure-native:containerregistry:Registry")
        )
        for stack, render in chain.items()
    }
    assert built == {
        "dev": ["azure-native:containerregistry:Registry", "mlws:index:ScoringImage"],
        "staging": [],
        "prod": [],
    }
    # Every environment's cluster may pull from dev's registry.
    for stack, render in chain.items():
        (grant,) = render.of_type("azure-native:authorization:RoleAssignment")
        assert grant.inputs["scope"] == chain["dev"].outputs["registry_id"], stack


def test_promoting_a_new_digest_to_prod_changes_only_the_deployment_image(
    chain: dict[str, Render],
) -> None:
    old = chain["prod"]
    new_ref = "mlwspromotiondev.azurecr.io/diabetes@sha256:" + "b" * 64
    new = _render("prod", {"staging": {**chain["staging"].outputs, "image_ref": new_ref}})
    diff = diff_renders(old, new)
    changed = {(c.kind, c.name): [f.path for f in c.fields] for c in diff.changes}
    # The health gate waits for the new digest to serve before `pulumi up` succeeds.
    assert changed == {
        ("update", "diabetes-deployment"): ["spec.template.spec.containers[0].image"],
        ("update", "diabetes-health"): ["image_digest"],
    }
    assert [(o.key, o.new) for o in diff.outputs] == [("image_ref", new_ref)]
    assert _image(new) == new_ref


def test_rolling_back_is_one_pinned_line(chain: dict[str, Render]) -> None:
    previous = chain["prod"].outputs["image_ref"]
    bad = "mlwspromotiondev.azurecr.io/diabetes@sha256:" + "c" * 64
    promoted = _render("prod", {"staging": {**chain["staging"].outputs, "image_ref": bad}})
    rolled_back = _render(
        "prod", {"staging": {**chain["staging"].outputs, "image_ref": bad}}, imageRef=previous
    )
    assert _image(promoted) == bad
    assert _image(rolled_back) == previous
    diff = diff_renders(chain["prod"], rolled_back)
    assert [c.key for c in diff.config] == ["mlws-promotion:imageRef"]
    assert diff.changes == []


def test_prod_passes_every_guardrail(chain: dict[str, Render]) -> None:
    assert check_render(chain["prod"]) == []
    assert chain["prod"].of_type("kubernetes:policy/v1:PodDisruptionBudget")


def test_prod_refuses_an_image_that_is_not_a_digest(chain: dict[str, Render]) -> None:
    tagged = {**chain["staging"].outputs, "image_ref": "mlwspromotiondev.azurecr.io/diabetes:1"}
    with pytest.raises(ProgramError, match=r"is not pinned by digest") as info:
        _render("prod", {"staging": tagged})
    assert f"{ORG}/staging's image_ref 'mlwspromotiondev.azurecr.io/diabetes:1'" in str(info.value)
    with pytest.raises(ProgramError, match=r"imageRef 'diabetes:latest' is not pinned by digest"):
        _render("prod", imageRef="diabetes:latest")


def test_offline_a_reference_has_no_outputs_and_the_error_says_what_to_do() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mlws"), "render", str(EXAMPLE), "--stack", "prod"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert re.fullmatch(
        rf"mlws render: error: ValueError: stack {ORG}/staging exports no image_ref:"
        r" run `pulumi up` on it first, or pin imageRef \(at promotion\.py:\d+\)",
        line,
    ), line
