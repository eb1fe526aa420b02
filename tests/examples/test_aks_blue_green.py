"""examples/aks-blue-green rendered under mocks: a blue/green rollout step by step, diffed as
``mlws render --diff`` diffs it. A traffic shift changes only the HTTPRoute; adding a deployment
creates only its objects; removing one deletes only its objects; the keys never change."""

from __future__ import annotations

import itertools
import json
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mlws.render import Render, RenderDiff, diff_renders
from mlws.render.diff import Kind
from mlws.render.formats import diff_text
from tests.examples.example_support import EXAMPLES, render_example

EXAMPLE = "aks-blue-green"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
STACK = yaml.safe_load((EXAMPLES / EXAMPLE / "Pulumi.prod.yaml").read_text())["config"]
#: The two deployments as the stack file declares them (same sizing).
DEPLOYMENTS: dict[str, dict[str, Any]] = STACK["mlws-aks-blue-green:deployments"]
ROLES = ("serviceaccount", "networkpolicy", "deployment", "service", "hpa", "pdb")


def render(traffic: dict[str, int], deployments: tuple[str, ...] = ("blue", "green")) -> Render:
    overrides = {
        "traffic": json.dumps(traffic),
        "deployments": json.dumps({d: DEPLOYMENTS[d] for d in deployments}),
    }
    rendered, _ = render_example(EXAMPLE, "prod", overrides)
    return rendered


def changed(diff: RenderDiff) -> dict[str, set[str]]:
    kinds: tuple[Kind, ...] = ("create", "update", "delete", "replace")
    return {kind: {c.name for c in diff.of_kind(kind)} for kind in kinds}


def weights(rendered: Render) -> list[Any]:
    (route,) = [r for r in rendered.resources if r.type == ROUTE]
    return route.inputs["spec"]["rules"][-1]["backendRefs"]  # type: ignore[no-any-return]


def objects_of(deployment: str) -> set[str]:
    return {f"diabetes-{deployment}-{role}" for role in ROLES}


def test_stack_file_is_the_90_10_step() -> None:
    rendered, _ = render_example(EXAMPLE, "prod")
    assert not diff_renders(rendered, render({"blue": 90, "green": 10})).changes
    assert [(b["name"], b["weight"]) for b in weights(rendered)] == [
        ("diabetes-blue", 90),
        ("diabetes-green", 10),
    ]
    outputs = rendered.outputs
    assert outputs["scoring_uri"] == "http://diabetes.ml.example.com/score"
    assert outputs["deployments"] == ["blue", "green"]


def test_objects_are_valid_as_sent() -> None:
    from tests.gateway_api_schema import validate as validate_gateway_api

    for resource in render({"blue": 90, "green": 10}).resources:
        if resource.type.startswith("kubernetes:gateway.networking.k8s.io/"):
            validate_gateway_api(dict(resource.inputs))
        elif resource.type.startswith("kubernetes:") and resource.custom:
            if resource.type.startswith("kubernetes:core/v1:Secret"):
                continue  # stringData shows as [secret] in a render
            kind = resource.type.rsplit(":", 1)[1]
            api = resource.type.split(":")[1]
            manifest = {"apiVersion": api.removeprefix("core/"), "kind": kind, **resource.inputs}
            kubernetes_validate.validate(manifest, "1.30", strict=True)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"blue": 90, "green": 10}, {"blue": 50, "green": 50}),
        ({"blue": 50, "green": 50}, {"blue": 0, "green": 100}),
        ({"blue": 0, "green": 100}, {"blue": 90, "green": 10}),  # rollback: one edit
    ],
)
def test_a_traffic_shift_changes_only_the_route(old: dict[str, int], new: dict[str, int]) -> None:
    diff = diff_renders(render(old), render(new))
    assert changed(diff) == {
        "create": set(),
        "update": {"diabetes-route"},
        "delete": set(),
        "replace": set(),
    }
    (route,) = diff.changes
    assert {f.path: (f.old, f.new) for f in route.fields} == {
        f"spec.rules[2].backendRefs[{i}].weight": (old[d], new[d])
        for i, d in enumerate(("blue", "green"))
        if old[d] != new[d]
    }


def test_adding_green_creates_only_greens_objects() -> None:
    diff = diff_renders(render({"blue": 100}, ("blue",)), render({"blue": 100}, ("blue", "green")))
    assert changed(diff) == {
        "create": objects_of("green"),
        "update": {"diabetes-route"},
        "delete": set(),
        "replace": set(),
    }
    (route,) = diff.of_kind("update")
    assert all(f.path.startswith("spec.rules[") for f in route.fields), route.fields
    new = render({"blue": 100}, ("blue", "green"))
    assert [(b["name"], b["weight"]) for b in weights(new)] == [
        ("diabetes-blue", 100),
        ("diabetes-green", 0),
    ]


def test_removing_blue_after_0_100_deletes_only_blues_objects() -> None:
    diff = diff_renders(render({"blue": 0, "green": 100}), render({"green": 100}, ("green",)))
    assert changed(diff) == {
        "create": set(),
        "update": {"diabetes-route"},
        "delete": objects_of("blue"),
        "replace": set(),
    }


def test_keys_never_change_through_a_rollout() -> None:
    steps = [
        render({"blue": 100}, ("blue",)),
        render({"blue": 90, "green": 10}),
        render({"blue": 50, "green": 50}),
        render({"blue": 0, "green": 100}),
        render({"green": 100}, ("green",)),
    ]
    for old, new in itertools.pairwise(steps):
        names = {c.name for c in diff_renders(old, new).changes}
        assert not names & {"diabetes-keys-primary", "diabetes-keys-secondary", "diabetes-auth"}


def test_the_rollout_as_mlws_render_diff_prints_it() -> None:
    first = diff_text(
        diff_renders(render({"blue": 90, "green": 10}), render({"blue": 50, "green": 50}))
    )
    assert "1 to update" in first
    assert "diabetes-route" in first
    assert "spec.rules[2].backendRefs[0].weight: 90 -> 50" in first
