"""Stack-per-environment promotion: where a stack's images come from (docs/promotion.md).

A stack with no ``promoteFrom`` builds its image (dev). A stack with ``promoteFrom: SOURCE`` runs
the ``image_ref`` the stack SOURCE of the same project exports, read with a ``StackReference`` at
every ``pulumi up`` (staging from dev, prod from staging), and exports it again for the next one.
``imageRef`` pins that digest instead. Of the stack's ``deployments`` (an endpoint's blue and
green), the one that pins no ``image`` runs that promoted digest; every other one pins the digest
it keeps running (in prod: blue, the release before, while green takes the new one). Only
``pulumi`` is imported, so a program without any provider can use this module
(tests/engine/test_promotion_engine.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import pulumi

#: The stack output each stack exports and the next one reads.
IMAGE_REF = "image_ref"
#: The stack output naming the registry the image is in (its resource ID), passed down the same way.
REGISTRY_ID = "registry_id"
#: The stack output giving each deployment's image, ``{"blue": "...@sha256:...", ...}``.
IMAGES = "images"


def require_digest(image_ref: object, source: str | None, setting: str = "imageRef") -> str:
    """``image_ref`` when it names an image by digest, else why it cannot be run.

    ``source`` is the stack it was read from, or ``None`` for the config ``setting`` (a pin).
    """
    what = setting if source is None else f"{source}'s {IMAGE_REF}"
    if not isinstance(image_ref, str) or not image_ref:
        if source is None:
            raise ValueError(f"{setting} is empty: give an image by digest (name@sha256:...)")
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


def promoted_deployments(
    deployments: object, image_ref: pulumi.Output[str]
) -> dict[str, dict[str, Any]]:
    """The stack's ``deployments`` config with ``image_ref`` given to the one that pins no image.

    Every other deployment pins its ``image`` by digest: in prod, blue keeps the digest prod ran
    before while green takes the one promoted from staging.
    """
    if not isinstance(deployments, Mapping) or not deployments:
        raise ValueError("deployments: give at least one deployment: {blue: {cpu_cores: ...}}")
    found: dict[str, dict[str, Any]] = {}
    for name, settings in deployments.items():
        if not isinstance(settings, Mapping):
            raise ValueError(f"deployments.{name}: a mapping of the deployment's settings")
        found[str(name)] = dict(settings)
    open_slots = [name for name, settings in found.items() if settings.get("image") is None]
    if not open_slots:
        raise ValueError(
            "deployments: every deployment pins its image: leave image out of the one that runs"
            " the promoted digest"
        )
    if len(open_slots) > 1:
        shown = " and ".join(f"deployments.{name}" for name in open_slots)
        raise ValueError(
            f"{shown} pin no image: only one deployment runs the promoted digest; pin the"
            " others' image (name@sha256:...)"
        )
    for name, settings in found.items():
        if name in open_slots:
            settings["image"] = image_ref
        else:
            settings["image"] = require_digest(settings["image"], None, f"deployments.{name}.image")
    return found


def deployment_images(
    deployments: Mapping[str, Mapping[str, Any]],
) -> pulumi.Output[dict[str, str]]:
    """Each deployment's image by name (the ``images`` stack output)."""
    return pulumi.Output.all(**{name: d["image"] for name, d in deployments.items()})
