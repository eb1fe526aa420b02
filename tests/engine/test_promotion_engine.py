"""examples/promotion's digest flow under the real Pulumi engine: dev -> staging -> prod by
StackReference, on the local file backend.

The example's own program needs the azure-native, kubernetes and docker providers, which cannot be
built here (``pulumi_engine.UNAVAILABLE_PROVIDERS``), so the program here is the example's
``promotion.py`` (copied in unchanged) driving nothing but its stack outputs: dev "builds" the
digest its config names, staging and prod read the stack before them exactly as the example does.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from pulumi_engine import PulumiProject

pytestmark = [pytest.mark.needs_pulumi, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "promotion"
REPO = "mlwspromotiondev.azurecr.io/diabetes"
DIGEST_A = f"{REPO}@sha256:{'a' * 64}"
DIGEST_B = f"{REPO}@sha256:{'b' * 64}"

PROGRAM = textwrap.dedent(
    """
    import pulumi
    from promotion import IMAGE_REF, promoted_image, upstream

    config = pulumi.Config()
    image_ref = promoted_image(
        config, lambda: pulumi.Output.from_input(config.require("builtImage")), upstream(config)
    )
    pulumi.export(IMAGE_REF, image_ref)
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
