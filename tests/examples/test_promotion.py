"""examples/promotion under mocks: dev builds, staging runs dev's digest and prod staging's, each
read by StackReference (the mocks answer a reference with the referenced stack's render outputs).
prod's endpoint runs blue (the digest it ran before, pinned in Pulumi.prod.yaml) and green (the
promoted digest); its last step is a traffic shift, diffed as ``mlws render --diff`` diffs it: a
shift or a rollback changes only the HTTPRoute, adding green creates only green's objects,
removing blue deletes only blue's, the keys never change. prod passes the policy pack at every
step. The StackReference flow under the real engine is tests/engine/test_promotion_engine.py.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlws_guardrails.offline import check_render

from mlws.mocks import MlwsMocks
from mlws.render import ProgramError, Render, RenderDiff, diff_renders, render_program
from mlws.render.diff import Kind
from mlws.render.formats import diff_text

pytest.importorskip("pulumi_azure_native", reason="examples/promotion is an Azure program")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "promotion"

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
ORG = "organization/mlws-promotion"
REPO = "mlwspromotiondev.azurecr.io/diabetes"
PROD = yaml.safe_load((EXAMPLE / "Pulumi.prod.yaml").read_text())["config"]
#: prod's deployments as its stack file declares them, and blue's pinned digest.
PROD_DEPLOYMENTS: dict[str, dict[str, Any]] = PROD["mlws-promotion:deployments"]
BLUE_PIN: str = PROD_DEPLOYMENTS["blue"]["image"]
SIZING = {
    name: {k: v for k, v in settings.items() if k != "image"}
    for name, settings in PROD_DEPLOYMENTS.items()
}
ROLES = ("serviceaccount", "networkpolicy", "deployment", "service", "hpa", "pdb")
KEYS = {"diabetes-keys-primary", "diabetes-keys-secondary", "diabetes-auth"}


def _render(stack: str, outputs: dict[str, dict[str, Any]] | None = None, **config: str) -> Render:
    """Render a stack; a StackReference to ``organization/mlws-promotion/S`` gets outputs[S]."""

    def reference(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        stack_name = str(inputs["name"])
        assert stack_name.startswith(f"{ORG}/"), stack_name
        return {"outputs": dict((outputs or {}).get(stack_name.removeprefix(f"{ORG}/"), {}))}

    mocks = MlwsMocks(outputs={"pulumi:pulumi:StackReference": reference})
    return render_program(EXAMPLE, stack=stack, overrides=config, mocks=mocks)


def _images(render: Render) -> dict[str, str]:
    """Each Deployment's image by deployment (``diabetes-blue-deployment`` -> ``blue``)."""
    return {
        d.name.removeprefix("diabetes-").removesuffix("-deployment"): d.inputs["spec"]["template"][
            "spec"
        ]["containers"][0]["image"]
        for d in render.of_type(DEPLOYMENT)
    }


def _weights(render: Render) -> dict[str, int]:
    (route,) = render.of_type(ROUTE)
    rule = route.inputs["spec"]["rules"][-1]
    assert rule["name"] == "traffic"
    return {b["name"].removeprefix("diabetes-"): b["weight"] for b in rule["backendRefs"]}


def _changed(diff: RenderDiff) -> dict[str, set[str]]:
    kinds: tuple[Kind, ...] = ("create", "update", "delete", "replace")
    return {kind: {c.name for c in diff.of_kind(kind)} for kind in kinds}


def _objects_of(deployment: str) -> set[str]:
    return {f"diabetes-{deployment}-{role}" for role in ROLES}


@pytest.fixture(scope="module")
def chain() -> dict[str, Render]:
    """dev, then staging reading dev's outputs, then prod reading staging's."""
    dev = _render("dev")
    staging = _render("staging", {"dev": dev.outputs})
    prod = _render("prod", {"staging": staging.outputs})
    return {"dev": dev, "staging": staging, "prod": prod}


def _prod(
    chain: dict[str, Render],
    promoted: str,
    traffic: dict[str, int],
    pins: dict[str, str | None],
) -> Render:
    """prod with staging exporting ``promoted``: ``pins`` names the deployments, each pinned to a
    digest or ``None`` (it runs the promoted digest), sized as in Pulumi.prod.yaml."""
    deployments = {
        name: {**SIZING[name], **({"image": pin} if pin else {})} for name, pin in pins.items()
    }
    staging = {**chain["staging"].outputs, "image_ref": promoted}
    return _render(
        "prod",
        {"staging": staging},
        deployments=json.dumps(deployments),
        traffic=json.dumps(traffic),
    )


def _release(chain: dict[str, Render], traffic: dict[str, int]) -> Render:
    """prod mid-release, as Pulumi.prod.yaml has it but for ``traffic``."""
    return _prod(chain, _built(chain), traffic, {"blue": BLUE_PIN, "green": None})


def _built(chain: dict[str, Render]) -> str:
    built = chain["dev"].outputs["image_ref"]
    assert isinstance(built, str)
    return built


