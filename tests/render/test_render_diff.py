"""Diffs of two renders: created / changed field by field / replaced / deleted (no Pulumi)."""

from __future__ import annotations

import json
from typing import Any

from mlws.render.diff import MISSING, FieldChange, diff_renders, field_changes, join_path
from mlws.render.formats import diff_json, diff_markdown, diff_text
from mlws.render.model import Render, RenderedResource

STACK = "urn:pulumi:dev::app::"


def res(
    type_: str,
    name: str,
    inputs: dict[str, Any] | None = None,
    *,
    parent: str | None = None,
    custom: bool = True,
    options: dict[str, Any] | None = None,
    deps: dict[str, list[str]] | None = None,
) -> RenderedResource:
    return RenderedResource(
        urn=f"{STACK}{type_}::{name}",
        type=type_,
        name=name,
        parent=parent,
        custom=custom,
        inputs=inputs or {},
        options=options or {},
        dependencies=deps or {},
    )


def render(*resources: RenderedResource, config: dict[str, str] | None = None) -> Render:
    return Render(project="app", stack="dev", config=config or {}, resources=list(resources))


DEPLOY = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"
PASSWORD = "random:index/randomPassword:RandomPassword"


def deployment(image: str, cpu: str = "1", selector: str = "app") -> RenderedResource:
    return res(
        DEPLOY,
        "svc-deployment",
        {
            "metadata": {"name": "svc", "labels": {"app.kubernetes.io/name": "svc"}},
            "spec": {
                "selector": {"matchLabels": {"app": selector}},
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "main",
                                "image": image,
                                "resources": {"requests": {"cpu": cpu}},
                            }
                        ]
                    }
                },
            },
        },
    )


def test_paths_name_nested_maps_lists_and_odd_keys() -> None:
    assert join_path("", "spec") == "spec"
    assert join_path("spec.containers", 0) == "spec.containers[0]"
    assert join_path("metadata.labels", "app.kubernetes.io/name") == (
        'metadata.labels["app.kubernetes.io/name"]'
    )


def test_field_changes_are_leaf_level() -> None:
    old = {"a": {"b": 1, "c": [1, 2]}, "gone": True}
    new = {"a": {"b": 2, "c": [1, 2, 3]}, "new": "x"}
    assert field_changes(old, new) == [
        FieldChange("a.b", 1, 2),
        FieldChange("a.c[2]", MISSING, 3),
        FieldChange("gone", True, MISSING),
        FieldChange("new", MISSING, "x"),
    ]
    assert field_changes({"n": 1}, {"n": True}) == [FieldChange("n", 1, True)]


def test_identical_renders_have_no_changes() -> None:
    a = render(deployment("img@sha256:1"))
    diff = diff_renders(a, a)
    assert diff.empty
    assert diff.unchanged == 1
    assert diff_text(diff) == "No changes. (1 unchanged)\n"


def test_image_change_is_an_update_with_the_exact_field() -> None:
    diff = diff_renders(render(deployment("img@sha256:1")), render(deployment("img@sha256:2")))
    [change] = diff.changes
    assert change.kind == "update"
    assert change.fields == [
        FieldChange("spec.template.spec.containers[0].image", "img@sha256:1", "img@sha256:2")
    ]
    assert change.reasons == []


def test_immutable_selector_change_is_a_replacement_with_its_reason() -> None:
    diff = diff_renders(
        render(deployment("i", selector="a")), render(deployment("i", selector="b"))
    )
    [change] = diff.changes
    assert change.kind == "replace"
    assert change.reasons == ["spec.selector.matchLabels.app: spec.selector is immutable"]


def test_create_delete_and_config_changes() -> None:
    old = render(deployment("i"), res(SECRET, "old-secret"), config={"app:cpu": "1"})
    new = render(deployment("i", cpu="2"), res(SECRET, "new-secret"), config={"app:cpu": "2"})
    diff = diff_renders(old, new)
    assert [(c.kind, c.name) for c in diff.changes] == [
        ("update", "svc-deployment"),
        ("create", "new-secret"),
        ("delete", "old-secret"),
    ]
    assert diff.summary() == "1 to create, 1 to update, 0 to replace, 1 to delete, 0 unchanged"
    assert [(c.key, c.old, c.new) for c in diff.config] == [("app:cpu", "1", "2")]


