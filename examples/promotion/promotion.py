"""Stack-per-environment promotion: where a stack's image comes from (docs/promotion.md).

A stack with no ``promoteFrom`` builds its image (dev). A stack with ``promoteFrom: SOURCE`` runs
the ``image_ref`` the stack SOURCE of the same project exports, read with a ``StackReference`` at
every ``pulumi up`` (staging from dev, prod from staging), and exports it again for the next one.
``imageRef`` pins a digest instead (a rollback). Only ``pulumi`` is imported, so a program without
any provider can use this module (tests/engine/test_promotion_engine.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pulumi

#: The stack output each stack exports and the next one reads.
IMAGE_REF = "image_ref"
#: The stack output naming the registry the image is in (its resource ID), passed down the same way.
REGISTRY_ID = "registry_id"


def require_digest(image_ref: object, source: str | None) -> str:
    """``image_ref`` when it names an image by digest, else why it cannot be run.

    ``source`` is the stack it was read from, or ``None`` for the ``imageRef`` setting.
    """
    what = "imageRef" if source is None else f"{source}'s {IMAGE_REF}"
    if not isinstance(image_ref, str) or not image_ref:
        if source is None:
            raise ValueError("imageRef is empty: give an image by digest (name@sha256:...)")
        raise ValueError(
            f"stack {source} exports no {IMAGE_REF}: run `pulumi up` on it first, or pin imageRef"
        )
    if "@sha256:" not in image_ref:
        raise ValueError(f"{what} {image_ref!r} is not pinned by digest (name@sha256:...)")
    return image_ref


class Upstream(NamedTuple):
    """The stack this one promotes from."""

    stack: str
    """Its fully qualified name, ``organization/project/stack``."""
    reference: pulumi.StackReference


def upstream(config: pulumi.Config) -> Upstream | None:
    """The stack named by ``promoteFrom`` (of this project), or ``None`` for a stack that builds."""
    source = config.get("promoteFrom")
    if source is None:
        return None
    stack = f"{pulumi.get_organization()}/{pulumi.get_project()}/{source}"
    return Upstream(stack, pulumi.StackReference(stack))


def promoted_image(
    config: pulumi.Config,
    build: Callable[[], pulumi.Output[str]],
    source: Upstream | None,
) -> pulumi.Output[str]:
    """The image this stack runs: ``imageRef`` if pinned, else the upstream stack's
    ``image_ref``, else what ``build`` builds."""
    pinned = config.get("imageRef")
    if pinned is not None:
        return pulumi.Output.from_input(require_digest(pinned, None))
    if source is None:
        return build()
    return source.reference.get_output(IMAGE_REF).apply(
        lambda ref: require_digest(ref, source.stack)
    )
