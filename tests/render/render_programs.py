"""Tiny Pulumi programs for the render tests, written into a temporary folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

#: A small program over pulumi-random: a component with two keys (one rotation trigger each),
#: a consumer of the primary key, config read the usual ways, and stack outputs.
KEYS_PROGRAM = """
import pulumi
import pulumi_random as random

cfg = pulumi.Config()


class Keys(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("test:index:Keys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.primary = random.RandomPassword(
            f"{name}-primary", length=32, special=False,
            keepers={"rotation": cfg.get("primaryKeyRotation") or "0"}, opts=child)
        self.secondary = random.RandomPassword(
            f"{name}-secondary", length=32, special=False,
            keepers={"rotation": cfg.get("secondaryKeyRotation") or "0"}, opts=child)
        self.register_outputs({})


keys = Keys("svc")
size = random.RandomInteger("size", min=1, max=cfg.require_int("cpu_cores") * 10)
consumer = random.RandomString(
    "consumer",
    length=8,
    keepers={"key": keys.primary.result, "token": cfg.require_secret("token")},
)
pulumi.export("primary_key", keys.primary.result)
pulumi.export("cpu_cores", cfg.require_int("cpu_cores"))
"""

KEYS_STACK = """
config:
  keysapp:cpu_cores: 1
  keysapp:token:
    secure: v1:AAAABBBBCCCC
"""


def write_program(
    root: Path,
    source: str,
    *,
    name: str = "keysapp",
    runtime: str = "python",
    stacks: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
) -> Path:
    """Write ``Pulumi.yaml``, ``__main__.py``, ``Pulumi.<stack>.yaml`` files and extra files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(f"name: {name}\nruntime: {runtime}\n")
    (root / "__main__.py").write_text(textwrap.dedent(source))
    for stack, text in (stacks or {}).items():
        (root / f"Pulumi.{stack}.yaml").write_text(textwrap.dedent(text))
    for rel, text in (extra or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root
