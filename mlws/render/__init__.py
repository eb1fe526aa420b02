"""Offline preview of a Pulumi program: run it under mocks, print or diff what it registers.

``render_program`` is what ``mlws render PROGRAM_DIR`` calls; ``diff_renders`` what
``mlws render --diff OLD.json NEW.json`` calls. See docs/render.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlws.render.diff import RenderDiff, diff_renders
from mlws.render.errors import ProgramError, ProjectError, RenderError
from mlws.render.model import Render, RenderedResource
from mlws.render.project import load_project, load_stack_config

if TYPE_CHECKING:
    import pulumi.runtime

__all__ = [
    "ProgramError",
    "ProjectError",
    "Render",
    "RenderDiff",
    "RenderError",
    "RenderedResource",
    "diff_renders",
    "render_program",
]


def render_program(
    program_dir: Path | str,
    stack: str = "dev",
    overrides: dict[str, str] | None = None,
    mocks: pulumi.runtime.Mocks | None = None,
) -> Render:
    """Run the Pulumi Python program in ``program_dir`` for ``stack`` under mocks.

    Config comes from ``Pulumi.yaml`` defaults, ``Pulumi.<stack>.yaml`` and ``overrides`` (bare keys
    belong to the project). Raises :class:`ProjectError` for a folder that is not a Python Pulumi
    project and :class:`ProgramError` when the program fails; both carry a one-line message.
    """
    project = load_project(Path(program_dir))
    try:
        from mlws.render.program_runner import run_program
    except ImportError as exc:
        missing = exc.name or "the Pulumi SDK"
        raise RenderError(
            f"mlws render needs the Pulumi SDKs ({missing} is missing): pip install 'mlws[infra]'"
        ) from None

    config = load_stack_config(project, stack, overrides)
    return run_program(project, stack, config, mocks)