def test_replace_on_changes_option_forces_replacement() -> None:
    opts = {"replaceOnChanges": ["spec.template.spec.containers[*].image"]}
    old = res(
        DEPLOY,
        "d",
        {"spec": {"template": {"spec": {"containers": [{"image": "a"}]}}}},
        options=opts,
    )
    new = res(
        DEPLOY,
        "d",
        {"spec": {"template": {"spec": {"containers": [{"image": "b"}]}}}},
        options=opts,
    )
    [change] = diff_renders(render(old), render(new)).changes
    assert change.kind == "replace"
    assert "in replaceOnChanges" in change.reasons[0]


def test_rotating_a_key_reaches_its_consumers_but_not_the_other_key() -> None:
    """The consumer's input is "[secret]" in both renders; the dependency says it will change."""
    primary_urn = f"{STACK}{PASSWORD}::svc-primary"

    def graph(rotation: str) -> Render:
        return render(
            res(PASSWORD, "svc-primary", {"length": 32, "keepers": {"rotation": rotation}}),
            res(PASSWORD, "svc-secondary", {"length": 32, "keepers": {"rotation": "0"}}),
            res(SECRET, "svc-keys", {"stringData": "[secret]"}, deps={"stringData": [primary_urn]}),
            res(DEPLOY, "svc-deployment", {"spec": {"replicas": 1}}),
        )

    diff = diff_renders(graph("0"), graph("1"))
    # a Secret whose data changes is replaced by pulumi-kubernetes
    assert {c.name: c.kind for c in diff.changes} == {
        "svc-primary": "replace",
        "svc-keys": "replace",
    }
    keys = next(c for c in diff.changes if c.name == "svc-keys")
    assert keys.fields == [FieldChange("stringData", "[secret]", "[secret]", via="svc-primary")]
    assert "stringData: computed from svc-primary, which is replaced" in diff_text(diff)


def test_replacement_propagates_transitively_through_random_resources() -> None:
    a_urn = f"{STACK}{PASSWORD}::a"
    b_urn = f"{STACK}random:index/randomString:RandomString::b"

    def graph(length: int) -> Render:
        return render(
            res(PASSWORD, "a", {"length": length}),
            res(
                "random:index/randomString:RandomString",
                "b",
                {"keepers": "[secret]"},
                deps={"keepers": [a_urn]},
            ),
            res(DEPLOY, "c", {"spec": "[secret]"}, deps={"spec": [b_urn]}),
        )

    diff = diff_renders(graph(16), graph(32))
    assert {c.name: c.kind for c in diff.changes} == {"a": "replace", "b": "replace", "c": "update"}


def test_azure_name_and_location_replace_but_sizes_update() -> None:
    group = "azure-native:containerinstance:ContainerGroup"
    old = res(
        group,
        "g",
        {
            "containerGroupName": "a",
            "location": "westeurope",
            "cpu": 1,
            "ipAddress": {"dnsNameLabel": "x"},
        },
    )
    new = res(
        group,
        "g",
        {
            "containerGroupName": "b",
            "location": "northeurope",
            "cpu": 2,
            "ipAddress": {"dnsNameLabel": "y"},
        },
    )
    [change] = diff_renders(render(old), render(new)).changes
    assert change.kind == "replace"
    assert [r.split(":")[0] for r in change.reasons] == ["containerGroupName", "location"]
    only_cpu = res(
        group,
        "g",
        {
            "containerGroupName": "a",
            "location": "westeurope",
            "cpu": 2,
            "ipAddress": {"dnsNameLabel": "x"},
        },
    )
    [change] = diff_renders(render(old), render(only_cpu)).changes
    assert change.kind == "update"


def test_type_change_under_the_same_name_is_delete_and_create() -> None:
    diff = diff_renders(render(res(SECRET, "x")), render(res("kubernetes:core/v1:ConfigMap", "x")))
    assert sorted(c.kind for c in diff.changes) == ["create", "delete"]