def test_the_same_digest_runs_in_every_environment(chain: dict[str, Render]) -> None:
    built = _built(chain)
    assert built.startswith(f"{REPO}@sha256:")
    assert _images(chain["dev"]) == _images(chain["staging"]) == {"blue": built}
    # prod: blue keeps the digest prod ran before, green runs the one staging runs.
    assert _images(chain["prod"]) == {"blue": BLUE_PIN, "green": built}
    for stack in ("dev", "staging", "prod"):
        assert chain[stack].outputs["image_ref"] == built, stack
    assert chain["prod"].outputs["images"] == {"blue": BLUE_PIN, "green": built}
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


def test_the_prod_stack_file_is_the_90_10_step(chain: dict[str, Render]) -> None:
    prod = chain["prod"]
    assert _weights(prod) == {"blue": 90, "green": 10}
    assert prod.outputs["traffic"] == {"blue": 90, "green": 10}
    assert prod.outputs["deployments"] == ["blue", "green"]
    assert prod.outputs["scoring_uri"] == "http://diabetes.ml.example.com/score"
    assert not diff_renders(prod, _release(chain, {"blue": 90, "green": 10})).changes


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"blue": 100, "green": 0}, {"blue": 90, "green": 10}),
        ({"blue": 90, "green": 10}, {"blue": 50, "green": 50}),
        ({"blue": 50, "green": 50}, {"blue": 0, "green": 100}),
        ({"blue": 50, "green": 50}, {"blue": 100, "green": 0}),  # rollback: the same edit back
        ({"blue": 0, "green": 100}, {"blue": 100, "green": 0}),  # rollback after the last step
    ],
    ids=["100/0->90/10", "90/10->50/50", "50/50->0/100", "rollback-50/50", "rollback-0/100"],
)
def test_a_traffic_step_changes_only_the_route_weights(
    chain: dict[str, Render], old: dict[str, int], new: dict[str, int]
) -> None:
    before, after = _release(chain, old), _release(chain, new)
    diff = diff_renders(before, after)
    assert _changed(diff) == {
        "create": set(),
        "update": {"diabetes-route"},
        "delete": set(),
        "replace": set(),
    }
    (route,) = diff.changes
    assert {f.path: (f.old, f.new) for f in route.fields} == {
        f"spec.rules[2].backendRefs[{i}].weight": (old[d], new[d])
        for i, d in enumerate(("blue", "green"))
    }
    assert [c.key for c in diff.config] == ["mlws-promotion:traffic"]
    assert _weights(after) == new
    assert _images(after) == _images(before) == {"blue": BLUE_PIN, "green": _built(chain)}


def test_adding_green_creates_only_greens_objects(chain: dict[str, Render]) -> None:
    # Before the release prod runs blue alone, following staging, which ran BLUE_PIN; staging has
    # since moved on to the new digest. Pinning blue and adding green is one reviewed change.
    before = _prod(chain, BLUE_PIN, {"blue": 100}, {"blue": None})
    after = _prod(chain, _built(chain), {"blue": 100}, {"blue": BLUE_PIN, "green": None})
    diff = diff_renders(before, after)
    assert _changed(diff) == {
        "create": _objects_of("green"),
        "update": {"diabetes-route"},
        "delete": set(),
        "replace": set(),
    }
    (route,) = diff.of_kind("update")
    assert all(f.path.startswith("spec.rules[") for f in route.fields), route.fields
    assert _weights(after) == {"blue": 100, "green": 0}
    assert _images(after) == {"blue": BLUE_PIN, "green": _built(chain)}


def test_removing_blue_after_0_100_deletes_only_blues_objects(chain: dict[str, Render]) -> None:
    before = _release(chain, {"blue": 0, "green": 100})
    after = _prod(chain, _built(chain), {"green": 100}, {"green": None})
    diff = diff_renders(before, after)
    assert _changed(diff) == {
        "create": set(),
        "update": {"diabetes-route"},
        "delete": _objects_of("blue"),
        "replace": set(),
    }
    assert _images(after) == {"green": _built(chain)}


def test_the_next_release_pins_green_and_adds_blue(chain: dict[str, Render]) -> None:
    """The slots alternate: after blue is gone, the next digest goes to a new blue."""
    current = _built(chain)
    after_release = _prod(chain, current, {"green": 100}, {"green": None})
    newer = f"{REPO}@sha256:{'d' * 64}"
    next_release = _prod(chain, newer, {"green": 100}, {"green": current, "blue": None})
    diff = diff_renders(after_release, next_release)
    assert _changed(diff) == {
        "create": _objects_of("blue"),
        "update": {"diabetes-route"},
        "delete": set(),
        "replace": set(),
    }
    assert _images(next_release) == {"green": current, "blue": newer}


