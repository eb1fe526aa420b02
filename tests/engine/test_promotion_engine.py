"""examples/promotion's digest flow under the real Pulumi engine: dev -> staging -> prod by
StackReference, on the local file backend, and prod's last step, the traffic shift.

The example's own program needs the azure-native and docker providers, which cannot be built here
(``pulumi_engine.UNAVAILABLE_PROVIDERS``), so the program here is the example's ``promotion.py``
(copied in unchanged) driving its stack outputs: dev "builds" the digest its config names, staging
and prod read the stack before them exactly as the example does. With ``deployments`` in its
config, prod also runs the example's ``AksEndpoint`` through the real pulumi-kubernetes provider in
render-to-directory mode (no cluster), its keys given as config secrets; its stack file is the
example's own Pulumi.prod.yaml, and each rollout step is the ``pulumi config`` command
docs/promotion.md gives, checked by what ``pulumi preview`` says it will change and by the
HTTPRoute the provider writes.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.pulumi_engine import PulumiProject, engine_versions, require_providers

pytestmark = [pytest.mark.needs_pulumi, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "promotion"
REPO = "mlwspromotiondev.azurecr.io/diabetes"
DIGEST_A = f"{REPO}@sha256:{'a' * 64}"
DIGEST_B = f"{REPO}@sha256:{'b' * 64}"
ORG = "organization/mlws-promotion"
#: The stack each stack reads its image from.
PROMOTED_FROM = {"staging": "dev", "prod": "staging"}

KEYS = {"primaryKey": "pk-promotion-4c8e1a7f3b9d", "secondaryKey": "sk-promotion-7d2b9e4a1c6f"}

PROGRAM = textwrap.dedent(
    """
    import pulumi
    from promotion import IMAGE_REF, IMAGES, deployment_images, promoted_deployments
    from promotion import promoted_image, upstream

    config = pulumi.Config()
    image_ref = promoted_image(
        config, lambda: pulumi.Output.from_input(config.require("builtImage")), upstream(config)
    )
    pulumi.export(IMAGE_REF, image_ref)

    if config.get_object("deployments") is not None:
        import pulumi_kubernetes as k8s
        from mlws.components.aks_endpoint import AksEndpoint

        deployments = promoted_deployments(config.require_object("deployments"), image_ref)
        render = k8s.Provider(
            "render",
            render_yaml_to_directory=config.require("renderDir"),
            opts=pulumi.ResourceOptions(version=config.require("providerVersion")),
        )
        args = {
            "namespace": "scoring",
            "hostname": config.require("hostname"),
            "gateway_class_name": config.require("gatewayClassName"),
            "primary_key": config.require_secret("primaryKey"),
            "secondary_key": config.require_secret("secondaryKey"),
            "deployments": deployments,
            "health_check": False,
        }
        traffic = config.get_object("traffic")
        if traffic is not None:
            args["traffic"] = traffic
        endpoint = AksEndpoint(
            config.require("serviceName"), args, pulumi.ResourceOptions(providers=[render])
        )
        pulumi.export(IMAGES, deployment_images(deployments))
        pulumi.export("traffic", endpoint.traffic)
    """
)


class Stacks:
    """The three stacks of one project on one file backend."""

    def __init__(self, project: PulumiProject) -> None:
        self.project = project

    def up(self, stack: str, check: bool = True) -> str:
        done = self.project.run("up", "--yes", "--skip-preview", "--stack", stack, check=check)
        return done.stdout + done.stderr

    def image(self, stack: str) -> str:
        done = self.project.run("stack", "output", "--json", "--stack", stack)
        image: str = json.loads(done.stdout)["image_ref"]
        return image

    def set(self, stack: str, key: str, value: str) -> None:
        self.project.run("config", "set", key, value, "--stack", stack)

    def config(self, stack: str, *args: str) -> None:
        """``pulumi config ARGS --stack STACK`` (the commands docs/promotion.md gives)."""
        self.project.run("config", *args, "--stack", stack)

    def changes(self, stack: str) -> dict[str, str]:
        """What ``pulumi preview`` says it would do, by resource name: unchanged ones left out,
        and the StackReference, which every run reads again."""
        done = self.project.run("preview", "--json", "--stack", stack)
        steps = json.loads(done.stdout).get("steps", [])
        return {
            step["urn"].rsplit("::", 1)[1]: step["op"]
            for step in steps
            if step["op"] != "same" and not step["urn"].endswith(f"::{ORG}/{PROMOTED_FROM[stack]}")
        }

    def stack_file(self, stack: str) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(
            (self.project.program / f"Pulumi.{stack}.yaml").read_text()
        )
        return loaded

    def adopt_stack_file(self, stack: str, **replace: Any) -> None:
        """Put the example's ``Pulumi.<stack>.yaml`` config into the stack's own file (which
        keeps its secrets' salt), with the keys in ``replace`` (unprefixed) set instead."""
        path = self.project.program / f"Pulumi.{stack}.yaml"
        mine = self.stack_file(stack)
        config = yaml.safe_load((EXAMPLE / f"Pulumi.{stack}.yaml").read_text())["config"]
        config.update({f"mlws-promotion:{key}": value for key, value in replace.items()})
        mine["config"] = {**mine.get("config", {}), **config}
        path.write_text(yaml.safe_dump(mine, sort_keys=False))


@pytest.fixture
def stacks(tmp_path: Path) -> Stacks:
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: mlws-promotion\nruntime: python\n")
    shutil.copy(EXAMPLE / "promotion.py", program / "promotion.py")
    (program / "__main__.py").write_text(PROGRAM)
    project = PulumiProject(tmp_path, program)
    for stack in ("dev", "staging", "prod"):
        project.run("stack", "init", stack)
    stacks = Stacks(project)
    stacks.set("dev", "builtImage", DIGEST_A)
    stacks.set("staging", "promoteFrom", "dev")
    stacks.set("prod", "promoteFrom", "staging")
    return stacks


def test_a_digest_moves_one_stack_at_a_time_and_a_pin_rolls_prod_back(stacks: Stacks) -> None:
    for stack in ("dev", "staging", "prod"):
        stacks.up(stack)
    assert [stacks.image(s) for s in ("dev", "staging", "prod")] == [DIGEST_A] * 3

    # dev builds a new image: prod keeps what staging runs until staging has run the new one.
    stacks.set("dev", "builtImage", DIGEST_B)
    stacks.up("dev")
    stacks.up("prod")
    assert [stacks.image(s) for s in ("dev", "staging", "prod")] == [DIGEST_B, DIGEST_A, DIGEST_A]
    stacks.up("staging")
    stacks.up("prod")
    assert stacks.image("prod") == DIGEST_B

    # Rollback: one pinned line in prod's config, whatever staging runs.
    stacks.set("prod", "imageRef", DIGEST_A)
    stacks.up("prod")
    assert (stacks.image("staging"), stacks.image("prod")) == (DIGEST_B, DIGEST_A)


def test_a_tag_is_not_promoted(stacks: Stacks) -> None:
    stacks.set("dev", "builtImage", f"{REPO}:latest")
    stacks.up("dev")
    output = stacks.up("staging", check=False)
    assert (
        f"organization/mlws-promotion/dev's image_ref '{REPO}:latest' is not pinned by digest"
        in output
    ), output


def test_a_stack_promoting_from_one_never_deployed_says_so(stacks: Stacks) -> None:
    output = stacks.up("staging", check=False)  # dev exists, but nothing was ever deployed
    assert (
        "ValueError: stack organization/mlws-promotion/dev exports no image_ref:"
        " run `pulumi up` on it first, or pin imageRef"
    ) in output, output


ROLES = ("serviceaccount", "networkpolicy", "deployment", "service", "hpa", "pdb")


def _objects_of(deployment: str, op: str) -> dict[str, str]:
    return {f"diabetes-{deployment}-{role}": op for role in ROLES}


def _route(render_dir: Path) -> dict[str, int]:
    """The weighted rule of the HTTPRoute the provider wrote: backend -> weight."""
    (path,) = [p for p in (render_dir / "1-manifest").glob("*.yaml") if "httproute" in p.name]
    (route,) = list(yaml.safe_load_all(path.read_text()))
    rule = route["spec"]["rules"][-1]
    assert rule["name"] == "traffic"
    return {b["name"].removeprefix("diabetes-"): b["weight"] for b in rule["backendRefs"]}


def _traffic(stacks: Stacks, stack: str, blue: int, green: int) -> None:
    """One rollout step as docs/promotion.md gives it: one command, one config value."""
    stacks.config(
        stack,
        "set-all",
        "--path",
        "--plaintext",
        f"traffic.blue={blue}",
        "--plaintext",
        f"traffic.green={green}",
    )


@pytest.mark.timeout(1800)  # a dozen previews and ups on a busy 2-core machine
def test_prod_shifts_traffic_from_blue_to_green_and_rolls_back_with_one_value(
    stacks: Stacks, tmp_path: Path
) -> None:
    require_providers("kubernetes")
    render_dir = tmp_path / "rendered"
    for key, value in KEYS.items():
        stacks.config("prod", "set", "--secret", key, value)
    stacks.set("prod", "renderDir", str(render_dir))
    stacks.set("prod", "providerVersion", engine_versions()["KUBERNETES_PROVIDER_VERSION"])
    example = yaml.safe_load((EXAMPLE / "Pulumi.prod.yaml").read_text())["config"]
    sizing = {
        name: {k: v for k, v in settings.items() if k != "image"}
        for name, settings in example["mlws-promotion:deployments"].items()
    }

    # Before the release: prod runs blue alone, following staging, which runs A.
    stacks.up("dev")
    stacks.up("staging")
    stacks.adopt_stack_file("prod", deployments={"blue": sizing["blue"]}, traffic={"blue": 100})
    stacks.up("prod")
    assert json.loads(
        stacks.project.run("stack", "output", "images", "--json", "--stack", "prod").stdout
    ) == {"blue": DIGEST_A}

    # dev builds B and staging runs it; prod keeps A until its release.
    stacks.set("dev", "builtImage", DIGEST_B)
    stacks.up("dev")
    stacks.up("staging")

    # The release: blue pinned to what prod runs (its own image_ref), green added at 0.
    stacks.adopt_stack_file("prod", traffic={"blue": 100, "green": 0})
    stacks.config("prod", "set", "--path", "deployments.blue.image", stacks.image("prod"))
    assert stacks.changes("prod") == {**_objects_of("green", "create"), "diabetes-route": "update"}
    stacks.up("prod")
    assert json.loads(
        stacks.project.run("stack", "output", "images", "--json", "--stack", "prod").stdout
    ) == {"blue": DIGEST_A, "green": DIGEST_B}
    assert _route(render_dir) == {"blue": 100, "green": 0}

    # 90/10 (the example's stack file) -> 50/50, a rollback, then 0/100: the route alone.
    for blue, green in ((90, 10), (50, 50), (100, 0), (0, 100)):
        _traffic(stacks, "prod", blue, green)
        assert stacks.changes("prod") == {"diabetes-route": "update"}, (blue, green)
        stacks.up("prod")
        assert _route(render_dir) == {"blue": blue, "green": green}
        if (blue, green) == (90, 10):
            assert (
                stacks.stack_file("prod")["config"]["mlws-promotion:traffic"]
                == example["mlws-promotion:traffic"]
            )

    # After 0/100 blue goes: its objects are deleted, the route loses its backend.
    stacks.config("prod", "rm", "--path", "deployments.blue")
    stacks.config("prod", "rm", "--path", "traffic.blue")
    assert stacks.changes("prod") == {**_objects_of("blue", "delete"), "diabetes-route": "update"}
    stacks.up("prod")
    assert _route(render_dir) == {"green": 100}
    assert stacks.image("prod") == DIGEST_B
