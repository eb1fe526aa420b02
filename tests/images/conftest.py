"""Each example's image, built once per session by the real engine (or a skip saying why)."""

from collections.abc import Callable

import pytest

from tests.docker_support import DockerEngine, require_base_image
from tests.images.image_support import BuiltImage, build, rendered_image


@pytest.fixture(scope="session")
def example_image(docker_engine: DockerEngine) -> Callable[[str], BuiltImage]:
    """``example_image(name)``: the example's image, built at most once per session."""
    built: dict[str, BuiltImage | str | Exception] = {}

    def get(example: str) -> BuiltImage:
        if example not in built:
            rendered = rendered_image(example)
            reason = require_base_image(docker_engine, rendered.base_image)
            try:
                built[example] = reason or build(docker_engine, rendered)
            except Exception as error:
                built[example] = error
        value = built[example]
        if isinstance(value, str):
            pytest.skip(value)
        if isinstance(value, Exception):
            raise value
        return value

    return get