def test_staging_moving_on_mid_release_changes_only_greens_pods(
    chain: dict[str, Render],
) -> None:
    newer = f"{REPO}@sha256:{'b' * 64}"
    moved = _prod(chain, newer, {"blue": 90, "green": 10}, {"blue": BLUE_PIN, "green": None})
    diff = diff_renders(chain["prod"], moved)
    changed = {(c.kind, c.name): [f.path for f in c.fields] for c in diff.changes}
    assert changed == {
        ("update", "diabetes-green-deployment"): ["spec.template.spec.containers[0].image"]
    }
    assert _images(moved) == {"blue": BLUE_PIN, "green": newer}


def test_keys_never_change_through_a_release(chain: dict[str, Render]) -> None:
    built = _built(chain)
    pinned: dict[str, str | None] = {"blue": BLUE_PIN, "green": None}
    steps = [
        _prod(chain, BLUE_PIN, {"blue": 100}, {"blue": None}),
        _prod(chain, built, {"blue": 100}, pinned),
        _prod(chain, built, {"blue": 90, "green": 10}, pinned),
        _prod(chain, built, {"blue": 50, "green": 50}, pinned),
        _prod(chain, built, {"blue": 0, "green": 100}, pinned),
        _prod(chain, built, {"green": 100}, {"green": None}),
    ]
    for old, new in itertools.pairwise(steps):
        diff = diff_renders(old, new)
        assert diff.changes, "each step changes something"
        assert not {c.name for c in diff.changes} & KEYS
        assert {c.name for c in diff.changes} <= {
            "diabetes-route",
            *_objects_of("blue"),
            *_objects_of("green"),
        }


@pytest.mark.parametrize(
    "traffic",
    [{"blue": 90, "green": 10}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100}],
    ids=["90/10", "50/50", "0/100"],
)
def test_prod_passes_every_guardrail_at_every_step(
    chain: dict[str, Render], traffic: dict[str, int]
) -> None:
    render = chain["prod"] if traffic["blue"] == 90 else _release(chain, traffic)
    assert check_render(render) == []
    assert len(render.of_type("kubernetes:policy/v1:PodDisruptionBudget")) == 2


def test_the_guardrails_fail_a_prod_blue_pinned_by_tag(chain: dict[str, Render]) -> None:
    """The pack's digest rule, on what would be sent, were the program not to refuse it first."""
    tagged = chain["prod"].to_json().replace(BLUE_PIN, f"{REPO}:1")
    violations = check_render(Render.from_json(tagged))
    assert {v.policy for v in violations} == {"mlws-prod-image-digest"}, violations


def test_prod_refuses_an_image_that_is_not_a_digest(chain: dict[str, Render]) -> None:
    tagged = {**chain["staging"].outputs, "image_ref": f"{REPO}:1"}
    with pytest.raises(ProgramError, match=r"is not pinned by digest") as info:
        _render("prod", {"staging": tagged})
    assert f"{ORG}/staging's image_ref '{REPO}:1'" in str(info.value)
    with pytest.raises(ProgramError, match=r"imageRef 'diabetes:latest' is not pinned by digest"):
        _render("prod", imageRef="diabetes:latest")
    with pytest.raises(
        ProgramError, match=r"deployments\.blue\.image 'diabetes:1' is not pinned by digest"
    ):
        _prod(
            chain, _built(chain), {"blue": 90, "green": 10}, {"blue": "diabetes:1", "green": None}
        )


@pytest.mark.parametrize(
    ("pins", "message"),
    [
        (
            {"blue": None, "green": None},
            "deployments.blue and deployments.green pin no image: only one deployment runs the"
            " promoted digest; pin the others' image (name@sha256:...)",
        ),
        (
            {"blue": BLUE_PIN, "green": BLUE_PIN},
            "deployments: every deployment pins its image: leave image out of the one that runs"
            " the promoted digest",
        ),
    ],
    ids=["two-open", "none-open"],
)
def test_exactly_one_deployment_takes_the_promoted_digest(
    chain: dict[str, Render], pins: dict[str, str | None], message: str
) -> None:
    with pytest.raises(ProgramError, match=re.escape(message)):
        _prod(chain, _built(chain), {"blue": 90, "green": 10}, pins)


def test_a_bad_split_is_refused_naming_the_field(chain: dict[str, Render]) -> None:
    with pytest.raises(ProgramError, match=r"traffic: weights sum to 110, not 100"):
        _release(chain, {"blue": 100, "green": 10})


def test_the_rollout_as_mlws_render_diff_prints_it(chain: dict[str, Render]) -> None:
    text = diff_text(
        diff_renders(chain["prod"], _release(chain, {"blue": 50, "green": 50}))
    ).splitlines()
    assert " ~ update   kubernetes:gateway.networking.k8s.io/v1:HTTPRoute  diabetes-route" in text
    assert "      spec.rules[2].backendRefs[0].weight: 90 -> 50" in text
    assert "      spec.rules[2].backendRefs[1].weight: 10 -> 50" in text
    assert text[-1].startswith("Resources: 0 to create, 1 to update, 0 to replace, 0 to delete, ")


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
