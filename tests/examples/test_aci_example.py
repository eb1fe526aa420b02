"""The r-accident example (the seed's R model on ACI with key auth) under mocks."""

from __future__ import annotations

import pytest

from mlws.render import diff_renders
from tests.examples.example_support import assert_no_plaintext, render_example
from tests.examples.test_examples import GATE, IMAGE, PASSWORD, assert_prod_runs_the_image_dev_built

ACI_PROD = {
    "azure-native:resources:ResourceGroup": 1,
    "mlws:index:ServiceKeys": 1,
    PASSWORD: 2,
    # AciWebService -> the container group and its health gate
    "mlws:index:AciWebService": 1,
    "azure-native:containerinstance:ContainerGroup": 1,
    GATE: 1,
}
ACI_DEV = {
    **ACI_PROD,
    "azure-native:containerregistry:Registry": 1,
    "mlws:index:ScoringImage": 1,
    IMAGE: 1,
}


@pytest.mark.parametrize(("stack", "expected"), [("dev", ACI_DEV), ("prod", ACI_PROD)])
def test_resource_graph(stack: str, expected: dict[str, int]) -> None:
    render, secrets = render_example("r-accident", stack)
    assert render.counts() == dict(sorted(expected.items()))
    assert_no_plaintext(render, secrets)


def test_key_auth_keys_are_secure_environment_variables() -> None:
    render, _ = render_example("r-accident")
    [group] = render.of_type("azure-native:containerinstance:ContainerGroup")
    text = str(group.inputs)
    assert "MLWS_PRIMARY_KEY" in text
    assert render.outputs["auth_mode"] == "key"
    assert render.outputs["primary_key"] == "[secret]"
    # what `mlws logs` needs for ACI
    assert render.outputs["service_kind"] == "aci"
    assert render.outputs["resource_group"] == "mlws-r-accident-dev"
    assert render.outputs["container_group_name"] == "accidents-group"


def test_prod_runs_the_image_dev_built_by_digest() -> None:
    assert_prod_runs_the_image_dev_built("r-accident")


def test_cpu_cores_changes_only_the_container_group() -> None:
    old, _ = render_example("r-accident")
    new, _ = render_example("r-accident", overrides={"cpu_cores": "2"})
    diff = diff_renders(old, new)
    assert {c.name: c.kind for c in diff.changes} == {"accidents-group": "update"}
    fields = {f.path: (f.old, f.new) for f in diff.changes[0].fields}
    assert fields == {"containers[0].resources.requests.cpu": (1, 2)}