def test_outputs_formats_agree() -> None:
    old = render(deployment("img@sha256:1"), res(SECRET, "gone"))
    new = render(deployment("img@sha256:2"), res(SECRET, "added"))
    diff = diff_renders(old, new)
    text = diff_text(diff)
    assert " ~ update   kubernetes:apps/v1:Deployment  svc-deployment\n" in text
    assert "+- " not in text
    assert " + create   kubernetes:core/v1:Secret  added\n" in text
    assert " - delete   kubernetes:core/v1:Secret  gone\n" in text
    assert ('spec.template.spec.containers[0].image: "img@sha256:1" -> "img@sha256:2"') in text
    assert text.rstrip().endswith(
        "1 to create, 1 to update, 0 to replace, 1 to delete, 0 unchanged"
    )
    md = diff_markdown(diff)
    assert "| ~ update | `svc-deployment` |" in md
    data = json.loads(diff_json(diff))
    assert data["summary"] == {"create": 1, "update": 1, "replace": 0, "delete": 1, "unchanged": 0}
    [upd] = [r for r in data["resources"] if r["kind"] == "update"]
    assert upd["fields"][0]["old"] == {"value": "img@sha256:1"}
    [created] = [r for r in data["resources"] if r["kind"] == "create"]
    assert created["name"] == "added"


def test_render_json_round_trips() -> None:
    r = render(
        deployment("i"),
        res(SECRET, "s", {"data": "[secret]"}, deps={"data": ["urn:x"]}),
        config={"app:k": "[secret]"},
    )
    again = Render.from_json(r.to_json())
    assert again == r
    assert again.to_json() == r.to_json()


def test_kubernetes_secret_data_change_is_a_replacement() -> None:
    old = res(SECRET, "s", {"stringData": {"k": "a"}, "metadata": {"labels": {"x": "1"}}})
    new = res(SECRET, "s", {"stringData": {"k": "b"}, "metadata": {"labels": {"x": "2"}}})
    [change] = diff_renders(render(old), render(new)).changes
    assert change.kind == "replace"
    assert change.reasons == [
        "stringData.k: pulumi-kubernetes replaces a Secret whose data changes "
        "(unless enableSecretMutable is set)"
    ]


def test_renders_of_two_stacks_are_matched_without_stack_and_project() -> None:
    dev = Render(project="app", stack="dev", config={}, resources=[deployment("img:1")])
    prod_res = deployment("img:1", cpu="2")
    prod_res = RenderedResource(
        urn=prod_res.urn.replace("urn:pulumi:dev::", "urn:pulumi:prod::"),
        type=prod_res.type,
        name=prod_res.name,
        parent=None,
        custom=True,
        inputs=prod_res.inputs,
    )
    prod = Render(project="app", stack="prod", config={}, resources=[prod_res])
    diff = diff_renders(dev, prod)
    assert [(c.kind, c.name) for c in diff.changes] == [("update", "svc-deployment")]
    assert diff_text(diff).splitlines()[0] == "Comparing app/dev -> app/prod"
    assert json.loads(diff_json(diff))["new"] == "app/prod"


def test_ignore_changes_hides_the_ignored_fields_only() -> None:
    opts = {"ignoreChanges": ["spec.template.spec.containers[*].image"]}

    def dep(image: str, cpu: str) -> RenderedResource:
        base = deployment(image, cpu=cpu)
        return res(DEPLOY, base.name, base.inputs, options=opts)

    assert diff_renders(render(dep("a", "1")), render(dep("b", "1"))).changes == []
    [change] = diff_renders(render(dep("a", "1")), render(dep("b", "2"))).changes
    assert [f.path for f in change.fields] == [
        "spec.template.spec.containers[0].resources.requests.cpu"
    ]


def test_protected_and_delete_before_replace_are_noted() -> None:
    protected = {"protect": True, "deleteBeforeReplace": True}
    old = res(PASSWORD, "k", {"length": 16}, options=protected)
    new = res(PASSWORD, "k", {"length": 32}, options=protected)
    [change] = diff_renders(render(old), render(new)).changes
    assert change.kind == "replace"
    assert change.notes == [
        "protected: pulumi up refuses to delete it until `protect` is lifted",
        "deleted before its replacement is created (deleteBeforeReplace)",
    ]
    text = diff_text(diff_renders(render(old), render(new)))
    assert "      note: protected: pulumi up refuses" in text
    [gone] = diff_renders(render(old), render()).changes
    assert (gone.kind, gone.notes[0][:10]) == ("delete", "protected:")
    # an update of a protected resource is fine
    touched = res(PASSWORD, "k", {"length": 16}, options={"protect": True, "replaceOnChanges": []})
    assert diff_renders(render(touched), render(touched)).changes == []
